"""Task correlations: which tasks the model treats alike, read from the queries each task selects,
from their attribution maps and from their representations (UniMind's task-aware query
selection), as clustered task-by-task heatmaps, and the query-selection histogram of each task."""

import streamlit as st

from brainkit import BrainkitError
from brainkit.explain.correlations import correlate_tasks
from brainkit.viz.tasks import query_selection_figure, task_matrix_figure
from pages._model import brainkit_or_stop
from pages._session import recording_or_stop, results

MATRICES = {"routing": "Query selection: tasks that route to the same queries",
            "attribution": "Attribution maps: tasks that look at the same channels",
            "representation": "Representations: how alike the soft tokens are under each task"}

st.title("Task correlations")
recording = recording_or_stop()
bk = brainkit_or_stop()
if "correlations" not in results():
    st.info(f"Every task reads windows of its own length from {recording.name}, under every "
            "task's caption, and integrated gradients run on a few of them: this takes minutes "
            "with the full model. The result is kept for this recording.")
    n = st.number_input("Windows per task", 2, 64, 16, key="correlation_windows")
    if not st.button("Compute task correlations", type="primary", key="correlate"):
        st.stop()
    try:
        with st.spinner("Reading every task's windows: routing, attributions, representations..."):
            results()["correlations"] = correlate_tasks(bk, recording, n_per_task=int(n))
    except BrainkitError as err:
        st.error(str(err))
        st.stop()
    st.rerun()  # the result replaces the controls above

result = results()["correlations"]
st.caption("Windows per task: " + ", ".join(f"{t} {n}" for t, n in result["n_windows"].items())
           + f" (from {recording.name}). Rows and columns: hierarchical clustering of the "
             "query-selection similarity.")
for name, title in MATRICES.items():
    st.plotly_chart(task_matrix_figure(result["matrices"][name], result["tasks"],
                                       result["order"], title), key=f"matrix_{name}")
st.plotly_chart(query_selection_figure(result["selection"]), key="selection")
