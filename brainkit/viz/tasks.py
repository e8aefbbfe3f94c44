"""Figures of how the tasks relate: clustered task x task similarity and query selection per task.

:func:`cluster_order` is also the order ``brainkit correlations`` reports
(:func:`brainkit.explain.correlations.task_correlations`).
"""

from __future__ import annotations

import numpy as np

from brainkit.viz.figures import ANSWER_COLORS, plotly_go, subplots, title_font


def cluster_order(matrix: np.ndarray) -> list[int]:
    """Row order that puts similar tasks together: the leaves of average-linkage clustering on
    ``1 - similarity`` (scipy, optimal leaf ordering).

    Parameters
    ----------
    matrix : array, shape (n, n)
        A similarity, symmetrised; NaN where unknown (treated as 0).

    Returns
    -------
    list of int, a permutation of ``range(n)``.
    """
    from scipy.cluster.hierarchy import leaves_list, linkage
    from scipy.spatial.distance import squareform

    m = np.nan_to_num(np.asarray(matrix, dtype=np.float64))
    if len(m) < 3:
        return list(range(len(m)))
    d = np.clip(1.0 - (m + m.T) / 2, 0.0, None)
    np.fill_diagonal(d, 0.0)
    tree = linkage(squareform(d, checks=False), method="average", optimal_ordering=True)
    return [int(i) for i in leaves_list(tree)]


def task_matrix_figure(matrix, tasks, order=None, title: str = "", share: bool = False):
    """Task x task similarity as a clustered heatmap (``order``: task names or row indices;
    default :func:`cluster_order`), values written in the cells. Similarities in [-1, 1] are
    coloured on one diverging scale; a ``share`` (a fraction, 1 on the diagonal) on a sequential
    one from its smallest value to 1, so that 0.80 and 0.99 look apart."""
    go = plotly_go()
    m = np.asarray(matrix, dtype=np.float64)
    tasks = list(tasks)
    if order is None:
        idx = cluster_order(m)
    else:
        idx = [tasks.index(o) if isinstance(o, str) else int(o) for o in order]
    m = m[np.ix_(idx, idx)]
    names = [tasks[i] for i in idx]
    if share:
        low = np.nanmin(m) if np.isfinite(m).any() else 0.0
        colour = dict(colorscale="Reds", zmin=min(np.floor(low * 10) / 10, 0.9), zmax=1.0)
    else:
        colour = dict(colorscale="RdBu_r", zmid=0, zmin=-1, zmax=1)
    fig = go.Figure(go.Heatmap(
        z=m, x=names, y=names, **colour,
        text=np.where(np.isfinite(m), np.round(m, 2).astype(str), ""), texttemplate="%{text}",
        colorbar=dict(title="shared" if share else "similarity"),
        hovertemplate="%{y} / %{x}: %{z:.3f}<extra></extra>"))
    fig.update_layout(title=title_font(title), height=160 + 38 * len(names),
                      yaxis=dict(autorange="reversed"), margin=dict(l=10, r=10, t=50, b=40))
    return fig


def query_selection_figure(selection: dict, columns: int = 3):
    """Per task, how often each learned query is chosen (bars grouped by soft-token slot).

    Parameters
    ----------
    selection : dict of str to array, shape (M, Q)
        :func:`brainkit.explain.attention.query_selection`.
    """
    go = plotly_go()
    tasks = list(selection)
    rows = max(1, -(-len(tasks) // columns))
    fig = subplots(rows=rows, cols=columns, subplot_titles=tasks, shared_yaxes=True,
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
    fig.update_layout(title=title_font("Query selection per task (fraction of windows; colour: slot)"),
                      showlegend=False, height=80 + 220 * rows, margin=dict(l=10, r=10, t=70, b=30))
    return fig
