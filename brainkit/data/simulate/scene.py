"""A scene of the teaching simulator: sources placed in the head, and what a montage records.

A :class:`Scene` is a montage (:data:`MONTAGES`), one or more :class:`Source` (a place in the
head, an orientation, a rhythm of :data:`RHYTHMS`, an amplitude) and the recording's other parts
(1/f background, blinks, line noise, a bad channel). :func:`simulate_scene` turns it into an
:class:`mne.io.RawArray` (volts, teslas) with the same head, signals and calibration as the
sample recordings (:mod:`brainkit.data.simulate`):

- **Head**: EEG electrodes at MNE's template ``colin27_1005`` and ONE four-layer sphere, fitted to
  the 64-channel set (:func:`head`), for every EEG montage; MEG: the 306 Neuromag VectorView
  sensors of :func:`~brainkit.data.simulate.head._meg_info` and the conducting sphere of
  :func:`~brainkit.data.simulate.simulate_meg`. Source fields from ``mne.make_forward_dipole``
  (:func:`~brainkit.data.simulate.head._gain`), each position's three unit dipoles computed once
  per montage and cached (:func:`_position_gain`), so a new orientation or amplitude costs a
  matrix product.
- **Background**: the calibrated 1/f dipoles of :func:`~brainkit.data.simulate.simulate_eyes`
  (EEG, 1/f**1.7) or :func:`~brainkit.data.simulate.simulate_meg` (MEG) and their white sensor
  noise, computed once per montage, length and seed (:func:`_background`) and scaled by
  :attr:`Scene.background`.
- **Rhythms**: alpha as the eyes simulation's calibrated alpha (peak 9.5-11 Hz, s.d. 1.5 Hz);
  spindles, slow waves and their rates from :class:`~brainkit.data.simulate.SleepConfig`; the P300
  from :class:`~brainkit.data.simulate.OddballConfig`; blinks as
  :func:`~brainkit.data.simulate.simulate_eyes` draws them. Default amplitudes
  (:data:`RHYTHMS`) are calibrated so that one source gives the samples' scalp levels (tests in
  ``tests/test_simulator.py``).

Coordinates: MNE's head frame in metres (+x right ear, +y nose, +z up); the public API takes
millimetres for user coordinates and nA*m for moments.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np

from brainkit.data.simulate.eeg import EyesConfig, OddballConfig, _blink_track
from brainkit.data.simulate.head import (EEG_19, EEG_32, EEG_MONTAGE, MEG_SPHERE_ORIGIN_M, _add_background,
                                         _gain, _meg_info)
from brainkit.data.simulate.meg import MegConfig
from brainkit.data.simulate.signals import (NAM, UV, _add_white, _band, _gauss, _peak, _poisson_times,
                                            _raw, _rng, _stimulus_train)
from brainkit.data.simulate.sleep import SleepConfig
from brainkit.errors import BrainkitError

#: the 10-10 cap: :data:`EEG_32` and 32 more electrodes
EEG_64 = EEG_32 + ("AF3", "AF4", "F1", "F2", "F5", "F6", "FC3", "FC4", "C1", "C2", "C5", "C6", "CP3",
                   "CP4", "P1", "P2", "P5", "P6", "PO3", "PO4", "PO7", "PO8", "FT7", "FT8", "TP7",
                   "TP8", "AFz", "FCz", "CPz", "POz", "F9", "F10")
HEADSET_4 = ("TP9", "AF7", "AF8", "TP10")  #: a 4-channel headset (Muse's layout)
#: montage id -> (label, EEG channel names or None for MEG)
MONTAGES = {
    "eeg19": ("10-20 EEG, 19 channels", EEG_19),
    "eeg64": ("10-10 EEG, 64 channels", EEG_64),
    "headset4": ("4-channel headset (TP9, AF7, AF8, TP10)", HEADSET_4),
    "meg306": ("306-channel MEG (Neuromag VectorView)", None),
}
#: named places in the head: region -> (template electrode above it, depth below it in m)
REGIONS = {
    "occipital": ("Oz", 0.040), "left occipital": ("O1", 0.040), "right occipital": ("O2", 0.040),
    "parietal": ("Pz", 0.040), "left motor (hand)": ("C3", 0.030), "right motor (hand)": ("C4", 0.030),
    "vertex": ("Cz", 0.040), "frontal": ("Fz", 0.040), "prefrontal": ("Fpz", 0.040),
    "left temporal": ("T7", 0.035), "right temporal": ("T8", 0.035),
}
ORIENTATIONS = ("radial", "tangential, front-back", "tangential, left-right")


@dataclass(frozen=True)
class Rhythm:
    """A source's time course: ``kind`` ``ongoing`` (r.m.s. = amplitude) or ``transient``
    (peak = amplitude); its default amplitude in nA*m; one sentence for the page."""

    kind: str
    default_nam: float
    about: str


#: rhythm -> Rhythm. Default moments, one source at its place, common average reference:
#: alpha so that the posterior relative alpha power of the read-out lies inside the real
#: eyes-closed range of :mod:`~.calibrate` (a quarter of it: eyes open); spindles 22 uV at their
#: peak and slow waves 22 uV r.m.s. frontally (:class:`~.SleepConfig`'s N2 spindles and N3
#: delta x its frontal weight); the P300 as :class:`~.OddballConfig`'s; spike-and-wave ~200 uV
#: peak to peak; mu and beta a few to ten uV r.m.s. (``tests/test_simulator.py`` checks them).
RHYTHMS = {
    "alpha": Rhythm("ongoing", 160.0, "8-12 Hz, strongest over the back of the head with the eyes closed"),
    "mu": Rhythm("ongoing", 60.0, "arch-shaped ~10 Hz with a 20-Hz harmonic over the motor cortex at rest"),
    "beta": Rhythm("ongoing", 30.0, "13-30 Hz (peak ~20 Hz), motor and frontal"),
    "sleep spindles": Rhythm("transient", 150.0, "12-14 Hz bursts of 0.6-1.5 s, 5 a minute (sleep N2)"),
    "slow waves": Rhythm("ongoing", 140.0, "0.5-2 Hz high-voltage waves of deep sleep (N3)"),
    "spike-and-wave": Rhythm("transient", 1000.0, "3-Hz spike and slow wave, as in an absence seizure "
                                                  "(the middle third of the recording)"),
    "P300": Rhythm("transient", OddballConfig().p3[2], "evoked ~350 ms after target tones "
                                                      "(a tone every ~1 s, 1 in 5 a target)"),
}


@dataclass(frozen=True)
class Source:
    """One current dipole.

    Attributes
    ----------
    rhythm : str
        A key of :data:`RHYTHMS`.
    region : str
        A key of :data:`REGIONS` (ignored when ``position_mm`` is given).
    position_mm : tuple of 3 float, optional
        Head-frame coordinates in millimetres.
    orientation : str
        One of :data:`ORIENTATIONS`, relative to the head sphere at the source.
    amplitude_nam : float, optional
        r.m.s. (ongoing) or peak (transient) moment in nA*m; None: the rhythm's default.
    end_amplitude_nam : float, optional
        The moment at the end of the recording, linearly from ``amplitude_nam`` (None: constant).
    """

    rhythm: str = "alpha"
    region: str = "occipital"
    position_mm: tuple | None = None
    orientation: str = "radial"
    amplitude_nam: float | None = None
    end_amplitude_nam: float | None = None


@dataclass(frozen=True)
class Scene:
    """Everything a simulated recording is made of (hashable: caches key on it).

    ``background`` scales the calibrated 1/f background (1: as the samples); ``blinks_per_min``
    (EEG only); ``line_noise`` is the line hum's amplitude over the background's r.m.s. per
    channel; ``bad_channel`` is a channel name that records noise 10x the background instead.
    """

    montage: str = "eeg19"
    sources: tuple = (Source(),)
    duration_s: float = 30.0
    sfreq: float = 256.0
    background: float = 1.0
    blinks_per_min: float = 0.0
    line_noise: float = 0.0
    line_hz: float = 50.0
    bad_channel: str | None = None
    seed: int = 0

    def __post_init__(self):
        if self.montage not in MONTAGES:
            raise BrainkitError(f"unknown montage {self.montage!r}: one of {', '.join(MONTAGES)}")
        if not 4.0 <= self.duration_s <= 3600.0:
            raise BrainkitError(f"duration must be 4-3600 s, got {self.duration_s:g}")
        for s in self.sources:
            if s.rhythm not in RHYTHMS:
                raise BrainkitError(f"unknown rhythm {s.rhythm!r}: one of {', '.join(RHYTHMS)}")
            if s.position_mm is None and s.region not in REGIONS:
                raise BrainkitError(f"unknown region {s.region!r}: one of {', '.join(REGIONS)}")
            if s.orientation not in ORIENTATIONS:
                raise BrainkitError(f"unknown orientation {s.orientation!r}: one of {', '.join(ORIENTATIONS)}")


# ------------------------------------------------------------------------------- the head
@functools.lru_cache(maxsize=1)
def head():
    """(info of every template electrode used here, the EEG sphere, its origin (3,) m)."""
    import mne

    names = list(dict.fromkeys(EEG_64 + HEADSET_4 + tuple(e for e, _ in REGIONS.values())))
    info = mne.create_info(names, 256.0, "eeg")
    info.set_montage(EEG_MONTAGE)
    fit = mne.pick_info(info, [names.index(n) for n in EEG_64])
    sphere = mne.make_sphere_model("auto", "auto", fit, verbose=False)
    return info, sphere, np.asarray(sphere["r0"], float)


def electrode_position(name: str) -> np.ndarray:
    """Head-frame position (3,) m of a template electrode."""
    info = head()[0]
    return info["chs"][info["ch_names"].index(name)]["loc"][:3].copy()


@functools.lru_cache(maxsize=8)
def montage_info(montage: str, sfreq: float = 256.0):
    """The ``mne.Info`` of a montage (MEG: its 306 sensors, no stimulus channel) and its sphere."""
    import mne

    if MONTAGES[montage][1] is None:
        info = _meg_info(sfreq)
        info = mne.pick_info(info, mne.pick_types(info, meg=True))
        return info, mne.make_sphere_model(MEG_SPHERE_ORIGIN_M, head_radius=None, verbose=False)
    info = mne.create_info(list(MONTAGES[montage][1]), float(sfreq), "eeg")
    info.set_montage(EEG_MONTAGE)
    return info, head()[1]


def source_position(source: Source, montage: str = "eeg19") -> tuple[np.ndarray, np.ndarray]:
    """(position (3,) m, unit orientation (3,)) of a source in the head frame.

    Places are the same for every montage; "radial" points away from the centre of the
    montage's conducting sphere (so a radial source is silent in MEG, as in a real spherical head).
    """
    origin = head()[2]
    if source.position_mm is not None:
        pos = np.asarray(source.position_mm, float) / 1000.0
    else:
        name, depth = REGIONS[source.region]
        e = electrode_position(name)
        pos = e - depth * (e - origin) / np.linalg.norm(e - origin)
    if MONTAGES[montage][1] is None:
        origin = np.asarray(MEG_SPHERE_ORIGIN_M)
    normal = (pos - origin) / max(np.linalg.norm(pos - origin), 1e-6)
    if source.orientation == "radial":
        return pos, normal
    axis = np.array([0.0, 1.0, 0.0] if "front" in source.orientation else [1.0, 0.0, 0.0])
    tangent = axis - normal * (axis @ normal)
    return pos, tangent / np.linalg.norm(tangent)


@functools.lru_cache(maxsize=256)
def _position_gain(montage: str, pos_um: tuple) -> np.ndarray:
    """Gains (C, 3) of unit dipoles along x, y, z at ``pos_um`` (micrometres, for the cache key)."""
    info, sphere = montage_info(montage)
    pos = np.asarray(pos_um, float) / 1e6
    gain = _gain(info, sphere, np.repeat(pos[None], 3, 0), np.eye(3))
    gain.setflags(write=False)
    return gain


def source_field(montage: str, source: Source) -> np.ndarray:
    """What the montage records per A*m of the source, shape (C,): V (EEG, common average) or
    T and T/m (MEG)."""
    pos, ori = source_position(source, montage)
    return _position_gain(montage, tuple(np.round(pos * 1e6).astype(int).tolist())) @ ori


# ------------------------------------------------------------------------- time courses
def _ramp(source: Source, n_times: int) -> np.ndarray:
    start = RHYTHMS[source.rhythm].default_nam if source.amplitude_nam is None else source.amplitude_nam
    end = start if source.end_amplitude_nam is None else source.end_amplitude_nam
    return NAM * np.linspace(start, end, n_times)


def rhythm_moment(rng, rhythm: str, n_times: int, sfreq: float):
    """A rhythm's time course (T,): unit r.m.s. (ongoing) or unit peak (transient), and its
    events as (onsets s, descriptions) (the P300's tones; empty otherwise)."""
    if rhythm == "alpha":
        cfg = EyesConfig().alpha
        return _peak(rng, 1, n_times, sfreq, rng.uniform(*cfg.hz), cfg.bw_hz)[0], ([], [])
    if rhythm == "mu":
        from scipy.signal import hilbert

        z = hilbert(_peak(rng, 1, n_times, sfreq, rng.uniform(9.5, 11.0), 1.0)[0])
        x = np.real(z) + 0.4 * np.abs(z) * np.cos(2 * np.angle(z) + np.pi / 2)  # arch-shaped
        return x / x.std(), ([], [])
    if rhythm == "beta":
        return _peak(rng, 1, n_times, sfreq, rng.uniform(18.0, 22.0), 3.0)[0], ([], [])
    if rhythm == "slow waves":
        return _band(rng, 1, n_times, sfreq, *SleepConfig().rhythm_bands_hz[3])[0], ([], [])
    x, t = np.zeros(n_times), np.arange(n_times) / sfreq
    if rhythm == "sleep spindles":
        cfg = SleepConfig()
        rate = dict(cfg.spindles_per_min)["N2"] / 60.0
        for onset in _poisson_times(rng, rate, 0.0, n_times / sfreq - cfg.spindle_s[1], 2.0):
            length, hz = rng.uniform(*cfg.spindle_s), rng.uniform(*cfg.spindle_hz)
            inside = (t >= onset) & (t < onset + length)
            x[inside] += np.sin(np.pi * (t[inside] - onset) / length) ** 2 * np.sin(2 * np.pi * hz * t[inside])
        return x, ([], [])
    if rhythm == "spike-and-wave":
        duration = n_times / sfreq
        for onset in np.arange(duration / 3, 2 * duration / 3, 1 / 3.0):
            x += -_gauss(t, onset, 0.012) + 0.45 * _gauss(t, onset + 0.15, 0.06)
        return x, ([], [])
    if rhythm == "P300":
        cfg = OddballConfig()
        samples, target = _stimulus_train(rng, n_times, sfreq, 1.0, cfg.soa_s, cfg.p_target)
        for onset in samples[target] / sfreq:
            x += _gauss(t, onset + cfg.p3[0] + cfg.p3_jitter_s * rng.standard_normal(), cfg.p3[1])
        return x, (list(samples / sfreq), list(np.where(target, "target", "standard")))
    raise BrainkitError(f"unknown rhythm {rhythm!r}")


@functools.lru_cache(maxsize=4)
def _background(montage: str, n_times: int, sfreq: float, seed: int) -> np.ndarray:
    """The calibrated background and sensor noise of a montage, (C, T), read-only (the last four
    kept: a 300-s 306-channel one is 190 MB)."""
    info, sphere = montage_info(montage, sfreq)
    out = np.zeros((len(info["ch_names"]), n_times))
    if MONTAGES[montage][1] is None:
        cfg = MegConfig()
        _add_background(_rng(seed, "scene/background"), info, sphere, np.asarray(MEG_SPHERE_ORIGIN_M), out,
                        cfg.background)
        density = np.where(np.array(info.get_channel_types()) == "mag", cfg.noise_mag, cfg.noise_grad)
        _add_white(_rng(seed, "scene/sensors"), out, density * np.sqrt(sfreq / 2.0))
    else:
        cfg = EyesConfig().background
        _add_background(_rng(seed, "scene/background"), info, sphere, head()[2], out, cfg)
        _add_white(_rng(seed, "scene/sensors"), out, cfg.sensor_noise)
    out.setflags(write=False)
    return out


def _blink_field(info, cfg: EyesConfig) -> np.ndarray:
    """Blink topography (C,) V at the peak: ``cfg.blink_uv`` at Fp1/Fp2, falling with distance
    from the eyes as in :func:`~brainkit.data.simulate.simulate_eyes`; common average."""
    pos = np.array([ch["loc"][:3] for ch in info["chs"]])
    eyes = (electrode_position("Fp1") + electrode_position("Fp2")) / 2 + np.asarray(cfg.eyes_from_fp_m)
    nearest = np.linalg.norm(electrode_position("Fp1") - eyes)
    field = cfg.blink_uv * UV * np.exp(-(np.linalg.norm(pos - eyes, axis=1) - nearest) / cfg.blink_decay_m)
    return field - field.mean()


# ----------------------------------------------------------------------------- recording
def simulate_scene(scene: Scene, include_background: bool = True):
    """The recording of a scene (SIMULATED).

    Parameters
    ----------
    scene : Scene
    include_background : bool
        False leaves out the background, the sensor noise, blinks, line noise and the bad
        channel: the sources alone.

    Returns
    -------
    raw : mne.io.RawArray
        EEG (V) or MEG (T, T/m), shape (C, round(duration_s * sfreq)); annotations ``target`` /
        ``standard`` at the tones of a P300 source.
    """
    info, _ = montage_info(scene.montage, scene.sfreq)
    n_times = int(round(scene.duration_s * scene.sfreq))
    data = np.zeros((len(info["ch_names"]), n_times))
    onsets, labels = [], []
    for i, source in enumerate(scene.sources):
        moment, (times, names) = rhythm_moment(_rng(scene.seed, f"scene/source{i}/{source.rhythm}"),
                                               source.rhythm, n_times, scene.sfreq)
        data += source_field(scene.montage, source)[:, None] * (moment * _ramp(source, n_times))[None]
        onsets += times
        labels += names
    if include_background:
        background = _background(scene.montage, n_times, float(scene.sfreq), scene.seed)
        data += scene.background * background
        eeg = MONTAGES[scene.montage][1] is not None
        if eeg and scene.blinks_per_min > 0:
            cfg = EyesConfig()
            rng = _rng(scene.seed, "scene/blinks")
            times = _poisson_times(rng, scene.blinks_per_min / 60.0, 0.0,
                                   scene.duration_s - 6 * cfg.blink_peak_s, cfg.blink_dead_s)
            data += _blink_field(info, cfg)[:, None] * _blink_track(rng, times, n_times, scene.sfreq, cfg)[None]
        rms = background.std(1, keepdims=True)  # (C, 1): the channel's calibrated background
        if scene.line_noise > 0:
            t = np.arange(n_times) / scene.sfreq
            data += scene.line_noise * np.sqrt(2) * rms * np.sin(2 * np.pi * scene.line_hz * t)[None]
        if scene.bad_channel:
            if scene.bad_channel not in info["ch_names"]:
                raise BrainkitError(f"bad channel {scene.bad_channel!r} is not in the {scene.montage} montage")
            c = info["ch_names"].index(scene.bad_channel)
            data[c] = 10.0 * rms[c, 0] * _rng(scene.seed, "scene/bad").standard_normal(n_times)
    order = np.argsort(onsets, kind="stable")
    return _raw(data, info.copy(), np.asarray(onsets, float)[order], np.zeros(len(onsets)),
                np.asarray(labels, dtype=object)[order] if labels else np.zeros(0, dtype=str))


def channel_names(montage: str) -> list[str]:
    """The channels of a montage."""
    return list(montage_info(montage)[0]["ch_names"])
