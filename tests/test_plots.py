"""brainkit.viz.signals: decimation keeps every extreme, figures carry data, sensors land on the head."""

import mne
import numpy as np
import pytest
from scipy.spatial import cKDTree

from brainkit import BrainkitError
from brainkit.io import Recording
from brainkit.viz.signals import (annotation_records, decimate_minmax, head_surface, project_topview,
                            psd_figure, sensor_layout_2d, sensor_view_3d, trace_figure)
from brainkit.sensors import SensorArray, sensors_from_info

EEG_1020 = ["Fp1", "Fp2", "F7", "F3", "Fz", "F4", "F8", "T7", "C3", "Cz", "C4", "T8",
            "P7", "P3", "Pz", "P4", "P8", "O1", "O2"]


def _recording(names=EEG_1020, sfreq=200.0, seconds=120.0, kinds="eeg") -> Recording:
    rng = np.random.default_rng(0)
    data = rng.normal(0.0, 10e-6, (len(names), int(sfreq * seconds)))
    raw = mne.io.RawArray(data, mne.create_info(list(names), sfreq, kinds), verbose="error")
    if seconds > 101:
        raw.set_annotations(mne.Annotations([2.0, 5.0, 100.0], [0.0, 3.0, 1.0],
                                            ["tone", "eyes", "late"]))
    sensors, _ = sensors_from_info(raw.info)
    return Recording(raw=raw, sensors=sensors, format="test", name="test.edf")


@pytest.fixture(scope="module")
def eeg():
    return _recording()


@pytest.fixture(scope="module")
def meg_sensors():
    info = mne.channels.read_meg_canonical_info("neuromag")
    sensors, _ = sensors_from_info(info)
    return sensors


@pytest.mark.parametrize("n_times", [10, 3999, 4001, 12345, 100_000])
def test_decimate_minmax_keeps_extremes_and_is_bounded(n_times):
    data = np.random.default_rng(n_times).normal(size=(3, n_times))
    t_idx, values = decimate_minmax(data, n_columns=2000)
    assert t_idx.shape == values.shape and t_idx.shape[1] <= 4000
    assert np.all(np.diff(t_idx, axis=1) >= 0) and t_idx.min() >= 0 and t_idx.max() < n_times
    np.testing.assert_array_equal(values, np.take_along_axis(data, t_idx, axis=1))
    if n_times <= 4000:
        np.testing.assert_array_equal(values, data)  # nothing to drop
        return
    width = -(-n_times // 2000)
    for c in range(3):
        for start in range(0, n_times, width):  # every column's min and max survive
            kept = values[c][(t_idx[c] >= start) & (t_idx[c] < start + width)]
            column = data[c, start:start + width]
            assert kept.min() == column.min() and kept.max() == column.max()


def test_trace_figure_pages_and_annotations(eeg):
    fig = trace_figure(eeg, start_s=0.0, duration_s=10.0, max_points=2000)
    lines = [t for t in fig.data if t.name != "annotations"]
    assert [t.name for t in lines] == EEG_1020
    for trace in lines:
        assert 0 < len(trace.x) == len(trace.y) <= 2000
        assert 0.0 <= min(trace.x) and max(trace.x) <= 10.0
    markers = [t for t in fig.data if t.name == "annotations"]
    assert len(markers) == 1 and list(markers[0].text) == ["tone", "eyes"]
    assert len(fig.layout.shapes) == 2  # a line for the tone, a shaded span for "eyes"
    # a long page is decimated to the same size
    long = trace_figure(eeg, start_s=0.0, duration_s=120.0, channels=["O1", "Cz"])
    assert [t.name for t in long.data if t.name != "annotations"] == ["O1", "Cz"]
    assert all(len(t.x) <= 2000 for t in long.data)


def test_trace_figure_rejects_unknown_channels(eeg):
    with pytest.raises(BrainkitError, match="unknown channel"):
        trace_figure(eeg, 0.0, 5.0, channels=["Nope"])


def test_annotation_records(eeg):
    rows = annotation_records(eeg)
    assert [r["description"] for r in rows] == ["tone", "eyes", "late"]
    assert rows[1] == {"onset_s": 5.0, "duration_s": 3.0, "description": "eyes"}


def test_psd_figure_has_a_spectrum_per_channel(eeg):
    fig = psd_figure(eeg, channels=["Cz", "Pz"], fmax=40.0)
    assert [t.name for t in fig.data] == ["Cz", "Pz"]
    for trace in fig.data:
        assert len(trace.x) > 10 and max(trace.x) <= 40.0 and min(trace.x) > 0
        assert np.all(np.asarray(trace.y) > 0)
    assert fig.layout.yaxis.type == "log"
    # white noise of 10 µV r.m.s. at 200 Hz: 100 / 100 = 1 µV²/Hz
    assert np.median(fig.data[0].y) == pytest.approx(1.0, rel=0.2)


def test_topview_keeps_left_left_and_nose_up(eeg):
    xy = project_topview(eeg.sensors.pos)
    names = eeg.sensors.names
    for left, right in [("Fp1", "Fp2"), ("C3", "C4"), ("T7", "T8"), ("O1", "O2")]:
        assert xy[names.index(left), 0] < 0 < xy[names.index(right), 0]
    assert xy[names.index("Fz"), 1] > 0 > xy[names.index("Pz"), 1]
    assert np.linalg.norm(xy[names.index("Cz")]) < 15.0  # the vertex is near the centre (mm)


def test_layout_2d_lists_channels_without_position():
    sensors = _recording(names=EEG_1020 + ["Xyz1"], seconds=5.0).sensors
    fig = sensor_layout_2d(sensors)
    eeg = [t for t in fig.data if t.name and t.name.startswith("eeg")]
    assert len(eeg) == 1 and len(eeg[0].x) == len(EEG_1020) and "Xyz1" not in eeg[0].text
    assert "Xyz1" in fig.layout.title.text


def test_3d_view_puts_1020_electrodes_on_the_head(eeg):
    vertices, tris, scale = head_surface(eeg.sensors)
    assert tris.max() < len(vertices) and 0.7 <= scale <= 1.4
    fig = sensor_view_3d(eeg.sensors)
    mesh = [t for t in fig.data if t.type == "mesh3d"]
    points = [t for t in fig.data if t.type == "scatter3d"]
    assert len(mesh) == 1 and len(points) == 1
    head = np.column_stack([mesh[0].x, mesh[0].y, mesh[0].z])  # mm
    electrodes = np.column_stack([points[0].x, points[0].y, points[0].z])
    distance, _ = cKDTree(head).query(electrodes)
    assert len(electrodes) == 19 and distance.max() < 20.0  # mm
    assert len(head) < 5000  # the figure stays light


def test_3d_view_head_follows_a_larger_head(eeg):
    big = SensorArray(eeg.sensors.names, eeg.sensors.kinds, eeg.sensors.pos * 1.2,
                      eeg.sensors.ori, eeg.sensors.has_position)
    vertices, _, scale = head_surface(big)
    assert scale == pytest.approx(1.2, rel=0.05)
    distance, _ = cKDTree(vertices).query(big.pos)
    assert distance.max() < 0.02


def test_3d_view_draws_meg_orientations(meg_sensors):
    fig = sensor_view_3d(meg_sensors, show_head=False)
    cones = {t.name: t for t in fig.data if t.type == "cone"}
    assert set(cones) == {"mag orientation", "grad orientation"}
    assert len(cones["mag orientation"].x) == 102 and len(cones["grad orientation"].x) == 204
    lengths = np.linalg.norm(np.column_stack([cones["mag orientation"].u, cones["mag orientation"].v,
                                              cones["mag orientation"].w]), axis=1)
    assert np.allclose(lengths, lengths[0]) and lengths[0] > 0
    assert not any(t.type == "mesh3d" for t in fig.data)
