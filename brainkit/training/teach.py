"""Teach brainkit a new task from a few labelled windows (``brainkit teach``, the Teach page).

The base model stays frozen. What is learned is what a built-in read-out task has of its own:

1. the task's **read-out head**, a class-balanced logistic regression of the 207 region-pooled,
   gain-invariant spectral and waveform features of every window
   (:func:`brainkit.models.readout.fit_head`, a second). When every teaching recording has the
   same channels (one montage, as a clinic's or a lab's recordings do), the head also reads each
   of those channels as recorded (log band powers and scale,
   :func:`brainkit.models.readout.montage_features`: what the band-power method reads) when that
   scores better in the cross-validation below, and the regions-only head is kept beside it for
   recordings without those channels (``portable``: the regions-only head only);
2. its **answer prototypes**, the answer anchor's vectors: initialised from the language model's
   embeddings of the answer words and tuned a few steps so that the language model's answer
   follows the head (distillation, as :func:`brainkit.training.readout.tune_reading` does for the
   built-in tasks); everything else is frozen;
3. its **caption embedding** (the language model's own, no training).

**Honest quality** (:func:`cross_validate`): balanced accuracy in folds that never share a
window's samples: by subject or recording when every training part then holds every class
(:func:`brainkit.evaluation.crossval.folds`), else by contiguous blocks of each recording whose
windows do not overlap across blocks (:func:`contiguous_blocks`). In the same folds, on the same
labels, the classical methods of :mod:`brainkit.evaluation.baselines` that apply: band power +
logistic regression always, CSP + LDA for two classes, xDAWN + tangent space for event-locked
windows. A learning curve repeats this with 10, 20 and 50 training windows per class. The
cross-validation scores brainkit's read-out head without the language model (its answers follow
the head; their agreement on the training windows is reported).
"""

from __future__ import annotations

import time
from dataclasses import replace

import numpy as np
import torch

from brainkit._logging import logger
from brainkit.data.corpora import LabelledSet
from brainkit.errors import BrainkitError
from brainkit.evaluation.baselines import bandpower_logreg, csp_lda, labels_of, xdawn_tangent
from brainkit.evaluation.crossval import Split, crossval_task, folds
from brainkit.inference import answer_log_probabilities, window_readout
from brainkit.models.readout import fit_head, softmax_logits
from brainkit.models.taskpack import TaskPack, decoder_with_packs
from brainkit.tasks import Task, get_task, taught_tasks

#: training windows per class of the learning curve
LEARNING_CURVE = (10, 20, 50)
#: the answer prototypes' tuning stops after this many batches in a row answered as the head does
EARLY_STOP = 4
HEAD = "brainkit (read-out head)"
MONTAGE = "brainkit (read-out head + the recordings' channels)"


def _select(s: LabelledSet, rows, subject=None) -> LabelledSet:
    return replace(s, windows=s.windows.select(rows), subject=subject or s.subject)


def contiguous_blocks(sets, n_blocks: int) -> tuple[list[LabelledSet], list[int]]:
    """Each recording cut into at most ``n_blocks`` contiguous blocks of windows in time.

    Windows of a block that overlap the next block's first window are dropped, so that no two
    blocks share a sample (overlapping sliding windows lose a few at each cut).

    Returns
    -------
    blocks : list of LabelledSet
        ``subject`` is ``<source>#<block>``.
    index : list of int
        The block number (0 .. n_blocks - 1) of every block, for folds across recordings.
    """
    out, index = [], []
    for s in sets:
        w = s.windows
        order = np.argsort(w.starts_s, kind="stable")
        starts = np.asarray(w.starts_s, dtype=float)[order]
        cuts = sorted({round(j * len(order) / n_blocks) for j in range(1, n_blocks)} - {0, len(order)})
        parts = np.split(np.arange(len(order)), cuts)
        for j, part in enumerate(parts):
            if j + 1 < len(parts) and len(parts[j + 1]):  # drop what reaches into the next block
                part = part[starts[part] + w.window_s <= starts[parts[j + 1][0]] + 1e-9]
            if len(part):
                out.append(_select(s, np.sort(order[part]), f"{s.source}#{j}"))
                index.append(j)
    return out, index


def teach_splits(sets, task: Task, k: int = 5, seed: int = 0):
    """Folds for a taught task: ``(sets, splits, unit)``.

    By subject or recording (:func:`brainkit.evaluation.crossval.folds`) when that gives two or
    more folds whose training part holds every class; else by contiguous blocks (block ``j`` of
    every recording is fold ``j``'s test part).
    """
    n_answers = len(set(labels_of(sets, task)))
    with taught_tasks([task]):
        splits, unit = folds(sets, task.id, k, seed)

    def usable(splits, sets):
        return len(splits) >= 2 and all(
            len(sp.test) and len(set(labels_of([sets[i] for i in sp.train], task))) == n_answers
            for sp in splits)

    if usable(splits, sets):
        return sets, splits, unit
    blocks, index = contiguous_blocks(sets, k)
    splits = [Split([i for i, b in enumerate(index) if b != j], [i for i, b in enumerate(index) if b == j])
              for j in sorted(set(index))]
    if not usable(splits, blocks):
        raise BrainkitError("too few windows to cross-validate: every class needs windows in "
                            "several non-overlapping parts of the recordings")
    return blocks, splits, "contiguous block"


def montage_of(sets) -> tuple:
    """The channel names every set shares in the same order (one montage), else ()."""
    layouts = {tuple(n.lower() for n in s.windows.sensors.names) for s in sets}
    return tuple(sets[0].windows.sensors.names) if len(layouts) == 1 else ()


def head_features(cache: dict, s: LabelledSet, channels=()) -> np.ndarray:
    """The read-out inputs of a set's windows (regions, then ``channels``' own features), each
    part computed once (``cache``)."""
    from brainkit.inference import window_montage

    if id(s) not in cache:
        cache[id(s)] = (s, window_readout(s.windows).numpy())
    parts = [cache[id(s)][1]]
    if channels:
        key = (id(s), tuple(channels))
        if key not in cache:
            cache[key] = (s, window_montage(s.windows, channels).numpy())
        parts.append(cache[key][1])
    return np.concatenate(parts, 1)


def head_method(cache: dict, channels=()):
    """brainkit's read-out head (no language model) as ``fit_predict(train, test, task)``;
    features are computed once per set (``cache``), with ``channels``' own features after the
    regions' when given."""
    def features(sets):
        return np.concatenate([head_features(cache, s, channels) for s in sets])

    def fit_predict(train, test, task):
        task = get_task(task)
        weight, bias = fit_head(features(train), labels_of(train, task), len(task.answers))
        return softmax_logits(features(test) @ weight.T + bias)

    return fit_predict


def classical_methods(task: Task, sets) -> dict:
    """The classical methods that apply to a taught task (one channel layout for CSP and xDAWN)."""
    methods = {"band power + logistic regression": bandpower_logreg}
    one_layout = len({tuple(s.windows.sensors.names) for s in sets}) == 1
    if one_layout and len(task.answers) == 2 and sets[0].windows.x.shape[1] >= 2:
        methods["CSP + LDA"] = csp_lda
    if one_layout and task.event_locked and sets[0].windows.x.shape[1] >= 2:
        methods["xDAWN + tangent space"] = xdawn_tangent
    return methods


def limited(method, n_per_class: int | None, seed: int):
    """``method`` trained on at most ``n_per_class`` random windows per class of its training sets."""
    if n_per_class is None:
        return method

    def fit_predict(train, test, task):
        y = labels_of(train, task)
        rng = np.random.default_rng(seed)
        keep = np.zeros(len(y), bool)
        for a in np.unique(y):
            idx = np.flatnonzero(y == a)
            keep[rng.permutation(idx)[:n_per_class]] = True
        out, offset = [], 0
        for s in train:
            rows = np.flatnonzero(keep[offset:offset + len(s.windows)])
            offset += len(s.windows)
            if len(rows):
                out.append(_select(s, rows))
        return method(out, test, task)

    return fit_predict


def cross_validate(task: Task, sets, k: int = 5, seed: int = 0, curve=LEARNING_CURVE, progress=None,
                   channels=()) -> dict:
    """brainkit's read-out head beside the classical methods, in the same folds, on the same labels.

    Returns
    -------
    dict
        ``unit``, ``n_folds``, ``methods`` (name -> balanced accuracy mean/std/folds over folds
        with all training windows), ``curve`` (windows per class -> name -> balanced accuracy;
        the points above the training windows available are left out), ``train_per_class``
        (training windows per class in the folds, smallest), ``out_of_fold`` (the regions-only head's).
        With ``channels``, the head that also reads them is scored beside the regions-only one.
    """
    blocks, splits, unit = teach_splits(sets, task, k, seed)
    cache: dict = {}
    methods = {HEAD: head_method(cache), **({MONTAGE: head_method(cache, channels)} if channels else {}),
               **classical_methods(task, blocks)}
    per_class = min(min(np.bincount(labels_of([blocks[i] for i in sp.train], task),
                                    minlength=len(task.answers))) for sp in splits)
    points = [n for n in curve if n < per_class] + [None]
    out = {"unit": unit, "n_folds": len(splits), "train_per_class": int(per_class), "curve": {}}
    with taught_tasks([task]):
        for n in points:
            named = {name: limited(m, n, seed) for name, m in methods.items()}
            r = crossval_task(task.id, blocks, named, k, seed, keep=[HEAD] if n is None else [],
                              progress=progress, splits=(splits, unit))
            scores = {name: r["methods"][name]["balanced_accuracy"] for name in named}
            if n is None:
                out["methods"] = scores
                out["out_of_fold"] = r["methods"][HEAD].get("out_of_fold")
                out["n_windows"] = r["n_windows"]
            out["curve"][str(n or per_class)] = {name: s["mean"] for name, s in scores.items()}
    return out


def fit_pack(bk, task: Task, sets, reading_steps: int = 24, batch_size: int = 8, lr: float = 1e-2,
             reading_windows: int = 64, seed: int = 0, progress=None, channels=()) -> tuple[TaskPack, dict]:
    """The task pack fitted on all labelled windows, and how well the language model follows it.

    The answer prototypes start at the answer words' embeddings; only when the language model's
    answer then differs from the head's on some of (at most ``reading_windows``) training
    windows are they tuned, at most ``reading_steps`` steps (fewer once the language model has
    followed the head on :data:`EARLY_STOP` batches in a row). ``progress(stage, done, total)``
    is called at each step.

    Returns
    -------
    pack : TaskPack
    reading : dict
        ``agreement_before`` and ``agreement`` (fraction of those windows where the language
        model's answer is the head's), ``steps`` taken, ``n_windows``.
    """
    from brainkit.models.llm import embed_text
    from brainkit.preprocess import evenly_spaced

    A = len(task.answers)
    cache: dict = {}
    features = [torch.from_numpy(head_features(cache, s, channels)) for s in sets]
    y = labels_of(sets, task)
    weight, bias = fit_head(torch.cat(features).numpy(), y, A)
    portable = fit_head(np.concatenate([head_features(cache, s) for s in sets]), y, A) if channels else None
    model, tok = bk.decoder.lm
    root = getattr(bk, "_root_decoder", bk.decoder)
    with torch.no_grad():
        caption = embed_text(model, tok, task.caption).float().numpy()
    pack = TaskPack(task, weight, bias, np.zeros((A, root.config.lm_hidden), np.float32), caption, bk.base,
                    channels=tuple(channels), portable=portable)
    view = decoder_with_packs(root, [pack])
    proto = view.answer_prototypes[task.id]
    batches = []  # per set: latents, band powers, scale, sensors, read-out features of some windows
    per_set = max(1, reading_windows // len(sets))
    for s, f in zip(sets, features):
        rows = evenly_spaced(len(s.windows), per_set)
        latents, bp, scale = bk.features(s.windows.select(rows))
        batches.append((latents.clone(), bp.clone(), scale, s.windows.sensors, f[rows]))

    def agreement() -> float:
        agree = []
        with torch.no_grad(), bk._lock:
            for lat, bp, scale, sensors, ro in batches:
                logprob, conn = answer_log_probabilities(view, lat, bp, scale, sensors, task.id, readout=ro)
                agree.append((logprob.argmax(1) == conn.aux_logits.argmax(1)).numpy())
        return float(np.concatenate(agree).mean())

    with taught_tasks([task]):
        with torch.no_grad():
            proto.copy_(view._answer_embeddings(task.id))
        before = agreement()
        steps = reading_steps if before < 1.0 else 0
        proto.requires_grad_(True)
        optimizer = torch.optim.Adam([proto], lr=lr)
        rng = np.random.default_rng(seed)
        streak, taken = 0, 0
        for step in range(steps):
            lat, bp, scale, sensors, ro = batches[rng.integers(len(batches))]
            idx = rng.choice(len(lat), size=min(batch_size, len(lat)), replace=False)
            with bk._lock:
                logprob, conn = answer_log_probabilities(view, lat[idx], bp[idx], scale, sensors, task.id,
                                                         readout=ro[idx])
                target = conn.aux_logits.softmax(-1).detach()
                loss = -(target * logprob).sum(-1).mean()  # the language model follows the head
                (proto.grad,) = torch.autograd.grad(loss, [proto])
            optimizer.step()
            taken = step + 1
            if progress is not None:
                progress("tuning the answer prototypes", step + 1, steps)
            # stop once the language model has followed the head on EARLY_STOP batches in a row
            streak = streak + 1 if bool((logprob.argmax(1) == target.argmax(1)).all()) else 0
            if streak >= EARLY_STOP:
                break
        proto.requires_grad_(False)
        after = agreement() if taken else before
    pack.prototypes = proto.detach().float().numpy().copy()
    n = sum(len(b[0]) for b in batches)
    logger.info("taught %s: %d windows; the language model follows the head on %.0f%% of %d windows "
                "(%.0f%% before %d tuning steps)", task.id, len(y), 100 * after, n, 100 * before, taken)
    return pack, {"agreement_before": before, "agreement": after, "steps": taken, "n_windows": n}


def teach(bk, task: Task, sets, k: int = 5, seed: int = 0, reading_steps: int = 24, curve=LEARNING_CURVE,
          progress=None, portable: bool = False) -> TaskPack:
    """Cross-validate, then fit the pack on every window; the report is in ``pack.report``.

    When the recordings share one montage (and not ``portable``), a head that also reads their
    channels is cross-validated beside the regions-only head; the pack keeps it only when its
    balanced accuracy is higher (``report["head"]``; a choice made on the same folds that score
    it, so its figure is slightly optimistic).

    Raises
    ------
    BrainkitError
        For a label that is not one of the task's answers, or a class without windows.
    """
    from brainkit.data.labelled import class_counts, count_warnings

    counts = class_counts(sets)
    unknown = sorted(set(counts) - set(task.answers))
    if unknown:
        raise BrainkitError(f"label {unknown[0]!r} is not an answer of {task.id} ({', '.join(task.answers)})")
    missing = [a for a in task.answers if a not in counts]
    if missing or len(counts) < 2:
        raise BrainkitError(f"every label needs windows: {', '.join(missing) or 'a second class'} has none")
    channels = () if portable else montage_of(sets)
    t0 = time.perf_counter()
    cv = cross_validate(task, sets, k, seed, curve, progress=(
        None if progress is None else lambda _t, name, i, n: progress(f"cross-validating {name}", i, n)),
        channels=channels)
    scores = {name: cv["methods"][name]["mean"] for name in (HEAD, MONTAGE) if name in cv["methods"]}
    if channels and not scores[MONTAGE] > scores[HEAD]:  # ties: the head that reads any layout
        channels = ()
    t1 = time.perf_counter()
    pack, reading = fit_pack(bk, task, sets, reading_steps, seed=seed, progress=progress, channels=channels)
    t2 = time.perf_counter()
    pack.report = {"head": MONTAGE if channels else HEAD, "channels": list(channels), "class_counts": counts, "warnings": count_warnings(counts), "cross_validation": cv,
                   "lm_head_agreement": reading,
                   "seconds": {"cross_validation": t1 - t0, "fit": t2 - t1}}
    return pack
