"""brainkit app: ``streamlit run app.py`` (or ``make app``).

One thin page per step of the data flow (DESIGN.md, "App pages"). Shared per-user state, in
``st.session_state``:

``recording``      the :class:`brainkit.io.Recording` the Upload page loaded (None when none is)
``recording_key``  what it was loaded from (file names, sizes and content hash, or the sample);
                   a new key loads once and replaces ``recording`` and ``results``
``results``        dict of anything computed from ``recording`` (quality, tokens, predictions,
                   ...); emptied whenever a new recording is loaded

(``pages/_session.py`` keeps them.) The model, when pages need it, is loaded once per process with ``st.cache_resource`` (see
``pages/_model.py``; the environment variables ``BRAINKIT_CHECKPOINT`` and ``BRAINKIT_LM`` point
it at another checkpoint or language model).
"""

import sys
from pathlib import Path

import streamlit as st

#: Pages in data-flow order: (file, title, icon). tests/test_app.py checks that every file in
#: pages/ is listed here and renders every page listed (``pages/_session.py`` and
#: ``pages/_model.py`` are not pages: they hold the per-user state and load the model).
PAGES = [
    ("pages/1_Upload.py", "Upload", ":material/upload_file:"),
    ("pages/2_Sensors.py", "Sensors", ":material/sensors:"),
    ("pages/3_Tokens.py", "Tokens", ":material/grid_view:"),
    ("pages/4_Decode.py", "Decode", ":material/psychology:"),
    ("pages/5_Explain.py", "Explain", ":material/insights:"),
    ("pages/6_Task_correlations.py", "Task correlations", ":material/hub:"),
    ("pages/7_Teach.py", "Teach", ":material/school:"),
    ("pages/8_Simulate.py", "Simulate", ":material/experiment:"),
    ("pages/9_Model_card.py", "Model card", ":material/description:"),
]

# Pages import their shared helpers as ``pages._model``: make this folder importable, as
# ``streamlit run`` does (streamlit.testing's AppTest does not).
if str(Path(__file__).resolve().parent) not in sys.path:
    sys.path.insert(0, str(Path(__file__).resolve().parent))

# Streamlit forgets the value of a widget that a run does not draw; re-saving these keeps the
# Upload page's choices, and the task chosen on Decode and Explain, while the user is on
# another page.
for _key in ("source", "sample", "decode_task", "explain_task"):
    if _key in st.session_state:
        st.session_state[_key] = st.session_state[_key]

# An emoji favicon is drawn in the browser; a ":material/...:" one would be fetched from
# fonts.gstatic.com on every page view (a request leaving the machine; it fails offline).
st.set_page_config(page_title="brainkit", page_icon="🧠", layout="wide")
page = st.navigation([st.Page(path, title=title, icon=icon, default=(i == 0))
                      for i, (path, title, icon) in enumerate(PAGES)])
st.sidebar.caption(
    "**Research tool, not a medical device.** brainkit's outputs are not a diagnosis and must "
    "not guide the care of a patient.")
recording = st.session_state.get("recording")
if recording is not None:
    st.sidebar.caption(f"Loaded: **{recording.name}** ({recording.format}, "
                       f"{len(recording.sensors)} channels, {recording.duration_s:.0f} s)")
page.run()
