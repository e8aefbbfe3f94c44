"""Does the language model still follow the read-out, and how long does the night take?

Checks for changes to the decode path (``python -m brainkit.bench.agreement``):

- :func:`agreement`: on up to ``n_windows`` validation windows per task (spread over the
  recordings of ``brainkit.data.corpora.load_task(task, data, "val")``), the fraction of windows
  where the language model's answer (``answer_logprobs`` argmax) equals the read-out head's
  (``aux_logits`` argmax), and the balanced accuracy of both. A change to the soft tokens must
  not lower the agreement by more than a point on any task.
- :func:`night`: wall and CPU seconds of ``Brainkit.decode(night, "sleep_stage")`` on the bench's
  simulated night (:data:`~brainkit.bench.workloads.FULL_WORKLOADS`), with the load average.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from dataclasses import replace

import numpy as np
import torch


def agreement(bk, tasks, data_dir=None, n_windows: int = 200, split: str = "val") -> dict:
    """Per task: ``n``, ``agreement``, ``ba_lm``, ``ba_readout`` (fractions)."""
    from brainkit.data.corpora import load_task
    from brainkit.evaluation.metrics import balanced_accuracy
    from brainkit.inference import fit_window, readout_inputs
    from brainkit.preprocess import evenly_spaced
    from brainkit.tasks import get_task

    out = {}
    for t in tasks:
        task, dec = get_task(t), bk.decoder
        sets = load_task(task.id, data_dir, split)
        total = sum(len(s.windows) for s in sets)
        label, lm, head = [], [], []
        with torch.inference_mode():
            for s in sets:  # one recording each: the read-out of sleep reads the whole night
                w = fit_window(s.windows, task.window_s)
                readout = readout_inputs(dec, w, task.id)
                idx = evenly_spaced(len(w), min(len(w), max(1, round(n_windows * len(w) / total))))
                for i in range(0, len(idx), 32):
                    rows = np.asarray(idx[i:i + 32])
                    part = w.select(rows)
                    latents, bp, scale = bk.features(part)
                    conn = dec.connect(latents, bp, scale, part.sensors, task.id,
                                       readout=None if readout is None else readout[rows])
                    lm += dec.answer_logprobs(conn.soft_tokens, task.id)[0].argmax(1).tolist()
                    head += conn.aux_logits.argmax(1).tolist()
                    label += [task.answers.index(a) for a in np.asarray(part.labels)]
        label, lm, head = map(np.asarray, (label, lm, head))
        out[task.id] = {"n": len(label), "agreement": float((lm == head).mean()),
                        "ba_lm": balanced_accuracy(label, lm), "ba_readout": balanced_accuracy(label, head)}
    return out


def night(bk, hours: float = 8.0) -> dict:
    """Seconds of ``bk.decode`` on ``hours`` of the bench's simulated 2-channel night (after one
    untimed call on two windows), the load average before and after, and the answers."""
    from brainkit.bench.workloads import FULL_WORKLOADS, simulate_workload
    from brainkit.preprocess import preprocess, sliding_windows

    recording = simulate_workload(replace(FULL_WORKLOADS[0], duration_s=hours * 3600.0))
    few = sliding_windows(preprocess(recording, bk.preprocess_config), 30.0, 30.0).select([0, 1])
    bk.predict(few, "sleep_stage")  # prompt cache, kernels
    load, cpu, wall = os.getloadavg()[0], time.process_time(), time.perf_counter()
    pred = bk.decode(recording, "sleep_stage")
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    return {"hours": hours, "n_windows": len(pred.starts_s), "threads": torch.get_num_threads(),
            "wall_s": wall, "cpu_s": cpu, "load_average": [load, os.getloadavg()[0]],
            "answers": pred.predicted.tolist()}


def main() -> None:
    from brainkit.inference import Brainkit

    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--tasks", nargs="*", default=["sleep_stage", "eyes", "workload", "seizure"])
    p.add_argument("--night-hours", type=float, default=0.0, help="also time a night this long")
    p.add_argument("--threads", type=int, default=0)
    p.add_argument("--checkpoint")
    p.add_argument("--data", help="corpus folder (default ../shared/data beside the project)")
    p.add_argument("--out")
    args = p.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    bk = Brainkit(args.checkpoint)
    result = {"agreement": agreement(bk, args.tasks, args.data)}
    if args.night_hours:
        result["night"] = night(bk, args.night_hours)
    if args.out:
        with open(args.out, "w") as f:
            f.write(json.dumps(result, indent=1) + "\n")
    print(json.dumps(result["agreement"], indent=1))
    if "night" in result:
        print({k: v for k, v in result["night"].items() if k != "answers"})


if __name__ == "__main__":
    main()
