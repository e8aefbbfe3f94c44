"""The read-out inside explanations: its features as a differentiable function of the explained
window, and the read-out head's answer decomposed into regions and features.

The tasks in ``decoder.config.readout_tasks`` are decided by the read-out
(:mod:`brainkit.models.readout`): its head's logits set the answer anchor that the language model
reads. :class:`ReadoutPath` recomputes the read-out features from the explained signal inside the
differentiable forward pass, so that integrated gradients reach the samples through it.

**Held features.** The spectral edge frequency is a step function of the signal (no gradient,
jumps no integral sees) and the alpha peak frequency jumps to the search band's centre when no
power rises above the 1/f background (near the zero signal). With an anchor, both are held at
the anchor's values, as the codes and queries are held (:mod:`brainkit.explain.attribution`).

**Sequences.** A task in ``decoder.config.sequence_tasks`` (sleep staging) reads every window
with its recording (z-scores over the night, moving averages of the neighbours,
:func:`~brainkit.models.readout.sequence_features`). The explained window's row is rebuilt from
its live features; **the other windows' features are held fixed** (computed once, without
gradient, :class:`RecordingContext`), so the attribution says what in this window moves the
answer, its neighbours as they are.

**From the zero signal** the read-out is gain-invariant all along the path but at its floors,
which a silent signal reaches only at gains far below any real one (Hjorth variances near
1e-6 of the signal, relative powers near 1e-13, spectral entropy lower still): the path is cut
per decade down to 1e-20 (:data:`READOUT_BOUNDARIES`), with at least
:data:`READOUT_STEPS_PER_PIECE` evaluations in each, so that integration sees them.
Attributions from the zero signal therefore say how the window differs from silence at the
read-out's floors; from another window (an eyes-open one, a rest window) they are what a reader
wants.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from brainkit.errors import BrainkitError
from brainkit.explain.context import tile
from brainkit.inference import (montage_present, task_montage, window_montage, window_readout,
                                window_regularity)
from brainkit.models.readout import (CONTEXT_HALF_WIDTHS, FEATURE_NAMES, N_FEATURES, REGIONS, Montage,
                                     readout_features, regularity_features, sequence_features)
from brainkit.models.taskpack import head_for

#: features held at the anchor's values (see the module docstring; an entropy task's sample
#: entropies are held too)
HELD_FEATURES = ("edge_hz", "alpha_peak_hz")
ENTROPY_NAMES = [(r, "sample_entropy") for r in REGIONS]  #: an entropy task's columns after the regions'

#: cuts of the path from the zero signal when the read-out decides (one piece per decade)...
READOUT_BOUNDARIES = (0.0, *(10.0 ** -k for k in range(20, 0, -1)), 1.0)
#: ...and model evaluations per piece at least: the floors are clamps (kinks) and swing the
#: head's logits by tens of nats (measured on the shipped eyes head, sample window 0: relative
#: completeness error of the head's log-probability 7.7% with 3 per piece, 0.4% with 8)
READOUT_STEPS_PER_PIECE = 8


def feature_names(decoder, task: str, width: int | None = None) -> list[tuple[str, str]]:
    """(region, feature) of every column of the task's read-out vector, (F,) or (k F,) for a
    sequence task (:func:`~brainkit.models.readout.sequence_features`: the window's own features
    where they are kept, its z-scores over the night, their moving averages over its neighbours).
    A taught task's channels follow the regions as (channel, feature) where the inputs have them
    (``width``: the inputs' columns, default all)."""
    base = [(r, f) for r in REGIONS for f in FEATURE_NAMES]
    extra = ENTROPY_NAMES if task in decoder.config.entropy_tasks else []
    montage = task_montage(decoder, task)
    if montage:
        return base + montage.names() if width in (None, len(base) + montage.width) else base
    n_parts = (decoder.readout_heads[task].in_features - len(extra)) // len(base)
    if n_parts == 1:
        return base + extra
    context = [f" (z, +-{h} epochs)" for h in CONTEXT_HALF_WIDTHS]
    parts = (["", " (z, night)"][-(n_parts - len(context)):] if n_parts > len(context) else []) + context
    return [(r, f + part) for part in parts for r, f in base] + extra


@dataclass
class RecordingContext:
    """The recording an explained window is read with (sequence tasks).

    features (N, F) read-out features of every window of the recording (fixed); starts_s (N,)
    seconds; index (n,) the rows of the n explained windows.
    """

    features: torch.Tensor
    starts_s: np.ndarray
    index: np.ndarray
    windows: object = None  #: the recording's windows (a taught task's channels are read from them)

    @classmethod
    def of(cls, windows, rows) -> RecordingContext:
        """The context of ``windows`` (one recording, at the task's window length) for ``rows``."""
        return cls(window_readout(windows), np.asarray(windows.starts_s, dtype=float),
                   np.atleast_1d(np.asarray(rows, dtype=int)), windows)

    def at(self, rows) -> RecordingContext:
        """The same recording, other explained rows."""
        return RecordingContext(self.features, self.starts_s, np.atleast_1d(np.asarray(rows, dtype=int)),
                                self.windows)

    def rows(self, features: torch.Tensor) -> torch.Tensor:
        """Sequence features of the explained rows, each rebuilt with its live ``features``.

        ``features`` (B, F), B a multiple of n ordered as captum makes them (alpha-major) ->
        (B, 4 F); differentiable in ``features``, the other windows held fixed.
        """
        held = self.features.to(features.dtype)
        out = []
        for b in range(len(features)):
            i = int(self.index[b % len(self.index)])
            recording = torch.cat([held[:i], features[b:b + 1], held[i + 1:]])  # (N, F)
            out.append(sequence_features(recording, self.starts_s)[i])
        return torch.stack(out)

    def all_rows(self) -> torch.Tensor:
        """Sequence features of the explained rows as they are, (n, 4 F), no grad."""
        with torch.no_grad():
            return sequence_features(self.features, self.starts_s)[torch.as_tensor(self.index)]


class ReadoutPath:
    """Windows (B, C, T) -> the task's read-out vector (B, F'), differentiable in the samples.

    Parameters
    ----------
    decoder : BrainDecoder
    task : str
        A task of ``decoder.config.readout_tasks``.
    sensors : SensorArray
    sfreq : float
        Hz.
    anchor : Tensor, shape (n, C, T), optional
        The explained windows: their :data:`HELD_FEATURES` are held (``anchor_scale`` their scale).
    context : RecordingContext, optional
        For a sequence task; default: the anchor windows form the recording.
    """

    def __init__(self, decoder, task, sensors, sfreq, anchor=None, anchor_scale=None, context=None):
        self.sensors, self.sfreq, self.task = sensors, sfreq, task
        self.sequence = task in decoder.config.sequence_tasks
        montage = task_montage(decoder, task)
        windows = getattr(context, "windows", None)  # the recording's, as decoding checks them
        self.montage = (montage if montage and montage_present(sensors.names, montage, task, windows)
                        else Montage())
        self.entropy = task in decoder.config.entropy_tasks
        held = ([f in HELD_FEATURES for _ in REGIONS for f in FEATURE_NAMES] + [True] * len(REGIONS) * self.entropy
                + [False] * self.montage.width)
        self.mask, self.held = torch.tensor(held), None
        if anchor is not None:
            with torch.no_grad():
                self.held = self.features(anchor, anchor_scale)  # (n, F)
            if self.sequence and context is None:
                context = RecordingContext(self.held[:, :N_FEATURES], np.arange(len(anchor), dtype=float),
                                           np.arange(len(anchor)))
        if self.sequence and context is None:
            raise BrainkitError(f"task {task} reads windows with their recording: give the "
                                "explained windows (anchor) or their recording (context)")
        self.context = context

    def features(self, x, scale) -> torch.Tensor:
        """In float64: the floors lie at gains whose squares underflow float32 (1e-20 ** 2)."""
        s = self.sensors
        scale = torch.as_tensor(np.asarray(scale), dtype=torch.float64)
        parts = [readout_features(x.double(), self.sfreq, s.pos, s.has_position, scale)]  # (B, F)
        if self.entropy:  # held (a step function): computed for the anchor only
            parts.append(regularity_features(x.double(), self.sfreq, s.pos, s.has_position, scale)
                         if self.held is None else
                         tile(self.held[:, N_FEATURES:N_FEATURES + len(REGIONS)], len(x)).double())
        if self.montage:
            parts.append(self.montage.features(x.double(), self.sfreq, scale, s.names, self.task))
        return torch.cat(parts, 1).to(x.dtype)

    def __call__(self, x, scale) -> torch.Tensor:
        f = self.features(x, scale)
        if self.held is not None:
            f = torch.where(self.mask, tile(self.held, len(f)).to(f.dtype), f)
        if not self.sequence:
            return f
        return torch.cat([self.context.rows(f[:, :N_FEATURES]), f[:, N_FEATURES:]], 1)


def readout_rows(decoder, task: str, context: RecordingContext) -> torch.Tensor | None:
    """The task's read-out inputs (n, F') of the explained rows of ``context``, as
    :func:`brainkit.inference.readout_inputs` gives them; None for a task without read-out."""
    if task not in decoder.config.readout_tasks:
        return None
    if task in decoder.config.sequence_tasks:
        rows = context.all_rows()
    else:
        rows = context.features[torch.as_tensor(context.index)]
    montage, w = task_montage(decoder, task), context.windows
    if task in decoder.config.entropy_tasks:
        rows = torch.cat([rows, window_regularity(w.select(context.index)).to(rows.dtype)], 1)
    if montage and w is not None and montage_present(w.sensors.names, montage, task, w):
        rows = torch.cat([rows, window_montage(w.select(context.index), montage, task).to(rows.dtype)], 1)
    return rows


def reference_row(decoder, task: str, context: RecordingContext, index=None):
    """What :func:`readout_contributions` measures from: the read-out inputs (F',) of window
    ``index`` of the context's recording (or their mean over several indices), or their mean
    over all the recording's windows (None)."""
    rows = np.arange(len(context.features)) if index is None else np.atleast_1d(index)
    inputs = readout_rows(decoder, task, context.at(rows))
    return inputs.mean(0)


def readout_contributions(decoder, readout_row, task: str, answer: int | None = None,
                          reference=None, empty=()) -> list[tuple[str, str, float]]:
    """The read-out head's answer decomposed over regions and features.

    The head is linear, ``logits = W f + b``. The contribution of feature j to answer a is
    ``(W[a, j] - mean_a' W[a', j]) * (f[j] - reference[j])``: its share of the answer's logit
    against the mean logit (softmax ignores what all answers share), measured from a reference
    window. Contributions add up to that centred logit minus the reference's.

    Parameters
    ----------
    decoder : BrainDecoder
    readout_row : array or Tensor, shape (F',)
        The window's read-out inputs (:func:`readout_rows`).
    task : str
    answer : int, optional
        Answer index explained (default: the head's own choice).
    reference : array, shape (F',), optional
        Features measured from (e.g. the mean of the recording's windows); default zeros.
    empty : sequence of str
        Regions the recording has no sensor in (:func:`~brainkit.models.readout.empty_regions`):
        they read the whole head, so their contributions are added to the whole head's (a
        one-channel recording has one region, not nine copies of it).

    Returns
    -------
    list of (region, feature, contribution)
        Sorted by decreasing |contribution|; contributions in logit units (nats).
    """
    if task not in decoder.readout_heads:
        raise BrainkitError(f"task {task} is not decided by the read-out "
                            f"(read-out tasks: {', '.join(decoder.readout_heads) or 'none'})")
    f = np.asarray(torch.as_tensor(readout_row).detach().double().reshape(-1))
    head = head_for(decoder.readout_heads[task], len(f))
    w = head.weight.detach().double().numpy()  # (A, F')
    if answer is None:
        answer = int(np.argmax(w @ f + head.bias.detach().double().numpy()))
    ref = np.zeros_like(f) if reference is None else np.asarray(reference, dtype=np.float64).reshape(-1)
    c = (w[answer] - w.mean(0)) * (f - ref)  # (F',)
    summed: dict[tuple[str, str], float] = {}
    for (region, feature), value in zip(feature_names(decoder, task, len(f)), c):
        key = ("whole" if region in empty else region, feature)
        summed[key] = summed.get(key, 0.0) + float(value)
    return sorted(((r, feature, v) for (r, feature), v in summed.items()), key=lambda t: -abs(t[2]))
