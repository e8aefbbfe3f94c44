"""Model card: how well the checkpoint generalizes (cross-validated balanced accuracy of brainkit
and every baseline, as a chart, and brainkit minus each baseline paired over the same folds), then
what it was trained on, its measured metrics and its limits."""

from pathlib import Path

import streamlit as st

from brainkit import BrainkitError
from brainkit.models.checkpoint import DEFAULT_CHECKPOINT, load_metrics
from brainkit.evaluation.crossval import paired_gaps
from brainkit.viz.card import crossval_figure, gap_figure, method_order
from pages._model import model_paths

st.title("Model card")
checkpoint = Path(model_paths()[0] or DEFAULT_CHECKPOINT)
card = checkpoint / "MODEL_CARD.md"
if not card.is_file():
    st.info("The default model is not trained yet: there is no model card to show. "
            f"It will appear here once {checkpoint} holds a checkpoint.")
    st.stop()
try:
    crossval = (load_metrics(checkpoint) or {}).get("crossval")
except BrainkitError as err:
    st.error(str(err))
    crossval = None
if crossval:
    st.plotly_chart(crossval_figure(crossval), key="crossval")
    n = sum(r.get("n_windows", 0) for r in crossval["tasks"].values())
    st.caption("Folds grouped by subject (by recording where a task has too few subjects), the "
               f"same folds for every method; {n} windows in all. Reproduce with "
               "`python -m brainkit crossval`; the tables below give every number.")
    gaps = paired_gaps(crossval)
    if gaps:
        st.plotly_chart(gap_figure(gaps, method_order(crossval)), key="gaps")
        st.caption("The same folds make the comparison paired: a fold of hard subjects lowers every "
                   "method alike, so the difference fold by fold is surer than either bar's spread. "
                   "A bar that crosses the dashed line is not evidence either way.")
else:
    st.info("The cross-validation has not been run for this checkpoint: its metrics.json has no "
            "'crossval' entry (run `python -m brainkit crossval` and add its output there).")
st.markdown(card.read_text(encoding="utf-8"))
