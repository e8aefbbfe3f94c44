"""Where the simulated sources sit and what the sensors see of them.

EEG: electrodes at MNE's template montage ``colin27_1005``, a four-layer sphere fitted to them,
dipole potentials from ``mne.make_forward_dipole``, common average reference. MEG: the 306
sensors of a Neuromag VectorView from MNE's canonical table, the head placed in the helmet by a
fixed translation (:data:`MEG_DEV_HEAD_SHIFT_M`), fields of dipoles in a conducting sphere. Also
the sources both share: 1/f background dipoles and the posterior alpha rhythm.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from brainkit.data.simulate.signals import NAM, UV, _add_kernel, _peak, _pink, _project

EEG_MONTAGE = "colin27_1005"
EEG_19 = ("Fp1", "Fp2", "F7", "F3", "Fz", "F4", "F8", "T7", "C3", "Cz", "C4", "T8",
          "P7", "P3", "Pz", "P4", "P8", "O1", "O2")
EEG_32 = ("Fp1", "Fp2", "F7", "F3", "Fz", "F4", "F8", "FC5", "FC1", "FC2", "FC6", "T7", "C3",
          "Cz", "C4", "T8", "TP9", "CP5", "CP1", "CP2", "CP6", "TP10", "P7", "P3", "Pz", "P4",
          "P8", "PO9", "O1", "Oz", "O2", "PO10")
#: Where the head sits in the helmet: a point p of the device frame is at p + shift in the head
#: frame. The magnetometers' sphere of curvature (radius 12.3 cm, centre (0, 15, -11) mm in the
#: device frame) then lies 1 cm below the head's sphere centre, leaving ~2.3 cm from the
#: vertex of a 9-cm head to the top sensors.
MEG_DEV_HEAD_SHIFT_M = (0.0, -0.015, 0.041)
#: Centre of the conducting sphere for MEG, head frame (m); the classic MNE default.
MEG_SPHERE_ORIGIN_M = (0.0, 0.0, 0.04)
MEG_STIM = "STI 014"
#: FIF sample step ("cal") of the 16-bit MEG channels: 3.6 fT and 4.5e-13 T/m (4.5 fT/cm),
#: a third of the sensor noise; the rounding adds ~1 fT (fT/cm) r.m.s.
MEG_LSB = {"mag": 2.0 ** -48, "grad": 2.0 ** -41, "stim": 1.0}


@dataclass(frozen=True)
class BackgroundConfig:
    """Ongoing brain activity (random 1/f dipoles) and white sensor noise."""

    n_dipoles: int = 40
    radius_m: float = 0.06                 # dipoles uniform in this ball around the sphere origin
    moment_nam: float = 45.0               # r.m.s. moment of each dipole
    exponent: float = 1.0                  # power spectrum ~ 1 / f ** exponent ...
    fmin_hz: float = 0.5                   # ... flat below this frequency
    sensor_noise: float = 1.0 * UV         # white noise r.m.s. per EEG electrode (V)


@dataclass(frozen=True)
class AlphaConfig:
    """Posterior alpha rhythm: radial dipoles beneath ``sites``, partly sharing one rhythm."""

    hz: tuple = (9.5, 10.5)                # individual alpha frequency drawn from this range
    bw_hz: float = 0.8                     # spectral width (s.d.) of the alpha peak
    shared: float = 0.7                    # fraction of each dipole's variance that is shared
    depth_m: float = 0.030                 # dipoles this far below the electrodes
    sites: tuple = ("O1", "O2", "Pz")


def _eeg_info(n_channels, sfreq):
    import mne

    names = {19: EEG_19, 32: EEG_32}.get(n_channels)
    if names is None:
        raise ValueError(f"n_channels must be 19 or 32 for simulated EEG, got {n_channels}")
    info = mne.create_info(list(names), float(sfreq), "eeg")
    info.set_montage(EEG_MONTAGE)
    return info


def _eeg_sphere(info):
    """Four-layer sphere fitted to the electrodes, and its origin (m, head frame)."""
    import mne

    sphere = mne.make_sphere_model("auto", "auto", info, verbose=False)
    return sphere, np.asarray(sphere["r0"], float)


def _gain(info, sphere, pos, ori):
    """Sensor signal per unit moment of fixed dipoles, shape (C, n), V or T(/m) per A*m.

    EEG gains are re-referenced to the common average.
    """
    import mne

    pos = np.atleast_2d(pos)
    ori = np.atleast_2d(ori) / np.linalg.norm(np.atleast_2d(ori), axis=1, keepdims=True)
    n = len(pos)
    dipoles = mne.Dipole(np.arange(n, dtype=float), pos, np.ones(n), ori, np.ones(n))
    fwd, _ = mne.make_forward_dipole(dipoles, sphere, info, verbose=False)
    gain = fwd["sol"]["data"]
    if "eeg" in info.get_channel_types():
        gain = gain - gain.mean(axis=0)
    return gain


def _beneath(info, name, origin, depth):
    """The point ``depth`` m below electrode ``name`` (towards ``origin``); the outward normal."""
    e = info["chs"][info["ch_names"].index(name)]["loc"][:3]
    u = (e - origin) / np.linalg.norm(e - origin)
    return e - depth * u, u


def _add_background(rng, info, sphere, origin, out, cfg: BackgroundConfig):
    """Add the field of randomly placed and oriented dipoles with 1/f moments to ``out`` (C, T)."""
    n = cfg.n_dipoles
    direction = rng.standard_normal((n, 3))
    direction /= np.linalg.norm(direction, axis=1, keepdims=True)
    pos = origin + direction * cfg.radius_m * rng.random((n, 1)) ** (1.0 / 3.0)
    ori = rng.standard_normal((n, 3))
    moments = _pink(rng, n, out.shape[1], info["sfreq"], cfg.exponent, cfg.fmin_hz)
    moments *= cfg.moment_nam * NAM
    _project(_gain(info, sphere, pos, ori), moments, out)


def _add_alpha(rng, info, sphere, origin, moment, out, cfg: AlphaConfig):
    """Add the alpha dipoles' field to ``out`` (C, T).

    ``moment`` (A*m) is each dipole's r.m.s. moment: a scalar, or shape (T,) to follow the eyes.
    """
    n_times = out.shape[1]
    sites = [_beneath(info, name, origin, cfg.depth_m) for name in cfg.sites]
    f0 = rng.uniform(*cfg.hz)
    moments = np.sqrt(cfg.shared) * _peak(rng, 1, n_times, info["sfreq"], f0, cfg.bw_hz)
    moments = moments + np.sqrt(1.0 - cfg.shared) * _peak(rng, len(sites), n_times,
                                                          info["sfreq"], f0, cfg.bw_hz)
    moments *= moment
    pos, ori = (np.array(v) for v in zip(*sites))
    _project(_gain(info, sphere, pos, ori), moments, out)


def _evoked_moments(n_times, samples, kernels, gains):
    """Dipole moments (n_dipoles, T): ``kernels[i]`` scaled by ``gains[i]`` at every onset."""
    moments = np.zeros((len(kernels), n_times))
    for row, kernel, gain in zip(moments, kernels, gains):
        _add_kernel(row, samples, kernel, gain)
    return moments


def _meg_info(sfreq):
    """306 VectorView channels (geometry: MNE's canonical Neuromag table) + ``STI 014``."""
    import mne
    from mne.io.constants import FIFF

    canonical = mne.channels.read_meg_canonical_info("neuromag")
    kinds = canonical.get_channel_types()
    info = mne.create_info(canonical.ch_names + [MEG_STIM], float(sfreq), kinds + ["stim"])
    for ch, src, kind in zip(info["chs"], canonical["chs"], kinds):
        ch.update(loc=src["loc"].copy(), coil_type=src["coil_type"], unit=src["unit"],
                  coord_frame=src["coord_frame"], kind=src["kind"],
                  logno=int(src["ch_name"].split()[-1]), cal=MEG_LSB[kind], range=1.0)
    info["chs"][-1].update(coil_type=FIFF.FIFFV_COIL_NONE, cal=MEG_LSB["stim"], range=1.0)
    dev_head = np.eye(4)
    dev_head[:3, 3] = MEG_DEV_HEAD_SHIFT_M
    info["dev_head_t"] = mne.transforms.Transform("meg", "head", dev_head)
    return info
