"""Upload: load a recording (a file or a sample), then its header, channels with quality flags,
annotations, paged traces and spectra."""

from pathlib import Path

import streamlit as st

from brainkit.io import list_recordings
from brainkit.io.formats import GIVE_RATE, rate_in_name
from brainkit.quality import channel_quality
from brainkit.viz.signals import annotation_records, pick_channels, psd_figure, trace_figure
from pages._session import load, upload_key

SAMPLES = Path(__file__).resolve().parents[1] / "sample_data"

st.title("Upload a recording")
named_rate = None  # a rate the uploaded file's name gives, offered when the file carries none
if st.radio("Source", ["Sample recording", "My file"], horizontal=True, key="source") == "My file":
    files = st.file_uploader("EEG or MEG recording: one file, the parts of a multi-file format "
                             "(e.g. .vhdr + .vmrk + .eeg), or a .zip", accept_multiple_files=True,
                             key="upload")
    sfreq = st.number_input("Sampling rate (Hz), only for text exports without timestamps",
                            min_value=0.0, value=0.0, step=1.0, key="sfreq") or None
    if files:
        load(files, upload_key(files, sfreq), sfreq)
        named_rate = rate_in_name(files[0].name) if len(files) == 1 and sfreq is None else None
else:
    choice = st.selectbox("Sample recording (SIMULATED)", [p.name for p in list_recordings(SAMPLES)],
                          index=None, placeholder="choose a sample", key="sample")
    if choice:
        path = SAMPLES / choice
        load(path, f"sample:{choice}:{path.stat().st_size}:{path.stat().st_mtime_ns}")

if st.session_state.get("load_error"):
    st.error(st.session_state["load_error"])
    if named_rate and st.session_state["load_error"].endswith(GIVE_RATE):  # a file without a rate
        st.button(f"Read it at {named_rate:g} Hz, the rate its name gives", key="rate_from_name",
                  on_click=st.session_state.update, kwargs={"sfreq": named_rate})
recording = st.session_state.get("recording")
if recording is None:
    st.info("Choose a sample or upload a recording (EDF, BDF, FIF, BrainVision, EEGLAB, CSV, ...).")
    st.stop()

summary, results = recording.summary(), st.session_state.setdefault("results", {})
st.subheader(recording.name)
for col, (label, value) in zip(st.columns(4), [
        ("Format", summary["format"]), ("Sampling rate", f"{summary['sfreq']:g} Hz"),
        ("Duration", f"{summary['duration_s']:.1f} s"), ("Channels", summary["n_channels"])]):
    col.metric(label, value)
st.caption("By kind: " + ", ".join(f"{k} {n}" for k, n in summary["channels_by_kind"].items())
           + ". De-identified on load: names, birth dates, ids and device serials are removed; "
             "the date is set to 2000-01-01.")
for warning in recording.warnings:
    st.warning(warning)

if "quality" not in results:
    with st.spinner("Checking every channel..."):
        results["quality"] = channel_quality(recording)
st.markdown("**Channels** (flags: flat, noisy, clipped; robust s.d. in the channel's unit; a flat "
            "EEG or MEG channel, or one the file marks bad, is left out of decoding)")
number = st.column_config.NumberColumn
st.dataframe([{**row, "flags": ", ".join(row["flags"])} for row in results["quality"]],
             hide_index=True, key="channel_table",
             column_config={"robust_std": number("robust s.d.", format="%.3g"),
                            "clipped_fraction": number("clipped", format="%.4f"),
                            "line_fraction": number("line noise", format="%.3f")})
annotations = annotation_records(recording)
st.markdown(f"**Annotations** ({len(annotations)})")
if annotations:
    st.dataframe(annotations, hide_index=True, height=200, key="annotation_table")

st.markdown("**Signal**")
channels = st.multiselect("Channels", recording.raw.ch_names, default=pick_channels(recording))
if not channels:
    st.info("Pick at least one channel to see its traces and spectrum.")
    st.stop()
page_s = st.select_slider("Page length (s)", [1, 2, 5, 10, 30, 60, 300], value=10)
n_pages = max(1, int(-(-recording.duration_s // page_s)))
page = st.slider("Page", 1, n_pages, 1) if n_pages > 1 else 1
st.plotly_chart(trace_figure(recording, (page - 1) * page_s, page_s, channels), key="traces")
if results.get("psd", (None,))[0] != channels:  # the spectrum is kept for the current channels
    results["psd"] = (channels, psd_figure(recording, channels))
st.plotly_chart(results["psd"][1], key="psd")
