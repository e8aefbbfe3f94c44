"""Signal pieces of the simulations: seeded random streams, spectral noise (1/f, bands, peaks),
transients, event trains, and the :class:`mne.io.RawArray` every simulation ends in.

Each component draws from its own random stream (:func:`_rng`), so changing one component leaves
the others as they were.
"""

from __future__ import annotations

import datetime
import zlib

import numpy as np

#: Written into each recording's description (FIF) and device type (EDF equipment code).
SIMULATED_NOTE = "SIMULATED by brainkit.data.simulate; not a real recording"
SIMULATED_DEVICE = "brainkit_simulation"
#: Measurement date written into every sample file (no clock is read).
MEAS_DATE = datetime.datetime(2000, 1, 1, tzinfo=datetime.timezone.utc)
UV = 1e-6   # volts per microvolt
NAM = 1e-9  # A*m per nA*m
_CHUNK = 8192  # samples per block when adding noise or projecting (bounds temporary memory)
_SPECTRAL_FLOOR = 1e-4  # noise spectra are left at zero where the gain is below this x its peak


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
