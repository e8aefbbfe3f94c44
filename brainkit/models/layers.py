"""The attention and the pre-norm block that the tokenizer and the decoder are built from.

One implementation serves both models. The two models were trained when each had blocks of its
own, and their checkpoints store the same parts under different names (``ln_q`` or ``norm_q``,
``attn.proj`` or ``attn.out``, ``mlp.fc`` or ``mlp.0``). transformers loads weights by parameter
name, so renaming a part would orphan its weights in every saved checkpoint; each model therefore
passes :class:`Names`, the names its checkpoints use, and the computation stays written once.

Shapes: B batch, Q queries, S keys/values, D features, H heads.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch.nn as nn
import torch.nn.functional as F


@dataclass(frozen=True)
class Names:
    """What a block calls its parts (the keys of its weights in a checkpoint).

    Attributes
    ----------
    norm : str
        Prefix of the layer norms: ``<norm>q``, ``<norm>kv``, ``<norm>k``, ``<norm>mlp``.
    out : str
        The attention's output projection.
    mlp : tuple of str
        The MLP's first and second linear layers.
    """

    norm: str = "norm_"
    out: str = "out"
    mlp: tuple = ("0", "2")


DEFAULT_NAMES = Names()


class Attention(nn.Module):
    """Multi-head attention of queries over keys and values, which may come from different inputs.

    Parameters
    ----------
    d : int
        Feature size D (divisible by ``n_heads``).
    n_heads : int
    dropout : float
        Dropout on the attention weights (training only).
    out_name : str
        Attribute name of the output projection (see :class:`Names`).
    """

    def __init__(self, d: int, n_heads: int, dropout: float = 0.0, out_name: str = "out"):
        super().__init__()
        self.n_heads, self.dropout, self._out = n_heads, dropout, out_name
        self.q = nn.Linear(d, d)
        self.kv = nn.Linear(d, 2 * d)  # first half makes keys, second half values
        self.add_module(out_name, nn.Linear(d, d))

    def forward(self, q, kv, mask=None, keys=None, return_weights: bool = False):
        """Attend.

        Parameters
        ----------
        q : Tensor, shape (B, Q, D)
        kv : Tensor, shape (B, S, D)
            What the values (and, without ``keys``, the keys) are computed from.
        mask : bool Tensor, shape (B, S), optional
            True where a query may attend.
        keys : Tensor, shape (B or 1, S, D), optional
            What the keys are computed from instead of ``kv`` (e.g. sensor embeddings while the
            values carry the signal).
        return_weights : bool
            Also return the attention weights, averaged over heads.

        Returns
        -------
        out : Tensor, shape (B, Q, D)
        weights : Tensor, shape (B, Q, S), or None
        """
        B, Q, D = q.shape
        S, H = kv.shape[1], self.n_heads
        qh = self.q(q).view(B, Q, H, D // H).transpose(1, 2)  # (B, H, Q, D/H)
        if keys is None:
            k, v = self.kv(kv).view(B, S, 2, H, D // H).permute(2, 0, 3, 1, 4)  # 2 x (B, H, S, D/H)
        else:
            W, b = self.kv.weight, self.kv.bias
            k = F.linear(keys, W[:D], b[:D]).view(keys.shape[0], S, H, D // H).transpose(1, 2)
            k = k.expand(B, H, S, D // H)  # (B, H, S, D/H)
            v = F.linear(kv, W[D:], b[D:]).view(B, S, H, D // H).transpose(1, 2)  # (B, H, S, D/H)
        out = getattr(self, self._out)
        if not return_weights and not (self.training and self.dropout):
            # the fused kernel: same result, faster on CPU, but it cannot return weights
            m = None if mask is None else mask[:, None, None, :]  # (B, 1, 1, S)
            y = F.scaled_dot_product_attention(qh, k, v, attn_mask=m)  # (B, H, Q, D/H)
            return out(y.transpose(1, 2).reshape(B, Q, D)), None
        scores = qh @ k.transpose(-1, -2) / math.sqrt(D // H)  # (B, H, Q, S)
        if mask is not None:
            scores = scores.masked_fill(~mask[:, None, None, :], float("-inf"))
        weights = scores.softmax(-1)  # (B, H, Q, S)
        y = (F.dropout(weights, self.dropout, self.training) @ v).transpose(1, 2).reshape(B, Q, D)
        return out(y), (weights.mean(1) if return_weights else None)  # (B, Q, D), (B, Q, S)


class MLP(nn.Module):
    """Linear -> GELU -> linear -> dropout, hidden size ``ratio * d``."""

    def __init__(self, d: int, ratio: int, dropout: float = 0.0, names: tuple = ("fc", "proj")):
        super().__init__()
        self._names = names
        self.add_module(names[0], nn.Linear(d, ratio * d))
        self.add_module(names[1], nn.Linear(ratio * d, d))
        self.dropout = dropout

    def forward(self, x):  # x (..., D)
        fc, proj = (getattr(self, n) for n in self._names)
        return F.dropout(proj(F.gelu(fc(x))), self.dropout, self.training)


class Block(nn.Module):
    """Pre-norm residual block: attention, then an MLP.

    Without ``kv`` the block attends to itself (keys and values from the normalised queries);
    with ``kv`` it cross-attends to ``kv`` (normalised on its own), and with ``keys`` too (only
    when built with ``separate_keys``) the keys come from ``keys`` and the values from ``kv``.

    Parameters
    ----------
    d, n_heads : int
    mlp_ratio : int
        Hidden size of the MLP as a multiple of ``d``.
    dropout : float
        Attention-weight and MLP dropout (training only).
    separate_keys : bool
        Give the block a layer norm for separate key inputs.
    names : Names
        What the parts are called in the model's checkpoints.
    """

    def __init__(self, d: int, n_heads: int, mlp_ratio: int = 4, dropout: float = 0.0,
                 separate_keys: bool = False, names: Names = DEFAULT_NAMES):
        super().__init__()
        self._norm = names.norm
        for part in ("q", "kv", "mlp") + (("k",) if separate_keys else ()):
            self.add_module(names.norm + part, nn.LayerNorm(d))
        self.attn = Attention(d, n_heads, dropout, out_name=names.out)
        self.mlp = MLP(d, mlp_ratio, dropout, names.mlp)

    def _norm_of(self, part: str) -> nn.LayerNorm:
        return getattr(self, self._norm + part)

    def forward(self, x, kv=None, mask=None, keys=None, return_weights: bool = False):
        """Update ``x``.

        Parameters
        ----------
        x : Tensor, shape (B, Q, D)
        kv : Tensor, shape (B, S, D), optional
        mask : bool Tensor, shape (B, S), optional
            True where ``x`` may attend.
        keys : Tensor, shape (B or 1, S, D), optional
        return_weights : bool

        Returns
        -------
        x : Tensor, shape (B, Q, D)
        weights : Tensor, shape (B, Q, S), or None
            Attention weights averaged over heads, when asked for.
        """
        q = self._norm_of("q")(x)
        kv = q if kv is None else self._norm_of("kv")(kv)
        keys = None if keys is None else self._norm_of("k")(keys)
        y, weights = self.attn(q, kv, mask, keys, return_weights)
        x = x + y
        return x + self.mlp(self._norm_of("mlp")(x)), weights


class TemporalMix(nn.Module):
    """Light mixing of neighbouring patches: depthwise convolution over P, then a pointwise layer.

    ``x`` (B, P, D) -> (B, P, D); residual.
    """

    def __init__(self, d: int, kernel: int):
        super().__init__()
        self.ln = nn.LayerNorm(d)
        self.conv = nn.Conv1d(d, d, kernel, padding=kernel // 2, groups=d)
        self.proj = nn.Linear(d, d)

    def forward(self, x):  # x (B, P, D)
        y = self.conv(self.ln(x).transpose(1, 2)).transpose(1, 2)  # (B, P, D)
        return x + self.proj(F.gelu(y))
