"""Figures of an explanation: attribution over channels and time, and maps over sources x time
(connector and language-model attention, token attributions). The scalp map is
:func:`brainkit.viz.topomap.topomap_figure`.
"""

from __future__ import annotations

import numpy as np

from brainkit.viz.figures import plotly_go, title_font


def source_time_heatmap(values: np.ndarray, patch_s: float, t0: float = 0.0, title: str = "",
                        colorbar: str = "", colorscale: str = "Viridis", zmid=None):
    """Heatmap of one value per source and patch, shape (K, P); source 1 on top."""
    go = plotly_go()
    values = np.asarray(values, dtype=np.float64)
    n_src, n_patch = values.shape
    x = t0 + (np.arange(n_patch) + 0.5) * patch_s
    fig = go.Figure(go.Heatmap(
        z=values, x=x, y=[f"source {k + 1}" for k in range(n_src)], colorscale=colorscale,
        zmid=zmid, colorbar=dict(title=colorbar),
        hovertemplate="%{y}, %{x:.2f} s: %{z:.3g}<extra></extra>"))
    fig.update_layout(title=title_font(title), xaxis_title="time (s)", height=120 + 22 * n_src,
                      yaxis=dict(autorange="reversed"), margin=dict(l=10, r=10, t=50, b=40))
    return fig


def attribution_figure(attribution: np.ndarray, ch_names, sfreq: float, t0: float = 0.0,
                       title: str = "Integrated gradients", max_columns: int = 512):
    """Attribution over channels (rows) and time, diverging colours centred on 0.

    Longer windows are summed in bins of consecutive samples (attributions add up) so that at
    most ``max_columns`` columns are drawn; the title then gives the bin width.
    """
    go = plotly_go()
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
    fig.update_layout(title=title_font(title), xaxis_title="time (s)",
                      yaxis=dict(autorange="reversed"), height=max(300, min(16 * len(a), 900) + 120),
                      margin=dict(l=10, r=10, t=50, b=40))
    return fig


def explanation_figures(ex: dict, windows, relative: str = "from silence") -> dict:
    """The figures of one window's explanation (:func:`brainkit.explain.attribution.explain_window`).

    Parameters
    ----------
    ex : dict
        ``explain_window``'s arrays (``ch_names``, ``attribution`` (C, T),
        ``channel_attribution`` (C,), ``connector_attention`` and ``lm_attention`` (K, P),
        ``window_index``).
    windows : Windows
        The windows explained (their sensors, rate and starts).
    relative : str
        Where the integrated gradients started, said in the heatmap's title.

    Returns
    -------
    dict of str to plotly figure
        ``ig`` (channels x time), ``topomap`` (channel totals), ``conn_att`` and ``lm_att``
        (sources x time).
    """
    from brainkit.viz.topomap import topomap_figure

    names = [str(n) for n in ex["ch_names"]]
    t0 = float(windows.starts_s[int(ex["window_index"])])
    sensors = windows.sensors.pick([list(windows.sensors.names).index(n) for n in names])
    patch_s = patch_seconds(ex, windows)
    return {
        "ig": attribution_figure(ex["attribution"], names, windows.sfreq, t0,
                                 f"Integrated gradients over channels and time, {relative}"),
        "topomap": topomap_figure(sensors, ex["channel_attribution"], "Attribution per channel"),
        "conn_att": source_time_heatmap(ex["connector_attention"], patch_s, t0,
                                        "Connector attention (queries -> tokens)"),
        "lm_att": source_time_heatmap(ex["lm_attention"], patch_s, t0,
                                      "Language model attention (answer -> tokens)")}


def patch_seconds(ex: dict, windows) -> float:
    """Seconds per patch (one column of the source x time maps) of an explanation."""
    return windows.window_s / np.shape(ex["connector_attention"])[1]


def token_attribution_figure(ex: dict, windows, level: int | None = None):
    """Attribution per token (sources x time) of one quantizer level (0-based), or summed over
    levels (None)."""
    token = np.asarray(ex["token_attribution"], dtype=float)  # (K, P, L)
    t0 = float(windows.starts_s[int(ex["window_index"])])
    return source_time_heatmap(token.sum(2) if level is None else token[:, :, level],
                               patch_seconds(ex, windows), t0, "Attribution per token",
                               colorscale="RdBu_r", zmid=0)


def readout_figure(ex: dict, top: int = 10):
    """The read-out's largest contributions to the answer (``readout_names``,
    ``readout_contributions`` of an explanation), as horizontal bars, largest on top; None for a
    task without read-out."""
    names = [str(n) for n in np.asarray(ex.get("readout_names", []))[:top]]
    if not names:
        return None
    go = plotly_go()
    values = np.asarray(ex["readout_contributions"], dtype=np.float64)[:top]
    fig = go.Figure(go.Bar(x=values[::-1], y=names[::-1], orientation="h",
                           marker_color=np.where(values[::-1] > 0, "#d62728", "#1f77b4"),
                           hovertemplate="%{y}: %{x:+.3f}<extra></extra>"))
    starts = np.asarray(ex.get("baseline_windows", []), dtype=int)
    b = int(ex.get("baseline_index", -1))
    against = (f"window {b + 1}" if b >= 0 else
               f"the mean of {len(starts)} windows across the recording" if len(starts) else "the recording's mean")
    fig.update_layout(title=title_font(f"Read-out: what makes the answer '{ex['answer']}' "
                                       f"(region and feature, against {against})"),
                      xaxis_title="contribution to the answer's logit (nats)",
                      height=120 + 26 * len(names), margin=dict(l=10, r=10, t=50, b=40))
    return fig
