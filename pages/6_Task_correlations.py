"""Task correlations: which tasks the model treats alike, read from the queries each task selects,
from their attribution maps and from their representations (UniMind's task-aware query
selection), as clustered task-by-task heatmaps. The checkpoint's own matrices (computed on the
shared corpus) show at once; the loaded recording's are computed on request."""

import streamlit as st

from brainkit import BrainkitError
from brainkit.explain.correlations import correlate_tasks
from brainkit.models.checkpoint import load_correlations
from brainkit.viz.tasks import query_selection_figure, task_matrix_figure
from pages._model import brainkit_or_stop, model_paths
from pages._session import recording_or_stop, results

MATRICES = {"routing": "Query selection: tasks that route to the same queries",
            "attribution": "Attribution maps: tasks that look at the same channels",
            "representation": "Representations: how alike the soft tokens are under each task"}
READING = {"routing": "The share of query choices (windows x slots) two tasks' captions make alike on "
                      "the same windows: 1 when the task's caption changes no choice.",
           "attribution": "Correlation of the tasks' mean channel-attribution maps on one 10-10 layout.",
           "representation": "Linear CKA of the soft tokens of the same windows under the two captions."}


def show(result: dict, key: str) -> None:
    """The clustered heatmaps of one result; a line for each matrix not computed."""
    for name, title in MATRICES.items():
        if result["matrices"].get(name) is None:
            why = result.get("not_computed", {}).get(name, "not computed")
            st.info(f"{title.split(':')[0]}: not computed ({why}).")
            continue
        st.plotly_chart(task_matrix_figure(result["matrices"][name], result["tasks"],
                                           result.get("order"), title, share=name == "routing"),
                        key=f"{key}_{name}")
        st.caption(READING[name])
        unknown = result.get(f"{name}_unknown", {})
        if unknown.get("tasks"):
            st.caption(f"Blank cells: {', '.join(unknown['tasks'])} ({unknown['why']}).")


st.title("Task correlations")
st.subheader("The model's matrices")
try:
    shipped = load_correlations(model_paths()[0])
except BrainkitError as err:
    st.error(str(err))
    shipped = None
if shipped is None:
    st.info("This checkpoint carries no task-by-task matrices; write them with "
            "`python -m brainkit correlations --out CHECKPOINT/correlations.json`.")
else:
    st.caption(f"Computed when the model was built, on {shipped.get('computed_on', 'the shared corpus')}."
               " Windows per task: " + ", ".join(f"{t} {n}" for t, n in shipped["n_windows"].items())
               + ". Rows and columns: hierarchical clustering of the query-selection similarity.")
    show(shipped, "shipped")

st.subheader("Your recording")
recording = recording_or_stop()
if "correlations" not in results():
    st.info(f"Every task reads windows of its own length from {recording.name}, under every "
            "task's caption, and integrated gradients run on a few of them: this takes minutes "
            "with the full model. The result is kept for this recording.")
    n = st.number_input("Windows per task", 2, 64, 16, key="correlation_windows")
    if not st.button("Compute for my recording", type="primary", key="correlate"):
        st.stop()
    bk = brainkit_or_stop()
    try:
        with st.spinner("Reading every task's windows: routing, attributions, representations..."):
            results()["correlations"] = correlate_tasks(bk, recording, n_per_task=int(n))
    except BrainkitError as err:
        st.error(str(err))
        st.stop()
    st.rerun()  # the result replaces the controls above

result = results()["correlations"]
st.caption("Windows per task: " + ", ".join(f"{t} {n}" for t, n in result["n_windows"].items())
           + f" (from {recording.name}).")
show(result, "recording")
st.plotly_chart(query_selection_figure(result["selection"]), key="selection")
