"""Teach brainkit a new task from a few labelled windows (``brainkit teach``, the Teach page).

The base model stays frozen. What is learned is what a built-in read-out task has of its own:

1. the task's **read-out head**. It reads what the data allows (:data:`FAMILIES`,
   :func:`families_for`): always the 207 region-pooled, gain-invariant spectral and waveform
   features (class-balanced logistic regression; any layout); and the channels every teaching
   recording has (:func:`montage_of`: one montage, as a clinic's or a lab's recordings have,
   though one recording may list them in another order or lack a bad channel), in up to three
   readings: their log band powers and scale (logistic regression, as band
   power), for two classes the log 8-30 Hz power of common spatial patterns (as CSP;
   :func:`fit_spatial_filters`; by LDA with a Ledoit-Wolf covariance), and for event-locked
   windows the 1-20 Hz time course of xDAWN filters (:func:`fit_evoked_filters`; by the nearest
   class mean, a matched filter: its hundreds of time points outnumber the windows, too many
   for a covariance to be estimated, and xDAWN has already whitened them against the noise).
   With a montage the pack keeps **the readings of its channels combined**
   (:func:`kept_family`): their logits summed, a product of experts, so that a reading that
   separates the classes confidently decides and one that does not adds little. The choice
   is fixed before any fold is scored (no family is picked by its cross-validated score), so the
   kept head's cross-validated figure is the one to compare. Without a montage it keeps the
   regions head; a pack bound to a montage also holds the regions head, which answers
   recordings without those channels (``portable``: the regions head only);
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
windows. A learning curve repeats this with 10, 20 and 50 training windows per class, each point
the mean over :data:`CURVE_DRAWS` random draws of them (every method trained on the same draw;
each reading fitted once per draw and fold, the kept head summing their logits). The
cross-validation scores brainkit's heads without the language model (its answers follow the
head; their agreement on the training windows is reported): every reading alone, and the kept
head.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import torch

from brainkit._logging import logger
from brainkit.data.corpora import LabelledSet
from brainkit.errors import BrainkitError
from brainkit.evaluation.baselines import bandpower_logreg, csp_lda, labels_of, xdawn_tangent
from brainkit.evaluation.crossval import Split, crossval_task, folds
from brainkit.evaluation.metrics import classification_metrics, paired_gap
from brainkit.inference import answer_log_probabilities, window_montage, window_readout
from brainkit.models.readout import (EVOKED_BAND_HZ, MAX_FILTERED_SAMPLES, N_FEATURES, SPATIAL_BAND_HZ, Montage, band_limited,
                                     channel_index, evoked_times, fit_head, fit_lda_head, softmax_logits)
from brainkit.models.taskpack import TaskPack, decoder_with_packs
from brainkit.quality import flat_channels
from brainkit.sensors import electrode_key
from brainkit.tasks import Task, get_task, taught_tasks

#: training windows per class of the learning curve
LEARNING_CURVE = (10, 20, 50)
#: random draws of the training windows averaged at each learning-curve point
CURVE_DRAWS = 5
#: the answer prototypes' tuning stops after this many batches in a row answered as the head does
EARLY_STOP = 4
HEAD = "brainkit (read-out head)"
CHANNELS = "brainkit (the recordings' channels)"
SPATIAL = "brainkit (spatial filters of the recordings' channels)"
EVOKED = "brainkit (evoked response of the recordings' channels)"
COMBINED = "brainkit (the readings of the recordings' channels combined)"


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


def _live_channels(s: LabelledSet) -> set[str]:
    """``s``'s electrodes (:func:`brainkit.sensors.electrode_key`) but those flat in its windows."""
    flat = flat_channels(s.windows)
    return {electrode_key(n) for n, f in zip(s.windows.sensors.names, flat) if not f}


def _shared_channels(sets) -> tuple:
    """The channels every set has, live (the first set's names, in its order)."""
    common = set.intersection(*(_live_channels(s) for s in sets))
    return tuple(n for n in sets[0].windows.sensors.names if electrode_key(n) in common)


def montage_of(sets) -> tuple:
    """The channels every set has (the first set's names, in its order), the montage a taught
    task's channel readings read, when they are at least half of every set's channels: one
    montage, though a recording may list its channels in another order or have a channel more or
    less (a bad channel removed); else () (other devices: the regions head reads any layout). A
    channel is the same electrode in every file (:func:`brainkit.sensors.electrode_key`:
    ``EEG FP1-REF`` and ``EEG FP1-LE`` are ``Fp1``, ``T3`` is ``T7``); one flat in a recording
    (:func:`brainkit.quality.flat_channels`) counts as missing there."""
    shared = _shared_channels(sets)
    return shared if all(2 * len(shared) >= len(s.windows.sensors) for s in sets) else ()


def on_channels(s: LabelledSet, channels) -> LabelledSet:
    """``s`` with only ``channels`` (found by :func:`~brainkit.models.readout.channel_index`), in
    that order and by those names, so that every set so picked has one layout."""
    names = s.windows.sensors.names
    if list(names) == list(channels):
        return s
    w = s.windows.pick(channel_index(names, channels))
    return replace(s, windows=replace(w, sensors=replace(w.sensors, names=list(channels))))


def layout_warning(sets) -> list[str]:
    """What a user should know when the recordings' channels differ: which are left out."""
    montage = montage_of(sets)
    kept = {electrode_key(c) for c in montage}
    extra = sorted({electrode_key(n): n for s in reversed(sets) for n in s.windows.sensors.names
                    if electrode_key(n) not in kept}.values())  # one name per electrode: the first set's
    if not extra:
        return []
    if not montage:
        shared = _shared_channels(sets)
        return [f"the recordings share {len(shared) or 'no'} channel{'' if len(shared) == 1 else 's'}"
                + (f" ({', '.join(shared[:8])}), under half of some recording's" if shared else "")
                + ": only the region features (any layout) are taught"]
    flat = [f"{n} in {Path(s.source).name}" for s in sets
            for n, f in zip(s.windows.sensors.names, flat_channels(s.windows)) if f]
    return [f"the recordings differ in channels: taught on the {len(montage)} every one has; "
            f"{', '.join(extra[:8])}{' ...' if len(extra) > 8 else ''} left out of the channel readings"] + (
        [f"flat, so counted as missing: {', '.join(flat[:8])}{' ...' if len(flat) > 8 else ''}"] if flat else [])


@dataclass(frozen=True)
class Family:
    """One kind of taught head: the read-out inputs it fits, and how.

    A head's inputs are laid out as [regions | the montage's channels | its spatial filters |
    its evoked filters] (:attr:`layout`, :func:`brainkit.inference.readout_inputs`); a family
    fits some of these blocks and holds zero weights on the others, so that every family
    answers through the same path. A family with ``members`` fits each of them on its own
    blocks and sums their logits (a product of experts); its flags are the members' union.
    """

    name: str
    regions: bool = True  #: the 207 region features (any layout)
    channels: bool = False  #: each channel's log band powers and scale (one montage)
    filters: bool = False  #: log 8-30 Hz power of common spatial patterns (one montage, two classes)
    evoked: bool = False  #: 1-20 Hz time course of xDAWN filters (one montage, event-locked windows)
    lda: bool = False  #: shrinkage LDA instead of logistic regression
    shrinkage: object = "auto"  #: the LDA's (:func:`~brainkit.models.readout.fit_lda_head`)
    members: tuple = ()  #: families whose logits this one sums

    @property
    def portable(self) -> bool:
        return not (self.channels or self.filters or self.evoked)

    @property
    def layout(self) -> list[str]:
        """The blocks of the head's inputs, in order: the regions, and for a family bound to a
        montage its channels, then the filters it fits."""
        if self.portable:
            return ["regions"]
        return ["regions", "channels"] + (["filters"] if self.filters else []) + (["evoked"] if self.evoked else [])


FAMILIES = (Family(HEAD), Family(CHANNELS, regions=False, channels=True),
            Family(SPATIAL, regions=False, filters=True, lda=True),
            Family(EVOKED, regions=False, evoked=True, lda=True, shrinkage=1.0))
N_SPATIAL_FILTERS = 4  #: common spatial patterns kept (the two most discriminative of each end)
N_EVOKED_FILTERS = 4  #: xDAWN filters per class


def families_for(task: Task, sets, portable: bool = False) -> tuple:
    """The families a taught task's data allows: the regions always; the channels every recording
    has when there are any (and not ``portable``); with two or more channels, spatial patterns for
    two classes (as the classical CSP + LDA) and evoked filters for event-locked windows (as
    xDAWN), both in windows of at most :data:`~brainkit.models.readout.MAX_FILTERED_SAMPLES`."""
    montage = () if portable else montage_of(sets)
    short = max(s.windows.x.shape[-1] for s in sets) <= MAX_FILTERED_SAMPLES

    def allowed(f: Family) -> bool:
        if f.portable:
            return True
        if not montage:
            return False
        if (f.filters or f.evoked) and not short:
            return False
        if f.filters:
            return len(task.answers) == 2 and len(montage) >= 2
        if f.evoked:
            return task.event_locked and len(montage) >= 2
        return True

    return tuple(f for f in FAMILIES if allowed(f))


def kept_family(families) -> Family:
    """The head a pack keeps among ``families`` (:func:`families_for`): the montage's readings
    combined (their logits summed), else the regions head. Fixed by what the data allows, never
    by a cross-validated score. The regions are left out of the combination: pooled from the
    same channels, they add a second, noisier reading of the same evidence (measured on README's
    three demos, the spatial LDA then unshrunk: with them 86.3 / 62.2 / 100.0 %, without
    86.3 / 65.4 / 100.0 %)."""
    readings = tuple(f for f in families if not f.portable)
    if len(readings) <= 1:
        return readings[0] if readings else families[0]
    return Family(COMBINED, regions=False, channels=True, filters=any(f.filters for f in readings),
                  evoked=any(f.evoked for f in readings), members=readings)


def fit_spatial_filters(x: np.ndarray, labels: np.ndarray, n: int = N_SPATIAL_FILTERS) -> np.ndarray:
    """Common spatial patterns (MNE's, Ledoit-Wolf covariances) of band-limited windows
    ``x`` (N, C, T) (:func:`brainkit.models.readout.band_limited`); the ``n`` filters (n, C)."""
    import mne
    from mne.decoding import CSP

    with mne.use_log_level("error"):  # CSP reports its covariance ranks otherwise
        csp = CSP(n_components=min(n, x.shape[1]), reg="ledoit_wolf", log=True).fit(x, labels)
    return csp.filters_[:csp.n_components]


def fit_evoked_filters(x: np.ndarray, labels: np.ndarray, n: int = N_EVOKED_FILTERS) -> np.ndarray:
    """xDAWN spatial filters (pyRiemann's) of band-limited event-locked windows ``x`` (N, C, T):
    ``n`` per class, (n * classes, C)."""
    from pyriemann.spatialfilters import Xdawn

    return Xdawn(nfilter=min(n, x.shape[1])).fit(x, labels).filters_


class HeadInputs:
    """Every set's read-out inputs by block, each computed once: the regions, the montage's
    channels, and the montage's band-limited signals (for filters fitted later, fold by fold)."""

    BANDS = {"spatial_band": SPATIAL_BAND_HZ, "evoked_band": EVOKED_BAND_HZ}

    def __init__(self, channels=()):
        self.montage, self._cache, self._logits, self._parents = Montage(channels), {}, {}, {}

    def drawn(self, subset: LabelledSet, parent: LabelledSet, rows) -> None:
        """``subset`` holds ``parent``'s windows ``rows`` (:class:`Subsample`): its inputs are those
        rows of the parent's, computed once (every input is a function of its window alone)."""
        self._parents[id(subset)] = (subset, parent, np.asarray(rows))

    def _get(self, kind: str, s: LabelledSet):
        if id(s) in self._parents:
            _, parent, rows = self._parents[id(s)]
            return self._get(kind, parent)[rows]
        key = (kind, id(s))
        if key not in self._cache:
            w = s.windows
            if kind == "regions":
                value = window_readout(w).numpy()
            elif kind == "channels":
                value = window_montage(w, self.montage).numpy()
            else:  # the montage's channels, band-limited for filters
                idx = channel_index(w.sensors.names, self.montage.channels)
                with torch.no_grad():  # float32, as at inference: half the memory of float64
                    value = band_limited(torch.from_numpy(np.ascontiguousarray(w.x[:, idx], np.float32)),
                                         w.sfreq, self.BANDS[kind]).numpy()
            self._cache[key] = (s, value)  # the set is held so that its id stays unique
        return self._cache[key][1]

    def _band(self, kind: str, sets) -> np.ndarray:
        return np.concatenate([self._get(kind, s) for s in sets]).astype(np.float64)

    def inputs(self, blocks, sets, montage=None) -> np.ndarray:
        """``sets``' windows' inputs of the named ``blocks`` (``regions``, ``channels``,
        ``filters``, ``evoked``; the last two with ``montage``'s filters) side by side, (N, width)."""
        out = []
        for block in blocks:
            if block == "filters":  # the columns Montage.features computes, from the cached bands
                out.append(montage.spatial_columns(torch.from_numpy(self._band("spatial_band", sets))).numpy())
            elif block == "evoked":
                band = torch.from_numpy(self._band("evoked_band", sets))
                out.append(montage.evoked_columns(band, sets[0].windows.sfreq).numpy())
            else:
                out.append(np.concatenate([self._get(block, s) for s in sets]))
        return np.concatenate(out, 1)

    def fit(self, family: Family, sets, task: Task):
        """``family``'s head fitted on ``sets``: ``(weight, bias, montage)``, the weight spread
        over the whole layout of the montage's inputs (:attr:`Family.layout`; zero on the blocks the
        family does not fit); a family with members sums theirs."""
        y = labels_of(sets, task)
        montage = Montage()
        if not family.portable:
            w = sets[0].windows
            montage = Montage(
                self.montage.channels,
                fit_spatial_filters(self._band("spatial_band", sets), y) if family.filters else None,
                fit_evoked_filters(self._band("evoked_band", sets), y) if family.evoked else None,
                evoked_times(w.x.shape[-1] / w.sfreq, w.sfreq) if family.evoked else None)
        layout = family.layout
        widths = {"regions": N_FEATURES, "channels": montage.channels_only().width,
                  "filters": montage.n_filters, "evoked": montage.n_evoked}
        starts = dict(zip(layout, np.cumsum([0] + [widths[block] for block in layout])))
        full, bias = np.zeros((len(task.answers), sum(widths[block] for block in layout))), 0.0
        for member in family.members or (family,):
            fitted = [block for block in layout if getattr(member, block)]
            x = self.inputs(fitted, sets, montage)
            weight, b = (fit_lda_head(x, y, len(task.answers), member.shrinkage) if member.lda
                         else fit_head(x, y, len(task.answers)))
            col = 0
            for block in fitted:
                full[:, starts[block]:starts[block] + widths[block]] += weight[:, col:col + widths[block]]
                col += widths[block]
            bias = bias + b
        return full, bias, montage

    def logits(self, family: Family, train, test, task: Task) -> np.ndarray:
        """``family``'s logits on ``test`` fitted on ``train``, (N_test, A); a family with members
        sums theirs (as :meth:`fit` sums their weights). Each member is fitted once per training
        part, however many families and methods read it."""
        if family.members:
            return sum(self.logits(m, train, test, task) for m in family.members)
        key = (family, tuple(map(id, train)), tuple(map(id, test)))  # the family, not its name: its settings too
        if key not in self._logits:
            weight, bias, montage = self.fit(family, train, task)
            # the sets are held so that their ids stay unique
            self._logits[key] = (train, test, self.inputs(family.layout, test, montage) @ weight.T + bias)
        return self._logits[key][2]

    def method(self, family: Family):
        """``family``'s head (no language model) as ``fit_predict(train, test, task)``."""
        return lambda train, test, task: softmax_logits(self.logits(family, train, test, get_task(task)))


def classical_methods(task: Task, sets, montage=None) -> dict:
    """The classical methods that apply to a taught task, each reading the channels every
    recording has (``montage``, default :func:`montage_of` ``sets``, as brainkit's channel
    readings do); band power alone, on each recording's own channels pooled, when they share none."""
    methods = {"band power + logistic regression": bandpower_logreg}
    montage = montage_of(sets) if montage is None else montage
    if len(montage) >= 2 and len(task.answers) == 2:
        methods["CSP + LDA"] = csp_lda
    if len(montage) >= 2 and task.event_locked:
        methods["xDAWN + tangent space"] = xdawn_tangent
    if not montage:
        return methods

    def reading(method):
        return lambda train, test, task: method([on_channels(s, montage) for s in train],
                                                [on_channels(s, montage) for s in test], task)

    return {name: reading(m) for name, m in methods.items()}


class Subsample:
    """At most ``n_per_class`` random training windows per class (all with ``None``): one draw per
    training part, the same for every method scored on it. ``on_draw(subset, parent, rows)`` is
    told where each drawn set's windows come from (:meth:`HeadInputs.drawn`)."""

    def __init__(self, n_per_class: int | None, seed: int, on_draw=None):
        self.n_per_class, self.seed, self.on_draw, self._drawn = n_per_class, seed, on_draw, {}

    def __call__(self, train, task: str) -> list:
        if self.n_per_class is None:
            return train
        key = tuple(map(id, train))
        if key not in self._drawn:
            y = labels_of(train, task)
            rng = np.random.default_rng(self.seed)
            keep = np.zeros(len(y), bool)
            for a in np.unique(y):
                keep[rng.permutation(np.flatnonzero(y == a))[:self.n_per_class]] = True
            out, offset = [], 0
            for s in train:
                rows = np.flatnonzero(keep[offset:offset + len(s.windows)])
                offset += len(s.windows)
                if len(rows):
                    out.append(_select(s, rows))
                    if self.on_draw is not None:
                        self.on_draw(out[-1], s, rows)
            self._drawn[key] = (train, out)  # the training part is held so that its ids stay unique
        return self._drawn[key][1]

    def method(self, method):
        """``method`` trained on this draw of its training sets."""
        return lambda train, test, task: method(self(train, task), test, task)


def cross_validate(task: Task, sets, k: int = 5, seed: int = 0, curve=LEARNING_CURVE, progress=None,
                   families=FAMILIES[:1], draws: int = CURVE_DRAWS) -> dict:
    """brainkit's taught heads beside the classical methods, in the same folds, on the same labels.

    Every family of ``families`` is scored alone, and the head a pack keeps
    (:func:`kept_family`) when it combines several: the figure to compare with the classical
    methods. Each learning-curve point is the mean over ``draws`` random draws of its training
    windows (every method trained on the same draw), because one draw of 10 windows per class
    moves a method's balanced accuracy by several points.

    Returns
    -------
    dict
        ``unit``, ``n_folds``, ``head`` (the kept head's name), ``methods`` (name -> balanced
        accuracy mean/std/folds over folds with all training windows), ``curve`` (windows per
        class -> name -> balanced accuracy, the mean over draws; the points above the training
        windows available are left out, the last point is all of them), ``curve_std`` (the same,
        the standard deviation over draws of their mean over folds; 0 with all windows),
        ``draws``, ``curve_gap`` (point -> classical method -> the kept head's balanced accuracy
        minus the method's, paired on the same draws and folds: ``mean`` and ``se``, its standard
        error over the draws; with all training windows, over the folds), ``train_per_class``
        (training windows per class in the folds, smallest), ``out_of_fold`` (the kept head's).
    """
    blocks, splits, unit = teach_splits(sets, task, k, seed)
    montage = montage_of(sets)  # of the recordings, once: brainkit's readings and the classical methods read it
    inputs = HeadInputs(montage if any(not f.portable for f in families) else ())
    per_class = min(min(np.bincount(labels_of([blocks[i] for i in sp.train], task),
                                    minlength=len(task.answers))) for sp in splits)
    kept = kept_family(families)
    methods = {f.name: inputs.method(f) for f in (*families, kept)}
    out = {"unit": unit, "n_folds": len(splits), "head": kept.name, "train_per_class": int(per_class),
           "draws": int(draws), "curve": {}, "curve_std": {}, "curve_gap": {}}
    classical = classical_methods(task, blocks, montage)
    methods.update(classical)
    with taught_tasks([task]):
        for n in [n for n in curve if n < per_class] + [None]:
            runs = []
            for draw in range(1 if n is None else draws):
                subsample = Subsample(n, seed + draw, on_draw=inputs.drawn)
                runs.append(crossval_task(
                    task.id, blocks, {name: subsample.method(m) for name, m in methods.items()}, k, seed,
                    keep=[kept.name] if n is None else [], progress=progress, splits=(splits, unit)))
            scores = {name: [r["methods"][name]["balanced_accuracy"]["mean"] for r in runs] for name in methods}
            if n is None:
                out["methods"] = {name: runs[0]["methods"][name]["balanced_accuracy"] for name in methods}
                out["out_of_fold"] = runs[0]["methods"][kept.name].get("out_of_fold")
                out["n_windows"] = runs[0]["n_windows"]
            point = str(n or per_class)
            out["curve"][point] = {name: float(np.mean(v)) for name, v in scores.items()}
            out["curve_std"][point] = {name: float(np.std(v)) for name, v in scores.items()}
            if n is None:  # one run: the differences of its folds
                scores = {name: runs[0]["methods"][name]["balanced_accuracy"]["folds"] for name in methods}
            out["curve_gap"][point] = {name: paired_gap(scores[kept.name], scores[name]) for name in classical}
    return out


def fit_pack(bk, task: Task, sets, reading_steps: int = 24, batch_size: int = 8, lr: float = 1e-2,
             reading_windows: int = 64, seed: int = 0, progress=None, family: Family = FAMILIES[0]
             ) -> tuple[TaskPack, dict]:
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
    inputs = HeadInputs(() if family.portable else montage_of(sets))
    y = labels_of(sets, task)
    weight, bias, montage = inputs.fit(family, sets, task)
    features = [torch.from_numpy(inputs.inputs(family.layout, [s], montage)).float() for s in sets]
    portable = fit_head(inputs.inputs(["regions"], sets), y, A) if montage else None
    model, tok = bk.decoder.lm
    root = getattr(bk, "_root_decoder", bk.decoder)
    with torch.no_grad():
        caption = embed_text(model, tok, task.caption).float().numpy()
    pack = TaskPack(task, weight, bias, np.zeros((A, root.config.lm_hidden), np.float32), caption, bk.base,
                    montage=montage, portable=portable)
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
          progress=None, portable: bool = False, draws: int = CURVE_DRAWS) -> TaskPack:
    """Cross-validate, then fit the pack on every window; the report is in ``pack.report``.

    Every family the data allows (:func:`families_for`) is cross-validated alone and the pack
    keeps :func:`kept_family` (``report["head"]``), chosen by what the data allows before any
    fold is scored, so that its cross-validated figure is an honest one.

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
    families = families_for(task, sets, portable)
    t0 = time.perf_counter()
    cv = cross_validate(task, sets, k, seed, curve, progress=(
        None if progress is None else lambda _t, name, i, n: progress(f"cross-validating {name}", i, n)),
        families=families, draws=draws)
    family = kept_family(families)
    t1 = time.perf_counter()
    pack, reading = fit_pack(bk, task, sets, reading_steps, seed=seed, progress=progress, family=family)
    t2 = time.perf_counter()
    pack.report = {"head": family.name, "channels": list(pack.channels), "spatial_filters": pack.montage.n_filters,
                   "evoked_columns": pack.montage.n_evoked, "class_counts": counts,
                   "warnings": count_warnings(counts) + ([] if portable else layout_warning(sets)),
                   "cross_validation": cv,
                   "lm_head_agreement": reading,
                   "seconds": {"cross_validation": t1 - t0, "fit": t2 - t1}}
    return pack
