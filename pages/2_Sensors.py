"""Sensors: where each channel sits (top view and 3-D head) and what the sensor encoder gets."""

import streamlit as st

from brainkit.viz.signals import sensor_layout_2d, sensor_view_3d
from pages._session import recording_or_stop

st.title("Sensors")
recording = recording_or_stop()

sensors = recording.sensors
st.caption(f"{recording.name}: {len(sensors)} channels, {int(sensors.has_position.sum())} with a "
           "position. Head frame: x to the right ear, y to the nose, z up.")
left, right = st.columns(2)
with left:
    st.plotly_chart(sensor_layout_2d(sensors), key="layout_2d")
with right:
    show_head = st.toggle("Show head (MNE fsaverage scalp, scaled to the electrodes)", value=True)
    st.plotly_chart(sensor_view_3d(sensors, show_head=show_head), key="view_3d")

picks, left_out = recording.decoded_channels
model = sensors.pick(picks)
st.markdown(f"**What the sensor encoder receives** ({len(model)} of {len(sensors)} channels: "
            "EEG, magnetometers and gradiometers; a channel without a position gets the learned "
            "unknown-position embedding)")
if left_out:
    st.caption(f"Left out ({len(left_out)}): " + ", ".join(f"{name} ({why})" for name, why in left_out.items()))
if len(model):
    st.dataframe(model.to_records(), hide_index=True, key="encoder_table",
                 column_config={c: st.column_config.NumberColumn(format="%.1f")
                                for c in ("x_mm", "y_mm", "z_mm")}
                 | {c: st.column_config.NumberColumn(format="%.2f")
                    for c in ("ori_x", "ori_y", "ori_z")})
else:
    st.warning("No EEG or MEG channel with a signal: the model has nothing to read in this recording.")
