"""SIMULATED recordings with known, visible phenomena, from physics and a seed (no download).

Four recordings, each a function returning an :class:`mne.io.RawArray` in physical units (V for
EEG/EOG, T for magnetometers, T/m for gradiometers), and :func:`write_samples`, which writes all
four to ``sample_data/`` (see its README):

- :func:`simulate_eyes`: 10-20 EEG in alternating eyes-open / eyes-closed blocks; posterior
  ~10 Hz alpha far stronger with eyes closed, blinks on Fp1/Fp2 with eyes open, 1/f background.
- :func:`simulate_oddball`: 10-20 EEG, a tone every ~1 s, about 1 in 6 a target; N1/P2 after
  every tone, a parietal P300 after targets only.
- :func:`simulate_sleep`: sleep derivations (``C3-A2``, ``C4-A1``, ...) + EOG, 30-s stages along
  a plausible hypnogram, each stage with its scoring signature.
- :func:`simulate_meg`: 306-channel Neuromag-style MEG, an M100 from both auditory cortices after
  every tone (about 1 in 6 a deviant, with a mismatch field), events in ``STI 014``.

Physics and geometry
--------------------
- **EEG**: electrodes at MNE's template montage ``colin27_1005`` (10-05 positions fitted on the
  Colin27 head, shipped in ``mne/channels/data/montages/colin27_1005.elc``); potentials of
  current dipoles in a four-layer sphere fitted to them (``mne.make_sphere_model("auto",
  "auto")``) from ``mne.make_forward_dipole``; common average reference. Blinks are not brain
  sources: their field falls off exponentially with distance from the eyes.
- **MEG**: the 306 sensors of an Elekta/MEGIN Neuromag VectorView (102 magnetometers, coil type
  3024; 204 planar gradiometers, coil type 3012) from
  ``mne.channels.read_meg_canonical_info("neuromag")``, i.e. the table
  ``mne/channels/data/canonical_meg/neuromag306.csv`` that MNE (1.12 and later) ships: for each
  channel its name, coil type, position and coil frame (ex, ey, ez; ez is the normal) in the
  device frame, copied unchanged into ``info["chs"][i]["loc"]``. The head sits in the helmet by
  a fixed device-to-head translation (:data:`MEG_DEV_HEAD_SHIFT_M`), a typical position rather
  than a measured one. Fields of dipoles in a conducting sphere (MNE's coil definitions, via
  ``mne.make_forward_dipole``).
- **Sleep**: no forward model; each derivation weights shared rhythm generators by its scalp
  region and adds its own 1/f background, in the microvolt ranges of the scoring rules (e.g. N3
  slow waves of 0.5-2 Hz above 75 uV peak to peak).

Ongoing activity is 1/f noise of randomly placed dipoles (EEG, MEG) or per channel (sleep);
sensors add white noise. Each component draws from its own random stream derived from ``seed``,
so changing one component leaves the others as they were.

Determinism
-----------
:func:`write_samples` writes the same bytes on every run: the measurement date is fixed
(:data:`MEAS_DATE`), every file stores 16-bit integers (so last-bit differences between BLAS
builds do not reach the file), the machine id that MNE puts into FIF file and block ids is
cleared, and the FIF file is gzip-compressed without a time stamp.
"""

from __future__ import annotations

import datetime
import gzip
import struct
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from brainkit._logging import logger

#: Written into each recording's description (FIF) and device type (EDF equipment code).
SIMULATED_NOTE = "SIMULATED by brainkit.data.simulate; not a real recording"
SIMULATED_DEVICE = "brainkit_simulation"
#: Measurement date written into every sample file (no clock is read).
MEAS_DATE = datetime.datetime(2000, 1, 1, tzinfo=datetime.timezone.utc)
EEG_MONTAGE = "colin27_1005"
EEG_19 = ("Fp1", "Fp2", "F7", "F3", "Fz", "F4", "F8", "T7", "C3", "Cz", "C4", "T8",
          "P7", "P3", "Pz", "P4", "P8", "O1", "O2")
EEG_32 = ("Fp1", "Fp2", "F7", "F3", "Fz", "F4", "F8", "FC5", "FC1", "FC2", "FC6", "T7", "C3",
          "Cz", "C4", "T8", "TP9", "CP5", "CP1", "CP2", "CP6", "TP10", "P7", "P3", "Pz", "P4",
          "P8", "PO9", "O1", "Oz", "O2", "PO10")
#: Sleep derivations in the order ``simulate_sleep(n_channels=...)`` takes them.
SLEEP_DERIVATIONS = ("C3-A2", "C4-A1", "Fpz-Cz", "Pz-Oz", "F3-A2", "F4-A1", "O1-A2", "O2-A1")
SLEEP_EOG = "E1-M2"
STAGE_EPOCH_S = 30.0
STAGE_LABELS = {"W": "Sleep stage W", "N1": "Sleep stage N1", "N2": "Sleep stage N2",
                "N3": "Sleep stage N3", "R": "Sleep stage R"}
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
BRAINVISION_RESOLUTION_UV = 0.1
UV = 1e-6   # volts per microvolt
NAM = 1e-9  # A*m per nA*m
_CHUNK = 8192  # samples per block when adding noise or projecting (bounds temporary memory)
_FIFF_ID_STRUCT = 31  # FIF tag type of file / block ids
_SPECTRAL_FLOOR = 1e-4  # noise spectra are left at zero where the gain is below this x its peak


# ----------------------------------------------------------------------------- configuration
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


@dataclass(frozen=True)
class EyesConfig:
    """Phenomena of :func:`simulate_eyes` (moments in nA*m, times in s)."""

    alpha: AlphaConfig = AlphaConfig()
    alpha_closed_nam: float = 110.0        # r.m.s. moment of each alpha dipole, eyes closed
    alpha_open_ratio: float = 0.25         # eyes-open alpha / eyes-closed alpha
    ramp_s: float = 1.0                    # alpha fades in and out over this time
    blink_rate_hz: float = 0.25            # with eyes open
    blink_dead_s: float = 1.0              # at least this long between two blinks
    blink_uv: float = 150.0                # peak at the electrode nearest the eyes
    blink_peak_s: float = 0.1              # rise time of the blink waveform
    blink_jitter: float = 0.2              # s.d. of the relative blink amplitude
    blink_decay_m: float = 0.04            # the blink field falls by 1/e over this distance ...
    eyes_from_fp_m: tuple = (0.0, 0.02, -0.03)  # ... from the eyes, here from mid Fp1-Fp2
    background: BackgroundConfig = BackgroundConfig()


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


@dataclass(frozen=True)
class SleepConfig:
    """Phenomena of :func:`simulate_sleep`; amplitudes in uV (r.m.s. unless noted), times in s."""

    #: Per stage, r.m.s. of: background (1/f), alpha, fast activity, theta, delta.
    rhythms_uv: tuple = (
        ("W", (8.0, 14.0, 5.0, 3.0, 3.0)),
        ("N1", (8.0, 3.0, 2.0, 11.0, 6.0)),
        ("N2", (9.0, 2.0, 1.5, 8.0, 14.0)),
        ("N3", (10.0, 1.0, 1.0, 6.0, 40.0)),
        ("R", (7.0, 3.0, 2.5, 10.0, 5.0)),
    )
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
    spindles_per_min: tuple = (("N2", 5.0), ("N3", 1.0))
    spindle_hz: tuple = (12.0, 14.0)
    spindle_s: tuple = (0.6, 1.5)
    spindle_uv: float = 30.0               # peak
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
    sensor_noise_uv: float = 1.0
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


# ----------------------------------------------------------------------------- signal pieces
def _rng(seed: int, stream: str) -> np.random.Generator:
    """An independent generator for one named component of one seed."""
    return np.random.default_rng([int(seed), zlib.crc32(stream.encode())])


def _spectral_noise(rng, n_series, n_times, sfreq, gain) -> np.ndarray:
    """Gaussian noise with amplitude spectrum ``gain(f)``, each series with unit s.d.

    Returns
    -------
    x : ndarray, shape (n_series, n_times)
    """
    freqs = np.fft.rfftfreq(n_times, 1.0 / sfreq)
    g = gain(freqs)
    g[0] = 0.0
    used = np.flatnonzero(g > _SPECTRAL_FLOOR * g.max())  # draw only where the gain matters
    out = np.empty((n_series, n_times))
    spectrum = np.zeros(freqs.size, complex)
    for row in out:  # one series at a time: memory stays a few times n_times
        spectrum[used] = g[used] * (rng.standard_normal(used.size)
                                    + 1j * rng.standard_normal(used.size))
        row[:] = np.fft.irfft(spectrum, n=n_times)
        row /= row.std() or 1.0
    return out


def _pink(rng, n_series, n_times, sfreq, exponent=1.0, fmin=0.5):
    """1/f**exponent noise, flat below ``fmin`` Hz; shape (n_series, n_times), unit s.d."""
    return _spectral_noise(rng, n_series, n_times, sfreq,
                           lambda f: np.maximum(f, fmin) ** (-exponent / 2.0))


def _band(rng, n_series, n_times, sfreq, lo, hi):
    """Noise in [lo, hi] Hz (smooth edges, 1/f inside); shape (n_series, n_times), unit s.d."""
    edge = 0.1 * (hi - lo) + 0.05

    def gain(f):
        box = 1.0 / (1.0 + np.exp(-(f - lo) / edge)) / (1.0 + np.exp((f - hi) / edge))
        return box / np.sqrt(np.maximum(f, lo))
    return _spectral_noise(rng, n_series, n_times, sfreq, gain)


def _peak(rng, n_series, n_times, sfreq, f0, bw):
    """Noise with a Gaussian spectral peak at ``f0`` (s.d. ``bw``) Hz; shape (n, T), unit s.d."""
    return _spectral_noise(rng, n_series, n_times, sfreq,
                           lambda f: np.exp(-0.5 * ((f - f0) / bw) ** 2))


def _crossfade(values, starts, n_times, ramp):
    """Piecewise-constant ``values`` from sample ``starts`` on, with linear ramps between them.

    Parameters
    ----------
    values : array, shape (n_segments,)
    starts : array of int, shape (n_segments,)
        First sample of each segment, increasing, ``starts[0] == 0``.
    n_times : int
    ramp : float
        Ramp length in samples, centred on each change (shortened for short segments).

    Returns
    -------
    x : ndarray, shape (n_times,)
    """
    bounds = np.append(starts, n_times).astype(float)
    half = 0.5 * min(ramp, np.diff(bounds).min())
    knots = np.column_stack([bounds[:-1] + half, bounds[1:] - half]).ravel()
    knots[0], knots[-1] = 0.0, n_times
    return np.interp(np.arange(n_times), knots, np.repeat(values, 2))


def _gauss(t, latency, width):
    return np.exp(-0.5 * ((t - latency) / width) ** 2)


def _blink_kernel(sfreq, peak_s):
    """A lid or eye transient: rises to 1 at ``peak_s``, decays by 6 * ``peak_s``; shape (n,)."""
    t = np.arange(int(6 * peak_s * sfreq)) / (peak_s * sfreq)
    return t**2 * np.exp(2.0 * (1.0 - t))


def _add_kernel(x, onsets, kernel, amplitudes):
    """Add ``amplitude * kernel`` into 1-D ``x`` at each onset sample (in place, cut at the end)."""
    for onset, amplitude in zip(onsets, amplitudes):
        stop = min(x.size, onset + kernel.size)
        if 0 <= onset < stop:
            x[onset:stop] += amplitude * kernel[: stop - onset]


def _add_white(rng, out, scale):
    """Add white noise of r.m.s. ``scale`` (scalar or per row) to ``out`` (C, T) in place."""
    scale = np.broadcast_to(np.asarray(scale, float), out.shape[:1])[:, None]
    for start in range(0, out.shape[1], _CHUNK):
        block = out[:, start:start + _CHUNK]
        block += scale * rng.standard_normal(block.shape)


def _project(gain, moments, out):
    """``out += gain @ moments`` block by block in time: (C, n) @ (n, T) into (C, T)."""
    for start in range(0, out.shape[1], _CHUNK):
        out[:, start:start + _CHUNK] += gain @ moments[:, start:start + _CHUNK]


def _poisson_times(rng, rate_hz, t0, t1, dead_s=0.0):
    """Event times (s) in [t0, t1): exponential gaps of mean 1/rate plus a dead time each."""
    if rate_hz <= 0 or t1 <= t0:
        return np.zeros(0)
    gaps = dead_s + rng.exponential(1.0 / rate_hz, int(2 * rate_hz * (t1 - t0)) + 10)
    times = t0 + np.cumsum(gaps)
    return times[times < t1]


def _stimulus_train(rng, n_times, sfreq, first_s, soa_s, p_odd):
    """Onset samples every ``soa_s`` (uniform range) and a bool 'odd' flag, never two in a row."""
    n = int(n_times / sfreq / soa_s[0]) + 2
    onsets_s = first_s + np.concatenate([[0.0], np.cumsum(rng.uniform(*soa_s, n - 1))])
    samples = np.round(onsets_s * sfreq).astype(int)
    samples = samples[samples < n_times - soa_s[1] * sfreq]
    odd = rng.random(samples.size) < p_odd
    odd[1:] &= ~odd[:-1]
    return samples, odd


def _raw(data, info, onsets_s, durations_s, descriptions):
    """RawArray with the fixed measurement date and the given annotations."""
    import mne

    info["description"] = SIMULATED_NOTE
    info["device_info"] = {"type": SIMULATED_DEVICE}
    raw = mne.io.RawArray(data, info, verbose=False)
    raw.set_meas_date(MEAS_DATE)
    raw.set_annotations(mne.Annotations(onsets_s, durations_s, descriptions))
    return raw


# ----------------------------------------------------------------------------- forward models
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


# ----------------------------------------------------------------------------- EEG
def simulate_eyes(duration_s: float = 180.0, *, sfreq: float = 128.0, n_channels: int = 19,
                  block_s: float = 30.0, seed: int = 0, config: EyesConfig | None = None):
    """Resting EEG in alternating eyes-open / eyes-closed blocks (SIMULATED).

    Blocks of ``block_s`` start with eyes open. Eyes closed: strong ~10 Hz alpha from radial
    dipoles beneath O1, O2 and Pz. Eyes open: a quarter of that alpha, and blinks (largest at
    Fp1/Fp2). Always: 1/f background dipoles, white electrode noise; common average reference.

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


# ----------------------------------------------------------------------------- MEG
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


# ----------------------------------------------------------------------------- sleep
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
    eeg[:] = _pink(_rng(seed, "sleep/background"), n_channels, n_times, sfreq)
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


# ----------------------------------------------------------------------------- writing
def write_samples(out_dir, *, seed: int = 0) -> list[Path]:
    """Write the four SIMULATED sample recordings; the same bytes on every run for a seed.

    ``eyes_open_closed.edf``, ``oddball_erp.vhdr`` (+ ``.vmrk``, ``.eeg``), ``sleep_night.edf``
    and ``meg_evoked_raw.fif.gz`` (gzip-compressed FIF, which MNE reads directly), each from the
    matching ``simulate_*`` function with its default length and rate.

    Parameters
    ----------
    out_dir : path-like
        Folder to write into (created if missing); existing files are overwritten.
    seed : int
        Seed of every random draw.

    Returns
    -------
    paths : list of pathlib.Path
        Every file written, sidecars included.
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = [_write_edf(simulate_eyes(seed=seed), out / "eyes_open_closed.edf")]
    paths += _write_brainvision(simulate_oddball(seed=seed), out / "oddball_erp.vhdr")
    paths.append(_write_edf(simulate_sleep(seed=seed), out / "sleep_night.edf",
                            add_ch_type=True))
    paths.append(_write_fif(simulate_meg(seed=seed), out / "meg_evoked_raw.fif.gz"))
    logger.info("wrote %d sample files to %s", len(paths), out)
    return paths


def _write_edf(raw, path, add_ch_type=False) -> Path:
    """EDF+ (16-bit); ``add_ch_type`` writes labels such as ``EEG C3-A2`` and ``EOG E1-M2``."""
    import mne

    mne.export.export_raw(path, raw, fmt="edf", add_ch_type=add_ch_type, overwrite=True,
                          verbose=False)
    return Path(path)


def _write_brainvision(raw, vhdr) -> list[Path]:
    """BrainVision, 16-bit in 0.1 uV steps; annotations become ``Comment`` markers."""
    from pybv import write_brainvision

    vhdr = Path(vhdr)
    sfreq = raw.info["sfreq"]
    data = raw.get_data()
    data += 0.5 * BRAINVISION_RESOLUTION_UV * UV * np.sign(data)  # pybv truncates: now it rounds
    events = [dict(onset=int(round(a["onset"] * sfreq)), duration=1,
                   description=a["description"], type="Comment") for a in raw.annotations]
    write_brainvision(data=data, sfreq=sfreq, ch_names=raw.ch_names, fname_base=vhdr.stem,
                      folder_out=vhdr.parent, events=events,
                      resolution=BRAINVISION_RESOLUTION_UV, unit="µV", fmt="binary_int16",
                      meas_date=MEAS_DATE, overwrite=True)
    return [vhdr.with_suffix(ext) for ext in (".vhdr", ".vmrk", ".eeg")]


def _write_fif(raw, path) -> Path:
    """FIF of 16-bit samples (step: each channel's ``cal``) with machine-independent ids.

    A name ending in ``.gz`` is compressed here (level 9, no time stamp in the gzip header)
    rather than by MNE, whose gzip header carries the time of writing.
    """
    import mne

    path = Path(path)
    plain = path.with_suffix("") if path.suffix == ".gz" else path
    cals = np.array([ch["cal"] * ch["range"] for ch in raw.info["chs"]])
    data = raw.get_data()
    data += 0.5 * cals[:, None] * np.sign(data)  # the writer truncates: now it rounds
    rounded = mne.io.RawArray(data, raw.info, verbose=False)
    rounded.set_annotations(raw.annotations)
    rounded.save(plain, fmt="short", overwrite=True, verbose=False)
    _clear_fif_ids(plain)
    if plain != path:
        path.write_bytes(gzip.compress(plain.read_bytes(), compresslevel=9, mtime=0))
        plain.unlink()
    return path


def _clear_fif_ids(path) -> None:
    """Zero the machine id and time of every FIF id tag (file, block and parent ids).

    MNE stamps them with the writing computer's MAC address. A FIF file is a sequence of tags,
    each a big-endian (kind, type, size, next) int32 header and ``size`` bytes of data; an id
    tag has type 31 and holds (version, machid[0], machid[1], secs, usecs).
    """
    header = struct.Struct(">iiii")
    buf = bytearray(Path(path).read_bytes())
    pos = 0
    while pos + header.size <= len(buf):
        _, tag_type, size, _ = header.unpack_from(buf, pos)
        if tag_type == _FIFF_ID_STRUCT:
            struct.pack_into(">4i", buf, pos + header.size + 4, 0, 0, 0, 0)
        pos += header.size + size
    Path(path).write_bytes(bytes(buf))
