"""Put the cross-validation results into the checkpoint's ``metrics.json`` and print the card's tables.

Inputs are what ``brainkit crossval`` wrote (nothing here measures anything):

    python -m brainkit crossval --task workload --task eyes --task seizure --task sleep_stage \
        --task motor_imagery --shifts --out runs/crossval_main.json
    python -m brainkit crossval --no-lm --task p300 --task n170 --task ssvep --task auditory_oddball \
        --out runs/crossval_erp.json

Usage: python scripts/card_crossval.py runs/crossval_main.json runs/crossval_erp.json [--write]
       python scripts/card_crossval.py --update runs/crossval_seizure.json [--write]
           (only seizure rerun: the other tasks' shipped results kept)
       python scripts/card_crossval.py      (the tables of what the shipped metrics.json holds)
"""

from __future__ import annotations

import argparse
import copy
import json
from pathlib import Path

from brainkit.evaluation.crossval import markdown
from brainkit.models.checkpoint import DEFAULT_CHECKPOINT


def merge(paths, base: dict | None = None) -> dict:
    """One crossval result from several runs (later runs replace earlier ones task by task),
    without the out-of-fold predictions; ``base``: a result to start from."""
    out = {"tasks": {}, "agreement": {}, "shifts": {}}
    for part in ([copy.deepcopy(base)] if base else []) + [json.loads(Path(path).read_text()) for path in paths]:
        out["k"], out["seed"] = part["k"], part["seed"]
        for task, result in part["tasks"].items():
            for method in result["methods"].values():
                method.pop("out_of_fold", None)
            out["tasks"][task] = result
        out["agreement"].update(part.get("agreement", {}))
        out["shifts"].update(part.get("shifts", {}))
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("results", nargs="*", type=Path,
                   help="brainkit crossval outputs (none: the shipped metrics.json's 'crossval')")
    p.add_argument("--write", action="store_true", help="write metrics.json's 'crossval' entry")
    p.add_argument("--update", action="store_true",
                   help="start from the shipped metrics.json's results and replace only the tasks "
                        "of the given runs (a checkpoint whose other tasks did not change)")
    args = p.parse_args()
    if not args.results:
        if args.write:
            p.error("--write needs the crossval outputs to write")
        print(markdown(json.loads((DEFAULT_CHECKPOINT / "metrics.json").read_text())["crossval"]))
        return
    path = DEFAULT_CHECKPOINT / "metrics.json"
    result = merge(args.results, json.loads(path.read_text())["crossval"] if args.update else None)
    print(markdown(result))
    if args.write:
        metrics = json.loads(path.read_text())
        metrics["crossval"] = result
        path.write_text(json.dumps(metrics, indent=2, default=float) + "\n")  # as card_metrics.py writes it


if __name__ == "__main__":
    main()
