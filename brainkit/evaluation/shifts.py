"""Shift tests: the same windows as another amplifier, another rate, reference or cap would give.

Each shift maps a :class:`brainkit.preprocess.Windows` to the windows the preprocessing would
have produced from the shifted recording:

- **gain** ``g``: the recording times ``g``. Robust scaling divides it out of the samples, so only
  the per-channel scale (``Windows.scale``) changes.
- **rate** ``r``: the source recorded at ``r`` Hz: the 256-Hz windows are resampled to ``r`` and
  back (nothing above ``r / 2`` survives, as with a recording made at that rate).
- **average reference**: the signals back in volts, minus their mean over channels, robust-scaled
  again (channels of 3 or more only).
- **channel subsets**: every other channel; a 64-channel cap cut to the 19 channels of the 10-20
  system and to the 4 of a Muse headset.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from brainkit.preprocess import robust_scale
from brainkit.sensors import clean_eeg_name

#: the 19 channels of the 10-20 system (10-10 names for the temporal ones)
TEN_TWENTY = ("FP1", "FP2", "F7", "F3", "FZ", "F4", "F8", "T7", "C3", "CZ", "C4", "T8", "P7", "P3",
              "PZ", "P4", "P8", "O1", "O2")
#: a 4-channel headset (Muse: TP9, AF7, AF8, TP10), by the nearest names of a 64-channel 10-10 cap
HEADSET_4 = (("TP9", "TP7", "T9"), ("AF7", "F7"), ("AF8", "F8"), ("TP10", "TP8", "T10"))


def gain(windows, g: float):
    """The recording multiplied by ``g`` (another amplifier's gain)."""
    return replace(windows, scale=np.asarray(windows.scale) * g)


def rate(windows, source_hz: float):
    """The recording as if made at ``source_hz`` (band-limited to half of it)."""
    from fractions import Fraction

    from scipy.signal import resample_poly

    ratio = Fraction(source_hz / windows.sfreq).limit_denominator(100)
    down = resample_poly(windows.x, ratio.numerator, ratio.denominator, axis=-1)
    back = resample_poly(down, ratio.denominator, ratio.numerator, axis=-1)[..., :windows.x.shape[-1]]
    return replace(windows, x=np.ascontiguousarray(back, dtype=np.float32))


def average_reference(windows):
    """Average reference instead of the recorded one (unchanged below 3 channels)."""
    if windows.x.shape[1] < 3:
        return windows
    volts = windows.x * np.asarray(windows.scale, dtype=np.float32)[None, :, None]
    volts = volts - volts.mean(1, keepdims=True)
    flat = volts.transpose(1, 0, 2).reshape(volts.shape[1], -1)  # (C, N*T)
    scaled, scale = robust_scale(flat)
    x = scaled.reshape(volts.shape[1], len(volts), -1).transpose(1, 0, 2)
    return replace(windows, x=np.ascontiguousarray(x), scale=scale)


def every_other(windows):
    """Half of the channels (every other one; unchanged for one channel)."""
    n = windows.x.shape[1]
    return windows if n < 2 else windows.pick(np.arange(0, n, 2))


def _find(names, wanted):
    return next((names.index(w) for w in wanted if w in names), None)


def cap_subset(windows, channels):
    """The channels named in ``channels`` (each a name or a tuple of alternatives), or None when
    the cap lacks any of them."""
    names = [clean_eeg_name(n).upper() for n in windows.sensors.names]
    idx = [_find(names, (c,) if isinstance(c, str) else c) for c in channels]
    return None if any(i is None for i in idx) else windows.pick(idx)


#: shift name -> function of Windows (None where it does not apply)
SHIFTS = {
    "gain x0.25": lambda w: gain(w, 0.25),
    "gain x4": lambda w: gain(w, 4.0),
    "rate 128 Hz": lambda w: rate(w, 128.0),
    "rate 200 Hz": lambda w: rate(w, 200.0),
    "rate 500 Hz": lambda w: rate(w, 500.0),
    "average reference": lambda w: average_reference(w) if w.x.shape[1] >= 3 else None,
    "half of the channels": lambda w: every_other(w) if w.x.shape[1] >= 2 else None,
    "64 -> 19 channels": lambda w: cap_subset(w, TEN_TWENTY) if w.x.shape[1] >= 60 else None,
    "64 -> 4 channels": lambda w: cap_subset(w, HEADSET_4) if w.x.shape[1] >= 60 else None,
}


def shift_tests(predict, sets, task: str, shifts=None) -> dict:
    """Balanced accuracy and changed answers under every shift.

    Parameters
    ----------
    predict : callable
        ``predict(windows, task) -> probabilities (N, n_answers)``.
    sets : list of LabelledSet
        Windows of one task (usually its validation sets).

    Returns
    -------
    dict
        ``{"none": {"balanced_accuracy", "n"}, shift: {"balanced_accuracy", "changed", "n"} or
        None where the shift applies to no window}``.
    """
    from brainkit.evaluation.baselines import labels_of
    from brainkit.evaluation.metrics import classification_metrics
    from brainkit.tasks import get_task

    answers = get_task(task).answers
    base = [predict(s.windows, task) for s in sets]
    y = labels_of(sets, task)
    out = {"none": {"balanced_accuracy": classification_metrics(y, np.concatenate(base), answers)
                    ["balanced_accuracy"], "n": int(len(y))}}
    for name, shift in (shifts or SHIFTS).items():
        probas, labels, changed = [], [], []
        for s, p0 in zip(sets, base):
            w = shift(s.windows)
            if w is None:
                continue
            p = predict(w, task)
            probas.append(p)
            labels.append(labels_of([s], task))
            changed.append(p.argmax(1) != p0.argmax(1))
        if not probas:
            out[name] = None
            continue
        metrics = classification_metrics(np.concatenate(labels), np.concatenate(probas), answers)
        out[name] = {"balanced_accuracy": metrics["balanced_accuracy"],
                     "changed": float(np.concatenate(changed).mean()), "n": int(sum(map(len, labels)))}
    return out
