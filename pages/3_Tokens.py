"""Tokens: the codes of a recording over sources and time, how much of the codebook they use,
how well they rebuild the signal, and the waveform a code stands for."""

import streamlit as st

from brainkit import BrainkitError
from brainkit.inference import tokenize_recording
from brainkit.viz.tokens import (code_waveform_figure, codebook_usage_figure, codes_figure,
                                 reconstruction_figure, reference_codes)
from pages._model import tokenizer_or_stop
from pages._session import recording_or_stop, results

st.title("Tokens")
recording = recording_or_stop()
model = tokenizer_or_stop()
window_s = st.select_slider("Window length (s)", [1, 2, 4, 10, 30], value=4, key="tokens_window")
key = ("tokens", float(window_s))
if key not in results():
    try:
        with st.spinner(f"Tokenizing {recording.name}..."):
            results()[key] = tokenize_recording(model, recording, window_s)
    except BrainkitError as err:
        st.error(str(err))
        st.stop()
tokens = results()[key]
windows, size, n_levels = tokens.windows, model.config.codebook_size, model.config.n_levels
cols = st.columns(3)
cols[0].metric("Windows tokenized", f"{len(windows)} of {tokens.n_available}",
               help="Consecutive windows from the start of the recording (a bounded number)")
cols[1].metric("Reconstruction r", f"{tokens.r:.3f}")
used = tokens.usage["fraction_used"]
cols[2].metric("Codes used (mean of levels)", f"{sum(used) / len(used):.0%}",
               help="Fraction of each level's codes in these windows: "
                    + ", ".join(f"level {i + 1} {f:.0%}" for i, f in enumerate(used)))
st.caption(f"Each window becomes {model.config.n_sources} sources x {tokens.codes.shape[2]} "
           f"patches of {tokens.patch_s:g} s x {n_levels} levels of a {size}-code codebook.")

i = st.slider("Window", 1, len(windows), 1, key="tokens_index") - 1 if len(windows) > 1 else 0
t0 = float(windows.starts_s[i])
level = st.radio("Level", ["all", *range(1, n_levels + 1)], horizontal=True, key="tokens_level")
st.plotly_chart(codes_figure(tokens.codes[i], tokens.patch_s, t0,
                             None if level == "all" else level - 1, size), key="codes")
st.plotly_chart(codebook_usage_figure(tokens.codes, size), key="usage")

names = list(windows.sensors.names)
channels = st.multiselect("Channels", names, default=names[:4], key="tokens_channels")
if channels:
    st.plotly_chart(reconstruction_figure(windows.x[i], tokens.reconstruction[i], names,
                                          windows.sfreq, channels, t0), key="reconstruction")

st.markdown("**What a code stands for**")
cols = st.columns(3)
code_level = cols[0].selectbox("Level", range(1, n_levels + 1), key="wave_level") - 1
code = cols[1].number_input("Code", 0, size - 1, 0, key="wave_code")
channel = cols[2].selectbox("Channel", names, key="wave_channel")
st.plotly_chart(code_waveform_figure(model, windows.sensors, channel, int(code), code_level,
                                     reference_codes(tokens.codes, size)), key="code_waveform")
st.caption("Reference: every source and patch holds the most used code of each level; the red "
           "line swaps in the chosen code at its level. Amplitudes in robust units of the "
           "preprocessed signal.")
