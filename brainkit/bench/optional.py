"""The benchmark's optional sections: an int8 language model, a profile of the sleep decode,
and accuracy on the validation manifests."""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np
import torch

from brainkit.bench.measure import measure
from brainkit.bench.stages import predict_all, prepare_windows
from brainkit.bench.workloads import BenchConfig, simulate_workload


def quantized_lm(model):
    """A copy of a language model with every ``nn.Linear`` dynamically quantized to int8."""
    import copy
    import warnings

    with warnings.catch_warnings():  # torch.ao.quantization is deprecated in favour of torchao
        warnings.simplefilter("ignore")
        from torch.ao.quantization import quantize_dynamic

        return quantize_dynamic(copy.deepcopy(model), {torch.nn.Linear}, dtype=torch.qint8)


def bench_int8(bk, cfg: BenchConfig, tolerance: float = 0.05) -> dict:
    """Float vs int8 language model on the sleep workload's windows: speed and probabilities."""
    import warnings

    workload = next(w for w in cfg.workloads if w.name == "sleep")
    windows = prepare_windows(simulate_workload(workload), workload.tasks, config=bk.preprocess_config)
    model, tok = bk.decoder.lm
    float_stats, float_p = measure(lambda: predict_all(bk, windows), cfg.repeats)
    try:
        bk.decoder.attach_lm(quantized_lm(model), tok)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            int8_stats, int8_p = measure(lambda: predict_all(bk, windows), cfg.repeats)
    finally:
        bk.decoder.attach_lm(model, tok)
    diff = max(float(np.abs(float_p[t] - int8_p[t]).max()) for t in float_p)
    agree = float(np.mean(np.concatenate([float_p[t].argmax(1) == int8_p[t].argmax(1)
                                          for t in float_p])))
    return {"workload": workload.name, "stages": {"float": float_stats, "int8": int8_stats},
            "speedup": float_stats["median_s"] / int8_stats["median_s"],
            "max_abs_prob_diff": diff, "answer_agreement": agree, "tolerance": tolerance,
            "within_tolerance": diff <= tolerance}


def profile_sleep(bk, cfg: BenchConfig, top: int = 15) -> dict:
    """Where ``decode_tasks`` spends its time on the sleep workload.

    One warm-up run, then one run under cProfile (Python functions, by own time) and one under
    ``torch.profiler`` (operators, by self CPU time).
    """
    import cProfile
    import pstats

    workload = next(w for w in cfg.workloads if w.name == "sleep")
    recording = simulate_workload(workload)
    bk.decode_tasks(recording, workload.tasks)  # warm-up (prefix cache, allocator)
    profiler = cProfile.Profile()
    t0 = time.perf_counter()
    profiler.enable()
    bk.decode_tasks(recording, workload.tasks)
    profiler.disable()
    wall = time.perf_counter() - t0
    rows = [{"function": f"{Path(file).name}:{line}({name})", "calls": nc, "own_s": tt,
             "cumulative_s": ct}
            for (file, line, name), (_, nc, tt, ct, _) in pstats.Stats(profiler).stats.items()]
    return {"workload": workload.describe(), "wall_s": wall,
            "top_own": sorted(rows, key=lambda r: -r["own_s"])[:top],
            "top_cumulative": sorted(rows, key=lambda r: -r["cumulative_s"])[:top],
            "top_ops": torch_ops(lambda: bk.decode_tasks(recording, workload.tasks), top)}


def torch_ops(fn, top: int = 15) -> list[dict]:
    """The operators ``fn()`` spends most CPU time in (``torch.profiler``, self time)."""
    from torch.profiler import ProfilerActivity, profile

    with profile(activities=[ProfilerActivity.CPU]) as prof:
        fn()
    events = sorted(prof.key_averages(), key=lambda e: -e.self_cpu_time_total)[:top]
    return [{"op": e.key, "calls": e.count, "self_s": e.self_cpu_time_total / 1e6,
             "total_s": e.cpu_time_total / 1e6} for e in events]


def bench_accuracy(bk, cfg: BenchConfig, checkpoint=None) -> dict | str:
    """``evaluate`` on ``manifests/val_<task>.csv`` beside the checkpoint's baselines."""
    from brainkit.models.checkpoint import DEFAULT_CHECKPOINT
    from brainkit.evaluation.evaluate import evaluate_manifest

    folder = Path(cfg.manifests)
    manifests = sorted(folder.glob("val_*.csv")) if folder.is_dir() else []
    if not manifests:
        return "not run: no manifests"
    metrics_file = Path(checkpoint or DEFAULT_CHECKPOINT) / "metrics.json"
    baselines = find_baselines(json.loads(metrics_file.read_text())) if metrics_file.is_file() else {}
    tasks = {}
    for manifest in manifests:
        t0 = time.perf_counter()
        result = evaluate_manifest(bk, manifest)
        for task, m in result["tasks"].items():
            base = baselines.get(task, {})
            tasks[task] = {"manifest": manifest.name, "n": m["n"],
                           "balanced_accuracy": m["balanced_accuracy"],
                           "cohen_kappa": m.get("cohen_kappa"), "macro_f1": m.get("macro_f1"),
                           "baseline_balanced_accuracy": base.get("balanced_accuracy"),
                           "seconds": time.perf_counter() - t0}
    return {"tasks": tasks}


def find_baselines(metrics) -> dict:
    """``{task: {"balanced_accuracy": x, ...}}`` from the first ``*baseline*`` mapping found."""
    from brainkit.tasks import TASK_IDS

    if isinstance(metrics, dict):
        for key, value in metrics.items():
            if "baseline" in str(key).lower() and isinstance(value, dict):
                found = {t: v for t, v in value.get("tasks", value).items()
                         if t in TASK_IDS and isinstance(v, dict)}
                if found:
                    return found
            inner = find_baselines(value)
            if inner:
                return inner
    return {}
