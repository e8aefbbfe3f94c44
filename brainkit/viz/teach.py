"""What the Teach page shows of a taught task's report: the learning curve and the comparison."""

from __future__ import annotations

from brainkit.viz.figures import plotly_go, title_font


def comparison_rows(report: dict) -> list[dict]:
    """One row per method: balanced accuracy over the folds (mean, spread) with every training
    window, and at each learning-curve point (windows per class; the mean over random draws of
    those windows, then ``±`` their standard deviation), in percent; ``in the pack`` marks the
    head the pack keeps.

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
            if "curve_std" in cv and n != str(cv["train_per_class"]):  # the last point: one draw, all
                std = cv["curve_std"][n].get(name)
                row[f"{n} per class ±"] = None if std is None else round(100 * std, 1)
        rows.append(row)
    return rows


def gap_rows(report: dict) -> list[dict]:
    """One row per classical method: the kept head's balanced accuracy minus the method's at each
    learning-curve point, paired on the same draws and folds, in points, ``± `` its standard
    error (over the draws; with every training window, over the folds). [] for a report without
    them (a pack taught before they were measured)."""
    cv = report["cross_validation"]
    gaps = cv.get("curve_gap", {})
    methods = list(next(iter(gaps.values()), {}))
    last = str(cv["train_per_class"])

    def cell(gap):
        if gap["mean"] is None:
            return "-"
        return f"{100 * gap['mean']:+.1f}" + ("" if gap["se"] is None else f" ± {100 * gap['se']:.1f}")

    return [{"kept head minus": name,
             **{f"{n} per class" + (" (all)" if n == last else ""): cell(g[name]) for n, g in gaps.items()}}
            for name in methods]


def learning_curve_figure(report: dict, n_answers: int = 2):
    """Balanced accuracy against training windows per class, one line per method (brainkit's
    solid, the kept head's thicker; the classical methods' dotted), error bars the standard
    deviation over random draws of the training windows, chance dashed.

    Returns
    -------
    plotly Figure
        One ``lines+markers`` trace per method (x: windows per class, y: percent), then the
        chance line at ``100 / n_answers``.
    """
    go = plotly_go()
    cv = report["cross_validation"]
    points = sorted(cv["curve"], key=int)
    spread = cv.get("curve_std", {})  # reports of packs taught before draws were averaged have none

    def percent(table, n, name):
        value = table.get(n, {}).get(name)
        return None if value is None else 100 * value

    fig = go.Figure()
    for name in cv["methods"]:
        fig.add_trace(go.Scatter(x=[int(n) for n in points], y=[percent(cv["curve"], n, name) for n in points],
                                 error_y={"type": "data", "array": [percent(spread, n, name) for n in points],
                                          "visible": bool(spread)},
                                 mode="lines+markers", name=name,
                                 line={"width": 4 if name == report.get("head") else 2,
                                       "dash": "solid" if name.startswith("brainkit") else "dot"}))
    fig.add_hline(y=100 / n_answers, line_dash="dash", annotation_text="chance")
    fig.update_layout(title=title_font(f"Learning curve ({cv['n_folds']} folds by {cv['unit']})"),
                      xaxis_title="training windows per class", xaxis_tickvals=[int(n) for n in points],
                      yaxis_title="balanced accuracy (%)",
                      yaxis_range=[0, 100], height=360)
    return fig
