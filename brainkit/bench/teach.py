"""``brainkit bench --teach``: how long teaching a task from 200 labelled windows takes (issue 16).

The windows are 4-s windows of a simulated 19-channel eyes-open / eyes-closed recording (100 per
class, one recording: cross-validated by contiguous blocks), labelled by its annotations. Timed:
cutting the labelled windows, then :func:`brainkit.training.teach.teach` (cross-validation of the
read-out head and the classical methods with the learning curve, then the pack's fit with the
language model's agreement), each ``repeats`` times; the model is loaded once (its load time is
reported apart). Target: at most :data:`TARGET_TEACH_S` seconds for the whole teaching.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

TARGET_TEACH_S = 60.0
TEACH_BEGIN, TEACH_END = "<!-- bench:teach:begin -->", "<!-- bench:teach:end -->"


def bench_teach(checkpoint=None, lm_path=None, n_windows: int = 200, repeats: int = 3, threads: int = 0) -> dict:
    """Time teaching a task from ``n_windows`` labelled windows (half per class)."""
    import mne
    import torch

    from brainkit.bench.harness import machine_info
    from brainkit.bench.measure import measure
    from brainkit.bench.workloads import model_source
    from brainkit.data.labelled import recording_sets
    from brainkit.data.simulate import simulate_eyes
    from brainkit.inference import Brainkit
    from brainkit.io import recording_from_raw
    from brainkit.tasks import taught_task
    from brainkit.training.teach import teach

    if threads:
        torch.set_num_threads(threads)
    with tempfile.TemporaryDirectory(prefix="brainkit-bench-teach-") as tmp, mne.use_log_level("ERROR"):
        folder, label = model_source(checkpoint, lm_path, Path(tmp) / "model")
        t0 = time.perf_counter()
        bk = Brainkit(folder, lm_path=lm_path)
        load_s = time.perf_counter() - t0
        # 40-s blocks hold ten 4-s windows each: exactly n_windows windows
        recording = recording_from_raw(simulate_eyes(4.0 * n_windows, n_channels=19, sfreq=256.0, block_s=40.0),
                                       name="bench-teach", fmt="simulated")
        mapping = {"eyes open": "open", "eyes closed": "closed"}
        task = taught_task("eyes_bench", ["open", "closed"], 4.0)
        windows_stats, sets = measure(lambda: recording_sets([recording], mapping, 4.0, 4.0,
                                                             config=bk.preprocess_config), repeats)
        n = sum(len(s.windows) for s in sets)
        teach_stats, pack = measure(lambda: teach(bk, task, sets), repeats)
    cv = pack.report["cross_validation"]
    meta = {**machine_info(), "decoder": label, "load_model_s": load_s, "threads": torch.get_num_threads()}
    return {"meta": meta,
            "n_windows": n, "class_counts": pack.report["class_counts"], "windows": windows_stats,
            "teach": teach_stats, "seconds_last": pack.report["seconds"], "target_s": TARGET_TEACH_S,
            "meets_target": teach_stats["median_s"] + windows_stats["median_s"] <= TARGET_TEACH_S,
            "folds": f"{cv['n_folds']} by {cv['unit']}",
            "balanced_accuracy": {k: v["mean"] for k, v in cv["methods"].items()},
            "lm_head_agreement": pack.report["lm_head_agreement"]}


def teach_markdown(result: dict) -> str:
    """The table of ``bench --teach`` for BENCHMARKS.md."""
    m, w, t = result["meta"], result["windows"], result["teach"]
    last = result["seconds_last"]
    counts = ", ".join(f"{k} {v}" for k, v in result["class_counts"].items())
    load = ", ".join(f"{x:.1f}" for x in m["load_average"] or [])
    lines = [f"{result['n_windows']} labelled 4-s windows ({counts}) of a simulated 19-channel recording "
             f"at 256 Hz; {m.get('cpu', 'CPU')}, {m['threads']} torch thread(s), load average {load} "
             f"before; decoder: {m['decoder']}; median of {t['repeats']} runs.", "",
             "| stage | median s | min s | max s | peak RSS MB |", "|---|---|---|---|---|",
             f"| load the model (once) | {m['load_model_s']:.1f} | | | |",
             f"| cut the labelled windows | {w['median_s']:.2f} | {w['min_s']:.2f} | {w['max_s']:.2f} | "
             f"{w['peak_rss_mb']:.0f} |",
             f"| teach: cross-validation + learning curve + fit | {t['median_s']:.1f} | {t['min_s']:.1f} | "
             f"{t['max_s']:.1f} | {t['peak_rss_mb']:.0f} |", "",
             f"Last run: cross-validation {last['cross_validation']:.1f} s, fit {last['fit']:.1f} s; "
             f"folds {result['folds']}. Target: teaching (windows + teach) at most {result['target_s']:g} s: "
             f"**{'met' if result['meets_target'] else 'NOT met'}**."]
    return "\n".join(lines) + "\n"


def write_teach_markdown(result: dict, path) -> None:
    """Put :func:`teach_markdown` between the teach markers of ``path`` (appended when absent)."""
    from brainkit.bench.tables import _replace_block

    path = Path(path)
    text = path.read_text() if path.is_file() else "# Benchmarks\n"
    path.write_text(_replace_block(text, TEACH_BEGIN, TEACH_END, teach_markdown(result)))
