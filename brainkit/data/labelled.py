"""The user's own labelled windows, for teaching a new task (``brainkit teach``, the Teach page).

Two sources give :class:`~brainkit.data.corpora.LabelledSet` lists (one per recording, windows
preprocessed as the checkpoint's models expect):

- :func:`manifest_sets`: a manifest with the evaluation columns
  (``path,task,label,start_s,duration_s,subject``) naming one new task and its labels;
- :func:`annotation_sets`: recordings whose annotations are mapped to labels
  (``{"T1": "left", "T2": "right"}``), one window per annotation onset (events) or, with a
  stride, windows tiling each annotation (blocks).
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import numpy as np

from brainkit.data.corpora import LabelledSet
from brainkit.data.manifests import read_rows
from brainkit.errors import BrainkitError
from brainkit.preprocess import DEFAULT, Windows, annotation_windows, preprocess

#: fewer windows than this in a class draws a warning (the Teach page, brainkit teach)
FEW_WINDOWS = 10


def parse_mapping(text: str) -> dict[str, str]:
    """``"T1=left,T2=right"`` -> ``{"T1": "left", "T2": "right"}`` (annotation -> label)."""
    mapping = {}
    for part in str(text).split(","):
        if not part.strip():
            continue
        key, sep, label = part.partition("=")
        if not sep or not key.strip() or not label.strip():
            raise BrainkitError(f"--map must look like T1=left,T2=right, not {text!r}")
        mapping[key.strip()] = label.strip()
    if len(set(mapping.values())) < 2:
        raise BrainkitError(f"--map must name two or more labels, not {text!r}")
    return mapping


def annotation_task(task_id: str, mapping: dict[str, str], window_s: float, stride_s: float | None = None,
                    caption: str | None = None):
    """The task taught from annotations: its answers are ``mapping``'s labels in order (two
    annotations may share one), event-locked when there is no stride (one window per onset).
    Its windows are :func:`annotation_sets` (or :func:`recording_sets`) with the same arguments."""
    from brainkit.tasks import taught_task

    return taught_task(task_id, list(mapping.values()), window_s, caption, event_locked=stride_s is None)


def _labelled(windows: Windows, labels, subject: str, source: str) -> LabelledSet:
    windows.labels = np.asarray(labels, dtype=str)
    return LabelledSet(None, windows, subject, "train", source, "user")


def manifest_sets(path, config=DEFAULT, read=None) -> tuple[str, float, list[LabelledSet]]:
    """The labelled windows a teaching manifest lists.

    Parameters
    ----------
    path : path-like
        CSV with ``path,task,label,start_s,duration_s,subject``; one task id in every row.
    config : PreprocessConfig
        The checkpoint's preprocessing.
    read : callable, optional
        ``read(path, sfreq=None)`` (default :func:`brainkit.io.read_recording`).

    Returns
    -------
    task_id : str
    window_s : float
        The rows' duration (all rows must share it).
    sets : list of LabelledSet
        One per recording, ``subject`` from the manifest, windows in row order.

    Raises
    ------
    BrainkitError
        For several task ids or durations, or a window that leaves its recording.
    """
    from brainkit.io import read_recording

    read = read or read_recording
    rows = read_rows(path)
    tasks = sorted({r["task"] for r in rows})
    if len(tasks) != 1:
        raise BrainkitError(f"a teaching manifest names one task, not {', '.join(tasks)}")
    durations = sorted({r["duration_s"] for r in rows})
    if len(durations) != 1:
        raise BrainkitError(f"every window of a taught task has the same duration_s, not {durations}")
    window_s = durations[0]
    by_file: dict = {}
    for row in rows:
        by_file.setdefault((row["file"], row["sfreq"]), []).append(row)
    sets = []
    for (file, sfreq), file_rows in by_file.items():
        prep = preprocess(read(file, sfreq=sfreq), config)
        onsets = [r["start_s"] for r in file_rows]
        late = [o for o in onsets if o < 0 or o + window_s > prep.duration_s + 1e-6]
        if late:
            raise BrainkitError(f"a {window_s:g}-s window from {late[0]:g} s is longer than the recording "
                                f"{Path(file).name} ({prep.duration_s:.1f} s)")
        from brainkit.preprocess import event_windows

        w = event_windows(prep, onsets, [r["label"] for r in file_rows], window_s)
        subjects = Counter(r["subject"] for r in file_rows)
        sets.append(_labelled(w, w.labels, subjects.most_common(1)[0][0], str(Path(file).name)))
    return tasks[0], window_s, sets


def recording_sets(recordings, mapping: dict[str, str], window_s: float, stride_s: float | None = None,
                   offset_s: float = 0.0, config=DEFAULT) -> list[LabelledSet]:
    """Labelled windows from the annotations of read recordings (:class:`brainkit.io.Recording`).

    Parameters
    ----------
    recordings : list of Recording
    mapping : dict
        Annotation description -> label; other annotations are ignored.
    window_s : float
        Seconds per window.
    stride_s : float, optional
        None: one window per annotation onset (events); else windows tiling each annotation.

    Raises
    ------
    BrainkitError
        For an annotation of the mapping found in no recording, windows longer than a
        recording, or no window at all.
    """
    if window_s is None or window_s <= 0:
        raise BrainkitError(f"--window-s must be positive, not {window_s}")
    seen = Counter(str(d) for r in recordings for d in r.annotations.description)
    unknown = [k for k in mapping if k not in seen]
    if unknown:
        known = ", ".join(sorted(seen)) or "none"
        raise BrainkitError(f"annotation {unknown[0]!r} is in none of the recordings (they have: {known})")
    sets = []
    for rec in recordings:
        if window_s > rec.duration_s:
            raise BrainkitError(f"{window_s:g}-s windows are longer than the recording {rec.name} "
                                f"({rec.duration_s:.1f} s)")
        prep = preprocess(rec, config)
        w = annotation_windows(prep, rec.annotations, mapping, window_s, offset_s, stride_s)
        if len(w):
            sets.append(_labelled(w, w.labels, "user", rec.name))
    if not sets:
        raise BrainkitError(f"no {window_s:g}-s window fits inside the annotations {', '.join(mapping)}")
    return sets


def annotation_sets(files, mapping: dict[str, str], window_s: float, stride_s: float | None = None,
                    offset_s: float = 0.0, config=DEFAULT, read=None) -> list[LabelledSet]:
    """:func:`recording_sets` of recording files (``read(path)``, default :func:`read_recording`)."""
    from brainkit.io import read_recording

    read = read or read_recording
    return recording_sets([read(f) for f in files], mapping, window_s, stride_s, offset_s, config)


def class_counts(sets) -> dict[str, int]:
    """Windows per label over all sets, in order of first appearance."""
    counts: Counter = Counter()
    for s in sets:
        counts.update(str(a) for a in s.windows.labels)
    return dict(counts)


def count_warnings(counts: dict[str, int]) -> list[str]:
    """One line per problem with the class counts: one class only, or a class with few windows."""
    if len(counts) < 2:
        return [f"only one class ({', '.join(counts) or 'none'}): a task needs two or more labels"]
    return [f"class {label!r} has only {n} window(s); at least {FEW_WINDOWS} per class are advised"
            for label, n in counts.items() if n < FEW_WINDOWS]
