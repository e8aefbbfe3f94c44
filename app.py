"""brainkit app: ``streamlit run app.py`` (or ``make app``).

One thin page per step of the data flow (DESIGN.md, "App pages"). Shared per-user state, in
``st.session_state``:

``recording``      the :class:`brainkit.io.Recording` the Upload page loaded (None when none is)
``recording_key``  what it was loaded from (file names, sizes and content hash, or the sample);
                   a new key loads once and replaces ``recording`` and ``results``
``results``        dict of anything computed from ``recording`` (quality, tokens, predictions,
                   ...); emptied whenever a new recording is loaded

The model, when pages need it, is loaded once per process with ``st.cache_resource``.
"""

import streamlit as st

#: Pages in data-flow order: (file, title, icon). tests/test_app.py checks that every file in
#: pages/ is listed here and renders every page listed. Numbers 3-6 are kept for the pages still
#: to come: 3_Tokens.py, 4_Decode.py, 5_Explain.py, 6_Task_correlations.py.
PAGES = [
    ("pages/1_Upload.py", "Upload", ":material/upload_file:"),
    ("pages/2_Sensors.py", "Sensors", ":material/sensors:"),
    ("pages/7_Model_card.py", "Model card", ":material/description:"),
]

# Streamlit forgets the value of a widget that a run does not draw; re-saving these keeps the
# Upload page's choices while the user is on another page.
for _key in ("source", "sample"):
    if _key in st.session_state:
        st.session_state[_key] = st.session_state[_key]

st.set_page_config(page_title="brainkit", page_icon=":material/neurology:", layout="wide")
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
