"""Plotly figures of a recording: paged traces, spectra, and where the sensors sit.

Figures stay light whatever the recording's length: traces are reduced by
:func:`decimate_minmax` to the minimum and maximum of each pixel column (every peak stays
visible, about ``max_points`` points per channel per view), spectra are estimated on at most
:data:`PSD_MAX_S` seconds, and the 3-D head is MNE's fsaverage scalp (2k vertices).

Coordinates are the head frame of :mod:`brainkit.sensors` (x right, y nose, z up), shown in mm.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import numpy as np

from brainkit.errors import BrainkitError
from brainkit.quality import display_unit, robust_std, welch_psd
from brainkit.sensors import MODEL_KINDS

KIND_COLORS = {"eeg": "#1f77b4", "mag": "#2ca02c", "grad": "#ff7f0e", "eog": "#9467bd",
               "ecg": "#d62728", "emg": "#8c564b"}
OTHER_COLOR = "#7f7f7f"
#: Channels shown when none are chosen (the first ones the model reads).
DEFAULT_CHANNELS = 20
#: Each trace row spans this many robust standard deviations of its kind.
ROW_SPAN_SD = 8.0
#: Annotations drawn per trace view at most (the rest are counted in the title).
MAX_ANNOTATIONS_SHOWN = 200
#: Spectra use at most this many seconds from the start of the recording.
PSD_MAX_S = 300.0
#: Top-view projection: sphere centre (m, head frame) and the radius drawn as the head outline.
HEAD_ORIGIN_M = (0.0, 0.0, 0.0)
HEAD_RADIUS_M = 0.095
#: Length of MEG orientation cones (mm) and the range allowed for the head-to-electrodes scale.
CONE_MM = 12.0
HEAD_SCALE_RANGE = (0.7, 1.4)


def _go():
    import plotly.graph_objects as go

    return go


def _color(kind: str) -> str:
    return KIND_COLORS.get(kind, OTHER_COLOR)


# ------------------------------------------------------------------------------------ traces


def decimate_minmax(data: np.ndarray, n_columns: int = 2000) -> tuple[np.ndarray, np.ndarray]:
    """Keep the minimum and maximum of each of ``n_columns`` equal time columns, in time order.

    Parameters
    ----------
    data : ndarray, shape (C, T)
    n_columns : int
        Pixel columns of the view.

    Returns
    -------
    t_idx : ndarray of int, shape (C, M)
        Sample index of each kept point, increasing along each row; ``M <= 2 * n_columns``
        (``M = T`` when ``T <= 2 * n_columns``: nothing to drop).
    values : ndarray, shape (C, M)
        ``data`` at ``t_idx``.
    """
    data = np.atleast_2d(np.asarray(data))
    n_chan, n_times = data.shape
    if n_times <= 2 * n_columns:
        return np.broadcast_to(np.arange(n_times), data.shape).copy(), data.copy()
    width = -(-n_times // n_columns)  # samples per column
    n_col = -(-n_times // width)
    pad = n_col * width - n_times
    blocks = np.pad(data, ((0, 0), (0, pad)), mode="edge").reshape(n_chan, n_col, width)
    imin, imax = blocks.argmin(axis=2), blocks.argmax(axis=2)  # (C, n_col)
    local = np.stack([np.minimum(imin, imax), np.maximum(imin, imax)], axis=2)  # (C, n_col, 2)
    t_idx = (local + (np.arange(n_col) * width)[None, :, None]).reshape(n_chan, 2 * n_col)
    t_idx = np.minimum(t_idx, n_times - 1)  # edge padding repeats the last sample
    return t_idx, np.take_along_axis(data, t_idx, axis=1)


def pick_channels(recording, channels=None, default: int = DEFAULT_CHANNELS) -> list[str]:
    """Channel names to show: ``channels`` checked against the recording, or the first
    ``default`` channels the model reads (any channels when it reads none)."""
    names = list(recording.raw.ch_names)
    if channels is None:
        model = [n for n, k in zip(recording.sensors.names, recording.sensors.kinds)
                 if k in MODEL_KINDS]
        return (model or names)[:default]
    channels = list(channels)
    unknown = [c for c in channels if c not in names]
    if unknown:
        raise BrainkitError(f"unknown channel(s) {', '.join(unknown[:5])}; the recording has "
                            f"{', '.join(names[:8])}{'...' if len(names) > 8 else ''}")
    if not channels:
        raise BrainkitError("no channel chosen: pick at least one")
    return channels


def annotation_records(recording) -> list[dict]:
    """Annotations as rows ``{onset_s, duration_s, description}``, onsets from the first sample."""
    raw = recording.raw
    ann = raw.annotations
    shift = raw.first_time if ann.orig_time is not None else 0.0
    return [{"onset_s": float(o - shift), "duration_s": float(d), "description": str(s)}
            for o, d, s in zip(ann.onset, ann.duration, ann.description)]


def _annotation_layer(recording, t0: float, t1: float, y_top: float):
    """Shaded spans / lines for annotations inside [t0, t1], and one hover-marker trace."""
    rows = [a for a in annotation_records(recording)
            if a["onset_s"] <= t1 and a["onset_s"] + a["duration_s"] >= t0]
    hidden = max(0, len(rows) - MAX_ANNOTATIONS_SHOWN)
    rows = rows[:MAX_ANNOTATIONS_SHOWN]
    shapes = []
    for a in rows:
        if a["duration_s"] > 0:
            shapes.append(dict(type="rect", xref="x", yref="paper", x0=a["onset_s"],
                               x1=a["onset_s"] + a["duration_s"], y0=0, y1=1, line_width=0,
                               fillcolor="rgba(255, 165, 0, 0.12)", layer="below"))
        else:
            shapes.append(dict(type="line", xref="x", yref="paper", x0=a["onset_s"],
                               x1=a["onset_s"], y0=0, y1=1, layer="below",
                               line=dict(color="rgba(214, 39, 40, 0.5)", width=1, dash="dot")))
    markers = None
    if rows:
        markers = _go().Scatter(
            x=[max(a["onset_s"], t0) for a in rows], y=[y_top] * len(rows), mode="markers",
            marker=dict(symbol="triangle-down", size=9, color="#d62728"), name="annotations",
            text=[a["description"] for a in rows], hovertemplate="%{text}<br>%{x:.3f} s<extra></extra>")
    return shapes, markers, hidden


def trace_figure(recording, start_s: float = 0.0, duration_s: float = 10.0, channels=None,
                 max_points: int = 2000):
    """Stacked traces of one page of a recording, min/max-decimated, annotations shaded.

    Parameters
    ----------
    recording : brainkit.io.Recording
    start_s, duration_s : float
        The page, in seconds from the first sample (clipped to the recording).
    channels : list of str | None
        Channel names, top to bottom; None shows :func:`pick_channels`'s default.
    max_points : int
        About this many points per channel whatever the page length.

    Returns
    -------
    plotly.graph_objects.Figure
        One line trace per channel (row offsets, hover shows the value in µV / fT / fT/cm),
        plus an ``annotations`` marker trace when the page holds annotations.
    """
    go = _go()
    raw, sfreq = recording.raw, recording.sfreq
    names = pick_channels(recording, channels)
    start = int(np.clip(round(start_s * sfreq), 0, max(raw.n_times - 1, 0)))
    stop = int(min(raw.n_times, start + max(2, round(duration_s * sfreq))))
    picks = [raw.ch_names.index(n) for n in names]
    data = raw.get_data(picks=picks, start=start, stop=stop)  # (C, T) SI units
    kinds = [recording.sensors.kinds[i] for i in picks]
    centred = data - np.median(data, axis=1, keepdims=True)
    spread = robust_std(centred)  # (C,)
    row_scale = {}
    for kind in set(kinds):
        s = float(np.median(spread[[k == kind for k in kinds]]))
        row_scale[kind] = ROW_SPAN_SD * s if s > 0 else float(np.ptp(centred) or 1.0)
    t_idx, values = decimate_minmax(centred, n_columns=max(1, max_points // 2))
    n = len(names)
    fig = go.Figure()
    for row, (name, kind) in enumerate(zip(names, kinds)):
        unit, factor = display_unit(kind)
        offset = n - 1 - row
        fig.add_trace(go.Scatter(
            x=(start + t_idx[row]) / sfreq, y=offset + values[row] / row_scale[kind],
            customdata=values[row] * factor, mode="lines", name=name,
            line=dict(width=1, color=_color(kind)),
            hovertemplate=f"{name}: %{{customdata:.1f}} {unit}<br>%{{x:.3f}} s<extra></extra>"))
    t0, t1 = start / sfreq, stop / sfreq
    shapes, markers, hidden = _annotation_layer(recording, t0, t1, y_top=n - 0.4)
    if markers is not None:
        fig.add_trace(markers)
    scale_note = ", ".join(f"{k} {row_scale[k] * display_unit(k)[1]:.3g} {display_unit(k)[0]}"
                           for k in sorted(row_scale))
    title = f"{recording.name}: {t0:.1f}-{t1:.1f} s · row height {scale_note}"
    if hidden:
        title += f" · {hidden} more annotations not drawn"
    fig.update_layout(
        title=dict(text=title, font=dict(size=13)), shapes=shapes, showlegend=False,
        height=max(300, 28 * n + 120), margin=dict(l=10, r=10, t=50, b=40),
        xaxis=dict(title="time (s)", range=[t0, t1]),
        yaxis=dict(tickvals=list(range(n - 1, -1, -1)), ticktext=names, range=[-1, n],
                   zeroline=False, showgrid=False))
    return fig


# ------------------------------------------------------------------------------------ spectra


def channel_psd(recording, channels=None, fmax: float | None = None):
    """Welch power spectral density per channel (2-s Hann segments, 50 % overlap).

    Returns
    -------
    freqs : ndarray, shape (F,)
        Hz, from the first bin above 0 up to ``fmax`` (default: min(Nyquist, 100 Hz)).
    psd : ndarray, shape (C, F)
        Power in display units squared per Hz (µV²/Hz, fT²/Hz, (fT/cm)²/Hz).
    names : list of str, length C
    """
    raw, sfreq = recording.raw, recording.sfreq
    names = pick_channels(recording, channels)
    picks = [raw.ch_names.index(n) for n in names]
    stop = int(min(raw.n_times, PSD_MAX_S * sfreq))
    data = raw.get_data(picks=picks, stop=stop)  # (C, T)
    factors = np.array([display_unit(recording.sensors.kinds[i])[1] for i in picks])
    freqs, psd = welch_psd(data * factors[:, None], sfreq, segment_s=2.0)
    fmax = min(sfreq / 2, 100.0) if fmax is None else fmax
    keep = (freqs > 0) & (freqs <= fmax)
    return freqs[keep], psd[:, keep], names


def psd_figure(recording, channels=None, fmax: float | None = None):
    """Per-channel Welch spectrum on a log power axis (see :func:`channel_psd`)."""
    go = _go()
    freqs, psd, names = channel_psd(recording, channels, fmax)
    kinds = [recording.sensors.kinds[recording.raw.ch_names.index(n)] for n in names]
    fig = go.Figure()
    for name, kind, p in zip(names, kinds, psd):
        unit = display_unit(kind)[0]
        fig.add_trace(go.Scatter(
            x=freqs, y=np.maximum(p, 1e-12), mode="lines", name=name, line=dict(width=1),
            hovertemplate=f"{name}: %{{y:.3g}} {unit}²/Hz at %{{x:.1f}} Hz<extra></extra>"))
    seconds = min(recording.duration_s, PSD_MAX_S)
    units = sorted({f"{display_unit(k)[0]}²/Hz" for k in kinds})
    fig.update_layout(
        title=dict(text=f"Power spectrum (Welch, first {seconds:.0f} s)", font=dict(size=13)),
        xaxis_title="frequency (Hz)", yaxis=dict(type="log", title=", ".join(units)),
        height=420, margin=dict(l=10, r=10, t=50, b=40))
    return fig


# ------------------------------------------------------------------------------------ sensors


def project_topview(pos: np.ndarray) -> np.ndarray:
    """Azimuthal equidistant projection seen from above (nose up), in mm. (C, 3) m -> (C, 2) mm.

    The angle from the vertex maps linearly to the radius (90 degrees lands on the outline of
    radius :data:`HEAD_RADIUS_M`); the azimuth is kept, so left stays left (x < 0).
    """
    p = np.asarray(pos, dtype=np.float64) - np.asarray(HEAD_ORIGIN_M)
    r = np.linalg.norm(p, axis=1)
    theta = np.arccos(np.clip(p[:, 2] / np.where(r > 0, r, 1.0), -1.0, 1.0))
    phi = np.arctan2(p[:, 1], p[:, 0])
    rho = theta / (np.pi / 2) * HEAD_RADIUS_M * 1000.0
    return np.stack([rho * np.cos(phi), rho * np.sin(phi)], axis=1)


def _missing_note(sensors) -> str:
    missing = [n for n, k, h in zip(sensors.names, sensors.kinds, sensors.has_position)
               if k in MODEL_KINDS and not h]
    if not missing:
        return ""
    shown = ", ".join(missing[:8]) + (f" and {len(missing) - 8} more" if len(missing) > 8 else "")
    return f" · no position: {shown}"


def head_outline_traces() -> list:
    """Line traces of the top-view head outline (circle of :data:`HEAD_RADIUS_M`, nose, ears), mm."""
    go = _go()
    radius = HEAD_RADIUS_M * 1000.0
    a = np.linspace(0, 2 * np.pi, 121)
    ear = np.linspace(-np.pi / 2, np.pi / 2, 31)
    outline = [(radius * np.cos(a), radius * np.sin(a)),
               (radius * np.array([-0.09, 0, 0.09]), radius * np.array([0.996, 1.1, 0.996])),
               (radius * (1 + 0.07 * np.cos(ear)), radius * 0.18 * np.sin(ear)),
               (-radius * (1 + 0.07 * np.cos(ear)), radius * 0.18 * np.sin(ear))]
    return [go.Scatter(x=x, y=y, mode="lines", line=dict(color="#888", width=2),
                       hoverinfo="skip", showlegend=False) for x, y in outline]


def sensor_layout_2d(sensors):
    """Top view of the sensors with a head outline (nose up, ears at the sides).

    One marker trace per kind (hover gives the channel name); channels of a model kind without a
    position are named in the title.
    """
    go = _go()
    fig = go.Figure(head_outline_traces())
    kinds = list(sensors.kinds)
    for kind in dict.fromkeys(kinds):
        idx = [i for i, k in enumerate(kinds) if k == kind and sensors.has_position[i]]
        if not idx:
            continue
        xy = project_topview(sensors.pos[idx])
        fig.add_trace(go.Scatter(
            x=xy[:, 0], y=xy[:, 1], mode="markers", name=f"{kind} ({len(idx)})",
            marker=dict(size=9 if kind not in ("mag", "grad") else 6, color=_color(kind),
                        line=dict(width=0.5, color="white")),
            text=[sensors.names[i] for i in idx], hovertemplate="%{text}<extra></extra>"))
    n_pos = int(np.sum(sensors.has_position))
    fig.update_layout(
        title=dict(text=f"{n_pos} of {len(sensors)} channels placed{_missing_note(sensors)}",
                   font=dict(size=13)),
        xaxis=dict(visible=False), yaxis=dict(visible=False, scaleanchor="x", scaleratio=1),
        height=520, margin=dict(l=10, r=10, t=50, b=10), plot_bgcolor="white")
    return fig


@lru_cache(maxsize=1)
def _fsaverage_head() -> tuple[np.ndarray, np.ndarray]:
    """MNE's fsaverage scalp in the fsaverage head frame: vertices (V, 3) m, triangles (F, 3).

    The surface (``mne/data/fsaverage/fsaverage-head.fif``) is in MRI coordinates; the
    head->MRI transform shipped beside it (``fsaverage-trans.fif``, built from the fiducials
    in ``fsaverage-fiducials.fif``) is inverted to bring it into the head frame.
    """
    import mne

    folder = Path(mne.__file__).parent / "data" / "fsaverage"
    surf = mne.read_bem_surfaces(folder / "fsaverage-head.fif", verbose="error")[0]
    head_to_mri = mne.read_trans(folder / "fsaverage-trans.fif", verbose="error")
    rr = mne.transforms.apply_trans(np.linalg.inv(head_to_mri["trans"]), surf["rr"])
    rr.setflags(write=False)
    tris = np.asarray(surf["tris"], dtype=np.int64)
    tris.setflags(write=False)
    return rr, tris


def head_surface(sensors=None) -> tuple[np.ndarray, np.ndarray, float]:
    """The fsaverage scalp in the head frame, scaled to the recording's EEG electrodes.

    The scale is the median, over EEG electrodes with a position, of the electrode's distance
    from the head origin divided by the scalp's distance in the same direction, clipped to
    :data:`HEAD_SCALE_RANGE`; 1 when fewer than 3 electrodes are placed (e.g. MEG only).

    Returns
    -------
    vertices : ndarray, shape (V, 3), m;  triangles : ndarray, shape (F, 3);  scale : float
    """
    rr, tris = _fsaverage_head()
    scale = 1.0
    if sensors is not None:
        eeg = sensors.pos[[k == "eeg" and h for k, h in zip(sensors.kinds, sensors.has_position)]]
        if len(eeg) >= 3:
            r_v = np.linalg.norm(rr, axis=1)
            r_e = np.linalg.norm(eeg, axis=1)
            nearest = np.argmax((eeg / r_e[:, None]) @ (rr / r_v[:, None]).T, axis=1)  # (E,)
            scale = float(np.clip(np.median(r_e / r_v[nearest]), *HEAD_SCALE_RANGE))
    return rr * scale, tris, scale


def sensor_view_3d(sensors, show_head: bool = True):
    """3-D view: translucent scalp, EEG electrodes as markers, MEG sensors as cones along their
    coil normal; coloured by kind, names on hover. Units: mm, head frame."""
    go = _go()
    fig = go.Figure()
    if show_head:
        rr, tris, scale = head_surface(sensors)
        v = rr * 1000.0
        fig.add_trace(go.Mesh3d(
            x=v[:, 0], y=v[:, 1], z=v[:, 2], i=tris[:, 0], j=tris[:, 1], k=tris[:, 2],
            color="#e8c4a8", opacity=0.3, name=f"head (fsaverage x{scale:.2f})",
            hoverinfo="skip", showlegend=True, flatshading=False))
    kinds = list(sensors.kinds)
    for kind in dict.fromkeys(kinds):
        idx = [i for i, k in enumerate(kinds) if k == kind and sensors.has_position[i]]
        if not idx:
            continue
        p = sensors.pos[idx] * 1000.0
        names = [sensors.names[i] for i in idx]
        color = _color(kind)
        meg = kind in ("mag", "grad", "ref_meg")
        fig.add_trace(go.Scatter3d(
            x=p[:, 0], y=p[:, 1], z=p[:, 2], mode="markers", name=f"{kind} ({len(idx)})",
            marker=dict(size=2 if meg else 4, color=color), text=names,
            hovertemplate="%{text}<extra></extra>"))
        if meg:
            o = sensors.ori[idx] * CONE_MM
            fig.add_trace(go.Cone(
                x=p[:, 0], y=p[:, 1], z=p[:, 2], u=o[:, 0], v=o[:, 1], w=o[:, 2],
                anchor="tail", sizemode="raw", sizeref=1.0, showscale=False,
                colorscale=[[0, color], [1, color]], name=f"{kind} orientation",
                hoverinfo="skip", showlegend=False))
    axis = dict(visible=False)
    fig.update_layout(
        title=dict(text=f"Sensors in the head frame{_missing_note(sensors)}", font=dict(size=13)),
        scene=dict(xaxis=axis, yaxis=axis, zaxis=axis, aspectmode="data",
                   camera=dict(eye=dict(x=1.9, y=1.25, z=1.1))),
        height=600, margin=dict(l=0, r=0, t=50, b=0), legend=dict(itemsizing="constant"))
    return fig
