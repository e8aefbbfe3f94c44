"""Band powers per channel, what the connector's channel tokens carry.

``band_power_features`` -> ``channel_features`` (log band powers + log amplitude scale) feed the
connector's channel tokens; ``spectral_statistics`` summarises them over channels for the
position-weighted spectral head that decoders trained before the read-out
(:mod:`brainkit.models.readout`) decide with.
"""

from __future__ import annotations

import torch

#: Hz, the bands of the channel tokens (delta ... high gamma)
BANDS_HZ = ((0.5, 4.0), (4.0, 8.0), (8.0, 13.0), (13.0, 20.0), (20.0, 30.0), (30.0, 45.0), (45.0, 75.0))


def band_power_features(x: torch.Tensor, sfreq: float, bands_hz) -> torch.Tensor:
    """Log mean power per band for every channel of every window.

    Parameters
    ----------
    x : Tensor, shape (N, C, T)
    sfreq : float
        Hz.

    Returns
    -------
    Tensor, shape (N, C, n_bands)
    """
    spectrum = torch.fft.rfft(x * torch.hann_window(x.shape[-1], device=x.device), dim=-1)
    power = spectrum.real ** 2 + spectrum.imag ** 2  # (N, C, F)
    freqs = torch.fft.rfftfreq(x.shape[-1], 1.0 / sfreq).to(x.device)
    out = []
    for lo, hi in bands_hz:
        sel = (freqs >= lo) & (freqs < hi)
        band = power[..., sel].mean(-1) if sel.any() else power.new_zeros(power.shape[:-1])
        out.append(torch.log(band + 1e-6))
    return torch.stack(out, dim=-1)  # (N, C, n_bands)


def channel_features(bandpower: torch.Tensor, scale) -> torch.Tensor:
    """Each channel's log band powers and log robust scale (+5, SI units), shape (N, C, B + 1).

    ``scale`` (C,) or (N, C): ``Windows.scale``, the amplitude robust scaling removed.
    """
    log_scale = torch.log10(torch.as_tensor(scale, dtype=bandpower.dtype, device=bandpower.device)
                            .clamp(min=1e-15)).expand(bandpower.shape[0], -1)  # (N, C)
    return torch.cat([bandpower, log_scale[..., None] + 5.0], -1)


def spectral_statistics(channel_features: torch.Tensor, pos: torch.Tensor) -> torch.Tensor:
    """Layout-independent summary of per-channel features for the spectral head.

    Parameters
    ----------
    channel_features : Tensor, shape (N, C, F)
        Log band powers and log scale of every channel.
    pos : Tensor, shape (C, 3)
        Sensor positions in metres (zeros where unknown).

    Returns
    -------
    Tensor, shape (N, 5 * F)
        Mean over channels of the features times 1, x, y, z (positions in decimetres), then their
        standard deviation over channels: a linear read-out of this is a linear function of every
        channel's features whose weights vary linearly over the head.
    """
    basis = torch.cat([torch.ones_like(pos[:, :1]), pos * 10.0], -1).to(channel_features.dtype)  # (C, 4)
    weighted = torch.einsum("ncf,cb->nfb", channel_features, basis) / channel_features.shape[1]
    return torch.cat([weighted.flatten(1), channel_features.std(1, unbiased=False)], -1)
