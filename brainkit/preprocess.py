"""From a recording to model-ready windows.

The path is fixed and the same for training and inference:

1. keep the channels the model reads (EEG, magnetometers, gradiometers) that carry a signal: a
   flat channel (a disconnected lead, constant or quantised to one level) or one the file marks
   bad is left out (:func:`brainkit.quality.model_channels`, ``Recording.decoded_channels``);
2. band-pass 0.1-75 Hz (zero-phase 4th-order Butterworth; the upper edge is lowered below
   Nyquist for slow recordings), notch at the line frequency (from the file, else detected from
   a 50 or 60 Hz spectral peak);
3. resample to 256 Hz;
4. robust scaling per channel over the whole recording, ``(x - median) / (IQR / 1.349)``, clipped
   to +-20. Scaling per recording (not per window) keeps the contrasts within a recording, e.g.
   eyes-closed alpha against eyes-open; the scale itself is kept (``Windows.scale``) so
   absolute amplitude is not lost;
5. windows ``(N, C, T)``: sliding, or placed around events/annotations with labels.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from brainkit._logging import logger
from brainkit.errors import BrainkitError
from brainkit.sensors import SensorArray


@dataclass(frozen=True)
class PreprocessConfig:
    """Signal settings shared by the tokenizer, the decoder and the datasets."""

    sfreq: float = 256.0  #: Hz after resampling
    l_freq: float = 0.1  #: Hz, high-pass edge
    h_freq: float = 75.0  #: Hz, low-pass edge
    notch: str | float | None = "auto"  #: "auto" (file or detected), a frequency in Hz, or None
    filter_order: int = 4
    clip: float = 20.0  #: robust units


DEFAULT = PreprocessConfig()


@dataclass
class Preprocessed:
    """A whole recording after steps 1-4.

    Attributes
    ----------
    data : ndarray, shape (C, T), float32
        Filtered, resampled, robust-scaled signal.
    sfreq : float
        Sampling rate of ``data`` in Hz.
    sensors : SensorArray
        The C model channels.
    scale : ndarray, shape (C,)
        Robust scale per channel in SI units (V, T, T/m) that ``data`` was divided by.
    notch_hz : float | None
        The line frequency removed, if any.
    """

    data: np.ndarray
    sfreq: float
    sensors: SensorArray
    scale: np.ndarray
    notch_hz: float | None = None

    @property
    def duration_s(self) -> float:
        return self.data.shape[1] / self.sfreq


@dataclass
class Windows:
    """Model-ready windows.

    Attributes
    ----------
    x : ndarray, shape (N, C, T), float32
        Windows of the preprocessed signal.
    sfreq : float
        Hz.
    starts_s : ndarray, shape (N,)
        Start of each window in seconds from the recording's first sample.
    sensors : SensorArray
        The C channels.
    scale : ndarray, shape (C,)
        Robust scale per channel in SI units (see :class:`Preprocessed`).
    labels : ndarray of str, shape (N,), or None
        Class per window when known.
    warnings : tuple of str
        What the cutting changed, e.g. a recording shorter than one window zero-padded to it.
    """

    x: np.ndarray
    sfreq: float
    starts_s: np.ndarray
    sensors: SensorArray
    scale: np.ndarray
    labels: np.ndarray | None = None
    warnings: tuple[str, ...] = ()

    def __len__(self) -> int:
        return len(self.x)

    @property
    def window_s(self) -> float:
        return self.x.shape[-1] / self.sfreq

    def select(self, idx) -> "Windows":
        """The windows at ``idx``."""
        idx = np.asarray(idx, dtype=int)
        scale = np.asarray(self.scale)
        return replace(self, x=self.x[idx], starts_s=self.starts_s[idx],
                       labels=None if self.labels is None else self.labels[idx],
                       scale=scale[idx] if scale.ndim == 2 else self.scale)  # (C,) or per window (N, C)

    def pick(self, idx) -> "Windows":
        """Only the channels at ``idx``, in that order."""
        idx = np.asarray(idx, dtype=int)
        return replace(self, x=self.x[:, idx], sensors=self.sensors.pick(idx),
                       scale=np.asarray(self.scale)[..., idx])  # (C,) or per window (N, C)


def detect_line_freq(data: np.ndarray, sfreq: float) -> float | None:
    """50 or 60 when the spectrum shows a clear line peak (10x its neighbourhood), else None.

    Parameters
    ----------
    data : ndarray, shape (C, T)
    sfreq : float
        Hz.
    """
    from scipy.signal import welch

    n = min(data.shape[1], int(60 * sfreq))
    if n < sfreq:
        return None
    freqs, psd = welch(data[:, :n], fs=sfreq, nperseg=int(sfreq))  # 1-Hz bins
    psd = np.median(psd, axis=0)
    best, best_ratio = None, 10.0
    for line in (50.0, 60.0):
        if line >= sfreq / 2 - 1:
            continue
        k = int(round(line))
        around = np.r_[psd[k - 5:k - 1], psd[k + 2:k + 6]]
        ratio = psd[k] / max(np.median(around), 1e-30)
        if ratio > best_ratio:
            best, best_ratio = line, ratio
    return best


def robust_scale(data: np.ndarray, clip: float = DEFAULT.clip) -> tuple[np.ndarray, np.ndarray]:
    """Centre by the median and divide by IQR/1.349 per channel; clip to +-``clip``.

    Parameters
    ----------
    data : ndarray, shape (C, T)

    Returns
    -------
    scaled : ndarray, shape (C, T), float32
    scale : ndarray, shape (C,)
        The divisor per channel (1.0 for a flat channel).
    """
    median = np.median(data, axis=1, keepdims=True)
    q75, q25 = np.percentile(data, [75, 25], axis=1)
    scale = (q75 - q25) / 1.349
    flat = ~(scale > 0)
    if flat.any():
        scale = np.where(flat, np.abs(data).max(axis=1), scale)
        scale = np.where(scale > 0, scale, 1.0)
    scaled = np.clip((data - median) / scale[:, None], -clip, clip).astype(np.float32)
    return scaled, scale


def preprocess(recording, config: PreprocessConfig = DEFAULT) -> Preprocessed:
    """Steps 1-4 of the module docstring on a :class:`~brainkit.io.Recording`.

    Raises
    ------
    BrainkitError
        When the recording has no EEG/MEG channel, none with a signal, or fewer than two samples.
        A short recording is not refused: :func:`sliding_windows` zero-pads it to one window.
    """
    import mne

    if recording.sensors.model_picks.size == 0:
        raise BrainkitError("no EEG or MEG channel to analyse (channel kinds: "
                            f"{', '.join(sorted(set(recording.sensors.kinds)))})")
    raw = recording.raw
    if raw.n_times < 2:
        raise BrainkitError(f"recording has {raw.n_times} sample(s); at least 2 are needed to filter it")
    picks, left_out = recording.decoded_channels
    if picks.size == 0:
        why = " or ".join(sorted(set(left_out.values()))).replace(
            "flat", "flat (constant, a disconnected lead or a dead sensor)")
        raise BrainkitError(f"no EEG or MEG channel carries a signal: all {len(left_out)} are {why}; "
                            "nothing to decode")
    if left_out:
        logger.warning("left out %d channel(s) without a usable signal: %s", len(left_out),
                       ", ".join(f"{name} ({why})" for name, why in left_out.items()))
    sfreq = float(raw.info["sfreq"])
    data = raw.get_data(picks=picks).astype(np.float64)  # (C, T) in SI units
    nyquist = sfreq / 2
    h_freq = min(config.h_freq, 0.9 * nyquist)
    l_freq = config.l_freq if config.l_freq < h_freq / 2 else None
    iir = dict(order=config.filter_order, ftype="butter", output="sos")
    data = mne.filter.filter_data(data, sfreq, l_freq, h_freq, method="iir", iir_params=iir,
                                  verbose="error")
    notch = config.notch
    if notch == "auto":
        notch = raw.info.get("line_freq") or detect_line_freq(data, sfreq)
    if notch and notch < 0.95 * h_freq:
        data = mne.filter.notch_filter(data, sfreq, np.arange(notch, h_freq, notch), method="iir",
                                       verbose="error")
    if sfreq != config.sfreq:
        data = mne.filter.resample(data, up=config.sfreq, down=sfreq, method="polyphase",
                                   verbose="error")
    scaled, scale = robust_scale(data, config.clip)
    logger.info("preprocessed %d channels: %.1f s at %g Hz (notch %s)", scaled.shape[0],
                scaled.shape[1] / config.sfreq, config.sfreq, notch or "none")
    return Preprocessed(scaled, config.sfreq, recording.sensors.pick(picks), scale,
                        float(notch) if notch else None)


def _cut(prep: Preprocessed, starts: np.ndarray, n_times: int) -> np.ndarray:
    """Windows of ``n_times`` samples at sample offsets ``starts``; zero-padded past the end."""
    c, t = prep.data.shape
    x = np.zeros((len(starts), c, n_times), np.float32)  # (N, C, T)
    for i, s in enumerate(starts):
        chunk = prep.data[:, max(s, 0): min(s + n_times, t)]
        offset = max(-s, 0)
        x[i, :, offset: offset + chunk.shape[1]] = chunk
    return x


def sliding_windows(prep: Preprocessed, window_s: float, stride_s: float | None = None,
                    start_s: float = 0.0, stop_s: float | None = None) -> Windows:
    """Cut windows of ``window_s`` every ``stride_s`` seconds between ``start_s`` and ``stop_s``.

    A recording shorter than one window gives one window, zero-padded to ``window_s`` after its
    end, and says so in ``Windows.warnings`` (DESIGN.md: a window of another length is padded,
    never rejected).
    """
    if window_s <= 0 or (stride_s is not None and stride_s <= 0):
        raise BrainkitError(f"window ({window_s} s) and stride ({stride_s} s) must be positive")
    stride_s = stride_s or window_s
    n_times = int(round(window_s * prep.sfreq))
    first = int(round(start_s * prep.sfreq))
    last = prep.data.shape[1] if stop_s is None else min(int(round(stop_s * prep.sfreq)),
                                                         prep.data.shape[1])
    step = max(int(round(stride_s * prep.sfreq)), 1)
    starts = np.arange(first, max(last - n_times, first) + 1, step)
    warnings = ()
    if last - first < n_times:
        warnings = (f"{(last - first) / prep.sfreq:.2f} s of signal, shorter than one {window_s:g}-s "
                    f"window: zero-padded to {window_s:g} s",)
        logger.warning(warnings[0])
    return Windows(_cut(prep, starts, n_times), prep.sfreq, starts / prep.sfreq, prep.sensors,
                   prep.scale, warnings=warnings)


def event_windows(prep: Preprocessed, onsets_s, labels, window_s: float,
                  offset_s: float = 0.0) -> Windows:
    """One window per event, from ``onset + offset_s`` for ``window_s`` seconds.

    Events whose window does not lie wholly inside the recording are dropped.
    """
    onsets_s = np.asarray(onsets_s, dtype=np.float64)
    labels = np.asarray(labels, dtype=object)
    n_times = int(round(window_s * prep.sfreq))
    starts = np.round((onsets_s + offset_s) * prep.sfreq).astype(int)
    inside = (starts >= 0) & (starts + n_times <= prep.data.shape[1])
    if (~inside).any():
        logger.info("dropped %d event window(s) that leave the recording", int((~inside).sum()))
    starts = starts[inside]
    return Windows(_cut(prep, starts, n_times), prep.sfreq, starts / prep.sfreq, prep.sensors,
                   prep.scale, labels[inside].astype(str))


def annotation_windows(prep: Preprocessed, annotations, mapping: dict[str, str], window_s: float,
                       offset_s: float = 0.0, stride_s: float | None = None) -> Windows:
    """Windows labelled from annotations whose description is a key of ``mapping``.

    With ``stride_s`` None, one window per annotation onset (events, e.g. stimuli); with a stride,
    sliding windows tiling each annotation's duration (blocks, e.g. eyes closed for 60 s).
    """
    onsets, labels = [], []
    for onset, duration, description in zip(annotations.onset, annotations.duration,
                                             annotations.description):
        label = mapping.get(str(description))
        if label is None:
            continue
        if stride_s is None:
            onsets.append(onset)
            labels.append(label)
        else:
            for start in np.arange(onset, onset + duration - window_s + 1e-9, stride_s):
                onsets.append(start)
                labels.append(label)
    return event_windows(prep, onsets, labels, window_s, offset_s)


def make_windows(recording, window_s: float = 4.0, stride_s: float | None = None,
                 config: PreprocessConfig = DEFAULT) -> Windows:
    """Preprocess a recording and cut sliding windows (the path every decode takes)."""
    return sliding_windows(preprocess(recording, config), window_s, stride_s)


def evenly_spaced(n_total: int, n: int) -> np.ndarray:
    """Indices of at most ``n`` of ``n_total`` items spread evenly from the first to the last.

    Returns
    -------
    ndarray of int, shape (min(n, n_total),)
        Strictly increasing; all of ``0 .. n_total - 1`` when ``n >= n_total``, the first item
        alone when ``n == 1``.
    """
    n_total, n = int(n_total), max(0, int(n))
    if n >= n_total:
        return np.arange(n_total)
    return np.linspace(0, n_total - 1, n).round().astype(int)
