"""The timed stages of a workload, and the app-side timings (see :mod:`brainkit.bench.harness`)."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import numpy as np

from brainkit.bench.measure import measure
from brainkit.bench.reference import reference_prompt
from brainkit.bench.workloads import (FULL_WORKLOADS, TARGET_RATIO, TARGET_SLEEP_S, BenchConfig, Workload,
                                      simulate_workload, write_edf)


def predict_batch_size() -> int:
    """The batch size :meth:`Brainkit.predict` uses by default (the reference uses the same)."""
    import inspect

    from brainkit.inference import Brainkit

    return int(inspect.signature(Brainkit.predict).parameters["batch_size"].default)


def prepare_windows(recording, tasks, window_s: float = 4.0, config=None):
    """Preprocess once and cut each task's windows (what ``decode_tasks`` does before the model).

    Without tasks: windows of ``window_s`` under the key ``"windows"``. ``config``: the
    model's :class:`~brainkit.preprocess.PreprocessConfig` (default ``preprocess.DEFAULT``).
    """
    from brainkit.inference import fit_window
    from brainkit.preprocess import DEFAULT, preprocess, sliding_windows
    from brainkit.tasks import get_task

    prep = preprocess(recording, config or DEFAULT)
    if not tasks:
        return {"windows": sliding_windows(prep, window_s)}
    return {t: fit_window(sliding_windows(prep, get_task(t).window_s), get_task(t).window_s)
            for t in tasks}


def tokenize_all(bk, recording, window_s: float):
    """``brainkit tokenize``'s path: preprocessing, windows, codes and reconstruction."""
    from brainkit.preprocess import make_windows
    from brainkit.models.tokenizer import tokenize_windows

    windows = make_windows(recording, window_s, config=bk.preprocess_config)
    codes, _, r = tokenize_windows(bk.tokenizer, windows)
    return len(windows), codes.shape, r


def predict_all(bk, windows_by_task) -> dict:
    """Option probabilities of every task's prepared windows (``Brainkit.predict``)."""
    return {t: bk.predict(w, t).probabilities for t, w in windows_by_task.items()}


def bench_workload(bk, reference_for, workload: Workload, cfg: BenchConfig, batch_size: int,
                   lm_tokenizer) -> dict:
    """Every stage of one workload; see the module docstring."""
    t0 = time.perf_counter()
    recording = simulate_workload(workload)
    out = {"description": workload.describe(), "duration_s": workload.duration_s,
           "n_channels": len(recording.sensors.model_picks), "tasks": list(workload.tasks),
           "simulate_s": time.perf_counter() - t0, "stages": {}}
    stages = out["stages"]
    repeats = cfg.repeats
    tasks = list(workload.tasks)
    stages["preprocess"], windows = measure(
        lambda: prepare_windows(recording, tasks, workload.window_s, bk.preprocess_config), repeats)
    stages["tokenize"], (n_tok, codes_shape, r) = measure(
        lambda: tokenize_all(bk, recording, workload.window_s), repeats)
    out["tokenize"] = {"n_windows": n_tok, "window_s": workload.window_s,
                       "codes_shape": list(codes_shape),
                       "windows_per_s": n_tok / stages["tokenize"]["median_s"]}
    if not tasks:
        return out
    out["n_windows"] = {t: len(w) for t, w in windows.items()}
    total = sum(out["n_windows"].values())
    prompts = {t: reference_prompt(lm_tokenizer, t, cfg.reference["vocab_size"]) for t in tasks}
    reference = reference_for(windows[tasks[0]].sfreq, False)
    cached = reference_for(windows[tasks[0]].sfreq, True)
    out["first_call_s"] = warm_up(bk, {"reference": reference, "reference_cached": cached}, windows,
                                  prompts)
    load_before = _load_average()
    stages["decode"], preds = measure(lambda: bk.decode_tasks(recording, tasks), repeats)
    # other jobs on the machine slow the decode down: its timing is read beside the load
    out["decode_load_average"] = {"before": load_before, "after": _load_average()}
    out["decode_windows_per_s"] = total / stages["decode"]["median_s"]
    # brainkit's model and both references on the same windows
    same = {t: evenly_spaced(w, cfg.reference_windows) for t, w in windows.items()}
    out["compared_windows"] = {t: len(w) for t, w in same.items()}
    out["reference_layout"] = {t: reference.layout(w.x.shape[1], w.x.shape[2], len(prompts[t]))
                               for t, w in windows.items()}
    stages["decode_model"], _ = measure(lambda: predict_all(bk, same), repeats)
    for name, model in (("reference_model", reference), ("reference_model_cached", cached)):
        stages[name], _ = measure(
            lambda m=model: {t: m.decode(w, prompts[t], batch_size) for t, w in same.items()}, repeats)
    out["ratio"] = ratios(stages, total / sum(out["compared_windows"].values()))
    if workload.name == "sleep":
        out["target"] = sleep_target(stages["decode"]["median_s"], total)
    out["probabilities_shape"] = {t: list(p.probabilities.shape) for t, p in preds.items()}
    return out


def _load_average():
    """The 1-minute load average (runnable processes; 2 or more keeps both cores busy), or None."""
    import os

    return os.getloadavg()[0] if hasattr(os, "getloadavg") else None


def evenly_spaced(windows, n: int):
    """At most ``n`` windows spread evenly over the recording (all of them if fewer)."""
    if len(windows) <= n:
        return windows
    from brainkit.preprocess import evenly_spaced as spread

    return windows.select(spread(len(windows), n))


def warm_up(bk, references: dict, windows_by_task, prompts) -> dict:
    """One untimed call per task and model on two windows (prompt caches, kernels, allocator).

    Returns the seconds each took: what a first request pays on top of the steady state.
    """
    out = {}
    for task, windows in windows_by_task.items():
        few = windows.select(np.arange(min(2, len(windows))))
        t0 = time.perf_counter()
        bk.predict(few, task)
        out[task] = {"brainkit": time.perf_counter() - t0}
        for name, reference in references.items():
            t0 = time.perf_counter()
            reference.decode(few, prompts[task], 2)
            out[task][name] = time.perf_counter() - t0
    return out


def sleep_target(decode_s: float, n_windows: int) -> dict:
    """The 8-hour target: met or not; for other lengths (``--quick``) extrapolated per window."""
    full = FULL_WORKLOADS[0]
    n_full = int(full.duration_s // 30.0)  # 30-s sleep epochs: 960
    estimate = decode_s * n_full / max(n_windows, 1)
    out = {"decode_s": TARGET_SLEEP_S, "n_windows": n_windows, "n_windows_8h": n_full,
           "estimate_8h_s": estimate, "extrapolated": n_windows != n_full}
    out["met"] = estimate <= TARGET_SLEEP_S
    return out


def ratios(stages: dict, scale: float) -> dict:
    """Reference time / brainkit time, against NeuroLM's procedure and the cached reference.

    ``model``: the models alone on the same windows. ``end_to_end``: the reference's time per
    window scaled to every window (``scale`` = all windows / compared windows) plus the same
    preprocessing, against brainkit's ``decode`` of the whole recording.
    """
    model_s, pre_s, decode_s = (stages[k]["median_s"] for k in ("decode_model", "preprocess", "decode"))
    out = {"target": TARGET_RATIO}
    for key, name in (("reference_model", ""), ("reference_model_cached", "_cached")):
        ref = stages[key]["median_s"]
        out["model" + name] = ref / model_s
        out["end_to_end" + name] = (pre_s + ref * scale) / decode_s
    out["met"] = min(out["model"], out["end_to_end"]) >= TARGET_RATIO
    out["met_cached"] = min(out["model_cached"], out["end_to_end_cached"]) >= TARGET_RATIO
    return out


def bench_app(cfg: BenchConfig, workdir: Path, load_model) -> dict:
    """Reading a 64-channel EDF, its first trace page, imports, and time to the first answer."""
    from brainkit.io import read_recording
    from brainkit.inference import window_at
    from brainkit.viz.signals import trace_figure

    t0 = time.perf_counter()
    path = write_edf(workdir, cfg.edf_duration_s, cfg.edf_channels, cfg.edf_sfreq)
    out = {"edf": {"duration_s": cfg.edf_duration_s, "n_channels": cfg.edf_channels,
                   "sfreq": cfg.edf_sfreq, "size_mb": path.stat().st_size / 1e6,
                   "write_s": time.perf_counter() - t0}, "stages": {}}
    stages = out["stages"]
    stages["read_edf"], recording = measure(lambda: read_recording(path), cfg.repeats)
    stages["first_trace"], _ = measure(lambda: trace_figure(recording), cfg.repeats)
    if cfg.fresh_imports:
        stages["imports"], _ = measure(_fresh_imports, cfg.repeats)

    def first_window():
        bk = load_model()
        rec = read_recording(path)
        return bk.predict(window_at(rec, 0.0, 4.0), "eyes").probabilities

    stages["first_window"], _ = measure(first_window, cfg.repeats)
    out["first_window_note"] = ("in this process: imports done, files in the page cache; "
                                "a fresh start adds `imports`")
    return out


def _fresh_imports() -> None:
    """Import what the app needs in a fresh interpreter (its own process)."""
    code = "import torch, transformers, mne, brainkit.inference, brainkit.viz.signals, brainkit.io"
    subprocess.run([sys.executable, "-c", code], check=True, capture_output=True)
