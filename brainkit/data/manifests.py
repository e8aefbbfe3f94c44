"""Evaluation manifests: the one schema, reading and checking them, and writing the corpus's.

A manifest row names a recording (relative to the manifest), a task, the true answer, the
window's start and duration in seconds and the subject: exactly what ``brainkit evaluate`` reads
(DESIGN.md, :data:`REQUIRED_COLUMNS`). Single-column text recordings (Bonn) carry their sampling
rate in an optional ``sfreq`` column. :func:`read_manifest` reads and checks any manifest; the
validation manifests in ``manifests/`` are written by::

    python -m brainkit datasets --manifests manifests

and are the ones the model card's numbers come from.
"""

from __future__ import annotations

import csv
import os
from pathlib import Path

from brainkit.errors import BrainkitError
from brainkit.tasks import TASK_IDS, get_task

#: the columns DESIGN.md's ``evaluate`` contract requires, in order
REQUIRED_COLUMNS = ("path", "task", "label", "start_s", "duration_s", "subject")
#: every column a manifest may have (brainkit writes all of them)
COLUMNS = REQUIRED_COLUMNS + ("sfreq",)


def read_manifest(path) -> list[dict]:
    """Rows of an evaluation manifest of known tasks, checked (see :func:`read_rows`); the task
    and label of every row must be a task id (built in or taught) and one of its answers."""
    rows = read_rows(path)
    for i, row in enumerate(rows, start=2):
        task = get_task(row["task"])
        row["task"] = task.id
        if row["label"] not in task.answers:
            raise BrainkitError(f"manifest line {i}: label {row['label']!r} is not an answer of "
                                f"{task.id} ({', '.join(task.answers)})")
    return rows


def read_rows(path) -> list[dict]:
    """Rows of a manifest, checked (columns, numbers, files), tasks and labels as written.

    Parameters
    ----------
    path : path-like
        A CSV with at least :data:`REQUIRED_COLUMNS`; recording paths relative to its folder.

    Returns
    -------
    list of dict
        One per row, with ``task`` the task id, ``label`` stripped, ``start_s`` and
        ``duration_s`` floats (seconds), ``sfreq`` a float or None, and ``file`` the recording's
        resolved path.

    Raises
    ------
    BrainkitError
        Naming the manifest line and the column at fault.
    """
    path = Path(path)
    if not path.is_file():
        raise BrainkitError(f"manifest {path} does not exist")
    with open(path, newline="", encoding="utf-8-sig") as f:
        reader = csv.DictReader(f)
        missing = [c for c in REQUIRED_COLUMNS if c not in (reader.fieldnames or [])]
        if missing:
            raise BrainkitError(f"manifest {path.name} lacks column(s) {', '.join(missing)}; "
                                f"expected {','.join(REQUIRED_COLUMNS)}")
        rows = list(reader)
    if not rows:
        raise BrainkitError(f"manifest {path.name} has no rows")
    for i, row in enumerate(rows, start=2):
        row["task"] = (row["task"] or "").strip()
        row["label"] = (row["label"] or "").strip()
        if not row["task"] or not row["label"]:
            raise BrainkitError(f"manifest line {i}: task and label must not be empty")
        try:
            row["start_s"], row["duration_s"] = float(row["start_s"]), float(row["duration_s"])
        except ValueError:
            raise BrainkitError(f"manifest line {i}: start_s and duration_s must be numbers") from None
        if row["duration_s"] <= 0:
            raise BrainkitError(f"manifest line {i}: duration_s must be positive")
        row["file"] = (path.parent / row["path"]).resolve()
        if not row["file"].exists():
            raise BrainkitError(f"manifest line {i}: {row['path']} does not exist "
                                f"(paths are relative to the manifest's folder)")
        try:  # optional: the rate of a single-column text recording
            row["sfreq"] = float(row["sfreq"]) if (row.get("sfreq") or "").strip() else None
        except ValueError:
            raise BrainkitError(f"manifest line {i}: sfreq must be a number or empty") from None
    return rows


def manifest_rows(task: str, data_dir=None, split: str = "val", relative_to=None) -> list[dict]:
    """One row per window of ``task`` in ``split`` (see :func:`brainkit.data.corpora.load_task`).

    ``relative_to`` is the folder the manifest will live in (paths are written relative to it);
    absolute paths when None.
    """
    from brainkit.data.corpora import _data_dir, _text_rate, load_task

    root = _data_dir(data_dir)
    # paths as the user's folders spell them: a symlinked ../shared stays ../shared
    spelled = Path(os.path.abspath(data_dir)) if data_dir is not None else root
    window_s = get_task(task).window_s
    rows = []
    for s in load_task(task, root, split=split):
        path = spelled / s.source
        shown = os.path.relpath(path, os.path.abspath(relative_to)) if relative_to else str(path)
        rate = _text_rate(s.source) if path.name.lower().endswith((".txt", ".txt.gz")) else None
        for start, label in zip(s.windows.starts_s, s.windows.labels):
            rows.append({"path": Path(shown).as_posix(), "task": task, "label": str(label),
                         "start_s": f"{float(start):.6f}", "duration_s": f"{window_s:g}",
                         "subject": s.subject, "sfreq": "" if rate is None else f"{rate:g}"})
    return rows


def write_manifests(out_dir, data_dir=None, tasks=None, split: str = "val") -> dict[str, Path]:
    """Write ``<split>_<task>.csv`` for every task with windows in ``split``; returns their paths."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    written = {}
    for task in tasks or TASK_IDS:
        rows = manifest_rows(task, data_dir, split, relative_to=out_dir)
        if not rows:
            continue
        path = out_dir / f"{split}_{task}.csv"
        with open(path, "w", newline="", encoding="utf-8") as f:
            writer = csv.DictWriter(f, fieldnames=COLUMNS, lineterminator="\n")
            writer.writeheader()
            writer.writerows(rows)
        written[task] = path
    return written
