"""Model card: what the default checkpoint was trained on, how well it does, and its limits."""

from importlib.resources import files

import streamlit as st

st.title("Model card")
card = files("brainkit") / "assets" / "brainkit-base" / "MODEL_CARD.md"
if not card.is_file():
    st.info("The default model is not trained yet: there is no model card to show. "
            "It will appear here once brainkit/assets/brainkit-base/ holds a checkpoint.")
    st.stop()
st.markdown(card.read_text(encoding="utf-8"))
