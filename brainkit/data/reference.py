"""Reference windows drawn from the training corpora, for the explanations that need them.

The explanations (:mod:`brainkit.explain`) take windows and never read a corpus; these functions
pick the windows that ``brainkit correlations`` and ``brainkit explain-regions`` pass them.
"""

from __future__ import annotations

import numpy as np

from brainkit._logging import logger
from brainkit.errors import BrainkitError
from brainkit.preprocess import Windows
from brainkit.tasks import TASK_IDS


def reference_windows(data_dir=None, n_per_task: int = 32, seed: int = 0, tasks=None) -> dict:
    """A seeded sample of validation windows per task, for task correlations
    (:func:`brainkit.explain.correlations.task_correlations`).

    A task whose validation windows come in several sensor layouts keeps the layout with the most
    windows; the per-recording scales are replaced by their median (a Windows holds one scale per
    channel), so absolute amplitude differences between recordings are not part of these maps.

    Returns
    -------
    dict of str to Windows
        At most ``n_per_task`` windows per task (tasks without validation windows are left out).
    """
    from brainkit.data.corpora import load_tasks

    out = {}
    for task, sets in load_tasks(tasks, data_dir, "val").items():
        groups: dict = {}
        for s in sets:
            w = s.windows
            key = (tuple(w.sensors.names), tuple(w.sensors.kinds), w.sensors.pos.tobytes(), w.x.shape[1:])
            groups.setdefault(key, []).append(w)
        if not groups:
            logger.warning("no validation windows for %s: left out of the reference", task)
            continue
        members = max(groups.values(), key=lambda ws: sum(len(w) for w in ws))
        x = np.concatenate([w.x for w in members])
        labels = np.concatenate([w.labels if w.labels is not None else np.full(len(w), "") for w in members])
        rng = np.random.default_rng([seed, TASK_IDS.index(task)])
        idx = np.sort(rng.choice(len(x), min(n_per_task, len(x)), replace=False))
        out[task] = Windows(x[idx], members[0].sfreq, np.concatenate([w.starts_s for w in members])[idx],
                            members[0].sensors, np.median(np.stack([w.scale for w in members]), 0),
                            labels[idx])
    return out


def eegmmidb_eyes(data_dir=None, n_windows: int = 8, seed: int = 0, split: str | None = None,
                  label: str = "closed"):
    """``n_windows`` eyes-``label`` windows of EEGMMIDB (64 channels), spread over subjects.

    ``split`` None takes every split: the corpus holds one EEGMMIDB subject, whose eyes-open and
    eyes-closed baseline runs are training data of the ``eyes`` task (its validation windows are
    Bonn's).

    Returns a list of one-window :class:`~brainkit.preprocess.Windows` (each keeps its own
    recording's amplitude scale).
    """
    from brainkit.data.corpora import load_task

    sets = [s for s in load_task("eyes", data_dir, split=split)
            if s.source.startswith("eegmmidb/") and label in set(s.windows.labels)]
    if not sets:
        raise BrainkitError(f"no EEGMMIDB eyes-{label} windows{f' in the {split} split' if split else ''}")
    rng = np.random.default_rng(seed)
    picks = []
    for k in range(n_windows):  # round-robin over recordings, a random window of each
        s = sets[k % len(sets)]
        which = np.flatnonzero(s.windows.labels == label)
        picks.append(s.windows.select([int(rng.choice(which))]))
    return picks
