"""Plotly conventions shared by the figures of the model: the module, subplots, titles, colours."""

from __future__ import annotations

#: One colour per answer (or soft-token slot), in order.
ANSWER_COLORS = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b")


def plotly_go():
    """``plotly.graph_objects``, imported when a figure is made (``import brainkit`` stays fast)."""
    import plotly.graph_objects as go

    return go


def subplots(**kwargs):
    """``plotly.subplots.make_subplots``."""
    from plotly.subplots import make_subplots

    return make_subplots(**kwargs)


def title_font(text: str) -> dict:
    """A figure title in the size every figure uses."""
    return dict(text=text, font=dict(size=13))
