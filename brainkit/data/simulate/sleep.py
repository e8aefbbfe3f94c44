"""Simulated sleep EEG + EOG scored in 30-s stages along a plausible hypnogram
(:func:`simulate_sleep`). No forward model: each derivation weights shared rhythm generators by
its scalp region and adds its own 1/f background, in the microvolt ranges of the scoring rules.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from brainkit._logging import logger
from brainkit.data.simulate.signals import (UV, _add_kernel, _add_white, _band, _blink_kernel,
                                            _crossfade, _gauss, _pink, _raw, _rng)

#: Sleep derivations in the order ``simulate_sleep(n_channels=...)`` takes them.
SLEEP_DERIVATIONS = ("C3-A2", "C4-A1", "Fpz-Cz", "Pz-Oz", "F3-A2", "F4-A1", "O1-A2", "O2-A1")
SLEEP_EOG = "E1-M2"
STAGE_EPOCH_S = 30.0
STAGE_LABELS = {"W": "Sleep stage W", "N1": "Sleep stage N1", "N2": "Sleep stage N2",
                "N3": "Sleep stage N3", "R": "Sleep stage R"}


@dataclass(frozen=True)
class SleepConfig:
    """Phenomena of :func:`simulate_sleep`; amplitudes in uV (r.m.s. unless noted), times in s."""

    #: Per stage, r.m.s. of: background (1/f), alpha, fast activity, theta, delta. Calibrated
    #: against the DREAMS excerpts (:mod:`~.calibrate`): wake is low-voltage with alpha and fast
    #: activity; N1 theta; N2 theta and some delta; N3 high-voltage delta over a 20-uV background
    rhythms_uv: tuple = (
        ("W", (9.0, 5.5, 5.0, 4.0, 6.0)),
        ("N1", (12.0, 3.0, 2.5, 4.0, 5.0)),
        ("N2", (14.0, 2.0, 1.0, 5.5, 7.0)),
        ("N3", (20.0, 3.0, 1.0, 7.0, 18.0)),
        ("R", (12.0, 2.5, 1.5, 3.0, 8.0)),
    )
    background_exponent: float = 2.0       # background power ~ 1 / f ** exponent (per channel)
    #: Bands (Hz) of alpha, fast activity, theta, delta.
    rhythm_bands_hz: tuple = ((8.0, 12.0), (15.0, 45.0), (4.0, 7.0), (0.5, 2.0))
    #: Per scalp region (first letter of the derivation), the weight of: alpha, fast, theta,
    #: delta, spindles, K-complexes, saw-tooth waves.
    region_weights: tuple = (
        ("F", (0.5, 1.0, 0.9, 1.2, 0.7, 1.2, 0.8)),
        ("C", (0.8, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0)),
        ("P", (1.3, 0.8, 0.9, 0.7, 0.6, 0.6, 0.6)),
        ("O", (1.4, 0.8, 0.9, 0.7, 0.5, 0.5, 0.5)),
    )
    spindles_per_min: tuple = (("N2", 5.0), ("N3", 4.0))
    spindle_hz: tuple = (12.0, 14.0)
    spindle_s: tuple = (0.6, 1.5)
    spindle_uv: float = 22.0               # peak
    kcomplexes_per_min: tuple = (("N2", 1.5),)
    kcomplex_uv: float = 110.0             # negative peak ...
    kcomplex_positive: float = 0.6         # ... and the following positive wave, relative
    kcomplex_s: tuple = (0.25, 0.08, 0.65, 0.2)  # negative (latency, width), positive (...)
    sawtooth_per_min: tuple = (("R", 3.0),)
    sawtooth_hz: tuple = (2.0, 4.0)
    sawtooth_s: tuple = (1.0, 3.0)         # burst length
    sawtooth_uv: float = 35.0              # peak
    sawtooth_rise: float = 0.8             # fraction of each cycle spent rising
    blinks_per_min: tuple = (("W", 10.0),)
    blink_uv: float = 150.0
    blink_peak_s: float = 0.1
    rems_per_min: tuple = (("R", 20.0),)
    rem_uv: float = 120.0                  # step of a rapid eye movement ...
    rem_rise_s: float = 0.05
    rem_decay_s: float = 0.6               # ... that the EOG amplifier's time constant undoes
    sem_uv: tuple = (("W", 8.0), ("N1", 40.0))  # slow rolling eye movements ...
    sem_band_hz: tuple = (0.1, 0.5)
    eog_eeg_leak: float = 0.4              # frontal EEG seen by the EOG electrode
    ramp_s: float = 3.0                    # stage changes cross-fade over this time
    filter_hz: tuple = (0.3, 35.0)         # the EEG amplifier's band (AASM's recommended filters)
    sensor_noise_uv: float = 0.5
    #: Hypnogram: sleep cycles of (stage, minutes); the last cycle repeats in long nights.
    cycles_min: tuple = (
        (("W", 6), ("N1", 4), ("N2", 20), ("N3", 30), ("N2", 10), ("R", 10)),
        (("W", 1), ("N1", 2), ("N2", 25), ("N3", 20), ("N2", 15), ("R", 15)),
        (("W", 1), ("N1", 2), ("N2", 30), ("N3", 10), ("N2", 15), ("R", 20)),
        (("W", 2), ("N1", 2), ("N2", 35), ("N3", 3), ("N2", 10), ("R", 25)),
        (("W", 2), ("N1", 3), ("N2", 45), ("R", 25)),
    )
    bout_jitter: float = 0.3               # relative jitter of every bout's length
    amp_range: tuple = (0.7, 1.3)          # relative amplitude of each transient, uniform


def simulate_sleep(duration_s: float = 1800.0, *, n_channels: int = 2, sfreq: float = 100.0,
                   eog: bool = True, seed: int = 0, config: SleepConfig | None = None):
    """Sleep EEG (+ EOG) scored in 30-s stages along a plausible hypnogram (SIMULATED).

    The hypnogram runs through sleep cycles (W -> N1 -> N2 -> N3 -> N2 -> REM; later cycles
    with less N3 and more REM, :attr:`SleepConfig.cycles_min`), squeezed so that a recording
    shorter than the first cycle still holds every stage. Stage signatures: W alpha + fast
    activity + blinks; N1 theta + slow eye movements; N2 spindles (12-14 Hz) + K-complexes;
    N3 0.5-2 Hz delta of more than 75 uV peak to peak; REM theta + saw-tooth waves + rapid eye
    movements. No forward model: each derivation weights shared rhythm generators by its scalp
    region and adds its own 1/f background.

    Parameters
    ----------
    duration_s : float
        Length in seconds, rounded down to whole 30-s epochs (at least one).
    n_channels : int
        Number of EEG derivations, taken in order from :data:`SLEEP_DERIVATIONS` (1 to 8).
    sfreq : float
        Sampling rate in Hz.
    eog : bool
        Whether to add the EOG channel :data:`SLEEP_EOG` after the EEG.
    seed : int
        Seed of every random draw.
    config : SleepConfig | None
        Phenomenon parameters; None for the defaults.

    Returns
    -------
    raw : mne.io.RawArray
        Volts, shape (n_channels + eog, n_epochs * 30 * sfreq); one 30-s annotation per epoch:
        ``Sleep stage W``, ``Sleep stage N1``, ``Sleep stage N2``, ``Sleep stage N3`` or
        ``Sleep stage R``.
    """
    import mne

    cfg = config or SleepConfig()
    if not 1 <= n_channels <= len(SLEEP_DERIVATIONS):
        raise ValueError(f"n_channels must be 1 to {len(SLEEP_DERIVATIONS)}, got {n_channels}")
    n_epochs = int(duration_s // STAGE_EPOCH_S)
    if n_epochs < 1:
        raise ValueError(f"duration_s must be at least {STAGE_EPOCH_S:g} s, got {duration_s}")
    per_epoch = int(round(STAGE_EPOCH_S * sfreq))
    n_times = n_epochs * per_epoch
    stages = _hypnogram(_rng(seed, "sleep/hypnogram"), n_epochs, cfg)

    def per_stage(table):  # {stage: value} -> (T,), cross-faded at stage changes
        values = [dict(table).get(stage, 0.0) for stage in stages]
        return _crossfade(values, np.arange(n_epochs) * per_epoch, n_times, cfg.ramp_s * sfreq)

    names = list(SLEEP_DERIVATIONS[:n_channels])
    regions = dict(cfg.region_weights)
    weights = np.array([regions[name[0]] for name in names])  # (C, 7)
    leak = cfg.eog_eeg_leak * np.array(regions["F"])          # what the EOG electrode sees
    rhythms = dict(cfg.rhythms_uv)
    data = np.zeros((n_channels + int(eog), n_times))
    eeg, eog_uv = data[:n_channels], np.zeros(n_times)        # views / scratch, in uV
    eeg[:] = _pink(_rng(seed, "sleep/background"), n_channels, n_times, sfreq,
                   cfg.background_exponent)
    eeg *= per_stage({stage: v[0] for stage, v in rhythms.items()})
    for k, (lo, hi) in enumerate(cfg.rhythm_bands_hz):
        generator = _band(_rng(seed, f"sleep/rhythm{k}"), 1, n_times, sfreq, lo, hi)[0]
        generator *= per_stage({stage: v[k + 1] for stage, v in rhythms.items()})
        eeg += weights[:, k, None] * generator
        eog_uv += leak[k] * generator
    transients = _sleep_transients(_rng(seed, "sleep/transients"), stages, n_times, sfreq, cfg)
    for k, track in enumerate(transients, start=len(cfg.rhythm_bands_hz)):
        eeg += weights[:, k, None] * track
        eog_uv += leak[k] * track
    _add_white(_rng(seed, "sleep/sensors"), eeg, cfg.sensor_noise_uv)
    eeg[:] = _psg_filter(eeg, sfreq, cfg.filter_hz)
    if eog:
        rng = _rng(seed, "sleep/eog")
        eog_uv += per_stage(cfg.sem_uv) * _band(rng, 1, n_times, sfreq, *cfg.sem_band_hz)[0]
        eog_uv += _eye_movements(rng, stages, n_times, sfreq, cfg)
        eog_uv += cfg.sensor_noise_uv * rng.standard_normal(n_times)
        data[-1] = eog_uv
    data *= UV
    info = mne.create_info(names + [SLEEP_EOG] * eog, float(sfreq),
                           ["eeg"] * n_channels + ["eog"] * eog)
    logger.info("simulated sleep: %d EEG channels, %d epochs (%s)", n_channels, n_epochs,
                ", ".join(f"{s} {stages.count(s)}" for s in STAGE_LABELS))
    return _raw(data, info, np.arange(n_epochs) * STAGE_EPOCH_S,
                np.full(n_epochs, STAGE_EPOCH_S), [STAGE_LABELS[s] for s in stages])


def _psg_filter(x, sfreq, band_hz):
    """Band-pass ``x`` (C, T) as a PSG amplifier does: 2nd-order Butterworth, zero phase."""
    from scipy.signal import butter, sosfiltfilt

    lo, hi = band_hz
    sos = butter(2, [lo, min(hi, 0.45 * sfreq)], btype="bandpass", fs=sfreq, output="sos")
    return sosfiltfilt(sos, x, axis=-1)


def _hypnogram(rng, n_epochs, cfg: SleepConfig) -> list:
    """Stage per 30-s epoch: the cycles' bouts, lengths jittered, cut to ``n_epochs``."""
    stages, cycle = [], 0
    while len(stages) < n_epochs:
        bouts = cfg.cycles_min[min(cycle, len(cfg.cycles_min) - 1)]
        lengths = np.array([minutes for _, minutes in bouts]) * 60.0 / STAGE_EPOCH_S
        lengths *= 1.0 + cfg.bout_jitter * rng.uniform(-1.0, 1.0, len(bouts))
        if cycle == 0 and lengths.sum() > n_epochs:  # short recording: squeeze every stage in
            lengths = np.floor(lengths * n_epochs / lengths.sum())
        for (stage, _), n in zip(bouts, np.maximum(1, np.round(lengths)).astype(int)):
            stages += [stage] * n
        cycle += 1
    return stages[:n_epochs]


def _stage_times(rng, stages, rates_per_min):
    """Event times (s): a Poisson count per epoch at its stage's rate, placed uniformly."""
    rates = dict(rates_per_min)
    counts = rng.poisson([rates.get(s, 0.0) * STAGE_EPOCH_S / 60.0 for s in stages])
    starts = np.repeat(np.arange(len(stages)) * STAGE_EPOCH_S, counts)
    return np.sort(starts + rng.uniform(0.0, STAGE_EPOCH_S, counts.sum()))


def _sleep_transients(rng, stages, n_times, sfreq, cfg: SleepConfig):
    """Spindle, K-complex and saw-tooth tracks in uV, each shape (T,)."""
    amp = cfg.amp_range
    spindles, kcomplexes, sawtooth = np.zeros(n_times), np.zeros(n_times), np.zeros(n_times)
    for time in _stage_times(rng, stages, cfg.spindles_per_min):
        t = np.arange(int(rng.uniform(*cfg.spindle_s) * sfreq)) / sfreq
        wave = np.sin(2 * np.pi * rng.uniform(*cfg.spindle_hz) * t) * np.hanning(t.size)
        _add_kernel(spindles, [int(time * sfreq)], wave, [cfg.spindle_uv * rng.uniform(*amp)])
    neg_latency, neg_width, pos_latency, pos_width = cfg.kcomplex_s
    t = np.arange(int((pos_latency + 3 * pos_width) * sfreq)) / sfreq
    kcomplex = (cfg.kcomplex_positive * _gauss(t, pos_latency, pos_width)
                - _gauss(t, neg_latency, neg_width))
    times = _stage_times(rng, stages, cfg.kcomplexes_per_min)
    _add_kernel(kcomplexes, (times * sfreq).astype(int), kcomplex,
                cfg.kcomplex_uv * rng.uniform(*amp, times.size))
    for time in _stage_times(rng, stages, cfg.sawtooth_per_min):
        t = np.arange(int(rng.uniform(*cfg.sawtooth_s) * sfreq)) / sfreq
        phase = (rng.uniform(*cfg.sawtooth_hz) * t) % 1.0
        rise = cfg.sawtooth_rise
        saw = 2.0 * np.where(phase < rise, phase / rise, (1.0 - phase) / (1.0 - rise)) - 1.0
        _add_kernel(sawtooth, [int(time * sfreq)], saw * np.hanning(t.size), [cfg.sawtooth_uv])
    return spindles, kcomplexes, sawtooth


def _eye_movements(rng, stages, n_times, sfreq, cfg: SleepConfig):
    """Blinks (W) and rapid eye movements (REM) on the EOG in uV, shape (T,)."""
    track = np.zeros(n_times)
    times = _stage_times(rng, stages, cfg.blinks_per_min)
    _add_kernel(track, (times * sfreq).astype(int), _blink_kernel(sfreq, cfg.blink_peak_s),
                cfg.blink_uv * rng.uniform(*cfg.amp_range, times.size))
    t = np.arange(int(5 * cfg.rem_decay_s * sfreq)) / sfreq
    rem = (1.0 - np.exp(-t / cfg.rem_rise_s)) * np.exp(-t / cfg.rem_decay_s)
    times = _stage_times(rng, stages, cfg.rems_per_min)
    steps = rng.choice([-1.0, 1.0], times.size) * cfg.rem_uv * rng.uniform(*cfg.amp_range,
                                                                           times.size)
    _add_kernel(track, (times * sfreq).astype(int), rem / rem.max(), steps)
    return track
