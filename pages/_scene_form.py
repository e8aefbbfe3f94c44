"""The Simulate page's widgets: they make a :class:`brainkit.data.simulate.scene.Scene`, and a
lesson's button sets them (``st.session_state`` keys ``sim_*``)."""

import streamlit as st

from brainkit.data.simulate.scene import MONTAGES, ORIENTATIONS, REGIONS, RHYTHMS, Scene, Source, channel_names

COORDINATES = "coordinates (mm)"
DURATIONS = [10, 30, 60, 300]


def _default_amplitude(i: int) -> None:
    st.session_state[f"sim_amp_{i}"] = RHYTHMS[st.session_state[f"sim_rhythm_{i}"]].default_nam


def set_scene(scene: Scene) -> None:
    """Put a scene into the widgets (a lesson's button calls this before the page reruns)."""
    state = st.session_state
    state.update(sim_montage=scene.montage, sim_duration=int(scene.duration_s), sim_n=len(scene.sources),
                 sim_background=scene.background, sim_blinks=scene.blinks_per_min,
                 sim_line=scene.line_noise, sim_bad=scene.bad_channel or "none")
    for i, s in enumerate(scene.sources):
        state.update({f"sim_region_{i}": COORDINATES if s.position_mm else s.region,
                      f"sim_xyz_{i}": ", ".join(f"{v:g}" for v in s.position_mm or (0, -60, 50)),
                      f"sim_orientation_{i}": s.orientation, f"sim_rhythm_{i}": s.rhythm,
                      f"sim_amp_{i}": float(RHYTHMS[s.rhythm].default_nam if s.amplitude_nam is None
                                            else s.amplitude_nam),
                      f"sim_end_{i}": s.end_amplitude_nam})


def scene_form() -> Scene:
    """The widgets, and the scene they describe (a bad coordinate: an error line, the page stops)."""
    if "sim_montage" not in st.session_state:
        set_scene(Scene())
    cols = st.columns(2)
    montage = cols[0].selectbox("Montage", list(MONTAGES), format_func=lambda m: MONTAGES[m][0], key="sim_montage")
    duration = cols[1].select_slider("Duration (s)", DURATIONS, key="sim_duration")
    cols = st.columns(2)
    n = cols[0].number_input("Sources", 1, 4, key="sim_n")
    if st.session_state.get("sim_bad") not in ("none", *channel_names(montage)):
        st.session_state["sim_bad"] = "none"  # the channel of another montage
    bad = cols[1].selectbox("Bad channel", ["none", *channel_names(montage)], key="sim_bad")
    sources = []
    for i in range(int(n)):
        st.session_state.setdefault(f"sim_rhythm_{i}", "alpha")
        st.session_state.setdefault(f"sim_amp_{i}", RHYTHMS["alpha"].default_nam)
        c = st.columns(3)
        region = c[0].selectbox(f"Source {i + 1}: place", [*REGIONS, COORDINATES], key=f"sim_region_{i}")
        rhythm = c[1].selectbox("Rhythm", list(RHYTHMS), key=f"sim_rhythm_{i}", on_change=_default_amplitude,
                                args=(i,), help=" · ".join(f"{k}: {r.about}" for k, r in RHYTHMS.items()))
        orientation = c[2].selectbox("Orientation", ORIENTATIONS, key=f"sim_orientation_{i}")
        c = st.columns([2, 1])
        amplitude = c[0].slider("Amplitude (nA·m)", 0.0, 600.0, step=10.0, key=f"sim_amp_{i}")
        end = c[1].number_input("...at the end", 0.0, 600.0, None, 10.0, key=f"sim_end_{i}",
                                help="Leave empty for a constant amplitude")
        position = None
        if region == COORDINATES:
            text = st.text_input("x, y, z in mm (head frame: +x right ear, +y nose, +z up)",
                                 key=f"sim_xyz_{i}")
            try:
                position = tuple(float(v) for v in text.split(","))
                assert len(position) == 3
            except (ValueError, AssertionError):
                st.error(f"Source {i + 1}: write three numbers, e.g. 0, -60, 50")
                st.stop()
        sources.append(Source(rhythm, region if position is None else "occipital", position, orientation,
                              amplitude, end))
    cols = st.columns(3)
    background = cols[0].slider("1/f background (x calibrated)", 0.0, 3.0, step=0.1, key="sim_background")
    blinks = cols[1].slider("Blinks per minute (EEG)", 0.0, 30.0, step=1.0, key="sim_blinks")
    line = cols[2].slider("50-Hz line noise (x background)", 0.0, 3.0, step=0.1, key="sim_line")
    return Scene(montage, tuple(sources), float(duration), background=background, blinks_per_min=blinks,
                 line_noise=line, bad_channel=None if bad == "none" else bad)
