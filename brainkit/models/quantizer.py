"""Residual vector quantization of the tokenizer's source features, and codebook usage.

``n_levels`` codebooks of ``codebook_size`` codes quantize each feature in turn (each level
quantizes what the levels before it left over); codebooks follow exponential moving averages of
their assigned vectors (training mode only), start from data, and restart codes that went unused
for ``dead_code_steps`` steps from current encoder outputs. Under ``torch.distributed`` the
statistics are summed over ranks and restarts come from rank 0, so every rank keeps the same
codebooks.

Shapes: M vectors, D features, L levels, V codes per level.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.distributed as dist
import torch.nn as nn
import torch.nn.functional as F


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
