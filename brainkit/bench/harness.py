"""Benchmarks: speed and memory of brainkit on simulated recordings (``brainkit bench``).

What is measured (each timing is the median of ``repeats`` runs, with their min and max):

- **Workloads**, made in memory by :mod:`brainkit.data.simulate` and wrapped by
  :func:`brainkit.io.recording_from_raw` (nothing is written to disk):

  ========== ================================================= ===================== =========
  name       recording                                         tasks (window)        reference
  ========== ================================================= ===================== =========
  sleep      8 h, 2 EEG derivations + EOG at 100 Hz            ``sleep_stage`` (30 s) yes
  clinical   20 min, 19-channel 10-20 EEG at 256 Hz            ``workload``, ``eyes``  yes
                                                               (4 s)
  meg        10 min, 306-channel Neuromag MEG at 500 Hz        tokenization only     no
  ========== ================================================= ===================== =========

  Stages: ``preprocess`` (filtering, resampling, scaling and cutting the windows of every task),
  ``tokenize`` (``brainkit tokenize``'s path: windows, codes and reconstruction),
  ``decode`` (end to end, :meth:`brainkit.inference.Brainkit.decode_tasks`: preprocessing, windows,
  tokens, connector, language model, option probabilities), ``decode_model`` (only
  :meth:`brainkit.inference.Brainkit.predict` on windows already cut), ``reference_model`` and
  ``reference_model_cached`` (:class:`ReferenceDecoder` without and with a key/value cache, on
  the same windows as ``decode_model``).
- **Reference**: a NeuroLM-style decoder (arXiv 2409.00101): a GPT-2-size causal LM (124 M
  parameters, random weights, built from its config) that reads every channel patch of 1 s as
  one token (a linear projection of the patch's samples plus channel and time embeddings), then a
  short text prompt, and generates 5 answer tokens greedily. As NeuroLM's own ``generate`` does,
  every generated token runs the whole sequence again (no key/value cache); the same model with a
  key/value cache is measured too, as a stronger reference. Windows whose channels x patches +
  prompt + answer exceed GPT-2's 1024 positions keep their first patches (the time axis is cut,
  as NeuroLM cuts its EEG sequences to its context). Same batch size as brainkit. Both references
  and brainkit's model (``decode_model``) run on the same evenly spaced subset of each task's
  windows (``reference_windows`` per task; their cost per window does not depend on where the
  window lies); the ratio ``reference / brainkit`` is measured on those windows, and end to end
  (reference = ``preprocess`` + its time per window x all windows, against ``decode``).
- **App**: reading a 1-hour 64-channel EDF (written to a temporary folder first), the first
  trace page (:func:`brainkit.viz.signals.trace_figure`), the imports of a fresh interpreter, and the
  time to the first decoded window (load the model, read the file, decode its first window).
- **Simulator** (:mod:`~brainkit.bench.simulator`): seconds per redraw of the Simulate page, per
  montage; ``brainkit bench --only simulator`` runs this section alone.
- **Accuracy**: ``evaluate`` on ``manifests/val_<task>.csv`` beside the baselines of the
  checkpoint's ``metrics.json`` (skipped under ``--quick``).

Memory: a background thread samples the process's resident set size (``/proc/self/statm``,
every 5 ms) during each run of a stage; ``peak_rss_mb`` is the highest value over the repeats
(the whole process: loaded models and the recording included), ``start_rss_mb`` the value when
the stage started. Without ``/proc`` the peak is ``resource.getrusage(...).ru_maxrss`` (the
process's peak so far). Everything runs in one process, on the threads torch is given.

Where each part lives: :mod:`~brainkit.bench.workloads` (sizes, simulated recordings, the EDF,
the model to load), :mod:`~brainkit.bench.measure` (timing and memory),
:mod:`~brainkit.bench.reference` (the NeuroLM-style reference), :mod:`~brainkit.bench.stages`
(the timed stages of a workload and of the app), :mod:`~brainkit.bench.optional` (int8, profile,
accuracy), :mod:`~brainkit.bench.tables` (``BENCHMARKS.md``); this module runs them all.
"""

from __future__ import annotations

import json
import os
import platform
import subprocess
import tempfile
import time
from contextlib import contextmanager
from dataclasses import asdict
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import torch

from brainkit._logging import logger
from brainkit.bench.optional import bench_accuracy, bench_int8, profile_sleep
from brainkit.bench.reference import ReferenceDecoder
from brainkit.bench.stages import bench_app, bench_workload, predict_batch_size
from brainkit.bench.workloads import ROOT, BenchConfig, Workload, default_config, model_source

#: what the command line and the tests use: the run, its configuration, and saving the result
__all__ = ["BenchConfig", "Workload", "default_config", "run", "save_json"]


def machine_info() -> dict:
    """CPU model, cores, memory, versions and the git commit."""
    import mne
    import transformers

    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    try:
        ram_gb = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    except (ValueError, OSError, AttributeError):
        ram_gb = None
    return {"cpu": cpu, "cores": os.cpu_count(), "ram_gb": ram_gb, "torch_threads": torch.get_num_threads(),
            "load_average": os.getloadavg() if hasattr(os, "getloadavg") else None,
            "python": platform.python_version(), "torch": torch.__version__,
            "transformers": transformers.__version__, "mne": mne.__version__,
            "brainkit_commit": git_commit(), "platform": platform.platform()}


def git_commit() -> str:
    """The repository's commit (with ``-dirty`` when the tree has changes), or ``unknown``."""
    try:
        sha = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, check=True,
                             capture_output=True, text=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=ROOT,
                               capture_output=True, text=True).stdout.strip()
        return sha + ("-dirty" if dirty else "")
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


@contextmanager
def _threads(n: int):
    before = torch.get_num_threads()
    if n:
        torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def run(cfg: BenchConfig, progress=None) -> dict:
    """Every section of the benchmark.

    Parameters
    ----------
    cfg : BenchConfig
    progress : callable, optional
        ``progress(message)`` before each section (default: brainkit's logger).

    Returns
    -------
    dict
        JSON-ready (:func:`save_json`); :func:`brainkit.bench.tables.to_markdown` renders it.
    """
    import mne

    say = progress or (lambda msg: logger.info("bench: %s", msg))
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="brainkit-bench-") as tmp, _threads(cfg.threads), \
            mne.use_log_level("ERROR"):  # for this run only
        workdir = Path(tmp)
        from brainkit.inference import Brainkit

        folder, decoder_label = model_source(cfg.checkpoint, cfg.lm_path, workdir / "model")
        load = lambda: Brainkit(folder, lm_path=cfg.lm_path)  # noqa: E731
        t0 = time.perf_counter()
        bk = load()
        created = datetime.now(timezone.utc).isoformat(timespec="seconds")
        result = {"meta": {**machine_info(), "created": created,
                           "decoder": decoder_label, "language_model": cfg.lm_path or "SmolLM2-135M-Instruct",
                           "load_model_s": time.perf_counter() - t0, "batch_size": predict_batch_size(),
                           "rss_method": "5-ms sampling of /proc/self/statm (whole process)",
                           "config": _jsonable(asdict(cfg))}}
        batch = result["meta"]["batch_size"]
        lm_tokenizer = bk.decoder.lm[1]
        refs = {}

        def reference_for(sfreq, kv_cache):
            key = (int(round(sfreq)), kv_cache)
            if key not in refs:
                refs[key] = ReferenceDecoder(key[0], cfg.reference, cfg.reference_new_tokens,
                                             kv_cache=kv_cache)
            return refs[key]

        if cfg.only == "simulator":
            from brainkit.bench.simulator import bench_simulator

            result["simulator"] = bench_simulator(bk, cfg.repeats, cfg.simulator_montages, progress=say)
            result["meta"]["total_s"] = time.perf_counter() - started
            return result
        result["workloads"] = {}
        for workload in cfg.workloads:
            say(f"workload {workload.name}: {workload.describe()}")
            result["workloads"][workload.name] = bench_workload(bk, reference_for, workload, cfg,
                                                                batch, lm_tokenizer)
        refs.clear()
        say("app: EDF, first trace, first decoded window")
        result["app"] = bench_app(cfg, workdir, load)
        from brainkit.bench.simulator import bench_simulator

        result["simulator"] = bench_simulator(bk, cfg.repeats, cfg.simulator_montages, progress=say)
        if cfg.int8:
            say("int8 language model")
            result["int8"] = bench_int8(bk, cfg)
        if cfg.profile:
            say("profile of the sleep decode")
            result["profile"] = profile_sleep(bk, cfg)
        if cfg.accuracy:
            say("accuracy on the validation manifests")
            result["accuracy"] = bench_accuracy(bk, cfg, cfg.checkpoint)
        else:
            result["accuracy"] = "not run: --quick"
    result["meta"]["total_s"] = time.perf_counter() - started
    return result


def _jsonable(obj):
    if isinstance(obj, dict):
        return {k: _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_jsonable(v) for v in obj]
    if isinstance(obj, (np.floating, np.integer)):
        return obj.item()
    if isinstance(obj, np.bool_):
        return bool(obj)
    return obj


def save_json(result: dict, path) -> None:
    Path(path).write_text(json.dumps(_jsonable(result), indent=2, default=str) + "\n")
