"""Decode: answers of one task or all of them for every window of the recording, their
probabilities over time (a hypnogram for sleep), a summary, exports, and open questions."""

from functools import partial

import streamlit as st

from brainkit import BrainkitError
from brainkit.export import html_report, predictions_csv, predictions_edf, summary_table
from brainkit.inference import window_at
from brainkit.preprocess import preprocess
from brainkit.tasks import get_task
from brainkit.viz.answers import prediction_figures
from pages._model import brainkit_or_stop
from pages._session import recording_or_stop, results

ALL = "all tasks"

st.title("Decode")
recording = recording_or_stop()
bk = brainkit_or_stop()
choice = st.selectbox("Task", [ALL, *bk.task_ids], index=None, placeholder="choose a task",
                      key="decode_task")
if choice is None:
    st.info("Choose a task, or all of them, then press Decode.")
    st.stop()
tasks = list(bk.task_ids) if choice == ALL else [choice]  # with this user's taught tasks
for task in tasks:
    st.caption(f"**{task}** ({get_task(task).window_s:g}-s windows): {get_task(task).caption} "
               f"{bk.reading_note(recording, task)}")
decoded = results().setdefault("predictions", {})
todo = [t for t in tasks if t not in decoded]
if todo and st.button("Decode", type="primary", key="decode"):
    bar = st.progress(0.0, text="Decoding...")
    try:
        decoded.update(bk.decode_tasks(recording, todo, progress=lambda done, total: bar.progress(
            done / total, text=f"Decoding: {done} of {total} windows")))
        st.rerun()  # redraw without the button and the bar
    except BrainkitError as err:
        bar.empty()
        st.error(str(err))
shown = {t: decoded[t] for t in tasks if t in decoded}
if not shown:
    st.info("Press Decode to read every window of the recording.")
    st.stop()

charts = {}
for task, preds in shown.items():
    st.subheader(task)
    for caption, fig in prediction_figures(preds).items():
        charts[caption] = fig
        st.plotly_chart(fig, key=caption)
st.markdown("**Summary** (windows per answer; mean probability over all windows)")
st.dataframe(summary_table(list(shown.values())), hide_index=True, key="summary")
stem = recording.name.split(".")[0] + "_" + ("all" if choice == ALL else choice)
cols = st.columns(3)
cols[0].download_button("CSV", partial(predictions_csv, list(shown.values())), f"{stem}.csv",
                        "text/csv", on_click="ignore", key="csv")
cols[1].download_button("EDF+ with answers", partial(predictions_edf, recording,
                        list(shown.values())), f"{stem}.edf", "application/octet-stream",
                        on_click="ignore", key="edf")
cols[2].download_button("HTML report", partial(html_report, recording.summary(), shown, charts),
                        f"{stem}.html", "text/html", on_click="ignore", key="html")

st.markdown("**Ask an open question** (the language model answers in free text about one 4-s "
            "window; not calibrated, for exploration)")
with st.form("ask"):
    last = recording.duration_s - 4.0
    start = st.slider("Window start (s)", 0.0, last, 0.0, 1.0) if last >= 1.0 else 0.0
    question = st.text_input("Question", placeholder="What do you see in this segment?")
    if st.form_submit_button("Ask", key="ask") and question.strip():
        prep = results().get("preprocessed") or preprocess(recording)  # kept, as on Explain
        results()["preprocessed"] = prep
        answer = bk.ask(window_at(recording, start, 4.0, prep), question)
        results().setdefault("answers", []).append({"start_s": start, "question": question,
                                                    "answer": answer})
for qa in reversed(results().get("answers", [])):
    st.markdown(f"**{qa['start_s']:g} s · {qa['question']}**  \n{qa['answer']}")
