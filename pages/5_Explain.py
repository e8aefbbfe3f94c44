"""Explain: why the model gave its answer for one window: integrated gradients over channels
and time (heatmap and topomap), the connector's and the language model's attention over the
tokens, and the attribution of every token."""

import numpy as np
import streamlit as st

from brainkit import BrainkitError
from brainkit.explain.attribution import RECORDING, RECORDING_STARTS, SILENCE, explain_window
from brainkit.explain.integrated import NEGLIGIBLE_CHANGE_NATS
from brainkit.preprocess import preprocess, sliding_windows
from brainkit.tasks import get_task
from brainkit.viz.explain import explanation_figures, readout_figure, token_attribution_figure
from pages._model import brainkit_or_stop
from pages._session import recording_or_stop, results

STARTS = {f"the rest of this recording ({RECORDING_STARTS} windows across it)": RECORDING,
          "another window of this recording": None, "silence (the all-zero signal)": SILENCE}

st.title("Explain")
recording = recording_or_stop()
bk = brainkit_or_stop()
task = st.selectbox("Task", bk.task_ids, key="explain_task")  # with this user's taught tasks
try:  # filtered, resampled and scaled once per recording
    prep = results().get("preprocessed") or results().setdefault("preprocessed", preprocess(recording))
except BrainkitError as err:
    st.error(str(err))
    st.stop()
windows = sliding_windows(prep, get_task(task).window_s)
i = st.slider("Window", 1, len(windows), 1, key="explain_index") - 1 if len(windows) > 1 else 0
choices = list(STARTS) if len(windows) > 1 else list(STARTS)[-1:]
start = st.radio("Attribute the answer relative to", choices, horizontal=True, key="explain_start",
                 help="Integrated gradients follow a path from a starting signal to the window. From "
                      "the rest of the recording (paths from windows spread across it, averaged) or "
                      "from another window (for example one at rest, or with the eyes open), the maps "
                      "show what in this window moves the answer compared with those; silence sits at "
                      "the floor of every band power, and the maps from it say more about those floors "
                      "than about the signal.")
b = STARTS[start]
if b is None:
    b = int(st.number_input("Reference window", 1, len(windows), 2 if i == 0 else 1,
                            key="explain_baseline")) - 1
key = ("explain", task, i, b)
if key not in results():
    if not st.button("Explain this window", type="primary", key="explain"):
        st.info(f"Window {i + 1} of {len(windows)} starts at {windows.starts_s[i]:.1f} s. "
                "Press the button to explain it (integrated gradients take a while).")
        st.stop()
    try:
        with st.spinner("Computing attention and integrated gradients..."):
            results()[key] = explain_window(bk, windows, task, i, baseline=b)
    except BrainkitError as err:
        st.error(str(err))
        st.stop()
ex = results()[key]
probabilities = np.asarray(ex["probabilities"], dtype=float)
st.metric("Answer", str(ex["answer"]), f"p = {probabilities.max():.2f}", delta_color="off")
st.caption(" · ".join(f"{a}: {p:.2f}" for a, p in zip(get_task(task).answers, probabilities)))

if b == RECORDING:
    relative = f"from {int(ex['n_paths'])} windows across the recording (mean)"
elif b == SILENCE:
    relative = "from silence"
else:
    relative = f"from window {b + 1} ({windows.starts_s[b]:.1f} s)"
change, missed = float(ex["logprob"] - ex["baseline_logprob"]), float(ex["completeness_relative"])
within = (f"within {100 * missed:.1f} %" if missed <= 0.05 or not bool(ex["complete"])
          else f"to {float(ex['completeness_error']):.1g} (the answer hardly moves)")
paths = int(ex["n_paths"])
steps = f"{int(ex['n_steps'])} integration steps" + (f" over {paths} paths" if paths > 1 else "")
added = (f"The channels' attributions add up to the change of log p({ex['answer']}) {relative} "
         f"({change:+.3f}) {within}, with {steps}.")
if abs(change) < NEGLIGIBLE_CHANGE_NATS:
    st.info(f"The answer hardly differs {relative} ({change:+.4f} in log p): there is little for the "
            "maps to show, and they are mostly the integration's error. Start from a window the model "
            "answers differently to see what sets this one apart.")
    st.caption(added)
elif bool(ex["complete"]):
    st.caption(added)
else:
    st.warning(added + " More than 5 % is missing: read the maps as approximate.")
figures = explanation_figures(ex, windows, relative)
if (bars := readout_figure(ex)) is not None:
    st.plotly_chart(bars, key="readout")
left, right = st.columns([3, 2])
left.plotly_chart(figures["ig"], key="ig")
right.plotly_chart(figures["topomap"], key="topomap")
left, right = st.columns(2)
left.plotly_chart(figures["conn_att"], key="conn_att")
right.plotly_chart(figures["lm_att"], key="lm_att")
n_levels = np.shape(ex["token_attribution"])[2]
level = st.radio("Token attribution, level", ["sum", *range(1, n_levels + 1)], horizontal=True,
                 key="explain_level")
st.plotly_chart(token_attribution_figure(ex, windows, None if level == "sum" else level - 1),
                key="token_att")
