"""Simulated EEG: eyes open / closed blocks (:func:`simulate_eyes`) and an auditory oddball
(:func:`simulate_oddball`)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from brainkit._logging import logger
from brainkit.data.simulate.head import (AlphaConfig, BackgroundConfig, _add_alpha, _add_background,
                                         _beneath, _eeg_info, _eeg_sphere, _evoked_moments, _gain)
from brainkit.data.simulate.signals import (NAM, UV, _add_kernel, _add_white, _blink_kernel,
                                            _crossfade, _gauss, _poisson_times, _project, _raw,
                                            _rng, _stimulus_train)


@dataclass(frozen=True)
class EyesConfig:
    """Phenomena of :func:`simulate_eyes` (moments in nA*m, times in s)."""

    #: calibrated against EEGMMIDB R01/R02 and Bonn A/B (:mod:`~.calibrate`): a broad alpha
    #: peak (s.d. 1.5 Hz) at 9.5-11 Hz from dipoles 4 cm deep, so that it also reaches central
    #: and frontal sites; eyes open keeps a quarter of the closed-eyes amplitude
    alpha: AlphaConfig = AlphaConfig(hz=(9.5, 11.0), bw_hz=1.5, depth_m=0.040)
    alpha_closed_nam: float = 65.0         # r.m.s. moment of each alpha dipole, eyes closed
    alpha_open_ratio: float = 0.25         # eyes-open alpha / eyes-closed alpha
    ramp_s: float = 1.0                    # alpha fades in and out over this time
    blink_rate_hz: float = 0.25            # with eyes open
    blink_dead_s: float = 1.0              # at least this long between two blinks
    blink_uv: float = 150.0                # peak at the electrode nearest the eyes
    blink_peak_s: float = 0.1              # rise time of the blink waveform
    blink_jitter: float = 0.2              # s.d. of the relative blink amplitude
    blink_decay_m: float = 0.04            # the blink field falls by 1/e over this distance ...
    eyes_from_fp_m: tuple = (0.0, 0.02, -0.03)  # ... from the eyes, here from mid Fp1-Fp2
    #: 1/f**1.7 power: the 2-40 Hz slope of resting EEG (real: -1.3 to -2.2)
    background: BackgroundConfig = BackgroundConfig(exponent=1.7)


@dataclass(frozen=True)
class OddballConfig:
    """Phenomena of :func:`simulate_oddball`; components are (latency s, width s.d. s, nA*m)."""

    soa_s: tuple = (0.9, 1.1)              # stimulus onset asynchrony, uniform in this range
    first_onset_s: float = 2.0
    p_target: float = 0.2                  # and never two targets in a row
    n1: tuple = (0.100, 0.020, 70.0)       # per auditory dipole
    p2: tuple = (0.190, 0.030, -50.0)
    p3: tuple = (0.350, 0.070, 150.0)      # parietal dipole, targets only
    p3_jitter_s: float = 0.03              # s.d. of the P300 latency across trials
    amp_jitter: float = 0.2                # s.d. of the relative amplitude across trials
    p3_depth_m: float = 0.050              # P300 dipole this far below Pz (deep: broad)
    auditory_offset_m: tuple = (0.048, -0.005, 0.0)  # right auditory cortex from sphere origin
    auditory_ori: tuple = (0.0, -0.4, -1.0)  # current flows down and back: negative at Fz, Cz
    alpha: AlphaConfig = AlphaConfig()
    alpha_nam: float = 30.0                # eyes open
    background: BackgroundConfig = BackgroundConfig()


def simulate_eyes(duration_s: float = 180.0, *, sfreq: float = 128.0, n_channels: int = 19,
                  block_s: float = 30.0, seed: int = 0, config: EyesConfig | None = None):
    """Resting EEG in alternating eyes-open / eyes-closed blocks (SIMULATED).

    Blocks of ``block_s`` start with eyes open. Eyes closed: strong ~10 Hz alpha from radial
    dipoles beneath O1, O2 and Pz. Eyes open: a quarter of that alpha, and blinks (largest at
    Fp1/Fp2). Always: 1/f**1.7 background dipoles, white electrode noise; common average
    reference. Levels calibrated against real recordings (:mod:`~.calibrate`).

    Parameters
    ----------
    duration_s : float
        Length in seconds.
    sfreq : float
        Sampling rate in Hz.
    n_channels : {19, 32}
        The 10-20 set :data:`EEG_19` or the 10-10 set :data:`EEG_32`.
    block_s : float
        Length of each block in seconds (the last one may be shorter).
    seed : int
        Seed of every random draw.
    config : EyesConfig | None
        Phenomenon parameters; None for the defaults.

    Returns
    -------
    raw : mne.io.RawArray
        EEG in volts, shape (n_channels, round(duration_s * sfreq)), montage ``colin27_1005``;
        an annotation ``eyes open`` or ``eyes closed`` (onset, duration) per block.
    """
    cfg = config or EyesConfig()
    info = _eeg_info(n_channels, sfreq)
    n_times = int(round(duration_s * sfreq))
    sphere, origin = _eeg_sphere(info)
    onsets = np.arange(0.0, n_times / sfreq, block_s)
    durations = np.minimum(block_s, n_times / sfreq - onsets)
    closed = np.arange(onsets.size) % 2 == 1
    closed_t = _crossfade(closed.astype(float), np.round(onsets * sfreq).astype(int), n_times,
                          cfg.ramp_s * sfreq)  # (T,): 0 eyes open ... 1 eyes closed

    data = np.zeros((n_channels, n_times))
    alpha = cfg.alpha_closed_nam * NAM * (cfg.alpha_open_ratio
                                          + (1.0 - cfg.alpha_open_ratio) * closed_t)
    _add_alpha(_rng(seed, "eyes/alpha"), info, sphere, origin, alpha, data, cfg.alpha)
    _add_background(_rng(seed, "eyes/background"), info, sphere, origin, data, cfg.background)
    rng = _rng(seed, "eyes/blinks")
    blink_s = 6 * cfg.blink_peak_s
    blinks = np.concatenate([
        _poisson_times(rng, cfg.blink_rate_hz, t0, t0 + d - blink_s, cfg.blink_dead_s)
        for t0, d, c in zip(onsets, durations, closed) if not c] or [np.zeros(0)])
    data += _blink_field(info, cfg)[:, None] * _blink_track(rng, blinks, n_times, sfreq, cfg)
    _add_white(_rng(seed, "eyes/sensors"), data, cfg.background.sensor_noise)
    logger.info("simulated eyes open/closed: %d channels, %.0f s, %d blocks, %d blinks",
                n_channels, n_times / sfreq, onsets.size, blinks.size)
    return _raw(data, info, onsets, durations, np.where(closed, "eyes closed", "eyes open"))


def _blink_field(info, cfg: EyesConfig):
    """Blink topography in V at the peak, shape (C,): decays with distance from the eyes."""
    pos = np.array([ch["loc"][:3] for ch in info["chs"]])
    fp = [info["ch_names"].index(name) for name in ("Fp1", "Fp2")]
    dist = np.linalg.norm(pos - pos[fp].mean(axis=0) - cfg.eyes_from_fp_m, axis=1)
    field = cfg.blink_uv * UV * np.exp(-(dist - dist.min()) / cfg.blink_decay_m)
    return field - field.mean()  # common average reference


def _blink_track(rng, times_s, n_times, sfreq, cfg: EyesConfig):
    """Blink waveforms (peak about 1) at ``times_s``, shape (T,)."""
    track = np.zeros(n_times)
    gains = 1.0 + cfg.blink_jitter * rng.standard_normal(times_s.size)
    _add_kernel(track, np.round(times_s * sfreq).astype(int),
                _blink_kernel(sfreq, cfg.blink_peak_s), gains)
    return track


def simulate_oddball(duration_s: float = 180.0, *, sfreq: float = 200.0, n_channels: int = 19,
                     seed: int = 0, config: OddballConfig | None = None):
    """EEG of an auditory oddball task: a tone every ~1 s, about one in six a target (SIMULATED).

    Every tone evokes N1 (~100 ms, negative at Cz) and P2 (~190 ms) from one dipole in each
    auditory cortex; targets (drawn with ``p_target`` = 0.2, never two in a row) add a P300
    (~350 ms, latency jittered across trials) from a radial dipole beneath Pz. Eyes-open alpha,
    1/f background dipoles, white electrode noise; common average reference.

    Parameters
    ----------
    duration_s, sfreq, n_channels, seed
        As in :func:`simulate_eyes`.
    config : OddballConfig | None
        Phenomenon parameters; None for the defaults.

    Returns
    -------
    raw : mne.io.RawArray
        EEG in volts, shape (n_channels, round(duration_s * sfreq)), montage set; zero-length
        annotations ``target`` / ``standard`` at the tone onsets.
    """
    cfg = config or OddballConfig()
    info = _eeg_info(n_channels, sfreq)
    n_times = int(round(duration_s * sfreq))
    sphere, origin = _eeg_sphere(info)
    samples, target = _stimulus_train(_rng(seed, "oddball/stimuli"), n_times, sfreq,
                                      cfg.first_onset_s, cfg.soa_s, cfg.p_target)

    right = origin + np.asarray(cfg.auditory_offset_m)
    left = origin + np.asarray(cfg.auditory_offset_m) * (-1.0, 1.0, 1.0)
    p3_pos, p3_ori = _beneath(info, "Pz", origin, cfg.p3_depth_m)
    gain = _gain(info, sphere, [left, right, p3_pos],
                 [cfg.auditory_ori, cfg.auditory_ori, p3_ori])
    rng = _rng(seed, "oddball/erp")
    t = np.arange(int((cfg.p3[0] + 5 * cfg.p3[1]) * sfreq)) / sfreq
    auditory = sum(m * NAM * _gauss(t, lat, w) for lat, w, m in (cfg.n1, cfg.p2))
    jitter = [1.0 + cfg.amp_jitter * rng.standard_normal(samples.size) for _ in range(2)]
    moments = _evoked_moments(n_times, samples, [auditory, auditory], jitter)
    p3 = np.zeros((1, n_times))
    latencies = cfg.p3[0] + cfg.p3_jitter_s * rng.standard_normal(target.sum())
    for onset, latency, g in zip(samples[target], latencies,
                                 1.0 + cfg.amp_jitter * rng.standard_normal(target.sum())):
        _add_kernel(p3[0], [onset], cfg.p3[2] * NAM * _gauss(t, latency, cfg.p3[1]), [g])

    data = np.zeros((n_channels, n_times))
    _project(gain, np.vstack([moments, p3]), data)
    _add_alpha(_rng(seed, "oddball/alpha"), info, sphere, origin, cfg.alpha_nam * NAM, data,
               cfg.alpha)
    _add_background(_rng(seed, "oddball/background"), info, sphere, origin, data,
                    cfg.background)
    _add_white(_rng(seed, "oddball/sensors"), data, cfg.background.sensor_noise)
    logger.info("simulated oddball: %d channels, %.0f s, %d tones, %d targets",
                n_channels, n_times / sfreq, samples.size, target.sum())
    return _raw(data, info, samples / sfreq, np.zeros(samples.size),
                np.where(target, "target", "standard"))
