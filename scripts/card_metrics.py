"""Collect the measured decoder figures into the checkpoint's ``metrics.json`` and print the
model card's tables.

Inputs are the JSON files the commands in the model card write (nothing here measures anything):

    python -m brainkit evaluate --manifest manifests/val_<task>.csv --out runs/eval/<task>.json
    python -m brainkit baselines --out runs/baselines.json
    python -m brainkit evaluate ... --checkpoint runs/single-<task>/ckpt --out runs/eval-single/<task>.json

Usage: python scripts/card_metrics.py [--eval runs/eval] [--baselines runs/baselines.json]
       [--single runs/eval-single] [--aux runs/aux_agreement.json] [--write]
       python scripts/card_metrics.py --eval runs/eval --update   (only the tasks evaluated there)
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from brainkit.models.checkpoint import DEFAULT_CHECKPOINT
from brainkit.tasks import TASK_IDS

PUBLISHED_WORKLOAD = {  # balanced accuracy on EEGMAT Subject31-35 (test subjects), as published
    "UniMind": 0.7867, "LaBraM": 0.6609, "NeuroLM": 0.6345,
}
KEYS = ("n", "balanced_accuracy", "cohen_kappa", "macro_f1", "weighted_f1", "auroc", "ece", "confusion")


def _load(folder: Path | None) -> dict:
    if folder is None or not folder.is_dir():
        return {}
    out = {}
    for task in TASK_IDS:
        path = folder / f"{task}.json"
        if path.exists():
            out[task] = json.loads(path.read_text())["tasks"][task]
    return out


def _fmt(x) -> str:
    return "-" if x is None else f"{100 * x:.1f}"


def table(model: dict, baselines: dict, single: dict) -> str:
    """Markdown: one row per task, balanced accuracy (%) of brainkit and every baseline."""
    names = sorted(baselines)
    head = ["task", "n", "brainkit", "kappa", "AUROC", "ECE"] + (["single-task"] if single else []) + names
    rows = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for task in TASK_IDS:
        m = model.get(task)
        if m is None:
            continue
        cells = [f"`{task}`", str(m["n"]), _fmt(m["balanced_accuracy"]), f"{m['cohen_kappa']:.2f}",
                 _fmt(m.get("auroc")), f"{m['ece']:.3f}"]
        if single:
            cells.append(_fmt(single.get(task, {}).get("balanced_accuracy")))
        cells += [_fmt(baselines[b].get(task, {}).get("balanced_accuracy")) for b in names]
        rows.append("| " + " | ".join(cells) + " |")
    return "\n".join(rows)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--eval", type=Path, default=Path("runs/eval"))
    p.add_argument("--baselines", type=Path, default=Path("runs/baselines.json"))
    p.add_argument("--single", type=Path, default=Path("runs/eval-single"))
    p.add_argument("--extra", type=Path, action="append", default=[],
                   help="JSON files merged into metrics.json's decoder entry under their stem")
    p.add_argument("--write", action="store_true", help="update the checkpoint's metrics.json")
    p.add_argument("--update", action="store_true",
                   help="replace only the validation figures of the tasks in --eval (a checkpoint "
                        "whose other tasks did not change), keeping everything else")
    args = p.parse_args()
    model, single = _load(args.eval), _load(args.single)
    if args.update:
        path = DEFAULT_CHECKPOINT / "metrics.json"
        metrics = json.loads(path.read_text())
        validation = metrics["decoder"]["validation"]
        validation.update({t: {k: m.get(k) for k in KEYS} for t, m in model.items()})
        metrics["decoder"]["mean_balanced_accuracy"] = (
            sum(m["balanced_accuracy"] for m in validation.values()) / len(validation))
        path.write_text(json.dumps(metrics, indent=2) + "\n")
        print(f"updated {', '.join(model)} in {path}")
        return
    baselines = json.loads(args.baselines.read_text()) if args.baselines.exists() else {}
    print(table(model, baselines, single))
    if args.write:
        path = DEFAULT_CHECKPOINT / "metrics.json"
        metrics = json.loads(path.read_text())
        metrics["decoder"] = {
            "validation": {t: {k: m.get(k) for k in KEYS} for t, m in model.items()},
            "mean_balanced_accuracy": sum(m["balanced_accuracy"] for m in model.values()) / len(model),
            "commands": {t: f"python -m brainkit evaluate --manifest manifests/val_{t}.csv "
                            f"--out runs/eval/{t}.json" for t in model},
            "baselines": baselines,
            "single_task": {t: {k: m.get(k) for k in KEYS} for t, m in single.items()},
            "published_workload_test_subjects": PUBLISHED_WORKLOAD,
            **{e.stem: json.loads(e.read_text()) for e in args.extra},
        }
        path.write_text(json.dumps(metrics, indent=2) + "\n")
        print(f"wrote {path}")


if __name__ == "__main__":
    main()
