"""``brainkit decode-archive``: every recording of a folder or BIDS dataset, decoded on Dask."""

from __future__ import annotations

import json
import sys

#: exit code when some recordings failed (they are in errors.csv)
SOME_FAILED = 3


def add_parser(sub, model_options) -> None:
    """The ``decode-archive`` sub-command."""
    p = sub.add_parser("decode-archive", help="decode every recording of a folder or BIDS dataset "
                                              "on Dask (one CSV each, summary.csv, errors.csv)")
    p.add_argument("path", help="a folder of recordings, or a BIDS root")
    p.add_argument("--task", required=True, action="append",
                   help="task id, e.g. eyes, sleep_stage (repeatable)")
    p.add_argument("--out", required=True, help="output folder (a second run skips what is done)")
    p.add_argument("--workers", type=int, default=1, help="processes of the local Dask cluster")
    p.add_argument("--scheduler", help="address of a running Dask scheduler (tcp://host:8786) "
                                       "instead of a local cluster")
    p.add_argument("--window-s", type=float, help="window length (default: each task's)")
    p.add_argument("--threads", type=int, default=1, help="torch threads per worker")
    p.add_argument("--bids-derivatives", action="store_true",
                   help="also write the answers as a BIDS derivative dataset (OUT/derivatives/brainkit)")
    model_options(p)
    p.set_defaults(func=cmd_decode_archive)


def cmd_decode_archive(args) -> int:
    from tqdm import tqdm

    from brainkit.archive import ERRORS, find_jobs, run_archive

    total = len(find_jobs(args.path, args.out))  # a bad path fails here, before any cluster
    with tqdm(total=total, unit="rec", desc="decode-archive", file=sys.stderr, disable=None,
              dynamic_ncols=True) as bar:
        def step(row):
            bar.update(1)
            if "error" in row:
                bar.set_postfix_str(f"failed: {row['path']}")

        result = run_archive(args.path, args.task, args.out, workers=args.workers,
                             scheduler=args.scheduler, window_s=args.window_s,
                             checkpoint=args.checkpoint, lm=args.lm, threads=args.threads,
                             bids_derivatives=args.bids_derivatives, progress=step)
        bar.update(len(result.skipped))
    json.dump({"recordings": len(result.jobs), "decoded": len(result.decoded),
               "skipped": len(result.skipped), "failed": len(result.failed), "out": args.out,
               "seconds": round(result.seconds, 2), "workers": result.workers},
              sys.stdout, indent=2, default=float)
    sys.stdout.write("\n")
    if result.failed:
        print(f"brainkit decode-archive: {len(result.failed)} of {len(result.jobs)} recordings failed "
              f"(listed in {args.out}/{ERRORS}):", file=sys.stderr)
        for path, error in result.failed:
            print(f"  {path}: {error}", file=sys.stderr)
        return SOME_FAILED
    return 0
