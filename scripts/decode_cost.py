"""CPU seconds of each part of a decode for one batch of windows, and of the NeuroLM-style
reference on the same windows: the before/after table of BENCHMARKS.md.

    python scripts/decode_cost.py [--task sleep_stage] [--threads 1] [--repeats 3] [--json out.json]

Run it at two commits (``git worktree add /tmp/before <commit>``, then the same command inside
it with ``PYTHONPATH=/tmp/before``) to compare them: CPU time (``time.process_time``) of one
thread is robust to other jobs on the machine, unlike wall-clock time. Also prints the option
probabilities' checksum, so that two commits can be checked to give the same answers.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time

import numpy as np
import torch

from brainkit.bench.harness import ReferenceDecoder, Workload, prepare_windows, reference_prompt, simulate_workload
from brainkit.inference import Brainkit
from brainkit.tasks import get_task

WORKLOADS = {"sleep_stage": Workload("sleep", "sleep", 32 * 30.0, 100.0, 2, ("sleep_stage",), 30.0),
             "eyes": Workload("clinical", "eeg", 32 * 4.0, 256.0, 19, ("eyes",), 4.0)}


def cpu_seconds(fn, repeats: int):
    values, out = [], None
    for _ in range(repeats):
        t0 = time.process_time()
        out = fn()
        values.append(time.process_time() - t0)
    return statistics.median(values), out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--task", default="sleep_stage", choices=sorted(WORKLOADS))
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--no-reference", action="store_true",
                   help="brainkit only (for commits whose bench has no cached/uncached reference)")
    p.add_argument("--json")
    args = p.parse_args()
    torch.set_num_threads(args.threads)

    bk = Brainkit()
    task = get_task(args.task)
    windows = prepare_windows(simulate_workload(WORKLOADS[args.task]), [task.id])[task.id]
    dec = bk.decoder
    prompt = torch.tensor(reference_prompt(dec.lm[1], task.id, 50257))
    x = torch.from_numpy(windows.x)
    references = {} if args.no_reference else {
        "reference, NeuroLM procedure": ReferenceDecoder(int(windows.sfreq)),
        "reference, cached": ReferenceDecoder(int(windows.sfreq), kv_cache=True)}
    with torch.inference_mode():
        bk.predict(windows.select([0, 1]), task.id)  # prompt cache, kernels
        for ref in references.values():
            ref.generate(x[:2], prompt)
        rows = {}
        rows["features (tokenizer + band powers)"], (lat, bp, scale) = cpu_seconds(
            lambda: bk.features(windows), args.repeats)
        rows["connector"], conn = cpu_seconds(
            lambda: dec.connect(lat, bp, scale, windows.sensors, task.id), args.repeats)
        rows["language model (answer_logprobs)"], (logp, _) = cpu_seconds(
            lambda: dec.answer_logprobs(conn.soft_tokens, task.id), args.repeats)
        rows["brainkit total (Brainkit.predict)"], pred = cpu_seconds(
            lambda: bk.predict(windows, task.id), args.repeats)
        for name, ref in references.items():
            rows[name], _ = cpu_seconds(lambda r=ref: r.generate(x, prompt), args.repeats)
    total = rows["brainkit total (Brainkit.predict)"]
    out = {"task": task.id, "windows": len(windows), "threads": args.threads, "repeats": args.repeats,
           "cpu_s": rows, "speed_up": {k: rows[k] / total for k in references},
           "probabilities_sum_of_squares": float(np.square(pred.probabilities).sum())}
    print(f"{len(windows)} {task.id} windows, {args.threads} thread(s), CPU s (median of {args.repeats}):")
    for name, value in rows.items():
        print(f"  {name:40s} {value:7.2f}")
    for name, value in out["speed_up"].items():
        print(f"  speed-up against {name}: {value:.2f}x")
    print(f"  probabilities checksum {out['probabilities_sum_of_squares']:.6f}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(out, f, indent=2)


if __name__ == "__main__":
    main()
