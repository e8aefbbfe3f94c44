"""Simulate: place sources in a head and see the scalp map, the signal, the tokens, the model's
answers on every task and the read-out's attribution change together (SIMULATED recordings)."""

import streamlit as st

from brainkit import BrainkitError
from brainkit.tasks import TASK_IDS
from brainkit.teaching import LESSONS, HeadModel, answer_rows, code_changes, simulate
from brainkit.viz.answers import hypnogram_figure
from brainkit.viz.explain import source_time_heatmap
from brainkit.viz.signals import psd_figure, trace_figure
from brainkit.viz.tokens import codes_figure
from brainkit.viz.topomap import topomap_figure
from pages._model import brainkit_or_stop
from pages._scene_form import scene_form, set_scene

st.title("Simulate")
st.caption("Place current dipoles in a spherical head (the head, 1/f background and levels of the sample "
           "recordings, calibrated to real ones) and watch what the sensors, the tokens and the model see. "
           "Everything here is SIMULATED.")
for col, (name, lesson) in zip(st.columns(len(LESSONS)), LESSONS.items()):
    col.button(name, key=f"lesson_{name}", on_click=set_scene, args=(lesson.scene,), help=lesson.sentence,
               width="stretch")
bk = brainkit_or_stop()
controls, view = st.columns([5, 6], gap="large")
with controls:
    try:
        scene = scene_form()
    except BrainkitError as err:
        st.error(str(err))
        st.stop()
tasks = [t for t in TASK_IDS if t in bk.decoder.readout_heads and t not in bk.decoder.config.sequence_tasks]
c = controls.columns(2)
task = (c[0].selectbox("Attribution map of the task", tasks, tasks.index("eyes") if "eyes" in tasks else 0,
                       key="sim_task") if tasks else None)
if st.session_state.get("sim_shown", 1) > len(scene.sources):
    st.session_state["sim_shown"] = 1  # that source was removed
shown = c[1].radio("Scalp map of source", range(1, len(scene.sources) + 1), horizontal=True, key="sim_shown")
fast = controls.toggle("Fast answers: read-out head only", key="sim_fast",
                   disabled=not HeadModel.answers_every_task(bk.decoder),
                   help="Off: every answer through the language model, as Decode gives it. On: the read-out "
                        "head's answers that the language model is given (no language model; sub-second)")
cache = st.session_state.setdefault("sim_cache", {})
key = (scene, task, shown - 1, fast)
if key not in cache:
    try:
        with st.spinner("Simulating, tokenizing, decoding every task..."):
            cache.clear()  # one scene kept: the previous one is in sim_previous
            cache[key] = simulate(HeadModel(model=bk) if fast else bk, scene, task, shown - 1)
    except BrainkitError as err:
        st.error(str(err))
        st.stop()
sim = cache[key]
previous = st.session_state.get("sim_previous")
if previous is not None and previous.scene == sim.scene:
    previous = st.session_state.get("sim_before")  # a rerun of the same scene: compare with the one before
else:
    st.session_state["sim_before"], st.session_state["sim_previous"] = previous, sim

lesson = next((n for n, les in LESSONS.items() if les.scene == scene), None)
if lesson:
    view.info(f"**{lesson}.** {LESSONS[lesson].sentence}")
if task:
    p = dict(zip(sim.predictions[task].answers, sim.predictions[task].probabilities.mean(0)))
    view.metric(f"{task} answer", max(p, key=p.get), f"p = {max(p.values()):.2f}", delta_color="off")
view.plotly_chart(topomap_figure(sim.map_sensors, sim.field, f"Field of source {shown} ({sim.unit})"), key="sim_map")
view.markdown(("**The read-out head's answers** (fast; no language model)" if fast else
                "**The model's answers**, as Decode gives them") + " (the first window of each task, every 30-s epoch "
               "for sleep: mean probability; change since the previous scene)")
view.dataframe(answer_rows(sim.predictions, previous and previous.predictions), hide_index=True, key="sim_answers")
if len(sim.predictions["sleep_stage"].starts_s) > 1:
    view.plotly_chart(hypnogram_figure(sim.predictions["sleep_stage"]), key="sim_hypnogram")
if view.button("Use this recording", type="primary", key="sim_use",
             help="Decode, Explain and Tokens then read it as if it were uploaded"):
    st.session_state.update(recording=sim.recording, recording_key=f"simulated:{hash(sim.scene)}", results={},
                            load_error=None)
    st.rerun()  # so that the sidebar, drawn before this page, shows it
if st.session_state.get("recording") is sim.recording:
    view.success(f"Loaded **{sim.recording.name}**: open Decode, Explain or Tokens.")
left, right = st.columns(2)
left.plotly_chart(trace_figure(sim.recording, 0.0, min(10.0, sim.recording.duration_s)), key="sim_traces")
right.plotly_chart(psd_figure(sim.recording), key="sim_psd")
left, right = st.columns(2)
left.plotly_chart(codes_figure(sim.codes[0], sim.patch_s, 0.0, None, bk.tokenizer.config.codebook_size), key="sim_codes")
changes = code_changes(previous and previous.codes, sim.codes)
if changes is None:
    right.info("Change the scene to see which codes change.")
else:
    right.plotly_chart(source_time_heatmap(changes, sim.patch_s, 0.0, f"Codes changed since the previous scene: "
                                           f"{int((changes > 0).sum())} of {changes.size} tokens", "levels"),
                       key="sim_changes")
if sim.attribution is not None:
    a = sim.attribution
    left, right = st.columns([2, 3])
    left.plotly_chart(topomap_figure(sim.recording.sensors, a["channel"], f"{task}: evidence for '{a['answer']}' "
                                     "(nats per channel)"), key="sim_attribution")
    right.markdown(f"**Read-out of {task}**: what the sources add to the answer '{a['answer']}' over the "
                   f"same scene without them ({a['total']:+.2f} nats in all), largest first")
    right.dataframe([{"region": r, "feature": f, "nats": round(v, 3)} for r, f, v in a["contributions"][:8]],
                    hide_index=True, key="sim_contributions")
