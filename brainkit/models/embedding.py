"""What the tokenizer sees of each sensor and of each patch of signal.

- :func:`sensor_tensors`: a :class:`~brainkit.sensors.SensorArray` (or a tuple) as tensors.
- :class:`SensorEncoder`: each channel known by physics, not by name: an MLP over its position
  (Fourier features, head frame) and orientation, plus an embedding of its kind (eeg, mag, grad).
  A channel without a known position uses a learned "unknown position" vector in place of the
  position features.
- :class:`PatchEmbed`: a patch of ``patch_size`` samples -> a D-vector, from its waveform and its
  log amplitude spectrum.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np
import torch
import torch.nn as nn

from brainkit.sensors import SensorArray


class SensorTensors(NamedTuple):
    """Sensors as tensors: shapes (C, ...) shared by all windows, or (N, C, ...) per window."""

    pos: torch.Tensor           # (..., C, 3) metres, 0 where unknown
    ori: torch.Tensor           # (..., C, 3) unit or zeros
    kind: torch.Tensor          # (..., C) int64, eeg=0 mag=1 grad=2
    has_position: torch.Tensor  # (..., C) bool


def sensor_tensors(sensors, device=None) -> SensorTensors:
    """Convert a :class:`~brainkit.sensors.SensorArray`, a :class:`SensorTensors` or a
    ``(pos, ori, kind, has_position)`` tuple to :class:`SensorTensors` on ``device``.

    Unknown positions (NaN, or ``has_position`` False) become zeros with ``has_position`` False.
    """
    if isinstance(sensors, SensorArray):
        sensors = (sensors.pos, sensors.ori, sensors.kind_index, sensors.has_position)
    pos, ori, kind, has = (torch.as_tensor(np.asarray(v) if not torch.is_tensor(v) else v, device=device)
                           for v in sensors)
    pos, ori = pos.float(), torch.nan_to_num(ori.float())
    has = has.bool() & torch.isfinite(pos).all(-1)
    return SensorTensors(torch.where(has[..., None], pos, 0.0), ori, kind.long(), has)


class SensorEncoder(nn.Module):
    """(position, orientation, kind) of each sensor -> (..., C, D) embedding."""

    def __init__(self, config):
        super().__init__()
        self.config = config
        n_pos = 3 + 6 * config.n_pos_freqs
        self.unknown = nn.Parameter(torch.zeros(n_pos))
        self.mlp = nn.Sequential(nn.Linear(n_pos + 3, config.d_model), nn.GELU(),
                                 nn.Linear(config.d_model, config.d_model))
        self.kind = nn.Embedding(config.n_kinds, config.d_model)

    def forward(self, s: SensorTensors):
        p = s.pos / self.config.pos_scale  # (..., C, 3)
        freqs = math.pi * 2.0 ** torch.arange(self.config.n_pos_freqs, device=p.device)  # (F,)
        ang = (p[..., None] * freqs).flatten(-2)  # (..., C, 3F)
        feats = torch.cat([p, ang.sin(), ang.cos()], -1)  # (..., C, 3 + 6F)
        feats = torch.where(s.has_position[..., None], feats, self.unknown)  # (..., C, 3 + 6F)
        return self.mlp(torch.cat([feats, s.ori], -1)) + self.kind(s.kind)  # (..., C, D)


class PatchEmbed(nn.Module):
    """Waveform patch and its log amplitude spectrum -> (N, C, P, D).

    A linear projection of the waveform plus an MLP over waveform and spectrum: the linear path
    keeps the waveform recoverable (an MLP of width D alone, with its GELU, loses much of a
    D-sample patch), the MLP adds the nonlinear spectral features.
    """

    def __init__(self, config):
        super().__init__()
        S = config.patch_size
        self.linear = nn.Linear(S, config.d_model)
        self.mlp = nn.Sequential(nn.Linear(S + S // 2 + 1, config.d_model), nn.GELU(),
                                 nn.Linear(config.d_model, config.d_model))

    def forward(self, patches):  # patches (N, C, P, S)
        amp = torch.log1p(torch.fft.rfft(patches, dim=-1).abs())  # (N, C, P, S/2+1)
        return self.linear(patches) + self.mlp(torch.cat([patches, amp], -1))  # (N, C, P, D)
