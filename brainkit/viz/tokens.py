"""Figures of the tokens: codes over sources and time, codebook usage, reconstruction, and the
waveform a code stands for.

Shapes: N windows, K latent sources, P patches, L quantizer levels, C channels, T samples.
"""

from __future__ import annotations

import numpy as np

from brainkit.viz.figures import plotly_go, subplots, title_font


def codes_figure(codes: np.ndarray, patch_s: float, t0: float = 0.0, level: int | None = None,
                 codebook_size: int | None = None):
    """Codes of one window over sources and time: one level, or every level stacked.

    Parameters
    ----------
    codes : ndarray, shape (K, P, L), int
    patch_s : float
        Seconds per patch.
    t0 : float
        Start of the window (s).
    level : int or None
        Quantizer level (0-based); None draws all L levels, one panel each.
    codebook_size : int, optional
        Fixes the colour range to ``0 .. codebook_size - 1``.
    """
    go = plotly_go()
    codes = np.asarray(codes)
    n_src, n_patch, n_lev = codes.shape
    levels = range(n_lev) if level is None else [int(level)]
    fig = subplots(rows=len(levels), cols=1, shared_xaxes=True, vertical_spacing=0.04,
                    subplot_titles=[f"level {lv + 1}" for lv in levels])
    x = t0 + (np.arange(n_patch) + 0.5) * patch_s
    zmax = (codebook_size - 1) if codebook_size else int(codes.max())
    for row, lv in enumerate(levels, start=1):
        fig.add_trace(go.Heatmap(
            z=codes[:, :, lv], x=x, y=[f"source {k + 1}" for k in range(n_src)],
            zmin=0, zmax=zmax, colorscale="Turbo", showscale=(row == 1),
            colorbar=dict(title="code"), name=f"level {lv + 1}",
            hovertemplate="%{y}, %{x:.2f} s: code %{z}<extra></extra>"), row=row, col=1)
        fig.update_yaxes(autorange="reversed", row=row, col=1)
    fig.update_xaxes(title_text="time (s)", row=len(levels), col=1)
    fig.update_layout(title=title_font(f"Codes over {n_src} sources x {n_patch} patches"),
                      height=90 + len(levels) * (40 + 18 * n_src), margin=dict(l=10, r=10, t=60, b=40))
    return fig


def codebook_usage_figure(codes: np.ndarray, codebook_size: int):
    """How often each code of each level is used, with the fraction used and the perplexity."""
    from brainkit.models.tokenizer import codebook_usage

    go = plotly_go()
    codes = np.asarray(codes)
    flat = codes.reshape(-1, codes.shape[-1])  # (M, L)
    usage = codebook_usage(flat, codebook_size)
    fig = go.Figure()
    for lv in range(flat.shape[1]):
        counts = np.bincount(flat[:, lv], minlength=codebook_size)
        fig.add_trace(go.Bar(
            x=np.arange(codebook_size), y=counts,
            name=(f"level {lv + 1}: {usage['fraction_used'][lv]:.0%} used, "
                  f"perplexity {usage['perplexity'][lv]:.1f}"),
            hovertemplate="code %{x}: %{y}<extra></extra>"))
    fig.update_layout(title=title_font(f"Codebook usage ({len(flat)} tokens per level)"),
                      barmode="group", xaxis_title="code", yaxis_title="count", height=380,
                      legend=dict(orientation="h", y=-0.25), margin=dict(l=10, r=10, t=50, b=40))
    return fig


def _pearson(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Pearson r along the last axis (NaN where either is flat)."""
    a, b = a - a.mean(-1, keepdims=True), b - b.mean(-1, keepdims=True)
    den = np.sqrt((a ** 2).sum(-1) * (b ** 2).sum(-1))
    return np.where(den > 0, (a * b).sum(-1) / np.where(den > 0, den, 1.0), np.nan)


def reconstruction_figure(x: np.ndarray, x_hat: np.ndarray, ch_names, sfreq: float,
                          channels=None, t0: float = 0.0):
    """Signal and its reconstruction from the codes, stacked per channel; r in the title.

    Parameters
    ----------
    x, x_hat : ndarray, shape (C, T)
        One window and its reconstruction (robust units).
    ch_names : list of str, length C
    channels : list of str, optional
        Channels to draw (default the first 4); the title's r is over all C channels.
    """
    go = plotly_go()
    ch_names = list(ch_names)
    channels = list(channels or ch_names[:4])
    r = _pearson(np.asarray(x, np.float64), np.asarray(x_hat, np.float64))  # (C,)
    t = t0 + np.arange(x.shape[-1]) / sfreq
    span = 2.0 * max(float(np.abs(x).max()), 1e-6)
    fig = go.Figure()
    n = len(channels)
    for row, name in enumerate(channels):
        i, offset = ch_names.index(name), (n - 1 - row) * span
        fig.add_trace(go.Scatter(x=t, y=x[i] + offset, mode="lines", name=f"{name} signal",
                                 line=dict(color="#444", width=1), legendgroup="signal",
                                 showlegend=(row == 0), hoverinfo="skip"))
        fig.add_trace(go.Scatter(x=t, y=x_hat[i] + offset, mode="lines",
                                 name=f"{name} reconstruction (r={r[i]:.2f})",
                                 line=dict(color="#d62728", width=1)))
    fig.update_layout(
        title=title_font(f"Signal (grey) and reconstruction from the codes (red): mean r = "
                     f"{np.nanmean(r):.3f} over {len(r)} channels"),
        xaxis_title="time (s)", height=max(300, 70 * n + 140), margin=dict(l=10, r=10, t=50, b=40),
        yaxis=dict(tickvals=[(n - 1 - k) * span for k in range(n)], ticktext=channels,
                   zeroline=False, showgrid=False))
    return fig


def reference_codes(codes: np.ndarray, codebook_size: int) -> np.ndarray:
    """The most used code of each level, shape (L,): the background for :func:`code_waveform`."""
    flat = np.asarray(codes).reshape(-1, np.shape(codes)[-1])  # (M, L)
    return np.array([np.bincount(flat[:, lv], minlength=codebook_size).argmax()
                     for lv in range(flat.shape[1])])


def code_waveform(model, sensors, code: int, level: int, reference=None, n_patches: int = 4):
    """The waveform one code stands for at one sensor.

    Two code grids of shape (1, K, ``n_patches``, L) are decoded for ``sensors``: in the
    *reference* grid every source and patch holds ``reference[l]`` at each level ``l``; the
    *code* grid is the same except that level ``level`` holds ``code`` everywhere. Their
    difference is what swapping in the code adds to the rebuilt signal.

    Parameters
    ----------
    model : brainkit.models.tokenizer.BrainTokenizer
    sensors : SensorArray
        The sensor(s) to rebuild (one channel, or several).
    code, level : int
        The code (0 .. codebook_size - 1) and its level (0-based).
    reference : array of int, shape (L,), optional
        Background codes (default code 0 at every level; :func:`reference_codes` gives the
        most used ones).

    Returns
    -------
    t : ndarray, shape (T,)
        Seconds, T = n_patches * patch_size.
    with_code, reference_wave : ndarray, shape (C, T)
        Rebuilt waveforms (robust units) of the code grid and of the reference grid.
    """
    import torch

    from brainkit.errors import BrainkitError

    c = model.config
    if not 0 <= level < c.n_levels or not 0 <= code < c.codebook_size:
        raise BrainkitError(f"level must be in 0..{c.n_levels - 1} and code in "
                            f"0..{c.codebook_size - 1}, not level {level}, code {code}")
    ref = np.zeros(c.n_levels, dtype=np.int64) if reference is None else np.asarray(reference, np.int64)
    grid = np.broadcast_to(ref, (1, c.n_sources, n_patches, c.n_levels)).copy()  # (1, K, P, L)
    with_code = grid.copy()
    with_code[..., level] = code
    with torch.inference_mode():
        out = model.decode(torch.from_numpy(np.concatenate([with_code, grid])), sensors)  # (2, C, T)
    out = out.float().cpu().numpy()
    return np.arange(out.shape[-1]) / c.sfreq, out[0], out[1]


def code_waveform_figure(model, sensors, channel: str, code: int, level: int, reference=None,
                         n_patches: int = 4):
    """:func:`code_waveform` at one named channel of ``sensors``, with the reference beside it."""
    go = plotly_go()
    i = list(sensors.names).index(channel)
    t, wave, ref = code_waveform(model, sensors.pick([i]), code, level, reference, n_patches)
    fig = go.Figure([
        go.Scatter(x=t, y=wave[0], mode="lines", name=f"code {code} at level {level + 1}",
                   line=dict(color="#d62728")),
        go.Scatter(x=t, y=ref[0], mode="lines", name="reference codes",
                   line=dict(color="#888", dash="dot")),
        go.Scatter(x=t, y=wave[0] - ref[0], mode="lines", name="difference",
                   line=dict(color="#1f77b4", width=1))])
    fig.update_layout(title=title_font(f"What code {code} (level {level + 1}) rebuilds at {channel}, "
                                   "held by every source and patch"),
                      xaxis_title="time (s)", yaxis_title="robust units", height=360,
                      margin=dict(l=10, r=10, t=50, b=40))
    return fig
