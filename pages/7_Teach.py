"""Teach: a new task from labelled windows (the loaded recording's annotations, or several
uploaded recordings), cross-validated beside the classical methods in the same folds, then usable
on Decode, Explain and Task correlations, for this user only."""

import streamlit as st

from brainkit import BrainkitError
from brainkit.data.labelled import annotation_task, class_counts, count_warnings, recording_sets
from brainkit.io import read_recording
from brainkit.training.teach import layout_warning, teach
from brainkit.viz.teach import comparison_rows, gap_rows, learning_curve_figure
from pages._model import brainkit_or_stop, taught_packs
from pages._session import recording_or_stop, results, upload_key

LOADED, UPLOAD = "the loaded recording's annotations", "labelled recordings I upload"

st.title("Teach")
source = st.radio("Labels from", [LOADED, UPLOAD], horizontal=True, key="teach_source")
if source == LOADED:
    recordings = [recording_or_stop()]
else:
    files = st.file_uploader("Recordings with annotations (one file each: EDF, BDF, FIF, ...)",
                             accept_multiple_files=True, key="teach_files")
    if not files:
        st.info("Upload two or more annotated recordings, or use the loaded recording's annotations.")
        st.stop()
    key = upload_key(files, None)
    try:
        if st.session_state.get("teach_uploads", (None,))[0] != key:
            st.session_state["teach_uploads"] = (key, [read_recording(f) for f in files])
    except BrainkitError as err:
        st.error(str(err))
        st.stop()
    recordings = st.session_state["teach_uploads"][1]
bk = brainkit_or_stop()
names = sorted({str(d) for r in recordings for d in r.annotations.description})
if not names:
    st.error("These recordings have no annotations: nothing to learn the labels from.")
    st.stop()
chosen = st.multiselect("Annotations that label the windows (two or more)", names, key="teach_annotations")
labels = {a: st.text_input(f"Label for '{a}'", "_".join(a.lower().split()), key=f"teach_label_{a}")
          for a in chosen}
left, mid, right = st.columns(3)
task_id = left.text_input("New task id", "my_task", key="teach_id")
window_s = mid.number_input("Window (s)", 0.1, 60.0, 4.0, 0.5, key="teach_window")
stride = right.number_input("Stride (s); 0: one window per onset", 0.0, 60.0, 0.0, 0.5, key="teach_stride")
caption = st.text_input("Caption (one sentence, optional)", key="teach_caption")
if len(chosen) < 2:
    st.info("Choose the annotations of two or more classes.")
    st.stop()
try:
    task = annotation_task(task_id, labels, window_s, stride or None, caption)
    sets = recording_sets(recordings, labels, window_s, stride or None, config=bk.preprocess_config)
except BrainkitError as err:
    st.error(str(err))
    st.stop()
counts = class_counts(sets)
st.table({"label": list(counts), "windows": list(counts.values())})
for line in count_warnings(counts) + layout_warning(sets):
    st.warning(line)
if st.button("Teach", type="primary", key="teach", disabled=len(counts) < 2):
    bar = st.progress(0.0, text="Teaching...")
    try:
        pack = teach(bk, task, sets, progress=lambda stage, done, total: bar.progress(
            done / total, text=f"{stage}: {done} of {total}"))
    except BrainkitError as err:
        bar.empty()
        st.error(str(err))
        st.stop()
    taught_packs()[task.id] = pack
    results().get("predictions", {}).pop(task.id, None)  # answers of an older pack of that id
    results().pop("correlations", None)
    st.rerun()
pack = taught_packs().get(task.id)
if pack is None:
    st.stop()
report = pack.report
st.subheader(f"{task.id}: how well it learned")
st.plotly_chart(learning_curve_figure(report, len(pack.task.answers)), key="teach_curve")
st.dataframe(comparison_rows(report), hide_index=True, key="teach_comparison")
gaps = gap_rows(report)
if gaps:
    st.dataframe(gaps, hide_index=True, key="teach_gaps")
    st.caption("The kept head minus each classical method, in points, on the same draws and folds (paired); "
               "±: its standard error over the draws (with every training window, over the folds). "
               "A difference within about two standard errors of zero is not evidence that either is better.")
reading, cv = report["lm_head_agreement"], report["cross_validation"]
where = ("on a recording without its channels it answers from the scalp regions" if pack.channels
         else "it reads the scalp regions, on any layout")
st.caption(f"Cross-validated without the language model. The pack keeps **{report['head']}** ({where}); "
           "it is chosen by what the recordings allow, not by these scores, so its row is the one to compare. "
           + (f"A learning-curve point is the mean (±: standard deviation) over {cv['draws']} random draws of "
              "that many training windows per class. " if "draws" in cv else "") +
           f"The language model gives the head's answer on {100 * reading['agreement']:.0f}% of "
           f"{reading['n_windows']} training windows. Taught in {sum(report['seconds'].values()):.0f} s.")
st.success(f"{task.id} is now on Decode, Explain and Task correlations (for you only).")
st.page_link("pages/4_Decode.py", label="Decode with it", icon=":material/psychology:")
