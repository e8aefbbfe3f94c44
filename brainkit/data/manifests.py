"""Evaluation manifests of the shared corpus: the windows of one split, one CSV per task.

A manifest row names a recording (relative to the manifest), a task, the true answer, the
window's start and duration in seconds and the subject: exactly what ``brainkit evaluate`` reads
(DESIGN.md). The validation manifests in ``manifests/`` are written by::

    python -m brainkit datasets --manifests manifests

and are the ones the model card's numbers come from. Single-column text recordings (Bonn) carry
their sampling rate in an optional ``sfreq`` column.
"""

from __future__ import annotations

import csv
import os
from pathlib import Path

from brainkit.tasks import TASK_IDS, get_task

COLUMNS = ("path", "task", "label", "start_s", "duration_s", "subject", "sfreq")


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
