"""Plotly figures of what the model makes of a recording: tokens, answers, explanations, tasks.

Shapes follow DESIGN.md: K latent sources, P patches, L quantizer levels, C channels, T samples,
M soft-token slots, Q queries per slot. Times are seconds from the recording's first sample.
"""

from __future__ import annotations

import numpy as np

from brainkit.viz.signals import HEAD_RADIUS_M, head_outline_traces, project_topview

#: Sleep stages top to bottom in a hypnogram (the clinical convention: REM drawn just below wake).
HYPNOGRAM_ORDER = ("W", "REM", "N1", "N2", "N3")
#: Grid points per side of an interpolated topomap.
TOPOMAP_GRID = 64
ANSWER_COLORS = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b")


def _go():
    import plotly.graph_objects as go

    return go


def _subplots(**kwargs):
    from plotly.subplots import make_subplots

    return make_subplots(**kwargs)


def _title(text: str) -> dict:
    return dict(text=text, font=dict(size=13))


# ------------------------------------------------------------------------------------ tokens


def source_time_heatmap(values: np.ndarray, patch_s: float, t0: float = 0.0, title: str = "",
                        colorbar: str = "", colorscale: str = "Viridis", zmid=None):
    """Heatmap of one value per source and patch, shape (K, P); source 1 on top."""
    go = _go()
    values = np.asarray(values, dtype=np.float64)
    n_src, n_patch = values.shape
    x = t0 + (np.arange(n_patch) + 0.5) * patch_s
    fig = go.Figure(go.Heatmap(
        z=values, x=x, y=[f"source {k + 1}" for k in range(n_src)], colorscale=colorscale,
        zmid=zmid, colorbar=dict(title=colorbar),
        hovertemplate="%{y}, %{x:.2f} s: %{z:.3g}<extra></extra>"))
    fig.update_layout(title=_title(title), xaxis_title="time (s)", height=120 + 22 * n_src,
                      yaxis=dict(autorange="reversed"), margin=dict(l=10, r=10, t=50, b=40))
    return fig


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
    go = _go()
    codes = np.asarray(codes)
    n_src, n_patch, n_lev = codes.shape
    levels = range(n_lev) if level is None else [int(level)]
    fig = _subplots(rows=len(levels), cols=1, shared_xaxes=True, vertical_spacing=0.04,
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
    fig.update_layout(title=_title(f"Codes over {n_src} sources x {n_patch} patches"),
                      height=90 + len(levels) * (40 + 18 * n_src), margin=dict(l=10, r=10, t=60, b=40))
    return fig


def codebook_usage_figure(codes: np.ndarray, codebook_size: int):
    """How often each code of each level is used, with the fraction used and the perplexity."""
    from brainkit.models.tokenizer import codebook_usage

    go = _go()
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
    fig.update_layout(title=_title(f"Codebook usage ({len(flat)} tokens per level)"),
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
    go = _go()
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
        title=_title(f"Signal (grey) and reconstruction from the codes (red): mean r = "
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
    go = _go()
    i = list(sensors.names).index(channel)
    t, wave, ref = code_waveform(model, sensors.pick([i]), code, level, reference, n_patches)
    fig = go.Figure([
        go.Scatter(x=t, y=wave[0], mode="lines", name=f"code {code} at level {level + 1}",
                   line=dict(color="#d62728")),
        go.Scatter(x=t, y=ref[0], mode="lines", name="reference codes",
                   line=dict(color="#888", dash="dot")),
        go.Scatter(x=t, y=wave[0] - ref[0], mode="lines", name="difference",
                   line=dict(color="#1f77b4", width=1))])
    fig.update_layout(title=_title(f"What code {code} (level {level + 1}) rebuilds at {channel}, "
                                   "held by every source and patch"),
                      xaxis_title="time (s)", yaxis_title="robust units", height=360,
                      margin=dict(l=10, r=10, t=50, b=40))
    return fig


# ------------------------------------------------------------------------------------ answers


def _centres(preds) -> np.ndarray:
    return np.asarray(preds.starts_s, dtype=np.float64) + preds.duration_s / 2


def timeline_figure(preds):
    """One marker per window at its answer, coloured by the answer's probability."""
    go = _go()
    best = preds.probabilities.max(1) if len(preds.probabilities) else np.zeros(0)
    fig = go.Figure(go.Scatter(
        x=_centres(preds), y=list(preds.predicted), mode="markers", name="answer",
        marker=dict(color=best, cmin=1.0 / len(preds.answers), cmax=1.0, colorscale="Viridis",
                    size=9, symbol="square", colorbar=dict(title="p")),
        customdata=np.stack([np.asarray(preds.starts_s, float), best], 1) if len(best) else None,
        hovertemplate="%{customdata[0]:.1f} s: %{y} (p=%{customdata[1]:.2f})<extra></extra>"))
    fig.update_layout(
        title=_title(f"{preds.task}: answer per {preds.duration_s:g}-s window"),
        xaxis_title="time (s)", height=120 + 40 * len(preds.answers),
        yaxis=dict(type="category", categoryorder="array", categoryarray=list(preds.answers)),
        margin=dict(l=10, r=10, t=50, b=40))
    return fig


def probability_figure(preds):
    """Probabilities of every answer over time, stacked to 1."""
    go = _go()
    fig = go.Figure()
    for j, answer in enumerate(preds.answers):
        fig.add_trace(go.Scatter(
            x=_centres(preds), y=preds.probabilities[:, j], mode="lines", name=str(answer),
            stackgroup="p", line=dict(width=0.5, shape="hv", color=ANSWER_COLORS[j % 6]),
            hovertemplate=f"{answer}: %{{y:.2f}} at %{{x:.1f}} s<extra></extra>"))
    fig.update_layout(title=_title(f"{preds.task}: probability of each answer"),
                      xaxis_title="time (s)", yaxis=dict(range=[0, 1], title="probability"),
                      height=300, margin=dict(l=10, r=10, t=50, b=40))
    return fig


def hypnogram_figure(preds):
    """Sleep stages as a step plot, W at the top then REM, N1, N2, N3; REM epochs in red."""
    go = _go()
    level = {s: len(HYPNOGRAM_ORDER) - 1 - i for i, s in enumerate(HYPNOGRAM_ORDER)}
    starts = np.asarray(preds.starts_s, dtype=np.float64)
    y = np.array([level[str(s)] for s in preds.predicted], dtype=np.float64)
    x_steps = np.append(starts, starts[-1] + preds.duration_s) if len(starts) else starts
    y_steps = np.append(y, y[-1]) if len(y) else y
    fig = go.Figure(go.Scatter(x=x_steps / 3600, y=y_steps, mode="lines", name="stage",
                               line=dict(shape="hv", color="#333"), hoverinfo="skip"))
    rem = y == level["REM"]
    fig.add_trace(go.Scatter(
        x=(starts[rem] + preds.duration_s / 2) / 3600, y=y[rem], mode="markers", name="REM",
        marker=dict(color="#d62728", symbol="line-ew-open", size=14, line=dict(width=4)),
        hoverinfo="skip"))
    fig.add_trace(go.Scatter(
        x=_centres(preds) / 3600, y=y, mode="markers", marker=dict(size=4, color="#333"),
        name="epochs", text=[f"{s}: {p:.2f}" for s, p in zip(preds.predicted, preds.probabilities.max(1))]
        if len(y) else [], hovertemplate="%{text} at %{x:.2f} h<extra></extra>"))
    fig.update_layout(
        title=_title(f"Hypnogram ({len(starts)} epochs of {preds.duration_s:g} s)"),
        xaxis_title="time (h)", showlegend=False, height=300, margin=dict(l=10, r=10, t=50, b=40),
        yaxis=dict(tickvals=list(level.values()), ticktext=list(level), range=[-0.5, 4.5]))
    return fig


def prediction_figures(preds) -> dict:
    """The figures of one task's answers, by caption: the hypnogram for ``sleep_stage``, else the
    timeline, then the stacked probabilities."""
    first = hypnogram_figure(preds) if preds.task == "sleep_stage" else timeline_figure(preds)
    return {f"{preds.task}: answers": first, f"{preds.task}: probabilities": probability_figure(preds)}


# ------------------------------------------------------------------------------------ explain


def attribution_figure(attribution: np.ndarray, ch_names, sfreq: float, t0: float = 0.0,
                       title: str = "Integrated gradients", max_columns: int = 512):
    """Attribution over channels (rows) and time, diverging colours centred on 0.

    Longer windows are summed in bins of consecutive samples (attributions add up) so that at
    most ``max_columns`` columns are drawn; the title then gives the bin width.
    """
    go = _go()
    a = np.asarray(attribution, dtype=np.float64)  # (C, T)
    width = max(1, -(-a.shape[1] // max_columns))  # samples per column
    if width > 1:
        n_col = -(-a.shape[1] // width)
        a = np.pad(a, ((0, 0), (0, n_col * width - a.shape[1]))).reshape(len(a), n_col, width).sum(2)
        title += f" (summed over {width / sfreq * 1000:.0f}-ms bins)"
    limit = float(np.abs(a).max()) or 1.0
    fig = go.Figure(go.Heatmap(
        z=a, x=t0 + (np.arange(a.shape[1]) * width + (width - 1) / 2) / sfreq,  # bin centres
        y=list(ch_names), colorscale="RdBu_r", zmin=-limit, zmax=limit,
        colorbar=dict(title="attribution"), hovertemplate="%{y}, %{x:.3f} s: %{z:.3g}<extra></extra>"))
    fig.update_layout(title=_title(title), xaxis_title="time (s)",
                      yaxis=dict(autorange="reversed"), height=max(300, min(16 * len(a), 900) + 120),
                      margin=dict(l=10, r=10, t=50, b=40))
    return fig


def topomap_figure(sensors, values, title: str = "", colorscale: str = "RdBu_r",
                   symmetric: bool = True):
    """Values per sensor on the top view of the head, interpolated between sensors.

    Parameters
    ----------
    sensors : SensorArray
        C sensors; those without a position are left out (and named in the title).
    values : array, shape (C,)
    symmetric : bool
        Colour range centred on 0 (attributions) rather than from min to max.
    """
    go = _go()
    values = np.asarray(values, dtype=np.float64)
    has = np.asarray(sensors.has_position, bool) & np.isfinite(values)
    xy = project_topview(sensors.pos[has]) if has.any() else np.zeros((0, 2))
    v = values[has]
    limit = float(np.abs(v).max()) if len(v) else 1.0
    crange = dict(zmin=-limit, zmax=limit) if symmetric else {}
    fig = go.Figure()
    grid = _interpolate(xy, v)
    if grid is not None:
        fig.add_trace(go.Heatmap(x=grid[0], y=grid[1], z=grid[2], colorscale=colorscale,
                                 colorbar=dict(title="value"), hoverinfo="skip", **crange))
    fig.add_traces(head_outline_traces())
    names = [n for n, h in zip(sensors.names, has) if h]
    fig.add_trace(go.Scatter(
        x=xy[:, 0], y=xy[:, 1], mode="markers", name="sensors", text=names,
        marker=dict(size=9, color=v, colorscale=colorscale, line=dict(width=0.5, color="black"),
                    cmin=crange.get("zmin"), cmax=crange.get("zmax"),
                    showscale=grid is None),
        customdata=v, hovertemplate="%{text}: %{customdata:.3g}<extra></extra>"))
    missing = len(values) - int(has.sum())
    note = f" · {missing} channel(s) without a position not drawn" if missing else ""
    fig.update_layout(title=_title(title + note), showlegend=False, height=460,
                      xaxis=dict(visible=False), plot_bgcolor="white",
                      yaxis=dict(visible=False, scaleanchor="x", scaleratio=1),
                      margin=dict(l=10, r=10, t=50, b=10))
    return fig


def _interpolate(xy: np.ndarray, v: np.ndarray):
    """(x, y, z) of a linear interpolation inside the head circle, or None when it cannot be made
    (fewer than 3 distinct, non-collinear positions). Co-located sensors are averaged."""
    from scipy.interpolate import griddata
    from scipy.spatial import QhullError

    if len(xy) < 3:
        return None
    points, inverse = np.unique(np.round(xy, 3), axis=0, return_inverse=True)
    if len(points) < 3:
        return None
    mean = np.bincount(inverse.ravel(), weights=v) / np.bincount(inverse.ravel())
    radius = HEAD_RADIUS_M * 1000.0
    extent = max(radius, float(np.abs(points).max()))
    g = np.linspace(-extent, extent, TOPOMAP_GRID)
    gx, gy = np.meshgrid(g, g)
    try:
        z = griddata(points, mean, (gx, gy), method="linear")
    except (QhullError, ValueError):
        return None
    z[np.hypot(gx, gy) > extent] = np.nan
    return g, g, z


# ------------------------------------------------------------------------------------ tasks


def cluster_order(matrix: np.ndarray) -> list[int]:
    """Row order that puts similar tasks together (average-linkage clustering on 1 - similarity).

    ``matrix`` is a symmetric similarity, NaN where unknown (treated as 0).
    """
    from scipy.cluster.hierarchy import leaves_list, linkage
    from scipy.spatial.distance import squareform

    m = np.nan_to_num(np.asarray(matrix, dtype=np.float64))
    if len(m) < 3:
        return list(range(len(m)))
    d = np.clip(1.0 - (m + m.T) / 2, 0.0, None)
    np.fill_diagonal(d, 0.0)
    return [int(i) for i in leaves_list(linkage(squareform(d, checks=False), method="average"))]


def task_matrix_figure(matrix, tasks, order=None, title: str = ""):
    """Task x task similarity as a clustered heatmap (``order``: task names or row indices;
    default :func:`cluster_order`), values written in the cells."""
    go = _go()
    m = np.asarray(matrix, dtype=np.float64)
    tasks = list(tasks)
    if order is None:
        idx = cluster_order(m)
    else:
        idx = [tasks.index(o) if isinstance(o, str) else int(o) for o in order]
    m = m[np.ix_(idx, idx)]
    names = [tasks[i] for i in idx]
    fig = go.Figure(go.Heatmap(
        z=m, x=names, y=names, colorscale="RdBu_r", zmid=0, zmin=-1, zmax=1,
        text=np.where(np.isfinite(m), np.round(m, 2).astype(str), ""), texttemplate="%{text}",
        colorbar=dict(title="similarity"), hovertemplate="%{y} / %{x}: %{z:.3f}<extra></extra>"))
    fig.update_layout(title=_title(title), height=160 + 38 * len(names),
                      yaxis=dict(autorange="reversed"), margin=dict(l=10, r=10, t=50, b=40))
    return fig


def query_selection_figure(selection: dict, columns: int = 3):
    """Per task, how often each learned query is chosen (bars grouped by soft-token slot).

    Parameters
    ----------
    selection : dict of str to array, shape (M, Q)
        :func:`brainkit.export.query_selection`.
    """
    go = _go()
    tasks = list(selection)
    rows = max(1, -(-len(tasks) // columns))
    fig = _subplots(rows=rows, cols=columns, subplot_titles=tasks, shared_yaxes=True,
                    vertical_spacing=0.12)
    for i, task in enumerate(tasks):
        sel = np.asarray(selection[task], dtype=np.float64)  # (M, Q)
        n_slot, n_query = sel.shape
        labels = [f"s{m + 1}q{q + 1}" for m in range(n_slot) for q in range(n_query)]
        colors = [ANSWER_COLORS[m % 6] for m in range(n_slot) for _ in range(n_query)]
        fig.add_trace(go.Bar(x=labels, y=sel.ravel(), marker_color=colors, name=task,
                             hovertemplate="slot/query %{x}: %{y:.0%} of windows<extra></extra>"),
                      row=i // columns + 1, col=i % columns + 1)
    fig.update_yaxes(range=[0, 1])
    fig.update_layout(title=_title("Query selection per task (fraction of windows; colour: slot)"),
                      showlegend=False, height=80 + 220 * rows, margin=dict(l=10, r=10, t=70, b=30))
    return fig
