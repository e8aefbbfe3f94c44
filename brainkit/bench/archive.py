"""The archive workload: a folder of recordings decoded by ``decode-archive`` with 1, 2, ... Dask
workers (``python -m brainkit bench --archive DIR``).

Each run starts its own local cluster and writes into a fresh temporary folder (nothing is
skipped as done); its wall time includes starting the cluster and each worker's model load,
as a user's run does. Recordings per minute = recordings decoded / wall minutes; the speed-up is
the 1-worker wall time over the N-worker one; memory is each worker's peak resident set.
"""

from __future__ import annotations

import tempfile

from brainkit.archive import run_archive


def bench_archive(root, tasks=("eyes",), workers=(1, 2), checkpoint=None, lm_path=None,
                  threads: int = 1, progress=None) -> dict:
    """Decode the archive ``root`` once per worker count.

    Returns
    -------
    dict
        ``root, tasks, recordings`` and ``runs``: per worker count, ``seconds`` (wall),
        ``recordings_per_min``, ``decoded``, ``failed``, ``decode_s`` (the recordings' own
        seconds, summed over workers), ``worker_peak_mib`` (one per worker); ``speedup`` of each
        count over the first.
    """
    out = {"root": str(root), "tasks": list(tasks), "runs": {}}
    for n in workers:
        if progress is not None:
            progress(f"archive {root} with {n} worker(s)")
        with tempfile.TemporaryDirectory(prefix="brainkit-bench-archive-") as tmp:
            result = run_archive(root, list(tasks), tmp, workers=n, checkpoint=checkpoint, lm=lm_path,
                                 threads=threads)
        out["recordings"] = len(result.jobs)
        out["runs"][n] = {"seconds": result.seconds,
                          "recordings_per_min": 60 * len(result.decoded) / result.seconds,
                          "decoded": len(result.decoded), "failed": len(result.failed),
                          "decode_s": sum(float(r["seconds"]) for r in result.decoded),
                          "worker_peak_mib": sorted(w["peak_mib"] for w in result.workers.values())}
    first = out["runs"][workers[0]]["seconds"]
    for run in out["runs"].values():
        run["speedup"] = first / run["seconds"]
    return out


def archive_markdown(result: dict) -> str:
    """The archive runs as a Markdown table."""
    lines = [f"Archive `{result['root']}`: {result['recordings']} recordings, task(s) "
             f"{', '.join(result['tasks'])}.", "",
             "| workers | wall s | recordings/min | speed-up | decoded | failed | "
             "decode s (sum over workers) | peak memory per worker (MiB) |",
             "|---|---|---|---|---|---|---|---|"]
    for n, run in result["runs"].items():
        lines.append(f"| {n} | {run['seconds']:.1f} | {run['recordings_per_min']:.1f} | "
                     f"{run['speedup']:.2f} | {run['decoded']} | {run['failed']} | {run['decode_s']:.1f} | "
                     f"{', '.join(f'{m:.0f}' for m in run['worker_peak_mib'])} |")
    return "\n".join(lines) + "\n"
