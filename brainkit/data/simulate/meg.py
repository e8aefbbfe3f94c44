"""Simulated MEG: 306-channel Neuromag-style recording of tones with auditory evoked fields
(:func:`simulate_meg`)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from brainkit._logging import logger
from brainkit.data.simulate.head import (MEG_SPHERE_ORIGIN_M, BackgroundConfig, _add_background,
                                         _evoked_moments, _gain, _meg_info)
from brainkit.data.simulate.signals import (NAM, _add_white, _gauss, _project, _raw, _rng,
                                            _stimulus_train)


@dataclass(frozen=True)
class MegConfig:
    """Phenomena of :func:`simulate_meg`; components are (latency s, width s.d. s, nA*m)."""

    soa_s: tuple = (0.9, 1.1)
    first_onset_s: float = 1.0
    p_deviant: float = 0.2
    m50: tuple = (0.050, 0.012, -8.0)      # per auditory dipole
    m100: tuple = (0.100, 0.018, 40.0)
    m200: tuple = (0.200, 0.035, -14.0)
    mmn: tuple = (0.170, 0.030, 12.0)      # deviants only
    amp_jitter: float = 0.2
    auditory_pos_m: tuple = (0.052, 0.010, 0.050)  # right auditory cortex, head frame
    auditory_ori: tuple = (0.0, -0.4, -1.0)  # tangential to the sphere: visible to MEG
    stim_pulse_s: float = 0.02
    background: BackgroundConfig = BackgroundConfig(moment_nam=15.0)
    noise_mag: float = 3e-15               # white sensor noise, T / sqrt(Hz)
    noise_grad: float = 3e-13              # T / m / sqrt(Hz) (3 fT/cm)


def simulate_meg(duration_s: float = 60.0, *, sfreq: float = 150.0, seed: int = 0,
                 config: MegConfig | None = None):
    """306-channel Neuromag-style MEG of tones every ~1 s, each with an M100 (SIMULATED).

    A tangential dipole in each auditory cortex carries M50, M100 (~100 ms, the largest) and
    M200 after every tone; deviant tones (``p_deviant`` = 0.2, never two in a row) add a
    mismatch field (~170 ms). 1/f background
    dipoles; white sensor noise (:attr:`MegConfig.noise_mag`, :attr:`MegConfig.noise_grad`).

    Parameters
    ----------
    duration_s : float
        Length in seconds.
    sfreq : float
        Sampling rate in Hz.
    seed : int
        Seed of every random draw.
    config : MegConfig | None
        Phenomenon parameters; None for the defaults.

    Returns
    -------
    raw : mne.io.RawArray
        Shape (307, round(duration_s * sfreq)): 102 magnetometers (T), 204 planar gradiometers
        (T/m), then ``STI 014`` holding 1 (standard) or 2 (deviant) for ``stim_pulse_s`` from
        each onset; zero-length annotations ``standard`` / ``deviant`` at the onsets.
    """
    import mne

    cfg = config or MegConfig()
    info = _meg_info(sfreq)
    n_times = int(round(duration_s * sfreq))
    meg_info = mne.pick_info(info, mne.pick_types(info, meg=True))
    sphere = mne.make_sphere_model(MEG_SPHERE_ORIGIN_M, head_radius=None, verbose=False)
    samples, deviant = _stimulus_train(_rng(seed, "meg/stimuli"), n_times, sfreq,
                                       cfg.first_onset_s, cfg.soa_s, cfg.p_deviant)

    right = np.asarray(cfg.auditory_pos_m)
    gain = _gain(meg_info, sphere, [right * (-1.0, 1.0, 1.0), right], [cfg.auditory_ori] * 2)
    t = np.arange(int((cfg.m200[0] + 4 * cfg.m200[1]) * sfreq)) / sfreq
    tone = sum(m * NAM * _gauss(t, lat, w) for lat, w, m in (cfg.m50, cfg.m100, cfg.m200))
    mismatch = cfg.mmn[2] * NAM * _gauss(t, *cfg.mmn[:2])
    rng = _rng(seed, "meg/evoked")
    jitter = [1.0 + cfg.amp_jitter * rng.standard_normal(samples.size) for _ in range(2)]
    moments = _evoked_moments(n_times, samples, [tone, tone], jitter)
    moments += _evoked_moments(n_times, samples[deviant], [mismatch, mismatch],
                               [j[deviant] for j in jitter])

    data = np.zeros((len(info["ch_names"]), n_times))
    meg = data[:-1]  # a view: everything below fills ``data`` in place
    _project(gain, moments, meg)
    del moments
    _add_background(_rng(seed, "meg/background"), meg_info, sphere,
                    np.asarray(MEG_SPHERE_ORIGIN_M), meg, cfg.background)
    density = np.where(np.array(meg_info.get_channel_types()) == "mag", cfg.noise_mag,
                       cfg.noise_grad)
    _add_white(_rng(seed, "meg/sensors"), meg, density * np.sqrt(sfreq / 2.0))
    pulse = max(1, int(round(cfg.stim_pulse_s * sfreq)))
    for onset, code in zip(samples, np.where(deviant, 2, 1)):
        data[-1, onset:onset + pulse] = code
    logger.info("simulated MEG: 306 channels, %.0f s, %d tones, %d deviants",
                n_times / sfreq, samples.size, deviant.sum())
    return _raw(data, info, samples / sfreq, np.zeros(samples.size),
                np.where(deviant, "deviant", "standard"))
