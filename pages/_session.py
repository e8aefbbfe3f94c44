"""Per-user state shared by the pages: the loaded recording and what was computed from it.

``st.session_state`` keys: ``recording`` (a :class:`brainkit.io.Recording` or None),
``recording_key`` (what it was loaded from), ``results`` (anything computed from it; emptied
when another recording is loaded) and ``load_error`` (the last reading error, one line).
"""

import hashlib

import streamlit as st

from brainkit import BrainkitError
from brainkit.io import read_recording


def load(source, key: str, sfreq=None) -> None:
    """Read ``source`` once per ``key``; a new recording replaces the old one and its results."""
    if st.session_state.get("recording_key") == key:
        return
    try:
        with st.spinner("Reading the recording..."):
            recording, error = read_recording(source, sfreq=sfreq), None
    except BrainkitError as err:
        recording, error = None, str(err)
    st.session_state.update(recording=recording, recording_key=key, results={}, load_error=error)
    st.rerun()  # so that everything drawn before this point (the sidebar) shows the new state


def upload_key(files, sfreq) -> str:
    """File names, sizes and content hashes (each file hashed once per upload)."""
    hashes = st.session_state.setdefault("upload_hashes", {})
    parts = []
    for f in files:
        if f.file_id not in hashes:
            hashes[f.file_id] = hashlib.sha256(f.getvalue()).hexdigest()[:16]
        parts.append(f"{f.name}:{f.size}:{hashes[f.file_id]}")
    return "upload:" + "|".join(sorted(parts)) + f"|sfreq={sfreq}"


def recording_or_stop():
    """The loaded recording; otherwise a pointer to the Upload page, and the page stops."""
    recording = st.session_state.get("recording")
    if recording is None:
        st.info("No recording loaded yet: choose one on the Upload page.")
        st.page_link("pages/1_Upload.py", label="Go to Upload", icon=":material/upload_file:")
        st.stop()
    return recording


def results() -> dict:
    """This user's results for the loaded recording (emptied when another one is loaded)."""
    return st.session_state.setdefault("results", {})
