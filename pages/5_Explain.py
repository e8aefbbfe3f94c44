"""Explain: why the model gave its answer for one window: integrated gradients over channels
and time (heatmap and topomap), the connector's and the language model's attention over the
tokens, and the attribution of every token."""

import numpy as np
import streamlit as st

from brainkit import BrainkitError
from brainkit.viz.model import attribution_figure, source_time_heatmap, topomap_figure
from brainkit.preprocess import preprocess, sliding_windows
from brainkit.tasks import TASK_IDS, get_task
from pages._model import brainkit_or_stop, recording_or_stop, results

st.title("Explain")
recording = recording_or_stop()
try:
    from brainkit.explain.attribution import explain_window
except ImportError:
    st.info("Explanations are not available in this installation yet (brainkit.explain is missing).")
    st.stop()
bk = brainkit_or_stop()
task = st.selectbox("Task", TASK_IDS, key="explain_task")
if "preprocessed" not in results():  # filtered, resampled and scaled once per recording
    try:
        results()["preprocessed"] = preprocess(recording)
    except BrainkitError as err:
        st.error(str(err))
        st.stop()
windows = sliding_windows(results()["preprocessed"], get_task(task).window_s)
i = st.slider("Window", 1, len(windows), 1, key="explain_index") - 1 if len(windows) > 1 else 0
SILENCE, OTHER = "silence (the all-zero signal)", "another window of this recording"
start = st.radio("Attribute the answer relative to", [SILENCE, OTHER] if len(windows) > 1 else [SILENCE],
                 horizontal=True, key="explain_start",
                 help="Integrated gradients follow a path from a starting signal to the window. From "
                      "another window (for example one at rest, or with the eyes open), the maps show "
                      "what in this window moves the answer compared with that one; from silence, every "
                      "channel's whole band power counts.")
b = None
if start == OTHER:
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
            results()[key] = explain_window(bk, windows, task, i, baseline_index=b)
    except BrainkitError as err:
        st.error(str(err))
        st.stop()
ex, t0 = results()[key], float(windows.starts_s[i])
probabilities = np.asarray(ex["probabilities"], dtype=float)
st.metric("Answer", str(ex["answer"]), f"p = {probabilities.max():.2f}", delta_color="off")
st.caption(" · ".join(f"{a}: {p:.2f}" for a, p in zip(get_task(task).answers, probabilities)))

names = [str(n) for n in ex["ch_names"]]
left, right = st.columns([3, 2])
relative = "from silence" if b is None else f"from window {b + 1} ({windows.starts_s[b]:.1f} s)"
left.plotly_chart(attribution_figure(ex["attribution"], names, windows.sfreq, t0,
                                     f"Integrated gradients over channels and time, {relative}"), key="ig")
sensors = windows.sensors.pick([list(windows.sensors.names).index(n) for n in names])
right.plotly_chart(topomap_figure(sensors, ex["channel_attribution"], "Attribution per channel"),
                   key="topomap")
n_patches = np.shape(ex["connector_attention"])[1]
patch_s = windows.window_s / n_patches
left, right = st.columns(2)
left.plotly_chart(source_time_heatmap(ex["connector_attention"], patch_s, t0,
                                      "Connector attention (queries -> tokens)"), key="conn_att")
right.plotly_chart(source_time_heatmap(ex["lm_attention"], patch_s, t0,
                                       "Language model attention (answer -> tokens)"), key="lm_att")
token = np.asarray(ex["token_attribution"], dtype=float)  # (K, P, L)
level = st.radio("Token attribution, level", ["sum", *range(1, token.shape[2] + 1)],
                 horizontal=True, key="explain_level")
st.plotly_chart(source_time_heatmap(token.sum(2) if level == "sum" else token[:, :, level - 1],
                                    patch_s, t0, "Attribution per token", colorscale="RdBu_r",
                                    zmid=0), key="token_att")
