"""Values per sensor on the scalp: one interpolation, three outputs.

Every scalp map here is made the same way: sensors are projected onto the top view of the head
(:func:`~brainkit.viz.signals.project_topview`, azimuthal equidistant, mm, nose up) and values are
spread between them by inverse-distance weighting (:func:`interpolate`). That one interpolation
gives

- :func:`topography`: numbers at the electrodes of one common layout (:data:`TOPO_LABELS`), so
  that maps of different montages can be compared (task correlations);
- :func:`topomap_figure`: an interactive plotly map (the Explain page);
- :func:`topomap_png`: a static matplotlib image (the README's figures).
"""

from __future__ import annotations

import numpy as np

from brainkit.viz.signals import HEAD_RADIUS_M, head_outline_traces, project_topview

#: The common sensor layout of cross-task topographies: 10-10 electrodes (plus Muse's TP9/TP10).
TOPO_LABELS = ("Fp1", "Fpz", "Fp2", "AF7", "AF3", "AFz", "AF4", "AF8", "F7", "F5", "F3", "F1", "Fz",
               "F2", "F4", "F6", "F8", "FT7", "FC5", "FC3", "FC1", "FCz", "FC2", "FC4", "FC6", "FT8",
               "T7", "C5", "C3", "C1", "Cz", "C2", "C4", "C6", "T8", "TP9", "TP7", "CP5", "CP3",
               "CP1", "CPz", "CP2", "CP4", "CP6", "TP8", "TP10", "P7", "P5", "P3", "P1", "Pz", "P2",
               "P4", "P6", "P8", "PO7", "PO3", "POz", "PO4", "PO8", "O1", "Oz", "O2")
IDW_POWER = 2.0  #: inverse-distance weighting exponent
IDW_MIN_MM = 1.0  #: distances below 1 mm count as 1 mm (a sensor on a target point dominates it)
TOPOMAP_GRID = 64  #: grid points per side of a drawn map


def interpolate(xy, values, targets, min_sensors: int = 2) -> np.ndarray | None:
    """Inverse-distance weighting of sensor values at target points of the top view.

    Parameters
    ----------
    xy : array, shape (C, 2)
        Sensor positions in the top view (mm).
    values : array, shape (C,)
    targets : array, shape (G, 2)
        Where to estimate (mm).
    min_sensors : int
        Fewer sensors give None.

    Returns
    -------
    ndarray, shape (G,), within the range of ``values``; or None.
    """
    xy, values = np.asarray(xy, np.float64), np.asarray(values, np.float64)
    if len(xy) < max(1, min_sensors):
        return None
    d = np.linalg.norm(np.asarray(targets, np.float64)[:, None] - xy[None], axis=-1)  # (G, C)
    w = d.clip(min=IDW_MIN_MM) ** -IDW_POWER
    return (w * values).sum(1) / w.sum(1)


def _placed(sensors, values):
    """(top-view positions (C', 2) mm, values (C',), mask (C,)) of sensors with a position."""
    values = np.asarray(values, dtype=np.float64)
    has = np.asarray(sensors.has_position, bool) & np.isfinite(values)
    xy = project_topview(np.asarray(sensors.pos)[has]) if has.any() else np.zeros((0, 2))
    return xy, values[has], has


def topography(sensors, values, labels=TOPO_LABELS) -> np.ndarray | None:
    """Per-channel values at the electrodes of a common layout.

    Parameters
    ----------
    sensors : SensorArray
    values : array, shape (C,)
    labels : sequence of str
        Template electrodes (MNE's 10-05 template positions) of the common layout.

    Returns
    -------
    ndarray, shape (len(labels),), or None when fewer than two channels have a position.
    """
    from brainkit.sensors import template_position

    xy, v, _ = _placed(sensors, values)
    targets = project_topview(np.stack([template_position(label) for label in labels]))  # (G, 2)
    return interpolate(xy, v, targets, min_sensors=2)


def topomap_grid(sensors, values, n: int = TOPOMAP_GRID):
    """A square grid over the head in the top view, NaN outside the head circle.

    Returns
    -------
    (g, z) or None
        ``g`` (n,) grid coordinates in mm (both axes), ``z`` (n, n) values (row = y); None
        when fewer than three sensors have a position (no surface between two points).
    """
    xy, v, _ = _placed(sensors, values)
    if len(np.unique(np.round(xy, 3), axis=0)) < 3:
        return None
    extent = max(HEAD_RADIUS_M * 1000.0, float(np.abs(xy).max()))
    g = np.linspace(-extent, extent, n)
    gx, gy = np.meshgrid(g, g)
    z = interpolate(xy, v, np.stack([gx.ravel(), gy.ravel()], 1), min_sensors=3).reshape(n, n)
    z[np.hypot(gx, gy) > extent] = np.nan
    return g, z


def topomap_figure(sensors, values, title: str = "", colorscale: str = "RdBu_r",
                   symmetric: bool = True):
    """Values per sensor on the top view of the head, interpolated between sensors (plotly).

    Parameters
    ----------
    sensors : SensorArray
        C sensors; those without a position are left out (and counted in the title).
    values : array, shape (C,)
    symmetric : bool
        Colour range centred on 0 (attributions) rather than from min to max.
    """
    import plotly.graph_objects as go

    from brainkit.viz.figures import title_font

    xy, v, has = _placed(sensors, values)
    limit = float(np.abs(v).max()) if len(v) else 1.0
    crange = dict(zmin=-limit, zmax=limit) if symmetric else {}
    fig = go.Figure()
    grid = topomap_grid(sensors, values)
    if grid is not None:
        fig.add_trace(go.Heatmap(x=grid[0], y=grid[0], z=grid[1], colorscale=colorscale,
                                 colorbar=dict(title="value"), hoverinfo="skip", **crange))
    fig.add_traces(head_outline_traces())
    names = [n for n, h in zip(sensors.names, has) if h]
    fig.add_trace(go.Scatter(
        x=xy[:, 0], y=xy[:, 1], mode="markers", name="sensors", text=names,
        marker=dict(size=9, color=v, colorscale=colorscale, line=dict(width=0.5, color="black"),
                    cmin=crange.get("zmin"), cmax=crange.get("zmax"), showscale=grid is None),
        customdata=v, hovertemplate="%{text}: %{customdata:.3g}<extra></extra>"))
    missing = len(has) - int(has.sum())
    note = f" · {missing} channel(s) without a position not drawn" if missing else ""
    fig.update_layout(title=title_font(title + note), showlegend=False, height=460,
                      xaxis=dict(visible=False), plot_bgcolor="white",
                      yaxis=dict(visible=False, scaleanchor="x", scaleratio=1),
                      margin=dict(l=10, r=10, t=50, b=10))
    return fig


def topomap_png(sensors, values, path, title: str = "") -> None:
    """The same map as a static PNG (matplotlib), colours centred on 0, for reports and the README."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    xy, v, _ = _placed(sensors, values)
    grid = topomap_grid(sensors, values)
    lim = float(np.abs(v).max()) if len(v) else 1.0
    fig, ax = plt.subplots(figsize=(4.2, 4.2), dpi=110)
    if grid is not None:
        g, z = grid
        im = ax.imshow(z, origin="lower", extent=(g[0], g[-1], g[0], g[-1]), cmap="RdBu_r",
                       vmin=-(lim or 1.0), vmax=lim or 1.0)
        fig.colorbar(im, ax=ax, shrink=0.7)
    for trace in head_outline_traces():
        ax.plot(trace.x, trace.y, color="#888", lw=1.5)
    ax.scatter(xy[:, 0], xy[:, 1], s=8, c="k")
    ax.set_aspect("equal")
    ax.axis("off")
    ax.set_title(title, fontsize=9)
    fig.savefig(path, bbox_inches="tight")
    plt.close(fig)
