"""BrainTokenizer: any EEG or MEG sensor layout -> discrete neural tokens, and back.

BrainOmni-style (arXiv 2505.18185) with NeuroLM's spectral target (arXiv 2409.00101):

1. **Sensor encoder.** Each channel is known by physics, not by name: an MLP over its position
   (Fourier features, head frame) and orientation, plus an embedding of its kind (eeg, mag, grad).
   A channel without a known position uses a learned "unknown position" vector in place of the
   position features.
2. **Patch encoder.** Every channel is cut into patches of ``patch_size`` samples; each patch goes
   through a linear projection of its waveform plus a small MLP of its waveform and log amplitude
   spectrum, then the sensor embedding is added and a depthwise convolution mixes neighbouring
   patches of the same channel.
3. **Latent sources.** ``n_sources`` learned queries gather the C channel tokens of each patch by
   cross-attention (an inverse forward model). The attention keys are the **sensor embeddings
   only**, the values carry the signal: each source is a spatial filter, a function of where the
   sensors sit, not of what they record. (With keys from the signal too, training settled on
   uniform attention: every source was the same average of all channels, and a 4-channel headset
   came out as four copies of one waveform.) Attention pools over channels, so any C works and
   the sources do not depend on channel order; masked channels are never attended to. The sources
   then attend to each other and mix with their neighbouring patches.
4. **Residual VQ.** ``n_levels`` codebooks of ``codebook_size`` codes quantize each source feature
   in turn; codebooks follow exponential moving averages of their assigned vectors (training mode
   only), start from data, and restart codes that went unused for ``dead_code_steps`` steps from
   current encoder outputs. Commitment loss; straight-through gradients.
5. **Decoder.** Each sensor (query: its sensor embedding) attends to the K quantized sources of its
   patch, after these sources have mixed with the neighbouring patches; the keys are learned
   source identities, so each sensor reads a mixture of sources fixed by its position (a forward
   model), and the values carry the content. A depthwise convolution over the sensor's patches
   smooths patch borders; a linear head writes the waveform.

Patch size: 0.25 s (64 samples at 256 Hz). The windows downstream are 1 s (ERPs), 2-4 s and 30 s
(sleep): 0.25 s leaves four time steps in a 1-s ERP window (a 1-s patch would leave one, losing
the P300/N170 latency), keeps 30-s windows at 120 steps, and is a power of two for the FFT. Slow
rhythms longer than a patch are carried by the temporal mixing and scored by the window-level
spectral loss (0.25-Hz resolution at 4 s). No absolute patch position is used anywhere (only
convolutions over neighbouring patches), so tokens are translation-equivariant and a model trained
on 4-s crops tokenizes windows of any length the same way.

Windows whose length T is not a multiple of ``patch_size`` are padded at the end by repeating the
last sample, and the reconstruction is cropped back to T; losses only see the first T samples.

Shapes: N windows, C channels, T samples, P patches, S = patch_size, K sources, L levels, D = d_model.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np
import torch
import torch.distributed as dist
import torch.nn as nn
import torch.nn.functional as F
from transformers import PretrainedConfig, PreTrainedModel
from transformers import initialization as init
from transformers.utils import ModelOutput

from brainkit.errors import BrainkitError
from brainkit.sensors import MODEL_KINDS, SensorArray


class BrainTokenizerConfig(PretrainedConfig):
    """Hyper-parameters of :class:`BrainTokenizer` (saved as ``config.json`` beside the weights).

    Parameters
    ----------
    sfreq : float
        Sampling rate (Hz) the model expects.
    patch_size : int
        Samples per patch (64 = 0.25 s at 256 Hz, see the module docstring).
    d_model : int
        Feature size D of channel tokens, sources and codes.
    n_heads : int
        Attention heads (``d_model`` must be divisible by it).
    n_sources : int
        Latent sources K per patch.
    n_levels : int
        Residual quantizer levels L.
    codebook_size : int
        Codes per level.
    n_kinds : int
        Sensor kinds (eeg=0, mag=1, grad=2).
    pos_scale : float
        Metres mapped to 1 before the position Fourier features (about a head radius).
    n_pos_freqs : int
        Octaves of the position Fourier features (finest wavelength ``2 * pos_scale / 2**(F-1)``).
    mix_kernel : int
        Patches seen by each temporal mixing convolution (odd).
    mlp_ratio : int
        Hidden size of the MLPs, as a multiple of ``d_model``.
    ema_decay : float
        Decay of the codebook moving averages.
    dead_code_steps : int
        A code unused for this many training steps is restarted from a current encoder output.
    spectral_eps : float
        Amplitude floor of the log amplitude loss (signals are about unit scale; amplitudes use
        an orthonormal FFT, so white noise of unit variance has amplitude about 1 per bin).
    spectral_band_hz : float
        Width of the frequency bands whose power the amplitude loss compares; 0 compares every
        FFT bin of the window (0.25 Hz at 4 s).
    spectral_max_hz : float or None
        Highest frequency the amplitude loss scores (None: up to Nyquist).
    w_mse, w_corr, w_amp, w_phase, w_commit : float
        Weights of the loss terms in the total.
    """

    model_type = "brainkit_tokenizer"

    def __init__(self, sfreq=256.0, patch_size=64, d_model=64, n_heads=4, n_sources=16, n_levels=8,
                 codebook_size=256, n_kinds=3, pos_scale=0.1, n_pos_freqs=5, mix_kernel=3,
                 mlp_ratio=2, ema_decay=0.99, dead_code_steps=50, spectral_eps=0.01,
                 spectral_band_hz=0.0, spectral_max_hz=None, w_mse=1.0, w_corr=1.0, w_amp=1.0,
                 w_phase=0.5, w_commit=0.25, **kwargs):
        self.sfreq, self.patch_size, self.d_model, self.n_heads = sfreq, patch_size, d_model, n_heads
        self.n_sources, self.n_levels, self.codebook_size = n_sources, n_levels, codebook_size
        self.n_kinds, self.pos_scale, self.n_pos_freqs = n_kinds, pos_scale, n_pos_freqs
        self.mix_kernel, self.mlp_ratio = mix_kernel, mlp_ratio
        self.ema_decay, self.dead_code_steps, self.spectral_eps = ema_decay, dead_code_steps, spectral_eps
        self.spectral_band_hz, self.spectral_max_hz = spectral_band_hz, spectral_max_hz
        self.w_mse, self.w_corr, self.w_amp, self.w_phase, self.w_commit = w_mse, w_corr, w_amp, w_phase, w_commit
        super().__init__(**kwargs)


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


@dataclass
class BrainTokenizerOutput(ModelOutput):
    """What :meth:`BrainTokenizer.forward` returns.

    Attributes
    ----------
    loss : Tensor, scalar
        Weighted total of ``losses``.
    reconstruction : Tensor, shape (N, C, T)
    codes : Tensor, shape (N, K, P, L), int64
    latents : Tensor, shape (N, K, P, D)
        Quantized source features (straight-through: gradients reach the encoder).
    losses : dict of str to scalar Tensor
        ``mse``, ``corr`` (1 - Pearson r), ``amp`` (L1 distance of log Fourier amplitudes over
        the window, see ``spectral_*`` in the config), ``phase`` (1 - cos of the phase
        difference, weighted by the target amplitude), ``commit`` (summed over levels).
    usage : dict
        :func:`codebook_usage` of ``codes``.
    """

    loss: torch.Tensor | None = None
    reconstruction: torch.Tensor | None = None
    codes: torch.Tensor | None = None
    latents: torch.Tensor | None = None
    losses: dict | None = None
    usage: dict | None = None


class MLP(nn.Module):
    def __init__(self, d, ratio):
        super().__init__()
        self.fc = nn.Linear(d, ratio * d)
        self.proj = nn.Linear(ratio * d, d)

    def forward(self, x):
        return self.proj(F.gelu(self.fc(x)))


class CrossAttention(nn.Module):
    """Multi-head attention of queries (B, Q, D) over keys/values (B, S, D), optional key mask (B, S)."""

    def __init__(self, d, n_heads):
        super().__init__()
        self.n_heads = n_heads
        self.q = nn.Linear(d, d)
        self.kv = nn.Linear(d, 2 * d)
        self.proj = nn.Linear(d, d)

    def forward(self, q, kv, mask=None, keys=None):
        """``keys`` (B|1, S, D), when given, replace ``kv`` as what the keys are computed from."""
        B, Q, D = q.shape
        S, h = kv.shape[1], self.n_heads
        q = self.q(q).view(B, Q, h, D // h).transpose(1, 2)  # (B, h, Q, D/h)
        if keys is None:
            k, v = self.kv(kv).view(B, S, 2, h, D // h).permute(2, 0, 3, 1, 4)  # 2 x (B, h, S, D/h)
        else:  # the first half of self.kv makes keys (from `keys`), the second values (from kv)
            W, b = self.kv.weight, self.kv.bias
            k = F.linear(keys, W[:D], b[:D]).view(keys.shape[0], S, h, D // h).transpose(1, 2)
            k = k.expand(B, h, S, D // h)  # (B, h, S, D/h)
            v = F.linear(kv, W[D:], b[D:]).view(B, S, h, D // h).transpose(1, 2)  # (B, h, S, D/h)
        mask = None if mask is None else mask[:, None, None, :]  # (B, 1, 1, S)
        y = F.scaled_dot_product_attention(q, k, v, attn_mask=mask)  # (B, h, Q, D/h)
        return self.proj(y.transpose(1, 2).reshape(B, Q, D))  # (B, Q, D)


class Block(nn.Module):
    """Pre-norm residual block: queries attend to keys/values (themselves if none), then an MLP."""

    def __init__(self, d, n_heads, mlp_ratio, separate_keys=False):
        super().__init__()
        self.ln_q, self.ln_kv, self.ln_mlp = nn.LayerNorm(d), nn.LayerNorm(d), nn.LayerNorm(d)
        self.ln_k = nn.LayerNorm(d) if separate_keys else None
        self.attn = CrossAttention(d, n_heads)
        self.mlp = MLP(d, mlp_ratio)

    def forward(self, q, kv=None, mask=None, keys=None):
        kv = self.ln_kv(q if kv is None else kv)
        keys = None if keys is None else self.ln_k(keys)
        q = q + self.attn(self.ln_q(q), kv, mask, keys)
        return q + self.mlp(self.ln_mlp(q))


class TemporalMix(nn.Module):
    """Light mixing of neighbouring patches: depthwise convolution over P, then a pointwise layer."""

    def __init__(self, d, kernel):
        super().__init__()
        self.ln = nn.LayerNorm(d)
        self.conv = nn.Conv1d(d, d, kernel, padding=kernel // 2, groups=d)
        self.proj = nn.Linear(d, d)

    def forward(self, x):  # x (B, P, D)
        y = self.conv(self.ln(x).transpose(1, 2)).transpose(1, 2)  # (B, P, D)
        return x + self.proj(F.gelu(y))


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


def _distributed() -> bool:
    return dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1


def _from_rank0(t):
    """Rank 0's copy of t under torch.distributed (so every rank restarts codes identically), else t."""
    if _distributed():
        t = t.contiguous()
        dist.broadcast(t, 0)
    return t


class ResidualVQ(nn.Module):
    """Residual vector quantizer with EMA codebooks, data init and dead-code restart.

    Buffers (saved with the weights): ``codebooks`` (L, V, D), EMA ``counts`` (L, V) and ``sums``
    (L, V, D), ``unused_steps`` (L, V) training steps since each code was last chosen, and
    ``initialized`` (whether the codebooks were set from data yet).
    """

    def __init__(self, config):
        super().__init__()
        self.config = config
        L, V, D = config.n_levels, config.codebook_size, config.d_model
        self.register_buffer("codebooks", torch.randn(L, V, D))
        self.register_buffer("counts", torch.ones(L, V))
        self.register_buffer("sums", self.codebooks.clone())
        self.register_buffer("unused_steps", torch.zeros(L, V, dtype=torch.long))
        self.register_buffer("initialized", torch.tensor(False))

    def lookup(self, codes):  # codes (..., L) -> (..., D), sum over levels
        L, V, D = self.codebooks.shape
        offsets = torch.arange(L, device=codes.device) * V  # (L,)
        return F.embedding(codes + offsets, self.codebooks.reshape(L * V, D)).sum(-2)  # (..., D)

    def forward(self, z, update: bool, with_loss: bool = True):
        """Quantize z (M, D); returns (quantized (M, D), codes (M, L), commitment loss (0 unless
        ``with_loss``))."""
        residual, quantized, codes, commit = z, torch.zeros_like(z), [], z.new_zeros(())
        init_now = update and not bool(self.initialized)
        for level in range(self.config.n_levels):
            if init_now:
                self._init_level(level, residual.detach())
            book = self.codebooks[level]  # (V, D)
            # squared distance to every code up to |residual|^2, which is the same for all codes
            dist2 = torch.addmm(book.pow(2).sum(-1), residual.detach(), book.T, alpha=-2)  # (M, V)
            idx = dist2.min(-1).indices  # (M,), the first minimum as argmin, but faster on CPU
            q = book[idx]  # (M, D)
            if with_loss:
                commit = commit + F.mse_loss(residual, q)
            if update:
                self._ema_update(level, residual.detach(), idx)
            quantized = quantized + q
            residual = residual - q
            codes.append(idx)
        if init_now:
            self.initialized.fill_(True)
        return quantized, torch.stack(codes, -1), commit  # (M, D), (M, L), ()

    def _init_level(self, level, r):
        fresh = _from_rank0(r[torch.randint(len(r), (self.config.codebook_size,), device=r.device)])  # (V, D)
        self.codebooks[level] = fresh
        self.sums[level] = fresh
        self.counts[level] = 1.0

    def _ema_update(self, level, r, idx):
        V, decay = self.config.codebook_size, self.config.ema_decay
        count = torch.bincount(idx, minlength=V).to(r.dtype)  # (V,)
        total = torch.zeros_like(self.sums[level]).index_add_(0, idx, r)  # (V, D)
        if _distributed():
            dist.all_reduce(count)
            dist.all_reduce(total)
        self.counts[level].mul_(decay).add_(count, alpha=1 - decay)
        self.sums[level].mul_(decay).add_(total, alpha=1 - decay)
        n = self.counts[level].sum()
        smoothed = (self.counts[level] + 1e-5) / (n + V * 1e-5) * n  # Laplace smoothing, (V,)
        self.codebooks[level] = self.sums[level] / smoothed[:, None]
        self.unused_steps[level] = torch.where(count > 0, 0, self.unused_steps[level] + 1)
        dead = self.unused_steps[level] >= self.config.dead_code_steps  # (V,)
        n_dead = int(dead.sum())
        if n_dead:
            fresh = _from_rank0(r[torch.randint(len(r), (n_dead,), device=r.device)])  # (n_dead, D)
            self.codebooks[level, dead] = fresh
            self.sums[level, dead] = fresh
            self.counts[level, dead] = 1.0
            self.unused_steps[level, dead] = 0


class BrainTokenizer(PreTrainedModel):
    """Sensor-aware tokenizer: (N, C, T) windows -> codes (N, K, P, L) -> (N, C, T) reconstruction.

    ``sensors`` arguments take a :class:`~brainkit.sensors.SensorArray` (only ``eeg``, ``mag``,
    ``grad`` channels: pick them with ``sensors.model_picks``), a :class:`SensorTensors`, or a
    ``(pos, ori, kind, has_position)`` tuple, each shaped (C, ...) for all windows or (N, C, ...).
    """

    config_class = BrainTokenizerConfig
    base_model_prefix = "tokenizer"
    main_input_name = "x"

    def __init__(self, config: BrainTokenizerConfig):
        super().__init__(config)
        D, H, R, k = config.d_model, config.n_heads, config.mlp_ratio, config.mix_kernel
        if D % H or k % 2 == 0:
            raise BrainkitError(f"d_model ({D}) must be divisible by n_heads ({H}) and mix_kernel ({k}) odd")
        self.sensor_encoder = SensorEncoder(config)
        # encoder
        self.patch_embed = PatchEmbed(config)
        self.channel_mix = TemporalMix(D, k)
        self.source_queries = nn.Parameter(torch.zeros(config.n_sources, D))
        self.gather = Block(D, H, R, separate_keys=True)
        self.source_mix = Block(D, H, R)
        self.source_time = TemporalMix(D, k)
        self.pre_quant = nn.Sequential(nn.LayerNorm(D), nn.Linear(D, D))
        self.quantizer = ResidualVQ(config)
        # decoder
        self.source_embed = nn.Parameter(torch.zeros(config.n_sources, D))
        self.dec_time = TemporalMix(D, k)
        self.dec_mix = Block(D, H, R)
        self.broadcast = Block(D, H, R, separate_keys=True)
        self.dec_channel_mix = TemporalMix(D, k)
        self.head = nn.Sequential(nn.LayerNorm(D), nn.Linear(D, config.patch_size))
        self.post_init()

    @torch.no_grad()
    def _init_weights(self, module):
        super()._init_weights(module)
        if isinstance(module, BrainTokenizer):
            init.normal_(module.source_queries, std=0.02)
            init.normal_(module.source_embed, std=0.02)
        elif isinstance(module, SensorEncoder):
            init.normal_(module.unknown, std=0.02)
        elif isinstance(module, ResidualVQ):
            init.normal_(module.codebooks)
            init.copy_(module.sums, module.codebooks)
            init.ones_(module.counts)
            init.zeros_(module.unused_steps)
            init.zeros_(module.initialized)

    # ---------------------------------------------------------------- inputs
    def _prepare(self, x, sensors, channel_mask):
        x = torch.as_tensor(x, dtype=torch.float32, device=self.device)
        if x.ndim != 3:
            raise BrainkitError(f"x must be shaped (n_windows, n_channels, n_times), got {tuple(x.shape)}")
        N, C, T = x.shape
        s = sensor_tensors(sensors, device=self.device)
        if s.pos.shape[-2] != C:
            raise BrainkitError(f"sensors describe {s.pos.shape[-2]} channels but x has {C}")
        if channel_mask is not None:
            channel_mask = torch.as_tensor(channel_mask, dtype=torch.bool, device=self.device)
            channel_mask = channel_mask.expand(N, C)  # (N, C)
            if not channel_mask.any(-1).all():
                raise BrainkitError("channel_mask hides every channel of some window: keep at least one")
        visible = torch.ones(C, dtype=torch.bool, device=self.device) if channel_mask is None else channel_mask
        bad = ((s.kind < 0) | (s.kind >= self.config.n_kinds)) & visible
        if bad.any():
            raise BrainkitError(f"the tokenizer takes channels of kinds {', '.join(MODEL_KINDS)} only; "
                                "select them with sensors.pick(sensors.model_picks)")
        s = s._replace(kind=s.kind.clamp(0, self.config.n_kinds - 1))
        return x, s, channel_mask

    def _embed(self, s):
        emb = self.sensor_encoder(s)  # (C, D) or (N, C, D)
        return emb if emb.ndim == 3 else emb[None]  # (N|1, C, D)

    # ---------------------------------------------------------------- encoder / decoder
    def _sources(self, x, emb, channel_mask):
        """Continuous source features (N, K, P, D) of x (N, C, T) given sensor embeddings (N|1, C, D)."""
        N, C, T = x.shape
        S, K, D = self.config.patch_size, self.config.n_sources, self.config.d_model
        P = -(-T // S)
        if channel_mask is not None:
            x = x.masked_fill(~channel_mask[..., None], 0.0)  # hidden channels may hold anything
        x = F.pad(x, (0, P * S - T), mode="replicate")  # (N, C, P*S)
        h = self.patch_embed(x.reshape(N, C, P, S)) + emb[:, :, None, :]  # (N, C, P, D)
        h = self.channel_mix(h.reshape(N * C, P, D))  # (N*C, P, D)
        h = h.view(N, C, P, D).transpose(1, 2).reshape(N * P, C, D)  # (N*P, C, D)
        mask = None
        if channel_mask is not None:
            mask = channel_mask[:, None, :].expand(N, P, C).reshape(N * P, C)  # (N*P, C)
        keys = emb if emb.shape[0] == 1 else emb[:, None].expand(N, P, C, D).reshape(N * P, C, D)
        src = self.gather(self.source_queries.expand(N * P, K, D), h, mask, keys)  # (N*P, K, D)
        src = self.source_mix(src)  # (N*P, K, D)
        src = src.view(N, P, K, D).transpose(1, 2).reshape(N * K, P, D)  # (N*K, P, D)
        src = self.source_time(src)  # (N*K, P, D)
        return self.pre_quant(src).view(N, K, P, D)  # (N, K, P, D)

    def _decode(self, latents, emb):
        """Waveforms (N, C, P*S) from quantized sources (N, K, P, D) and sensor embeddings (N|1, C, D)."""
        N, K, P, D = latents.shape
        C, S = emb.shape[1], self.config.patch_size
        src = latents + self.source_embed[:, None, :]  # (N, K, P, D)
        src = self.dec_time(src.reshape(N * K, P, D))  # (N*K, P, D)
        src = src.view(N, K, P, D).transpose(1, 2).reshape(N * P, K, D)  # (N*P, K, D)
        src = self.dec_mix(src)  # (N*P, K, D)
        q = emb.expand(N, C, D)[:, None].expand(N, P, C, D).reshape(N * P, C, D)  # (N*P, C, D)
        h = self.broadcast(q, src, keys=self.source_embed[None])  # (N*P, C, D)
        h = h.view(N, P, C, D).transpose(1, 2).reshape(N * C, P, D)  # (N*C, P, D)
        h = self.dec_channel_mix(h)  # (N*C, P, D)
        return self.head(h).view(N, C, P * S)  # (N, C, P*S)

    def _quantize(self, z, update, with_loss=True):
        N, K, P, D = z.shape
        q, codes, commit = self.quantizer(z.reshape(-1, D), update, with_loss)  # (M, D), (M, L), ()
        return q.view(N, K, P, D), codes.view(N, K, P, -1), commit

    # ---------------------------------------------------------------- public API
    def encode(self, x, sensors, channel_mask=None):
        """Tokenize windows. Never updates the codebooks.

        Parameters
        ----------
        x : array or Tensor, shape (N, C, T)
            Windows at ``config.sfreq``, robust-scaled per channel.
        sensors : SensorArray | SensorTensors | tuple
            The C sensors (see the class docstring).
        channel_mask : bool array, shape (N, C) or (C,), optional
            False for channels to ignore (padding, dropped).

        Returns
        -------
        codes : Tensor, shape (N, K, P, L), int64
            P = ceil(T / patch_size).
        latents : Tensor, shape (N, K, P, D)
            Quantized source features (sum of the chosen code vectors over levels).
        """
        x, s, channel_mask = self._prepare(x, sensors, channel_mask)
        z = self._sources(x, self._embed(s), channel_mask)  # (N, K, P, D)
        q, codes, _ = self._quantize(z, update=False, with_loss=False)
        return codes, q

    def decode(self, codes, sensors, n_times=None):
        """Rebuild waveforms from codes.

        Parameters
        ----------
        codes : Tensor, shape (N, K, P, L), int64
        sensors : SensorArray | SensorTensors | tuple
            Any sensors: those of the encoded recording, or others (spatial interpolation).
        n_times : int, optional
            Crop the output to this many samples (default ``P * patch_size``).

        Returns
        -------
        Tensor, shape (N, C, n_times)
        """
        codes = torch.as_tensor(codes, dtype=torch.long, device=self.device)
        emb = self._embed(sensor_tensors(sensors, device=self.device))  # (N|1, C, D)
        return self._decode(self.quantizer.lookup(codes), emb)[..., :n_times]  # (N, C, T)

    def forward(self, x, sensors, channel_mask=None, target_mask=None) -> BrainTokenizerOutput:
        """Encode, quantize (updating the codebooks in training mode only), decode, score.

        Parameters
        ----------
        x, sensors, channel_mask
            As in :meth:`encode`; ``channel_mask`` hides channels from the encoder.
        target_mask : bool array, shape (N, C) or (C,), optional
            Channels the losses score (default: ``channel_mask``, else all). Pass the real
            channels here and a subset in ``channel_mask`` to train rebuilding hidden channels.

        Returns
        -------
        BrainTokenizerOutput
        """
        x, s, channel_mask = self._prepare(x, sensors, channel_mask)
        N, C, T = x.shape
        emb = self._embed(s)  # (N|1, C, D)
        z = self._sources(x, emb, channel_mask)  # (N, K, P, D)
        q, codes, commit = self._quantize(z, update=self.training)
        latents = z + (q - z).detach()  # straight-through, (N, K, P, D)
        x_hat = self._decode(latents, emb)[..., :T]  # (N, C, T)
        if target_mask is None:
            target_mask = channel_mask
        w = torch.ones(N, C, device=self.device) if target_mask is None else \
            torch.as_tensor(target_mask, device=self.device).expand(N, C).float()  # (N, C)
        target = torch.where(w[..., None] > 0, x, 0.0)  # unscored channels may hold anything
        losses = self._losses(target, x_hat, w)
        losses["commit"] = commit
        c = self.config
        loss = (c.w_mse * losses["mse"] + c.w_corr * losses["corr"] + c.w_amp * losses["amp"]
                + c.w_phase * losses["phase"] + c.w_commit * commit)
        usage = codebook_usage(codes, c.codebook_size)
        return BrainTokenizerOutput(loss, x_hat, codes, latents, losses, usage)

    def _log_band_power(self, power, n_times):
        """Log power (N, C, B) of the bands the amplitude loss scores, from FFT bin power (N, C, F)."""
        c = self.config
        hz_per_bin = c.sfreq / n_times
        k = max(1, round(c.spectral_band_hz / hz_per_bin))  # bins per band
        n_bins = power.shape[-1] if c.spectral_max_hz is None else \
            min(power.shape[-1], int(c.spectral_max_hz / hz_per_bin) + 1)
        B = max(1, n_bins // k)
        return torch.log(power[..., :B * k].unflatten(-1, (B, k)).mean(-1) + c.spectral_eps ** 2)  # (N, C, B)

    def _losses(self, x, x_hat, w):
        """Loss terms averaged over the channel-windows weighted by w (N, C)."""
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
        amp = mean(0.5 * (self._log_band_power(pow_y, T) - self._log_band_power(pow_x, T)).abs().mean(-1))
        ax, ay = (pow_x + 1e-12).sqrt(), (pow_y + 1e-12).sqrt()  # (N, C, F)
        cos = (X.real * Y.real + X.imag * Y.imag) / (ax * ay)  # (N, C, F)
        phase = mean(((1 - cos) * ax).sum(-1) / ax.sum(-1))
        return {"mse": mse, "corr": mean(1 - r), "amp": amp, "phase": phase}


def codebook_usage(codes, codebook_size: int) -> dict:
    """How much of each codebook level a set of codes uses.

    Parameters
    ----------
    codes : array or Tensor, shape (..., L), int
    codebook_size : int

    Returns
    -------
    dict
        ``fraction_used``: list of L floats in [0, 1], distinct codes seen / ``codebook_size``;
        ``perplexity``: list of L floats in [1, ``codebook_size``], exp of the entropy of the code
        histogram (``codebook_size`` when all codes are equally used).
    """
    codes = torch.as_tensor(codes).reshape(-1, np.shape(codes)[-1]).long().cpu()  # (M, L)
    fraction, perplexity = [], []
    for level in range(codes.shape[1]):
        p = torch.bincount(codes[:, level], minlength=codebook_size).double()  # (V,)
        p = p / p.sum().clamp(min=1)
        fraction.append(float((p > 0).double().mean()))
        perplexity.append(float(torch.exp(-(p * torch.log(p.clamp(min=1e-12))).sum())))
    return {"fraction_used": fraction, "perplexity": perplexity}


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


@torch.inference_mode()
def tokenize_windows(model: BrainTokenizer, windows, batch_size: int = 32):
    """Codes and reconstruction of preprocessed windows (``brainkit.preprocess.Windows``).

    Returns
    -------
    codes : ndarray, shape (N, K, P, L), int64
    reconstruction : ndarray, shape (N, C, T), float32
    r : float
        :func:`reconstruction_r` of the windows against their reconstruction.
    """
    codes, recon = [], []
    for i in range(0, len(windows.x), batch_size):
        c, _ = model.encode(windows.x[i:i + batch_size], windows.sensors)
        codes.append(c)
        recon.append(model.decode(c, windows.sensors, n_times=windows.x.shape[-1]))
    codes = torch.cat(codes).cpu().numpy()
    recon = torch.cat(recon).float().cpu().numpy()
    return codes, recon, reconstruction_r(windows.x, recon)
