"""What the Teach page shows of a taught task's report: the learning curve and the comparison."""

from __future__ import annotations

from brainkit.viz.figures import plotly_go, title_font


def comparison_rows(report: dict) -> list[dict]:
    """One row per method: balanced accuracy over the folds (mean, spread) with every training
    window, and at each learning-curve point (windows per class), in percent; ``in the pack`` marks
    the head the pack keeps.

    Parameters
    ----------
    report : dict
        ``TaskPack.report`` (:func:`brainkit.training.teach.teach`).
    """
    cv = report["cross_validation"]
    rows = []
    for name, stats in cv["methods"].items():
        row = {"method": name, "in the pack": name == report.get("head"),
               "balanced accuracy (%)": None if stats["mean"] is None else round(100 * stats["mean"], 1),
               "± (std over folds)": None if stats["std"] is None else round(100 * stats["std"], 1)}
        for n, scores in cv["curve"].items():
            value = scores.get(name)
            row[f"{n} per class"] = None if value is None else round(100 * value, 1)
        rows.append(row)
    return rows


def learning_curve_figure(report: dict, n_answers: int = 2):
    """Balanced accuracy against training windows per class, one line per method (brainkit's
    solid, the kept head's thicker; the classical methods' dotted), chance dashed.

    Returns
    -------
    plotly Figure
        One ``lines+markers`` trace per method (x: windows per class, y: percent), then the
        chance line at ``100 / n_answers``.
    """
    go = plotly_go()
    cv = report["cross_validation"]
    points = sorted(cv["curve"], key=int)
    fig = go.Figure()
    for name in cv["methods"]:
        fig.add_trace(go.Scatter(x=[int(n) for n in points],
                                 y=[None if cv["curve"][n].get(name) is None else 100 * cv["curve"][n][name]
                                    for n in points], mode="lines+markers", name=name,
                                 line={"width": 4 if name == report.get("head") else 2,
                                       "dash": "solid" if name.startswith("brainkit") else "dot"}))
    fig.add_hline(y=100 / n_answers, line_dash="dash", annotation_text="chance")
    fig.update_layout(title=title_font(f"Learning curve ({cv['n_folds']} folds by {cv['unit']})"),
                      xaxis_title="training windows per class", xaxis_tickvals=[int(n) for n in points],
                      yaxis_title="balanced accuracy (%)",
                      yaxis_range=[0, 100], height=360)
    return fig
