"""The read-out: what a clinician reads off a spectrum, pooled over scalp regions, per task.

The decoder's decisions rest on features chosen for generalizing to new people, sites and
devices (measured by subject-grouped cross-validation and shift tests, MODEL_CARD.md):

* **Gain-invariant.** Every channel's spectrum is divided by its own 1-45 Hz power before
  anything else, so an amplifier's or an electrode's gain cancels exactly. The absolute amplitude
  (``Windows.scale``) enters only as each channel's amplitude relative to the other channels of
  the same window.
* **Reference.** With at least :data:`MIN_AVERAGE_REFERENCE_CHANNELS` channels the signals are
  re-referenced to their common average first, so that nothing depends on the recorded reference
  (the average of an average-referenced recording is itself). ``recording_power`` is then left
  out (zero): it is measured in units of each channel's recording scale, which the recorded
  reference sets, and with it 42 % of workload answers changed under average reference in
  cross-validation (29 % of motor imagery) at a cost of 1.5 points of accuracy (MODEL_CARD.md).
* **Layout-independent.** Channels are pooled into fixed regions located from their positions
  (:data:`REGIONS`: whole head, frontal, central, temporal, parietal, occipital, posterior, left,
  right); a region without a sensor takes the whole-head value, and channels without a known
  position count for the whole head only. One channel, a 4-channel headset and a 64-channel cap
  give vectors of the same size and meaning.

Per region (:data:`FEATURE_NAMES`): log relative power of slow waves, delta, theta, alpha, sigma
(spindles), beta and gamma; the theta/beta, alpha/theta and slow/fast ratios; the spectral edge
frequency; the aperiodic (1/f) slope; the alpha peak's frequency and prominence over the 1/f
background; spectral entropy; Hjorth mobility and complexity; the waveform's shape (log kurtosis,
absolute skewness, log peak-to-RMS ratio, log line length per standard deviation: spikes and
sharp waves, free of gain); the amplitude relative to the other channels of the window, and the
power relative to the window's own recording (the samples are divided by the recording's robust
scale, so this too is free of the amplifier's gain; zero where the read-out re-references).

A task's head may read a named set of these only (:data:`FEATURE_SETS`, ``config.readout_features``):
eyes reads the spectrum's shape, as a clinician reads alpha blocking, not the waveform and
amplitude features, which told devices apart more than eyes (MODEL_CARD.md). It may also read
some regions only (``config.readout_regions``): sleep reads the central region, the derivation
(C3-A1, Cz-A1) every training night has, so that a polysomnogram's frontal and occipital leads,
which no training night had, do not move its answer (a region without a sensor reads the whole
head, as everywhere).

Seizure detection also reads each region's **sample entropy** (:func:`regularity_features`: how
predictable the signal is from its own recent past, low in a seizure's rhythmic discharge; free of
gain). It is a task's extra input (``config.entropy_tasks``), not a feature of every task: given
to every task in cross-validation it moved seizure +1.9 points and sleep -1.5, and its cost grows
with the square of the window (MODEL_CARD.md).

For sleep staging (:func:`sequence_features`) each 30-s epoch is also read relative to its night
(z-scored over the recording, as YASA does) and with the context of its neighbours (centred
moving averages), which is how a scorer reads a hypnogram.

Everything is written in torch and differentiable in the signal where the quantity is smooth, so
that integrated gradients reach the samples through it. Coordinates are MNE's head frame in
metres (+x right ear, +y nasion, +z up).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import torch

TOTAL_BAND_HZ = (1.0, 45.0)  #: Hz, the power every spectrum is divided by
#: name -> (low, high) Hz, half-open
BANDS_HZ = {"slow": (0.5, 2.0), "delta": (1.0, 4.0), "theta": (4.0, 8.0), "alpha": (8.0, 13.0),
            "sigma": (11.0, 16.0), "beta": (13.0, 30.0), "gamma": (30.0, 45.0)}
#: name -> (numerator bands, denominator bands)
RATIOS = {"theta/beta": (("theta",), ("beta",)), "alpha/theta": (("alpha",), ("theta",)),
          "slow/fast": (("delta", "theta"), ("alpha", "beta"))}
ALPHA_SEARCH_HZ = (7.0, 14.0)  #: where the alpha peak is looked for
APERIODIC_FIT_HZ = (2.0, 40.0)  #: range of the log-log fit of the 1/f background...
APERIODIC_SKIP_HZ = (7.0, 16.0)  #: ...leaving out the alpha and spindle peaks
SPECTRAL_EDGE = 0.9  #: fraction of the 1-45 Hz power below the spectral edge frequency
WELCH_SEGMENT_S = 2.0  #: s (the whole window when it is shorter); segments overlap by half...
LONG_WINDOW_S, LONG_SEGMENT_S = 16.0, 4.0  #: ...and 4 s from 16-s windows on (0.25-Hz bins for slow waves)
LOG_FLOOR = 1e-6  #: added to relative powers (<= 1) before a log
MIN_AVERAGE_REFERENCE_CHANNELS = 8

REGIONS = ("whole", "frontal", "central", "temporal", "parietal", "occipital", "posterior", "left", "right")
#: metres: the head sphere's centre in the head frame; sensor directions are taken from here
HEAD_CENTRE_M = (0.0, 0.015, 0.05)
FRONTAL_MIN_Y = 0.6  #: direction cosines that place a sensor: anterior above this: frontal
OCCIPITAL_MAX_Y = -0.8  #: anterior below this: occipital
TEMPORAL_MIN_ABS_X, TEMPORAL_MAX_Z = 0.7, 0.45  #: lateral above and vertical below: temporal
PARIETAL_MAX_Y = -0.35  #: anterior below this (and none of the above): parietal; else central
LATERAL_MIN_ABS_X = 0.15  #: lateral beyond this: left or right hemisphere

FEATURE_NAMES = ([f"rel_{b}" for b in BANDS_HZ] + [f"log_{r}" for r in RATIOS]
                 + ["edge_hz", "aperiodic_slope", "alpha_peak_hz", "alpha_prominence",
                    "spectral_entropy", "hjorth_mobility", "hjorth_complexity", "log_kurtosis",
                    "abs_skewness", "log_peak_to_rms", "log_line_length", "relative_amplitude",
                    "recording_power"])
N_FEATURES = len(REGIONS) * len(FEATURE_NAMES)  #: size of one window's read-out vector
#: named sets of :data:`FEATURE_NAMES` a task's head may be restricted to (every region's;
#: ``config.readout_features``): ``spectral``, the 15 of :func:`spectral_shape`, the shape of
#: the relative spectrum (band powers, their ratios, edge, 1/f slope, alpha peak, entropy)
FEATURE_SETS = {"spectral": FEATURE_NAMES[:15]}
CONTEXT_HALF_WIDTHS = (2, 7)  #: epochs, half-widths of the centred moving averages (sleep)
SEQUENCE_FACTOR = 1 + len(CONTEXT_HALF_WIDTHS)  #: sequence features per read-out feature


def regions_of(position) -> list[str]:
    """The regions (other than ``whole``) a sensor at ``position`` (3,) metres belongs to."""
    direction = np.asarray(position, dtype=np.float64) - np.asarray(HEAD_CENTRE_M)
    ux, uy, uz = direction / np.linalg.norm(direction)
    if uy > FRONTAL_MIN_Y:
        lobe = "frontal"
    elif uy < OCCIPITAL_MAX_Y:
        lobe = "occipital"
    elif abs(ux) > TEMPORAL_MIN_ABS_X and uz < TEMPORAL_MAX_Z:
        lobe = "temporal"
    elif uy < PARIETAL_MAX_Y:
        lobe = "parietal"
    else:
        lobe = "central"
    out = [lobe] + (["posterior"] if lobe in ("parietal", "occipital") else [])
    if abs(ux) > LATERAL_MIN_ABS_X:
        out.append("left" if ux < 0 else "right")
    return out


def region_weights(pos, has_position) -> np.ndarray:
    """Averaging weights from channels to :data:`REGIONS`, shape (R, C); every row sums to 1.

    Parameters
    ----------
    pos : array, shape (C, 3)
        Metres (ignored where ``has_position`` is False).
    has_position : array, shape (C,), bool
    """
    member = _membership(pos, has_position)
    empty = member.sum(1) == 0
    member[empty] = member[0]  # a region without a sensor reads the whole head
    return member / member.sum(1, keepdims=True)


def region_channels(pos, has_position, regions) -> np.ndarray:
    """Which channels (C,) bool lie in any of ``regions`` (none: a head restricted to them reads
    the whole head, as every empty region does)."""
    return _membership(pos, has_position)[[REGIONS.index(r) for r in regions]].any(0)


def empty_regions(pos, has_position) -> list[str]:
    """The :data:`REGIONS` without a sensor of the layout (each reads the whole head)."""
    member = _membership(pos, has_position)
    return [r for r, row in zip(REGIONS, member) if not row.any()]


def _membership(pos, has_position) -> np.ndarray:
    """(R, C) ones where a channel belongs to a region (every channel to ``whole``)."""
    pos = np.asarray(pos, dtype=np.float64).reshape(-1, 3)
    placed = np.asarray(has_position, dtype=bool) & np.isfinite(pos).all(1) & pos.any(1)
    member = np.zeros((len(REGIONS), len(pos)))
    member[0] = 1.0
    for c in np.flatnonzero(placed):
        for region in regions_of(pos[c]):
            member[REGIONS.index(region), c] = 1.0
    return member


def welch(x: torch.Tensor, sfreq: float) -> tuple[torch.Tensor, torch.Tensor]:
    """Welch power spectrum (Hann segments of :data:`WELCH_SEGMENT_S`, or :data:`LONG_SEGMENT_S` in
    windows of :data:`LONG_WINDOW_S` or more; half overlap).

    ``x`` (N, C, T) -> frequencies (F,) Hz, power (N, C, F) (relative units: only shapes matter).
    """
    segment_s = LONG_SEGMENT_S if x.shape[-1] >= LONG_WINDOW_S * sfreq else WELCH_SEGMENT_S
    n_seg = int(min(x.shape[-1], round(segment_s * sfreq)))
    segments = x.unfold(-1, n_seg, max(n_seg // 2, 1))  # (N, C, S, n_seg)
    segments = segments - segments.mean(-1, keepdim=True)
    window = torch.hann_window(n_seg + 2, periodic=False, dtype=x.dtype, device=x.device)[1:-1]
    spectrum = torch.fft.rfft(segments * window, dim=-1)
    power = (spectrum.real ** 2 + spectrum.imag ** 2).mean(2)  # (N, C, F)
    return torch.fft.rfftfreq(n_seg, 1.0 / sfreq).to(x.device, x.dtype), power


def _between(freqs, lo_hi):
    return (freqs >= lo_hi[0]) & (freqs < lo_hi[1])


def spectral_shape(freqs: torch.Tensor, rel: torch.Tensor) -> torch.Tensor:
    """The 15 spectral features of relative spectra ``rel`` (..., F) -> (..., 15)."""
    bands = {name: rel[..., _between(freqs, hz)].sum(-1) for name, hz in BANDS_HZ.items()}
    out = [torch.log(bands[b] + LOG_FLOOR) for b in BANDS_HZ]
    for num, den in RATIOS.values():
        out.append(torch.log(sum(bands[b] for b in num) + LOG_FLOOR)
                   - torch.log(sum(bands[b] for b in den) + LOG_FLOOR))
    total = _between(freqs, TOTAL_BAND_HZ)
    cumulative = rel[..., total].cumsum(-1)
    below = (cumulative < SPECTRAL_EDGE * cumulative[..., -1:]).sum(-1)
    out.append(freqs[total][below.clamp(max=int(total.sum()) - 1)])  # spectral edge, Hz
    fit = _between(freqs, APERIODIC_FIT_HZ) & ~_between(freqs, APERIODIC_SKIP_HZ)
    log_f = torch.log10(freqs[fit])
    log_p = torch.log10(rel[..., fit] + LOG_FLOOR)
    f_c = log_f - log_f.mean()
    slope = (log_p - log_p.mean(-1, keepdim=True)) @ f_c / (f_c @ f_c)
    intercept = log_p.mean(-1) - slope * log_f.mean()
    out.append(slope)
    alpha = _between(freqs, ALPHA_SEARCH_HZ)
    background = 10.0 ** (intercept[..., None] + slope[..., None] * torch.log10(freqs[alpha]))
    above = (rel[..., alpha] - background).clamp(min=0.0)
    mass = above.sum(-1)
    centre = (above * freqs[alpha]).sum(-1) / mass.clamp(min=1e-12)
    out.append(torch.where(mass > 0, centre, freqs[alpha].mean().expand_as(centre)))  # alpha peak, Hz
    out.append(torch.log10(rel[..., alpha].amax(-1) + LOG_FLOOR)
               - torch.log10(background.amax(-1) + LOG_FLOOR))
    p = rel[..., total] / cumulative[..., -1:].clamp(min=1e-12)
    out.append(-(p * torch.log(p.clamp(min=1e-12))).sum(-1) / np.log(max(int(total.sum()), 2)))
    return torch.stack(out, -1)


def hjorth(x: torch.Tensor) -> torch.Tensor:
    """Hjorth mobility and complexity of every channel (gain-invariant), (N, C, T) -> (N, C, 2)."""
    d1, d2 = x.diff(dim=-1), x.diff(n=2, dim=-1)
    v0, v1, v2 = x.var(-1), d1.var(-1), d2.var(-1)
    mobility = (v1 / v0.clamp(min=1e-12)).sqrt()
    complexity = (v2 / v1.clamp(min=1e-12)).sqrt() / mobility.clamp(min=1e-6)
    return torch.stack([mobility, complexity], -1)


def waveform_shape(x: torch.Tensor) -> torch.Tensor:
    """Log kurtosis, absolute skewness, log peak-to-RMS and log mean absolute first difference
    per standard deviation of every channel (gain-invariant), (N, C, T) -> (N, C, 4)."""
    centred = x - x.mean(-1, keepdim=True)
    z = centred / centred.pow(2).mean(-1, keepdim=True).sqrt().clamp(min=1e-12)  # (N, C, T)
    kurtosis = torch.log(z.pow(4).mean(-1).clamp(min=1e-6))
    skewness = z.pow(3).mean(-1).abs()
    peak = torch.log(z.abs().amax(-1).clamp(min=1e-6))
    line_length = torch.log(z.diff(dim=-1).abs().mean(-1) + 1e-9)
    return torch.stack([kurtosis, skewness, peak, line_length], -1)


ENTROPY_RATE_HZ = 128.0  #: Hz the signal is averaged down to before its sample entropy...
ENTROPY_M, ENTROPY_R = 2, 0.2  #: ...template length and tolerance (standard deviations)


@torch.no_grad()
def sample_entropy(x: torch.Tensor, sfreq: float) -> torch.Tensor:
    """Sample entropy of every channel, (N, C, T) -> (N, C): how unpredictable the signal is from
    its own recent past (Richman and Moorman, 2000), free of gain.

    The signal is averaged over groups of samples down to about :data:`ENTROPY_RATE_HZ` (a scale
    every source rate from 128 Hz up keeps); then -log of the chance that two templates of
    ``m + 1`` samples match (every sample within ``r`` standard deviations: Chebyshev distance)
    given that their first ``m`` do, over all pairs of distinct templates, counts plus one so that
    it is never infinite. A seizure's rhythmic discharge is regular (low), a waking scalp EEG
    irregular (high). A step function of the signal: no gradient (explanations hold it).

    In NumPy, one channel-window at a time: every pair of samples is compared once (in float32)
    and the templates' matches are read off that matrix shifted. Its cost grows with the square
    of the window (about 0.2 ms per channel and 4-s window, steady; torch's version of the same
    ran 0.4-3 ms, varying with its threads; BENCHMARKS.md).
    """
    m, step = ENTROPY_M, max(1, int(round(sfreq / ENTROPY_RATE_HZ)))
    a = x.detach().cpu().numpy().astype(np.float64)
    n_windows, n_channels, T = a.shape
    rows = a.reshape(-1, T)[:, :T // step * step].reshape(n_windows * n_channels, -1, step).mean(-1)
    n = rows.shape[1] - m  # templates of m + 1 samples
    out = np.zeros(len(rows))
    for i, row in enumerate(rows if n > 0 else ()):
        tolerance = np.float32(ENTROPY_R * row.std())
        row = row.astype(np.float32)  # differences and comparisons are exact operations: any CPU agrees
        distance = np.subtract.outer(row, row)
        near = np.abs(distance, out=distance) <= tolerance  # every pair of samples
        close = near[:n, :n].copy()
        for j in range(1, m):  # templates match in their first m samples...
            close &= near[j:j + n, j:j + n]
        longer = close & near[m:m + n, m:m + n]  # ...and in the next
        pairs_close, pairs_longer = ((np.count_nonzero(c) - n) / 2 for c in (close, longer))  # distinct, once
        out[i] = -np.log((pairs_longer + 1) / (pairs_close + 1))
    return torch.from_numpy(out.reshape(n_windows, n_channels)).to(x.dtype)


def regularity_features(x: torch.Tensor, sfreq: float, pos, has_position, scale) -> torch.Tensor:
    """:func:`sample_entropy` of every channel pooled over :data:`REGIONS` (after the read-out's
    common average), (N, C, T) -> (N, R): the read-out's extra input for the tasks in
    ``config.entropy_tasks`` (seizure: MODEL_CARD.md says why only there). A lead constant in a
    window is left out of it (:func:`by_live_leads`): a constant would read as perfectly regular,
    a seizure's mark."""
    return by_live_leads(_regularity_features, x, sfreq, pos, has_position, scale)


def _regularity_features(x, sfreq, pos, has_position, scale):
    x, _, _ = common_average(x, scale)
    weights = torch.as_tensor(region_weights(pos, has_position), dtype=x.dtype, device=x.device)
    return sample_entropy(x, sfreq) @ weights.T


def by_live_leads(features, x: torch.Tensor, sfreq: float, pos, has_position, scale) -> torch.Tensor:
    """``features(x, sfreq, pos, has_position, scale)`` of every window with the leads constant in
    it (disconnected: zeros; railed) left out, as if the recording did not have them: windows are
    grouped by their live leads. Every lead is kept where all are live or none is."""
    live = x.amax(-1) > x.amin(-1)  # (N, C)
    if bool(live.all()) or not bool(live.any()):
        return features(x, sfreq, pos, has_position, scale)
    pos, has_position = np.asarray(pos, dtype=np.float64).reshape(-1, 3), np.asarray(has_position, dtype=bool)
    scale = torch.as_tensor(np.asarray(scale), dtype=x.dtype, device=x.device)
    patterns, group = torch.unique(live, dim=0, return_inverse=True)
    parts, order = [], []
    for k, pattern in enumerate(patterns):
        rows = (group == k).nonzero().squeeze(1)
        keep = pattern.nonzero().squeeze(1) if pattern.any() else torch.arange(x.shape[1], device=x.device)
        kept = keep.cpu().numpy()
        parts.append(features(x[rows][:, keep], sfreq, pos[kept], has_position[kept],
                              scale[..., keep][rows] if scale.ndim == 2 else scale[keep]))
        order.append(rows)
    return torch.cat(parts)[torch.argsort(torch.cat(order))]


def common_average(x: torch.Tensor, scale):
    """Windows (N, C, T) in robust units re-referenced to their common average (in volts, back to
    robust units) when they have at least :data:`MIN_AVERAGE_REFERENCE_CHANNELS` channels.

    Returns ``(x, scale as (N, C, 1), whether x was re-referenced)``.
    """
    scale = torch.as_tensor(np.asarray(scale), dtype=x.dtype, device=x.device).clamp(min=1e-15)
    scale = scale.expand(x.shape[0], -1)[..., None]  # (N, C, 1)
    rereferenced = x.shape[1] >= MIN_AVERAGE_REFERENCE_CHANNELS
    if rereferenced:
        volts = x * scale
        x = (volts - volts.mean(1, keepdim=True)) / scale
    return x, scale, rereferenced


def readout_features(x: torch.Tensor, sfreq: float, pos, has_position, scale) -> torch.Tensor:
    """The read-out vector of every window; a lead constant in a window (disconnected: zeros) is
    left out of that window (:func:`by_live_leads`: it would dilute every region's relative powers
    and join the common average).

    Parameters
    ----------
    x : Tensor, shape (N, C, T)
        Preprocessed windows (robust-scaled per channel).
    sfreq : float
        Hz.
    pos : array, shape (C, 3)
        Sensor positions in metres.
    has_position : array, shape (C,), bool
    scale : array, shape (C,) or (N, C)
        The robust scale each channel was divided by (``Windows.scale``, volts).

    Returns
    -------
    Tensor, shape (N, N_FEATURES)
        Region-major: for each of :data:`REGIONS`, the :data:`FEATURE_NAMES`.
    """
    return by_live_leads(_readout_features, x, sfreq, pos, has_position, scale)


def _readout_features(x: torch.Tensor, sfreq: float, pos, has_position, scale) -> torch.Tensor:
    x, scale, rereferenced = common_average(x, scale)
    freqs, power = welch(x, sfreq)  # (N, C, F)
    total = power[..., _between(freqs, TOTAL_BAND_HZ)].sum(-1)  # (N, C)
    rel = power / total.clamp(min=1e-20)[..., None]
    log_amplitude = 0.5 * torch.log(total + 1e-20) + torch.log(scale[..., 0])  # (N, C), log volts
    relative_amplitude = log_amplitude - log_amplitude.median(1, keepdim=True).values
    weights = torch.as_tensor(region_weights(pos, has_position), dtype=x.dtype, device=x.device)
    pooled = torch.einsum("rc,ncf->nrf", weights, rel)  # (N, R, F)
    recording_power = torch.log(x.pow(2).mean(-1) + LOG_FLOOR)  # (N, C): x is scaled per recording
    if rereferenced:  # the recording's scale belongs to the recorded reference
        recording_power = torch.zeros_like(recording_power)
    per_channel = torch.cat([hjorth(x), waveform_shape(x), relative_amplitude[..., None],
                             recording_power[..., None]], -1)
    parts = [spectral_shape(freqs, pooled), torch.einsum("rc,nck->nrk", weights, per_channel)]
    return torch.cat(parts, -1).flatten(1)  # (N, R * n_features)


# --------------------------------------------------------------------- a taught task's montage
SPATIAL_BAND_HZ = (8.0, 30.0)  #: Hz, the band a montage's spatial filters read (mu and beta)
EVOKED_BAND_HZ = (1.0, 20.0)  #: Hz, the band of an evoked response's time course
EVOKED_STEP_S = 0.05  #: s between the time points an evoked response is read at


@dataclass(frozen=True, eq=False)
class Montage:
    """A taught task's own channels, read as they were recorded, and optionally filters of them
    fitted to the task's labels (one montage, one amplifier: unlike :func:`readout_features`,
    bound to both).

    Attributes
    ----------
    channels : tuple of str
        Channel names, matched case-insensitively in a recording.
    filters : ndarray, shape (K, len(channels)), optional
        Spatial filters (rows) over ``channels``: common spatial patterns
        (:func:`brainkit.training.teach.fit_spatial_filters`); each adds the log power of its
        filtered :data:`SPATIAL_BAND_HZ` signal.
    evoked : ndarray, shape (K_e, len(channels)), optional
        Spatial filters of an event-locked response (xDAWN,
        :func:`brainkit.training.teach.fit_evoked_filters`); each adds its filtered
        :data:`EVOKED_BAND_HZ` time course at ``evoked_times_s``.
    evoked_times_s : ndarray, shape (P,), optional
        Seconds from the window's start.
    """

    channels: tuple = ()
    filters: np.ndarray | None = None
    evoked: np.ndarray | None = None
    evoked_times_s: np.ndarray | None = None

    def __post_init__(self):
        object.__setattr__(self, "channels", tuple(self.channels))
        for name in ("filters", "evoked"):
            value = getattr(self, name)
            if value is not None:
                value = np.asarray(value, dtype=np.float64)
                if value.ndim != 2 or value.shape[1] != len(self.channels):
                    raise ValueError(f"{name} of shape {value.shape} do not fit {len(self.channels)} channels")
                object.__setattr__(self, name, value)
        if (self.evoked is None) != (self.evoked_times_s is None):
            raise ValueError("evoked filters need their time points, and time points their filters")
        if self.evoked_times_s is not None:
            object.__setattr__(self, "evoked_times_s", np.asarray(self.evoked_times_s, dtype=np.float64).ravel())

    def __bool__(self) -> bool:
        return bool(self.channels)

    @property
    def n_filters(self) -> int:
        return 0 if self.filters is None else len(self.filters)

    @property
    def n_evoked(self) -> int:
        """Columns of the evoked response (filters x time points)."""
        return 0 if self.evoked is None else len(self.evoked) * len(self.evoked_times_s)

    def names(self) -> list[tuple[str, str]]:
        """(channel or filter, feature) of every column of :meth:`features`."""
        from brainkit.models.spectral import BANDS_HZ as CHANNEL_BANDS_HZ

        kinds = [f"log_power_{lo:g}-{hi:g}_hz" for lo, hi in CHANNEL_BANDS_HZ] + ["log_scale"]
        band = f"log_power_{SPATIAL_BAND_HZ[0]:g}-{SPATIAL_BAND_HZ[1]:g}_hz"
        out = [(ch, k) for ch in self.channels for k in kinds]
        out += [(f"spatial filter {k + 1}", band) for k in range(self.n_filters)]
        if self.evoked is not None:
            out += [(f"evoked filter {k + 1}", f"amplitude_at_{t:.2f}_s")
                    for k in range(len(self.evoked)) for t in self.evoked_times_s]
        return out

    @property
    def width(self) -> int:
        """Columns :meth:`features` gives."""
        return len(self.names())

    def channels_only(self) -> "Montage":
        return Montage(self.channels)

    def features(self, x: torch.Tensor, sfreq: float, scale, names, task: str = "this task"):
        """Each channel's log band powers and log robust scale
        (:func:`brainkit.models.spectral.channel_features`, the band-power method's features),
        then each spatial filter's log band power, then the evoked filters' time courses,
        (N, :attr:`width`); differentiable in ``x``.

        Parameters
        ----------
        x : Tensor, shape (N, C, T)
            Windows of a recording whose channel ``names`` include the montage's.
        scale : array, shape (C,) or (N, C)
            ``Windows.scale``.
        """
        from brainkit.models.spectral import BANDS_HZ as CHANNEL_BANDS_HZ
        from brainkit.models.spectral import band_power_features, channel_features

        idx = channel_index(names, self.channels, task)
        scale = torch.as_tensor(np.asarray(scale), dtype=x.dtype, device=x.device)[..., idx]
        x = x[:, idx]
        out = [channel_features(band_power_features(x, sfreq, CHANNEL_BANDS_HZ), scale).flatten(1)]
        if self.n_filters:
            out.append(self.spatial_columns(band_limited(x, sfreq, SPATIAL_BAND_HZ)))
        if self.evoked is not None:
            out.append(self.evoked_columns(band_limited(x, sfreq, EVOKED_BAND_HZ), sfreq))
        return torch.cat(out, 1)

    def spatial_columns(self, band: torch.Tensor) -> torch.Tensor:
        """Log mean power of each spatial filter of the montage's channels already band-limited to
        :data:`SPATIAL_BAND_HZ` (:func:`band_limited`): ``band`` (N, C, T) -> (N, K)."""
        filters = torch.as_tensor(self.filters, dtype=band.dtype, device=band.device)
        return torch.log(torch.einsum("kc,nct->nkt", filters, band).pow(2).mean(-1) + 1e-20)

    def evoked_columns(self, band: torch.Tensor, sfreq: float) -> torch.Tensor:
        """Each evoked filter's time course at ``evoked_times_s`` of the montage's channels already
        band-limited to :data:`EVOKED_BAND_HZ`: ``band`` (N, C, T) -> (N, K_e * P), filter-major."""
        index = np.clip(np.round(self.evoked_times_s * sfreq), 0, band.shape[-1] - 1).astype(int)
        filters = torch.as_tensor(self.evoked, dtype=band.dtype, device=band.device)
        course = torch.einsum("kc,nct->nkt", filters, band)
        return course[..., torch.as_tensor(index, device=band.device)].flatten(1)


def evoked_times(window_s: float, sfreq: float) -> np.ndarray:
    """The time points (s) an evoked response of a ``window_s`` window is read at, every
    :data:`EVOKED_STEP_S`."""
    n = int(round(window_s * sfreq))
    step = max(1, int(round(EVOKED_STEP_S * sfreq)))
    return np.arange(0, n, step) / sfreq


FILTER_ORDER = 4  #: Butterworth order of the bands a montage's filters read
MAX_FILTERED_SAMPLES = 4096  #: the longest window a montage's filters read (16 s at 256 Hz)


@lru_cache(maxsize=4)
def _band_operator(n: int, sfreq: float, band_hz: tuple) -> np.ndarray:
    """The (n, n) matrix of ``scipy.signal.sosfiltfilt`` with a Butterworth band-pass: the filter
    is linear, so its response to every unit impulse is the whole filter."""
    from scipy.signal import butter, sosfiltfilt

    sos = butter(FILTER_ORDER, band_hz, btype="band", fs=sfreq, output="sos")
    return np.ascontiguousarray(sosfiltfilt(sos, np.eye(n), axis=-1))


def band_limited(x: torch.Tensor, sfreq: float, band_hz=SPATIAL_BAND_HZ) -> torch.Tensor:
    """``x`` (..., T) band-passed to ``band_hz`` exactly as ``scipy.signal.sosfiltfilt`` with a
    Butterworth filter of order :data:`FILTER_ORDER` does it (zero phase, the classical methods'
    filter), written as one matrix product so that gradients flow through it; T at most
    :data:`MAX_FILTERED_SAMPLES`."""
    T = x.shape[-1]
    if T > MAX_FILTERED_SAMPLES:
        raise ValueError(f"windows of {T} samples are longer than a montage's filters read "
                         f"({MAX_FILTERED_SAMPLES})")
    operator = torch.as_tensor(_band_operator(T, float(sfreq), tuple(float(f) for f in band_hz)),
                               dtype=x.dtype, device=x.device)
    return x @ operator


def channel_index(names, channels, task: str = "this task") -> list[int]:
    """Where each of ``channels`` is among a recording's channel ``names``: the same name in any
    case, else the same electrode (:func:`brainkit.sensors.electrode_key`: ``EEG FP1-REF`` is
    ``Fp1``, ``T3`` is ``T7``).

    Raises
    ------
    BrainkitError
        When the recording lacks one of them.
    """
    from brainkit.errors import BrainkitError

    from brainkit.sensors import electrode_key

    exact, same = {}, {}
    for i, n in enumerate(names):
        exact.setdefault(str(n).lower(), i)
        same.setdefault(electrode_key(n), i)
    found = [exact.get(ch.lower(), same.get(electrode_key(ch))) for ch in channels]
    missing = [ch for ch, i in zip(channels, found) if i is None]
    if missing:
        raise BrainkitError(f"{task} was taught on the channels {', '.join(channels)}; this recording "
                            f"lacks {', '.join(missing[:8])}{' ...' if len(missing) > 8 else ''}")
    return found


def sequence_features(features: torch.Tensor, starts_s) -> torch.Tensor:
    """Each epoch relative to its recording, with the context of its neighbours.

    Parameters
    ----------
    features : Tensor, shape (N, F)
        :func:`readout_features` of the epochs of ONE recording, in any order.
    starts_s : array, shape (N,)
        Epoch starts in seconds.

    Returns
    -------
    Tensor, shape (N, 3 * F)
        ``[z-scores over the recording, their centred moving averages over +-2 and +-7 epochs]``
        (:data:`CONTEXT_HALF_WIDTHS`), in the input order. With one epoch everything is zero: a
        night is read as a night. (Adding the features themselves lowered cross-validated accuracy.)
    """
    order = torch.as_tensor(np.argsort(np.asarray(starts_s), kind="stable"), device=features.device)
    f = features[order]
    z = (f - f.mean(0)) / f.std(0, unbiased=False).clamp(min=1e-6)  # (N, F)
    parts = [z]
    cum = torch.cat([z.new_zeros(1, z.shape[1]), z.cumsum(0)])  # (N + 1, F)
    index = torch.arange(len(z), device=z.device)
    for half in CONTEXT_HALF_WIDTHS:
        lo = (index - half).clamp(min=0)
        hi = (index + half + 1).clamp(max=len(z))
        parts.append((cum[hi] - cum[lo]) / (hi - lo)[:, None])
    out = torch.cat(parts, -1)
    return out[torch.argsort(order)]


#: inverse L2 strength of each task's read-out fit (sleep's four-fold vector, fitted on a few
#: nights, needs more; chosen in cross-validation, MODEL_CARD.md)
REGULARISATION = {"sleep_stage": 0.03}


def fit_head(features: np.ndarray, labels: np.ndarray, n_answers: int, C: float = 1.0):
    """Class-balanced logistic regression of standardised features, folded back into one linear map.

    Parameters
    ----------
    features : ndarray, shape (N, F)
    labels : ndarray, shape (N,), int
        Answer index of every window.
    n_answers : int

    Returns
    -------
    weight : ndarray, shape (n_answers, F)
    bias : ndarray, shape (n_answers,)
        ``features @ weight.T + bias`` are the logits; answers absent from training get a bias of
        -10 (never chosen).
    """
    from sklearn.linear_model import LogisticRegression

    features = np.asarray(features, dtype=np.float64)
    mu, sd = features.mean(0), features.std(0) + 1e-6
    model = LogisticRegression(C=C, max_iter=3000, class_weight="balanced").fit((features - mu) / sd, labels)
    coef, intercept = model.coef_, model.intercept_
    if len(model.classes_) == 2:  # one logit -> two: [0, z]
        coef, intercept = np.vstack([np.zeros_like(coef), coef]), np.array([0.0, intercept[0]])
    weight, bias = np.zeros((n_answers, features.shape[1])), np.full(n_answers, -10.0)
    weight[model.classes_] = coef / sd
    bias[model.classes_] = intercept - (coef * mu / sd).sum(1)
    return weight, bias


def fit_lda_head(features: np.ndarray, labels: np.ndarray, n_answers: int, shrinkage="auto"):
    """Linear discriminant analysis (equal priors, a shrunk covariance) as one linear map: the
    classifier of a taught task's spatial-pattern and evoked readings. ``shrinkage="auto"``
    (Ledoit-Wolf) keeps its logits from overconfidence on few windows, which matters where the
    readings' logits are summed (on the spatial patterns alone it lowered cross-validated accuracy
    on motor execution, 78.0 -> 69.3 %; README); ``shrinkage=1.0`` is the nearest class mean
    under one variance shared by every feature (a matched filter), for features far more
    numerous than windows; same returns as :func:`fit_head`."""
    from sklearn.discriminant_analysis import LinearDiscriminantAnalysis

    features = np.asarray(features, dtype=np.float64)
    classes = np.unique(labels)
    model = LinearDiscriminantAnalysis(solver="lsqr", shrinkage=shrinkage,
                                       priors=np.full(len(classes), 1.0 / len(classes)))
    model.fit(features, labels)
    coef, intercept = model.coef_, model.intercept_
    if len(classes) == 2:  # one discriminant -> two logits, [-z / 2, z / 2]
        coef, intercept = np.vstack([-coef / 2, coef / 2]), np.array([-intercept[0] / 2, intercept[0] / 2])
    weight, bias = np.zeros((n_answers, features.shape[1])), np.full(n_answers, -10.0)
    weight[classes], bias[classes] = coef, intercept
    return weight, bias


def set_head(decoder, task: str, weight: np.ndarray, bias: np.ndarray) -> None:
    """Write a fitted read-out into ``decoder.readout_heads[task]``."""
    head = decoder.readout_heads[task]
    with torch.no_grad():
        head.weight.copy_(torch.as_tensor(weight, dtype=head.weight.dtype))
        head.bias.copy_(torch.as_tensor(bias, dtype=head.bias.dtype))


def softmax_logits(logits: np.ndarray) -> np.ndarray:
    """Row-wise softmax of logits (N, A), numerically stable."""
    z = np.exp(logits - logits.max(1, keepdims=True))
    return z / z.sum(1, keepdims=True)
