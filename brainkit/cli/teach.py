"""``brainkit teach``: a new task from the user's labelled windows, saved as a task pack; and the
``--tasks DIR ...`` option of ``decode``, ``evaluate`` and ``explain`` that uses packs."""

from __future__ import annotations

import json
import sys
from contextlib import nullcontext
from pathlib import Path

from brainkit.errors import BrainkitError


def add_teach_parser(sub, model_options) -> None:
    """The ``teach`` sub-command's arguments."""
    p = sub.add_parser("teach", help="teach a new task from labelled recordings (a task pack)")
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--manifest", help="CSV: path,task,label,start_s,duration_s,subject (one new task)")
    src.add_argument("--from-annotations", nargs="+", metavar="FILE",
                     help="recordings whose annotations give the labels (with --map, --window-s, --task)")
    p.add_argument("--map", help="annotation -> label, e.g. T1=left,T2=right")
    p.add_argument("--window-s", type=float, help="window length in seconds (with --from-annotations)")
    p.add_argument("--stride-s", type=float,
                   help="windows tiling each annotation every STRIDE s (default: one window per onset)")
    p.add_argument("--task", help="the new task's id (with --from-annotations; a manifest names it)")
    p.add_argument("--event-locked", action="store_true",
                   help="the manifest's windows start at stimuli (adds xDAWN + tangent space)")
    p.add_argument("--caption", help="one sentence on the task (steers the model's routing)")
    p.add_argument("--out", required=True, help="the task pack folder to write")
    p.add_argument("--portable", action="store_true",
                   help="read the scalp regions only (any layout), not also the recordings' own channels")
    p.add_argument("--folds", type=int, default=5, help="cross-validation folds (blocks) at most")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--draws", type=int, help="random draws of the training windows averaged at each "
                   "learning-curve point (default: brainkit.training.teach.CURVE_DRAWS)")
    p.add_argument("--reading-steps", type=int, default=24,
                   help="steps tuning the answer prototypes when the language model does not follow the head")
    p.add_argument("--threads", type=int, default=0, help="torch CPU threads (0: torch's default)")
    model_options(p)
    p.set_defaults(func=cmd_teach)


def add_tasks_option(p) -> None:
    p.add_argument("--tasks", nargs="+", metavar="DIR", help="task packs (brainkit teach) to add")


def packs_of(args) -> list:
    """The task packs of ``--tasks``, checked against the checkpoint (before the model loads)."""
    dirs = getattr(args, "tasks", None)
    if not dirs:
        return []
    from brainkit.models.taskpack import base_identity, load_pack

    base = base_identity(args.checkpoint)
    return [load_pack(d, base) for d in dirs]


def taught_context(packs):
    """:func:`brainkit.tasks.taught_tasks` of the packs (nothing when there are none)."""
    if not packs:
        return nullcontext()
    from brainkit.tasks import taught_tasks

    return taught_tasks([p.task for p in packs])


def _sets(args, config):
    from brainkit.cli.commands import read_complete
    from brainkit.data.labelled import annotation_sets, annotation_task, manifest_sets, parse_mapping
    from brainkit.tasks import taught_task

    if args.manifest:
        task_id, window_s, sets = manifest_sets(args.manifest, config, read=read_complete)
        labels = [str(a) for s in sets for a in s.windows.labels]
        return taught_task(task_id, labels, window_s, args.caption, args.event_locked), sets
    if not (args.map and args.window_s and args.task):
        raise BrainkitError("--from-annotations needs --map, --window-s and --task")
    mapping = parse_mapping(args.map)
    # the task first: a bad id fails before the recordings are read
    task = annotation_task(args.task, mapping, args.window_s, args.stride_s, args.caption)
    sets = annotation_sets(args.from_annotations, mapping, args.window_s, args.stride_s, config=config,
                           read=lambda f: read_complete(f))
    return task, sets


def cmd_teach(args) -> int:
    import torch

    from brainkit._logging import logger
    from brainkit.data.labelled import class_counts, count_warnings
    from brainkit.inference import Brainkit
    from brainkit.models.checkpoint import load_preprocess_config
    from brainkit.models.taskpack import save_pack
    from brainkit.training.teach import CURVE_DRAWS, layout_warning, teach

    if args.draws is not None and args.draws < 1:
        raise BrainkitError(f"--draws must be 1 or more, not {args.draws}")
    if args.threads:
        torch.set_num_threads(args.threads)
    task, sets = _sets(args, load_preprocess_config(args.checkpoint))
    counts = class_counts(sets)
    if len(counts) < 2:
        raise BrainkitError(count_warnings(counts)[0])
    for line in count_warnings(counts) + ([] if args.portable else layout_warning(sets)):
        logger.warning(line)
    bk = Brainkit(args.checkpoint, lm_path=args.lm)

    def progress(stage, done, total):
        logger.info("teach %s: %s %d/%d", task.id, stage, done, total)

    pack = teach(bk, task, sets, k=args.folds, seed=args.seed, reading_steps=args.reading_steps,
                 progress=progress, portable=args.portable, draws=args.draws or CURVE_DRAWS)
    save_pack(pack, args.out)
    cv = pack.report["cross_validation"]
    summary = {"out": str(Path(args.out)), "task": task.id, "answers": list(task.answers),
               "window_s": task.window_s, "head": pack.report["head"], "channels": list(pack.channels),
               "class_counts": counts, "warnings": pack.report["warnings"],
               "folds": f"{cv['n_folds']} by {cv['unit']}",
               "balanced_accuracy": {k: v["mean"] for k, v in cv["methods"].items()},
               "learning_curve": cv["curve"], "learning_curve_std": cv["curve_std"], "draws": cv["draws"],
               "learning_curve_gap": cv["curve_gap"],
               "lm_head_agreement": pack.report["lm_head_agreement"],
               "seconds": pack.report["seconds"]}
    json.dump(summary, sys.stdout, indent=2, default=float)
    sys.stdout.write("\n")
    return 0
