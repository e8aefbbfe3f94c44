"""Timing and memory of one stage: wall clock and CPU time over repeats, peak resident memory.

Memory: a background thread samples the process's resident set size (``/proc/self/statm``,
every 5 ms) while a stage runs; without ``/proc`` the peak is
``resource.getrusage(...).ru_maxrss`` (the process's peak so far).
"""

from __future__ import annotations

import gc
import os
import statistics
import threading
import time

RSS_INTERVAL_S = 0.005


def _rss_mb() -> float:
    """Resident set size of this process now, in MB (peak so far where /proc is missing)."""
    try:
        with open("/proc/self/statm") as f:
            pages = int(f.read().split()[1])
        return pages * os.sysconf("SC_PAGE_SIZE") / 1e6
    except (OSError, ValueError, IndexError):
        import resource

        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e3  # kB on Linux


class RssSampler:
    """Highest resident set size seen while the ``with`` block runs (a 5-ms polling thread)."""

    def __init__(self, interval_s: float = RSS_INTERVAL_S):
        self.interval_s, self.start_mb, self.peak_mb = interval_s, 0.0, 0.0
        self._stop = threading.Event()

    def _poll(self):
        while not self._stop.wait(self.interval_s):
            self.peak_mb = max(self.peak_mb, _rss_mb())

    def __enter__(self):
        self.start_mb = self.peak_mb = _rss_mb()
        self._thread = threading.Thread(target=self._poll, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()
        self.peak_mb = max(self.peak_mb, _rss_mb())


def measure(fn, repeats: int):
    """Run ``fn()`` ``repeats`` times; timing statistics, peak memory, and the last result.

    Returns
    -------
    stats : dict
        ``median_s, min_s, max_s, values_s, repeats`` (wall clock), ``cpu_median_s`` (CPU time
        of the process, all threads: less sensitive to other jobs on the machine),
        ``peak_rss_mb, start_rss_mb``.
    result
        What the last call returned.
    """
    values, cpu, peaks, starts, result = [], [], [], [], None
    for _ in range(max(1, int(repeats))):
        result = None
        gc.collect()
        with RssSampler() as rss:
            t0, c0 = time.perf_counter(), time.process_time()
            result = fn()
            values.append(time.perf_counter() - t0)
            cpu.append(time.process_time() - c0)
        peaks.append(rss.peak_mb)
        starts.append(rss.start_mb)
    stats = {"median_s": statistics.median(values), "min_s": min(values), "max_s": max(values),
             "values_s": values, "repeats": len(values), "cpu_median_s": statistics.median(cpu),
             "peak_rss_mb": max(peaks), "start_rss_mb": min(starts)}
    return stats, result
