"""The model card's charts: cross-validated balanced accuracy of brainkit and every baseline, and
brainkit minus each baseline, paired over the same folds."""

from __future__ import annotations

from brainkit.viz.figures import ANSWER_COLORS, plotly_go, title_font

OURS = ("brainkit", "read-out head")  #: brainkit's methods in a crossval result; the rest are baselines
#: a method's colour is its place in :func:`method_order`, the same in both charts
METHOD_COLORS = ANSWER_COLORS + ("#e377c2", "#7f7f7f", "#bcbd22", "#17becf")


def method_order(crossval: dict) -> list[str]:
    """The methods of a ``brainkit crossval`` result: brainkit first, its read-out head next,
    then the baselines by name (the card's table uses the same order)."""
    names = {m for r in crossval["tasks"].values() for m in r["methods"]}
    return sorted(names, key=lambda m: (m not in OURS, OURS.index(m) if m in OURS else 0, m))


def crossval_figure(crossval: dict):
    """Grouped bars: per task, the mean balanced accuracy over folds of each method, error bars
    one standard deviation over folds, and a dashed line at chance (1 / number of answers).

    Parameters
    ----------
    crossval : dict
        The output of ``brainkit crossval`` (:func:`brainkit.evaluation.crossval.crossval`):
        ``tasks[task]["methods"][method]["balanced_accuracy"]`` = ``{"mean", "std", "folds"}``,
        fractions in [0, 1] (a mean of None: not measured), and per task ``unit``, ``n_folds``.

    Returns
    -------
    plotly Figure
        One bar trace per method (x: tasks, y: mean, ``error_y.array``: std), then one dashed line
        per task at chance. A method that does not apply to a task has no bar there (None).
    """
    from brainkit.tasks import get_task

    go = plotly_go()
    tasks = list(crossval["tasks"])
    fig = go.Figure()
    for i, method in enumerate(method_order(crossval)):
        stats = [crossval["tasks"][t]["methods"].get(method, {}).get("balanced_accuracy") or {}
                 for t in tasks]
        folds = [crossval["tasks"][t].get("n_folds", "?") for t in tasks]
        fig.add_trace(go.Bar(
            x=tasks, y=[s.get("mean") for s in stats], name=method,
            marker_color=METHOD_COLORS[i % len(METHOD_COLORS)],
            error_y=dict(type="data", array=[s.get("std") for s in stats], visible=True),
            customdata=[[s.get("std"), n] for s, n in zip(stats, folds)],
            hovertemplate=f"{method}<br>%{{x}}: %{{y:.1%}} ± %{{customdata[0]:.1%}} "
                          "over %{customdata[1]} folds<extra></extra>"))
    for i, task in enumerate(tasks):
        chance = 1.0 / len(get_task(task).answers)
        fig.add_shape(type="line", x0=i - 0.45, x1=i + 0.45, y0=chance, y1=chance, xref="x", yref="y",
                      line=dict(dash="dash", color="grey", width=1.5))
    fig.add_trace(go.Scatter(x=[None], y=[None], mode="lines", name="chance (1 / answers)",
                             line=dict(dash="dash", color="grey")))
    k = crossval.get("k")
    fig.update_layout(
        title=title_font("Cross-validated balanced accuracy, grouped by subject"
                         + (f" ({k} folds at most)" if k else "") + ": mean ± std over folds"),
        barmode="group", yaxis=dict(title="balanced accuracy", range=[0, 1.05], tickformat=".0%"),
        legend=dict(orientation="h", y=-0.2), height=460, margin=dict(l=10, r=10, t=50, b=40))
    return fig


def gap_figure(gaps: dict, order: list[str]):
    """brainkit minus each baseline per task, paired over the same folds: a dot at the mean
    difference (points) with a bar of two standard errors either side, and a line at zero.

    Parameters
    ----------
    gaps : dict
        :func:`brainkit.evaluation.crossval.paired_gaps`: ``task -> {"reference", "gaps":
        {baseline: {"mean", "se"}}}``, fractions (a mean of None: not measured; an se of None:
        one fold, no bar).
    order : list of str
        :func:`method_order` of the crossval result, which gives each baseline its colour.

    Returns
    -------
    plotly Figure
        One scatter trace per baseline (y: the tasks where it was measured, x: the mean in points,
        ``error_x.array``: 2 se), so a bar that crosses zero reads "not resolved by these folds".
    """
    go = plotly_go()
    measured = {b for g in gaps.values() for b in g["gaps"]}
    fig = go.Figure()
    for name in [m for m in order if m in measured]:
        rows = [(task, g["reference"], g["gaps"][name]) for task, g in gaps.items()
                if g["gaps"].get(name, {}).get("mean") is not None]
        if not rows:
            continue
        fig.add_trace(go.Scatter(
            x=[100 * gap["mean"] for _, _, gap in rows], y=[task for task, _, _ in rows],
            mode="markers", name=name, orientation="h",
            marker=dict(size=10, color=METHOD_COLORS[order.index(name) % len(METHOD_COLORS)]),
            error_x=dict(type="data", array=[0 if gap["se"] is None else 200 * gap["se"] for _, _, gap in rows],
                         visible=True),
            customdata=[[ref, 0 if gap["se"] is None else 100 * gap["se"]] for _, ref, gap in rows],
            hovertemplate=f"%{{customdata[0]}} minus {name}<br>%{{y}}: %{{x:+.1f}} ± %{{customdata[1]:.1f}}"
                          " points (standard error over folds)<extra></extra>"))
    fig.add_vline(x=0, line=dict(color="grey", dash="dash", width=1.5))
    fig.update_layout(
        title=title_font("brainkit minus each baseline, paired over the same folds: "
                         "mean ± 2 standard errors"),
        xaxis=dict(title="difference in balanced accuracy (points); right of the line: brainkit ahead"),
        yaxis=dict(autorange="reversed", type="category", categoryorder="array", categoryarray=list(gaps)),
        scattermode="group", scattergap=0.4, legend=dict(orientation="h", y=-0.22),
        height=160 + 45 * len(gaps),
        margin=dict(l=10, r=10, t=50, b=40))
    return fig
