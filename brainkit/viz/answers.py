"""Figures of the answers over time: a timeline, stacked probabilities, a hypnogram for sleep.

Times are seconds from the recording's first sample.
"""

from __future__ import annotations

import numpy as np

from brainkit.viz.figures import ANSWER_COLORS, plotly_go, title_font

#: Sleep stages top to bottom in a hypnogram (the clinical convention: REM drawn just below wake).
HYPNOGRAM_ORDER = ("W", "REM", "N1", "N2", "N3")


def _centres(preds) -> np.ndarray:
    return np.asarray(preds.starts_s, dtype=np.float64) + preds.duration_s / 2


def timeline_figure(preds):
    """One marker per window at its answer, coloured by the answer's probability."""
    go = plotly_go()
    best = preds.probabilities.max(1) if len(preds.probabilities) else np.zeros(0)
    fig = go.Figure(go.Scatter(
        x=_centres(preds), y=list(preds.predicted), mode="markers", name="answer",
        marker=dict(color=best, cmin=1.0 / len(preds.answers), cmax=1.0, colorscale="Viridis",
                    size=9, symbol="square", colorbar=dict(title="p")),
        customdata=np.stack([np.asarray(preds.starts_s, float), best], 1) if len(best) else None,
        hovertemplate="%{customdata[0]:.1f} s: %{y} (p=%{customdata[1]:.2f})<extra></extra>"))
    fig.update_layout(
        title=title_font(f"{preds.task}: answer per {preds.duration_s:g}-s window"),
        xaxis_title="time (s)", height=120 + 40 * len(preds.answers),
        yaxis=dict(type="category", categoryorder="array", categoryarray=list(preds.answers)),
        margin=dict(l=10, r=10, t=50, b=40))
    return fig


def probability_figure(preds):
    """Probabilities of every answer over time, stacked to 1."""
    go = plotly_go()
    fig = go.Figure()
    for j, answer in enumerate(preds.answers):
        fig.add_trace(go.Scatter(
            x=_centres(preds), y=preds.probabilities[:, j], mode="lines", name=str(answer),
            stackgroup="p", line=dict(width=0.5, shape="hv", color=ANSWER_COLORS[j % 6]),
            hovertemplate=f"{answer}: %{{y:.2f}} at %{{x:.1f}} s<extra></extra>"))
    fig.update_layout(title=title_font(f"{preds.task}: probability of each answer"),
                      xaxis_title="time (s)", yaxis=dict(range=[0, 1], title="probability"),
                      height=300, margin=dict(l=10, r=10, t=50, b=40))
    return fig


def hypnogram_figure(preds):
    """Sleep stages as a step plot, W at the top then REM, N1, N2, N3; REM epochs in red."""
    go = plotly_go()
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
        title=title_font(f"Hypnogram ({len(starts)} epochs of {preds.duration_s:g} s)"),
        xaxis_title="time (h)", showlegend=False, height=300, margin=dict(l=10, r=10, t=50, b=40),
        yaxis=dict(tickvals=list(level.values()), ticktext=list(level), range=[-0.5, 4.5]))
    return fig


def prediction_figures(preds) -> dict:
    """The figures of one task's answers, by caption: the hypnogram for ``sleep_stage``, else the
    timeline, then the stacked probabilities."""
    first = hypnogram_figure(preds) if preds.task == "sleep_stage" else timeline_figure(preds)
    return {f"{preds.task}: answers": first, f"{preds.task}: probabilities": probability_figure(preds)}
