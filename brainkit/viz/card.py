"""The model card's chart: cross-validated balanced accuracy of brainkit and every baseline."""

from __future__ import annotations

from brainkit.viz.figures import plotly_go, title_font


def method_order(crossval: dict) -> list[str]:
    """The methods of a ``brainkit crossval`` result: brainkit first, its read-out head next,
    then the baselines by name (the card's table uses the same order)."""
    names = {m for r in crossval["tasks"].values() for m in r["methods"]}
    return sorted(names, key=lambda m: (m != "brainkit", m != "read-out head", m))


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
    for method in method_order(crossval):  # plotly's palette: ten distinct colours
        stats = [crossval["tasks"][t]["methods"].get(method, {}).get("balanced_accuracy") or {}
                 for t in tasks]
        folds = [crossval["tasks"][t].get("n_folds", "?") for t in tasks]
        fig.add_trace(go.Bar(
            x=tasks, y=[s.get("mean") for s in stats], name=method,
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
