"""Task correlations: which tasks the model treats alike (UniMind's task-aware query selection).

Task x task similarity of the queries the router chooses for the same windows under each task's
caption (the fraction of choices shared), of channel-attribution topographies interpolated onto
one 10-10 layout (Pearson), and of the soft tokens of the same windows read under each task's
caption (linear CKA), each symmetric with a unit diagonal. The windows are given:
:func:`correlate_tasks` reads them from one recording; ``brainkit correlations`` from the
validation corpora (:mod:`brainkit.data.reference`).
"""

from __future__ import annotations

import numpy as np
import torch

from brainkit._logging import logger
from brainkit.errors import BrainkitError
from brainkit.explain.attention import query_selection
from brainkit.explain.attribution import (AnswerModel, complete_integrated_gradients, start_windows,
                                         steps_per_path)
from brainkit.explain.context import explaining, model_lock, temperature_of
from brainkit.explain.readout import RecordingContext, readout_rows
from brainkit.inference import fit_window, recording_reference
from brainkit.tasks import get_task, task_ids
from brainkit.viz.tasks import cluster_order
from brainkit.viz.topomap import topography


def linear_cka(x, y) -> float:
    """Linear centred kernel alignment of two representations of the same n samples.

    Parameters
    ----------
    x : array, shape (n, p)
    y : array, shape (n, q)

    Returns
    -------
    float in [0, 1]; 0 when either representation is constant.
    """
    x = np.asarray(x, np.float64)
    y = np.asarray(y, np.float64)
    x, y = x - x.mean(0), y - y.mean(0)
    kx, ky = x @ x.T, y @ y.T  # (n, n)
    denom = np.sqrt((kx * kx).sum() * (ky * ky).sum())
    return float((kx * ky).sum() / denom) if denom > 0 else 0.0


def shared_choices(a, b) -> float:
    """The fraction of query choices two captions share: ``a``, ``b`` (N, M) the query each of the
    same N windows' M slots selected under each caption."""
    a, b = np.asarray(a), np.asarray(b)
    if a.shape != b.shape or not a.size:
        raise ValueError(f"choices of the same windows are compared: shapes {a.shape} and {b.shape}")
    return float((a == b).mean())


def _symmetric(m) -> list[list[float]]:
    m = np.clip((np.asarray(m, np.float64) + np.asarray(m, np.float64).T) / 2, -1.0, 1.0)
    np.fill_diagonal(m, 1.0)
    return m.round(6).tolist()


def task_correlations(bk, reference: dict, seed: int = 0, n_attribution: int = 8, n_steps: int = 14,
                      batch_size: int = 16) -> dict:
    """Task x task similarity of query selection, attribution topographies and representations.

    Parameters
    ----------
    bk : Brainkit
    reference : dict of str to Windows
        Reference windows per task (:func:`brainkit.data.reference.reference_windows` or
        :func:`brainkit.inference.recording_reference`); each resampled to its task's window.
    seed : int
        Chooses the ``n_attribution`` windows per task whose integrated gradients are computed.
    n_attribution : int
        Windows per task for the attribution topographies (integrated gradients are costly).
    n_steps : int
        Model evaluations per window's integrated gradients, shared by its paths (at least
        :func:`~brainkit.explain.attribution.steps_per_path`).
    batch_size : int
        Windows per forward pass.

    Returns
    -------
    dict (JSON-ready)
        ``tasks``; ``order`` (hierarchical clustering of the routing similarity); ``matrices``:
        ``routing`` the fraction of query choices (windows x slots) the two tasks' captions
        share on the same windows (:func:`shared_choices`; *all* reference windows read under
        both captions, so that only the task changes); ``attribution`` Pearson
        correlation of the mean normalised channel |attribution| (each window's sums to one),
        interpolated onto :data:`~brainkit.viz.topomap.TOPO_LABELS` by
        :func:`~brainkit.viz.topomap.topography` (0 where a task has fewer than
        two channels with a position); ``representation`` linear CKA of the soft tokens (flattened
        M*H) of *all* reference windows under the two tasks' captions: tasks have different
        windows, so the same windows are compared under both captions; ``n_windows`` per task.
        Symmetric, unit diagonal, in [-1, 1].
    """
    known = task_ids()  # built in, and taught ones in a taught_tasks context
    tasks = [t for t in known if t in reference and len(reference[t])]
    unknown = set(reference) - set(known)
    if unknown:
        raise BrainkitError(f"unknown task(s) {', '.join(sorted(unknown))}; use {', '.join(known)}")
    if not tasks:
        raise BrainkitError("no reference windows: give at least one task with windows")
    ref = {t: fit_window(reference[t], get_task(t).window_s) for t in tasks}
    dec = bk.decoder
    chosen, reps = {t: [] for t in tasks}, {t: [] for t in tasks}
    batches = {t: [np.arange(i, min(i + batch_size, len(w))) for i in range(0, len(w), batch_size)]
               for t, w in ref.items()}
    # each task's windows form one "recording" for a read-out read as a sequence (as predict does)
    context = {t: RecordingContext.of(w, np.arange(len(w))) for t, w in ref.items()} if dec.config.readout_tasks else {}
    with model_lock(bk), explaining(bk.tokenizer, dec), torch.no_grad(), torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        feats = {t: [bk.features(ref[t].select(rows)) for rows in batches[t]] for t in tasks}
        readout = {(c, t): readout_rows(dec, c, context[t]) for c in tasks for t in tasks} if context else {}
        for caption in tasks:
            for t in tasks:
                for rows, (lat, bp, scale) in zip(batches[t], feats[t]):
                    inputs = readout.get((caption, t))
                    conn = dec.connect(lat, bp, scale, ref[t].sensors, caption,
                                       readout=None if inputs is None else inputs[rows])
                    reps[caption].append(conn.soft_tokens.flatten(1).float().numpy())  # (n, M*H)
                    chosen[caption].append(conn.selected.numpy())  # (n, M)
    chosen = {t: np.concatenate(c) for t, c in chosen.items()}  # (N_all, M), same rows for every caption
    reps = {t: np.concatenate(r) for t, r in reps.items()}  # (N_all, M*H)
    topo = {t: _task_topography(bk, ref[t], t, seed, n_attribution, n_steps, batch_size, context.get(t))
            for t in tasks}
    n = len(tasks)
    route_m, attr_m, rep_m = np.eye(n), np.eye(n), np.eye(n)
    for i in range(n):
        for j in range(i + 1, n):
            a, b = tasks[i], tasks[j]
            route_m[i, j] = route_m[j, i] = shared_choices(chosen[a], chosen[b])
            rep_m[i, j] = rep_m[j, i] = linear_cka(reps[a], reps[b])
            ta, tb = topo[a], topo[b]
            ok = ta is not None and tb is not None and np.ptp(ta) > 0 and np.ptp(tb) > 0
            attr_m[i, j] = attr_m[j, i] = float(np.corrcoef(ta, tb)[0, 1]) if ok else 0.0
    missing = [t for t in tasks if topo[t] is None]
    if missing:
        logger.warning("no attribution topography for %s (fewer than two channels with a position): "
                       "their attribution correlations are set to 0", ", ".join(missing))
    return {"tasks": tasks, "order": [tasks[i] for i in cluster_order(route_m)],
            "matrices": {"routing": _symmetric(route_m), "attribution": _symmetric(attr_m),
                         "representation": _symmetric(rep_m)},
            "n_windows": {t: len(ref[t]) for t in tasks}}


def _task_topography(bk, windows, task, seed, n_windows, n_steps, batch_size, context=None):
    """Mean normalised channel |integrated gradients| of a seeded subset of windows on the grid
    (``context``: the read-out features of all ``windows``, their recording). Each window's
    paths start from the task's other windows (:func:`~brainkit.explain.attribution.start_windows`,
    as the Explain page's do), averaged; from silence a gain-invariant read-out's attributions
    would mostly tell of its floors."""
    rng = np.random.default_rng([seed, task_ids().index(task)])
    idx = np.sort(rng.choice(len(windows), min(n_windows, len(windows)), replace=False))
    x_all = torch.from_numpy(np.ascontiguousarray(windows.x, dtype=np.float32))
    totals = []
    with model_lock(bk), explaining(bk.tokenizer, bk.decoder):
        for i in idx:
            x, starts = x_all[i:i + 1], start_windows(len(windows), int(i))
            rows = None if context is None else context.at([i])
            scale = windows.scale if np.ndim(windows.scale) == 1 else windows.scale[i:i + 1]
            model = AnswerModel(bk.tokenizer, bk.decoder, windows.sensors, scale, task, windows.sfreq,
                                temperature_of(bk, task), anchor=x, context=rows)
            with torch.no_grad():
                target = int(model(x)[0].argmax())  # the answer given
            steps = steps_per_path(n_steps, len(starts))
            attr = complete_integrated_gradients(model, x, target, baseline=x_all[starts] if len(starts) else None,
                                                 n_steps=steps, max_steps=steps,
                                                 internal_batch_size=batch_size)[0]
            mag = attr.abs().sum(-1).double()  # (1, C)
            totals.append((mag / mag.sum(-1, keepdim=True).clamp(min=1e-12)).numpy())
    return topography(windows.sensors, np.concatenate(totals).mean(0))


def correlate_tasks(bk, recording, n_per_task: int = 16) -> dict:
    """Task x task similarities (:func:`task_correlations`) read from one recording, plus each
    task's query selection (the Task correlations page).

    Returns
    -------
    dict
        ``tasks, order, matrices {routing, attribution, representation}, n_windows`` as
        ``brainkit correlations`` writes them, and ``selection``:
        :func:`~brainkit.explain.attention.query_selection`.
    """
    reference = recording_reference(recording, task_ids(), n_per_task=n_per_task)
    out = task_correlations(bk, reference, n_attribution=min(8, n_per_task))
    out["selection"] = query_selection(bk, reference)
    return out
