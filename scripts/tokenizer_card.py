"""The model card's tokenizer tables, from the ``training_report.json`` that ``brainkit
train-tokenizer --out DIR`` writes beside the weights.

    python scripts/tokenizer_card.py [--tokenizer DIR] [--write]

Prints the held-out and training tables (markdown) and, with ``--write``, stores the same
figures under ``tokenizer`` in the checkpoint's ``metrics.json``.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from brainkit.models.checkpoint import DEFAULT_CHECKPOINT


def table(devices: dict, holdout: list[str]) -> str:
    rows = ["| device | windows | reconstruction r | codes used per level | perplexity per level |",
            "|---|---|---|---|---|"]
    for name, d in sorted(devices.items()):
        usage = d["codebook_usage"]
        label = f"**{name}** (never seen)" if name in holdout else name
        rows.append(f"| {label} | {d['n_windows']} | {d['reconstruction_r']:.3f} | "
                    + " / ".join(f"{u:.2f}" for u in usage["fraction_used"]) + " | "
                    + " / ".join(f"{p:.0f}" for p in usage["perplexity"]) + " |")
    mean = np.mean([d["reconstruction_r"] for d in devices.values()])
    return "\n".join(rows) + f"\n\nMean over these devices: r = {mean:.3f}."


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--tokenizer", default=str(DEFAULT_CHECKPOINT / "tokenizer"), help="folder with training_report.json")
    p.add_argument("--write", action="store_true", help="update the shipped checkpoint's metrics.json")
    args = p.parse_args()
    report = json.loads((Path(args.tokenizer) / "training_report.json").read_text())
    holdout = report["holdout_devices"]
    print(f"## Held out (steps {report['steps']}; never-seen devices: {', '.join(holdout)})\n")
    print(table(report["heldout"]["devices"], holdout))
    print("\n## Training data\n")
    print(table(report["train"]["devices"], holdout))
    if args.write:
        keep = ("n_windows", "reconstruction_r", "codebook_usage")
        entry = {split: {name: {k: d[k] for k in keep} for name, d in report[split]["devices"].items()}
                 for split in ("heldout", "train")}
        entry["holdout_devices"] = holdout
        path = DEFAULT_CHECKPOINT / "metrics.json"
        metrics = json.loads(path.read_text())
        metrics["tokenizer"] = entry
        path.write_text(json.dumps(metrics, indent=2) + "\n")
        print(f"\nwrote {path}")


if __name__ == "__main__":
    main()
