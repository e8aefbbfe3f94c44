"""How well a reconstruction matches its target: the tokenizer's loss terms and the correlation
it is reported by.

The amplitude term is NeuroLM's spectral target (arXiv 2409.00101): the signal is rebuilt in time
and in its Fourier amplitudes, so that what reaches the decoder carries spectral power.

Shapes: N windows, C channels, T samples, F = T // 2 + 1 frequency bins, B bands.
"""

from __future__ import annotations

import numpy as np
import torch


def log_band_power(power, n_times: int, config):
    """Log power of the bands the amplitude loss scores.

    Parameters
    ----------
    power : Tensor, shape (N, C, F)
        Power of every FFT bin of windows of ``n_times`` samples.
    n_times : int
    config : BrainTokenizerConfig
        ``sfreq``, ``spectral_band_hz``, ``spectral_max_hz``, ``spectral_eps``.

    Returns
    -------
    Tensor, shape (N, C, B)
    """
    c = config
    hz_per_bin = c.sfreq / n_times
    k = max(1, round(c.spectral_band_hz / hz_per_bin))  # bins per band
    n_bins = power.shape[-1] if c.spectral_max_hz is None else \
        min(power.shape[-1], int(c.spectral_max_hz / hz_per_bin) + 1)
    B = max(1, n_bins // k)
    return torch.log(power[..., :B * k].unflatten(-1, (B, k)).mean(-1) + c.spectral_eps ** 2)  # (N, C, B)


def reconstruction_losses(x, x_hat, w, config) -> dict:
    """Loss terms of a reconstruction, averaged over the channel-windows weighted by ``w``.

    Parameters
    ----------
    x, x_hat : Tensor, shape (N, C, T)
        Target and reconstruction.
    w : Tensor, shape (N, C)
        Weight of each channel-window (0 leaves it out).
    config : BrainTokenizerConfig

    Returns
    -------
    dict of str to scalar Tensor
        ``mse``; ``corr`` (1 - Pearson r); ``amp`` (L1 distance of log band powers, see
        :func:`log_band_power`); ``phase`` (1 - cos of the phase difference, weighted by the
        target amplitude).
    """
    denom = w.sum().clamp(min=1.0)

    def mean(v):  # v (N, C) -> weighted mean
        return (v * w).sum() / denom

    mse = mean((x_hat - x).pow(2).mean(-1))
    xc, yc = x - x.mean(-1, keepdim=True), x_hat - x_hat.mean(-1, keepdim=True)  # (N, C, T)
    r = (xc * yc).sum(-1) / ((xc.pow(2).sum(-1) * yc.pow(2).sum(-1) + 1e-8).sqrt())  # (N, C)
    X = torch.fft.rfft(x, dim=-1, norm="ortho")  # (N, C, F)
    Y = torch.fft.rfft(x_hat, dim=-1, norm="ortho")  # (N, C, F)
    pow_x, pow_y = X.real.pow(2) + X.imag.pow(2), Y.real.pow(2) + Y.imag.pow(2)  # (N, C, F)
    T = x.shape[-1]
    amp = mean(0.5 * (log_band_power(pow_y, T, config) - log_band_power(pow_x, T, config)).abs().mean(-1))
    ax, ay = (pow_x + 1e-12).sqrt(), (pow_y + 1e-12).sqrt()  # (N, C, F)
    cos = (X.real * Y.real + X.imag * Y.imag) / (ax * ay)  # (N, C, F)
    phase = mean(((1 - cos) * ax).sum(-1) / ax.sum(-1))
    return {"mse": mse, "corr": mean(1 - r), "amp": amp, "phase": phase}


def reconstruction_r(x, x_hat, channel_mask=None) -> float:
    """Mean Pearson correlation between x and x_hat over channels and windows.

    Parameters
    ----------
    x, x_hat : array or Tensor, shape (N, C, T)
    channel_mask : bool array, shape (N, C) or (C,), optional
        Channels to include (default all). Flat channels (zero variance) are always skipped.

    Returns
    -------
    float
        NaN when no channel qualifies.
    """
    x = np.asarray(torch.as_tensor(x).detach().cpu(), dtype=np.float64)
    y = np.asarray(torch.as_tensor(x_hat).detach().cpu(), dtype=np.float64)
    xc, yc = x - x.mean(-1, keepdims=True), y - y.mean(-1, keepdims=True)  # (N, C, T)
    sx, sy = np.sqrt((xc ** 2).sum(-1)), np.sqrt((yc ** 2).sum(-1))  # (N, C)
    ok = (sx > 0) & (sy > 0)
    if channel_mask is not None:
        ok &= np.broadcast_to(np.asarray(channel_mask, bool), ok.shape)
    if not ok.any():
        return float("nan")
    r = (xc * yc).sum(-1)[ok] / (sx[ok] * sy[ok])
    return float(r.mean())
