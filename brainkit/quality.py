"""Per-channel signal quality: flat, noisy and clipped channels, with the numbers behind them.

Every channel of a recording gets a robust amplitude (``1.4826 * median absolute deviation``,
which equals the standard deviation for Gaussian data and ignores rare artefacts), the fraction
of its samples that sit exactly on its own minimum or maximum, and the fraction of its power at
the mains frequency. Three flags follow from fixed thresholds (module constants below):

``flat``
    robust amplitude below :data:`FLAT_STD` for its kind (0.1 µV for electrodes, 1 fT for
    magnetometers, 1 fT/cm for gradiometers): a disconnected lead or a dead sensor.
``noisy``
    robust amplitude more than :data:`NOISY_RATIO` (5) times the median of the recording's
    channels of the same kind (when it has at least :data:`NOISY_MIN_PEERS` of them), or more
    than :data:`LINE_FRACTION_MAX` (half) of its power within ±1 Hz of 50 or 60 Hz.
``clipped``
    at least :data:`CLIPPED_FRACTION` (0.1 %) and :data:`CLIPPED_MIN_SAMPLES` samples sit exactly
    on the channel's minimum or maximum, and they pile up there (more samples on the rail than on
    the next value inside it, which rules out the natural tail of coarsely quantised data).

Only signal kinds (EEG, MEG, EOG, ECG, EMG) are flagged; stimulus and auxiliary channels are
listed with their numbers and no flags.

A ``flat`` EEG or MEG channel carries no signal, and one the file marks bad is not to be read:
both are left out of decoding (:func:`model_channels`), as if the recording lacked them.
"""

from __future__ import annotations

import numpy as np

#: Robust amplitude (SI units) below which a channel is ``flat``.
FLAT_STD = {"eeg": 0.1e-6, "eog": 0.1e-6, "ecg": 0.1e-6, "emg": 0.1e-6,
            "mag": 1e-15, "grad": 1e-13}
#: A channel is ``noisy`` when its robust amplitude exceeds this multiple of its kind's median.
NOISY_RATIO = 5.0
#: The relative test needs at least this many channels of the same kind.
NOISY_MIN_PEERS = 3
#: A channel is ``noisy`` when more than this fraction of its power lies at the mains frequency.
LINE_FRACTION_MAX = 0.5
#: Mains frequencies (Hz) and the half-width of the band counted as line noise.
LINE_FREQS_HZ = (50.0, 60.0)
LINE_HALF_WIDTH_HZ = 1.0
#: A channel is ``clipped`` when at least this fraction of its samples sit on its min or max ...
CLIPPED_FRACTION = 1e-3
#: ... and at least this many samples do.
CLIPPED_MIN_SAMPLES = 10
#: At most this many samples per channel enter the robust amplitude and the spectrum (8 evenly
#: spaced blocks of the recording); clipping always counts every sample.
MAX_ANALYSIS_SAMPLES = 600_000
#: Display unit per kind: (name, multiplier from SI); other kinds (stim, misc) stay as stored.
UNITS = {"eeg": ("µV", 1e6), "eog": ("µV", 1e6), "ecg": ("µV", 1e6), "emg": ("µV", 1e6),
         "mag": ("fT", 1e15), "grad": ("fT/cm", 1e13)}
_OTHER_UNIT = ("AU", 1.0)


def display_unit(kind: str) -> tuple[str, float]:
    """Unit name and the factor that turns SI values of ``kind`` into it (µV, fT, fT/cm, AU)."""
    return UNITS.get(kind, _OTHER_UNIT)


def robust_std(x: np.ndarray, axis: int = -1) -> np.ndarray:
    """``1.4826 * median(|x - median(x)|)`` along ``axis``: the s.d. of Gaussian data, robust to spikes."""
    med = np.median(x, axis=axis, keepdims=True)
    return 1.4826 * np.median(np.abs(x - med), axis=axis)


def _analysis_sample(x: np.ndarray) -> np.ndarray:
    """At most :data:`MAX_ANALYSIS_SAMPLES` of 1-D ``x``: 8 evenly spaced contiguous blocks."""
    if x.size <= MAX_ANALYSIS_SAMPLES:
        return x
    n_blocks = 8
    block = MAX_ANALYSIS_SAMPLES // n_blocks
    starts = np.linspace(0, x.size - block, n_blocks).astype(int)
    return np.concatenate([x[s:s + block] for s in starts])


def welch_psd(data: np.ndarray, sfreq: float, segment_s: float = 2.0):
    """One-sided Welch power spectral density: periodic Hann segments, 50 % overlap, each
    segment's mean removed (the same numbers as ``scipy.signal.welch``, without its per-segment
    Python loop).

    Parameters
    ----------
    data : ndarray, shape (C, T)
    sfreq : float
        Hz.
    segment_s : float
        Segment length in seconds (shortened to T when the data is shorter).

    Returns
    -------
    freqs : ndarray, shape (F,)  Hz;   psd : ndarray, shape (C, F)  units of data squared per Hz
    """
    data = np.atleast_2d(np.asarray(data, dtype=np.float64))
    n_chan, n_times = data.shape
    n = int(max(1, min(n_times, round(segment_s * sfreq))))
    window = 0.5 - 0.5 * np.cos(2 * np.pi * np.arange(n) / n)
    segments = np.lib.stride_tricks.sliding_window_view(data, n, axis=-1)[:, ::max(n // 2, 1)]
    n_seg = segments.shape[1]  # segments: (C, S, n), a view
    per_chunk = max(1, 4_000_000 // (n_chan * n))  # bounds the memory of one FFT batch
    power = np.zeros((n_chan, n // 2 + 1))
    for s in range(0, n_seg, per_chunk):
        chunk = segments[:, s:s + per_chunk]
        chunk = (chunk - chunk.mean(axis=-1, keepdims=True)) * window  # (C, s, n)
        power += (np.abs(np.fft.rfft(chunk, axis=-1)) ** 2).sum(axis=1)
    power /= n_seg * sfreq * np.sum(window ** 2)
    power[:, 1:(-1 if n % 2 == 0 else None)] *= 2  # one-sided: all but DC (and Nyquist)
    return np.fft.rfftfreq(n, 1.0 / sfreq), power


def line_fraction(data: np.ndarray, sfreq: float) -> np.ndarray:
    """Fraction of each channel's power (above 1 Hz) within ±1 Hz of 50 or 60 Hz. (C,) in [0, 1]."""
    data = np.atleast_2d(data)
    n_chan, n_times = data.shape
    usable = [f for f in LINE_FREQS_HZ if f + LINE_HALF_WIDTH_HZ < sfreq / 2]
    if not usable or n_times < sfreq:
        return np.zeros(n_chan)
    freqs, psd = welch_psd(data, sfreq, segment_s=2.0)  # 0.5 Hz resolution, (C, F)
    above = freqs >= 1.0
    total = psd[:, above].sum(axis=1)
    line = np.zeros(n_chan)
    for f0 in usable:
        band = np.abs(freqs - f0) <= LINE_HALF_WIDTH_HZ
        line += psd[:, band].sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(total > 0, line / total, 0.0)


def clipped_fraction(x: np.ndarray) -> tuple[float, bool]:
    """Fraction of samples on the min or max of 1-D ``x``, and whether they pile up there.

    A rail "piles up" when it holds more samples than the next value inside it; a flat channel
    (min == max) does not count as clipped.
    """
    lo, hi = x.min(), x.max()
    if not hi > lo:
        return 0.0, False
    n_on_rails, pile_up = 0, False
    for rail, inside in ((lo, x > lo), (hi, x < hi)):
        n_rail = int(np.count_nonzero(x == rail))
        rest = x[inside]
        nxt = rest.max() if rail == hi else rest.min()
        n_next = int(np.count_nonzero(rest == nxt))
        n_on_rails += n_rail
        pile_up |= n_rail >= CLIPPED_MIN_SAMPLES and n_rail > n_next
    return n_on_rails / x.size, pile_up


def robust_amplitude(x: np.ndarray) -> float:
    """:func:`robust_std` of 1-D ``x`` over its analysis sample (the amplitude every flag reads)."""
    return float(robust_std(_analysis_sample(x)))


def is_flat(amplitude: float, kind: str) -> bool:
    """Whether a robust amplitude (SI units) is below :data:`FLAT_STD` for its channel kind."""
    return kind in FLAT_STD and amplitude < FLAT_STD[kind]


def model_channels(recording) -> tuple[np.ndarray, dict[str, str]]:
    """The channels the model reads, and those it leaves out with why.

    Of the EEG and MEG channels (``sensors.model_picks``), a channel marked bad in the file
    (``info["bads"]``, as MNE leaves it out) or ``flat`` (no signal: constant, a disconnected
    lead, quantised to a single level) is left out of decoding, as if the recording lacked it.

    Parameters
    ----------
    recording : brainkit.io.Recording

    Returns
    -------
    picks : ndarray of int
        Indices (into the recording's channels) of the channels read.
    left_out : dict
        Channel name -> ``"marked bad in the file"`` or ``"flat"``.
    """
    raw, sensors = recording.raw, recording.sensors
    bads = set(raw.info["bads"])
    picks, left_out = [], {}
    for i in sensors.model_picks:
        name = sensors.names[i]
        if name in bads:
            left_out[name] = "marked bad in the file"
        elif is_flat(robust_amplitude(raw._data[i]), sensors.kinds[i]):  # in place, as channel_quality
            left_out[name] = "flat"
        else:
            picks.append(i)
    return np.array(picks, dtype=int), left_out


def flat_channels(windows) -> np.ndarray:
    """Which channels of cut windows (:class:`brainkit.preprocess.Windows`) are flat, (C,) bool:
    constant in every window (a zero lead), or of a robust amplitude (``windows.scale``, SI
    units) below :data:`FLAT_STD` for its kind."""
    x = windows.x
    constant = (x.max(axis=(0, 2)) == x.min(axis=(0, 2))) if len(x) else np.zeros(x.shape[1], bool)
    scale = np.asarray(windows.scale, float)
    scale = scale if scale.ndim == 1 else scale.min(axis=0)  # per window: its smallest
    floor = np.array([FLAT_STD.get(kind, 0.0) for kind in windows.sensors.kinds])
    return constant | (scale < floor)


def channel_quality(recording) -> list[dict]:
    """Quality of every channel of a recording.

    Parameters
    ----------
    recording : brainkit.io.Recording

    Returns
    -------
    list of dict, one per channel in order, with keys
        ``name``, ``kind``, ``has_position``, ``flags`` (list of ``flat``, ``noisy``,
        ``clipped``), ``robust_std`` (in ``unit``), ``unit`` (µV, fT or fT/cm),
        ``clipped_fraction`` and ``line_fraction`` (fractions in [0, 1]).
    """
    raw, sensors = recording.raw, recording.sensors
    sfreq = float(raw.info["sfreq"])
    data = raw._data  # (C, T) SI units; read in place: a copy could double a large recording
    n_chan, n_times = data.shape
    amp, line = np.zeros(n_chan), np.zeros(n_chan)
    clipped = []
    for i in range(n_chan):
        sample = _analysis_sample(data[i])
        amp[i] = robust_std(sample)  # robust_amplitude(data[i]), from the sample cut once
        line[i] = line_fraction((sample - np.median(sample))[None, :], sfreq)[0]
        clipped.append(clipped_fraction(data[i]))
    kinds = list(sensors.kinds)
    medians = {}
    for kind in set(kinds):
        peers = amp[[k == kind for k in kinds]]
        if len(peers) >= NOISY_MIN_PEERS:
            medians[kind] = float(np.median(peers))
    rows = []
    for i, (name, kind) in enumerate(zip(sensors.names, kinds)):
        frac, pile_up = clipped[i]
        flags = []
        if kind in FLAT_STD:
            if is_flat(amp[i], kind):
                flags.append("flat")
            elif (medians.get(kind, 0) > 0 and amp[i] > NOISY_RATIO * medians[kind]) \
                    or line[i] > LINE_FRACTION_MAX:
                flags.append("noisy")
            if pile_up and frac >= CLIPPED_FRACTION and frac * n_times >= CLIPPED_MIN_SAMPLES:
                flags.append("clipped")
        unit, factor = display_unit(kind)
        rows.append({
            "name": name, "kind": kind, "has_position": bool(sensors.has_position[i]),
            "flags": flags, "robust_std": float(amp[i] * factor), "unit": unit,
            "clipped_fraction": float(frac), "line_fraction": float(line[i]),
        })
    return rows
