"""Filtering, resampling, robust scaling and windows."""

import mne
import numpy as np
import pytest

from brainkit.errors import BrainkitError
from brainkit.io import Recording
from brainkit.preprocess import (PreprocessConfig, annotation_windows, detect_line_freq, event_windows,
                                 preprocess, robust_scale, sliding_windows)
from brainkit.sensors import sensors_from_info


def _recording(data, sfreq, names=None, kinds="eeg"):
    names = names or [f"ch{i}" for i in range(len(data))]
    raw = mne.io.RawArray(np.asarray(data, float), mne.create_info(names, sfreq, kinds), verbose="error")
    sensors, _ = sensors_from_info(raw.info)
    return Recording(raw=raw, sensors=sensors, format="test", name="test")


def test_resample_and_shapes():
    sfreq, n = 500.0, 5000
    t = np.arange(n) / sfreq
    rec = _recording([np.sin(2 * np.pi * 10 * t) * 1e-5, np.cos(2 * np.pi * 6 * t) * 2e-5, t * 0 + 1e-6],
                     sfreq, ["Cz", "Pz", "ECG"], ["eeg", "eeg", "ecg"])
    prep = preprocess(rec)
    assert prep.sfreq == 256.0 and prep.data.shape == (2, 2560)  # ECG dropped, 10 s at 256 Hz
    assert prep.data.dtype == np.float32
    w = sliding_windows(prep, 4.0, 2.0)
    assert w.x.shape == (4, 2, 1024) and np.allclose(w.starts_s, [0, 2, 4, 6])
    # a 10 Hz sine keeps its frequency through filtering and resampling
    spectrum = np.abs(np.fft.rfft(prep.data[0, 256:-256]))
    freqs = np.fft.rfftfreq(prep.data.shape[1] - 512, 1 / 256)
    assert abs(freqs[spectrum.argmax()] - 10) < 0.3


def test_robust_scale_is_unit_and_keeps_scale():
    rng = np.random.default_rng(0)
    data = rng.normal(0, 3e-5, (3, 10000))
    data[1] *= 10
    scaled, scale = robust_scale(data)
    assert np.allclose(np.std(scaled, axis=1), 1.0, atol=0.05)
    assert scale[1] / scale[0] == pytest.approx(10, rel=0.1)
    flat_scaled, flat_scale = robust_scale(np.zeros((1, 100)))
    assert np.all(flat_scaled == 0) and flat_scale[0] == 1.0
    spiky = rng.normal(0, 1, (1, 1000))
    spiky[0, 10] = 1e6
    assert robust_scale(spiky, clip=20)[0].max() == 20


def test_line_noise_detected_and_removed():
    sfreq = 500.0
    t = np.arange(int(30 * sfreq)) / sfreq
    rng = np.random.default_rng(0)
    eeg = rng.normal(0, 1e-5, (2, t.size)) + 2e-5 * np.sin(2 * np.pi * 50 * t)
    assert detect_line_freq(eeg, sfreq) == 50.0
    assert detect_line_freq(rng.normal(0, 1e-5, (2, t.size)), sfreq) is None
    prep = preprocess(_recording(eeg, sfreq, ["Cz", "Pz"]))
    assert prep.notch_hz == 50.0
    freqs = np.fft.rfftfreq(prep.data.shape[1], 1 / 256)
    power = np.abs(np.fft.rfft(prep.data[0])) ** 2
    line = power[np.abs(freqs - 50) < 0.5].mean()
    around = power[(np.abs(freqs - 50) > 3) & (np.abs(freqs - 50) < 8)].mean()
    assert line < 3 * around


def test_event_windows_drop_edges_and_label():
    prep = preprocess(_recording(np.random.default_rng(0).normal(0, 1e-5, (1, 2560)), 256.0, ["Cz"]))
    w = event_windows(prep, [0.05, 3.0, 9.9], ["a", "b", "c"], 1.0, offset_s=-0.1)
    assert w.labels.tolist() == ["b"] and w.x.shape == (1, 1, 256)
    assert w.starts_s[0] == pytest.approx(2.9, abs=1 / 256)


def test_annotation_blocks_tile_with_stride():
    rec = _recording(np.random.default_rng(0).normal(0, 1e-5, (1, 256 * 60)), 256.0, ["Oz"])
    rec.raw.set_annotations(mne.Annotations([0, 30], [30, 30], ["eyes open", "eyes closed"]))
    prep = preprocess(rec)
    w = annotation_windows(prep, rec.annotations, {"eyes open": "open", "eyes closed": "closed"},
                           4.0, stride_s=4.0)
    assert (w.labels == "open").sum() == 7 and (w.labels == "closed").sum() == 7


def test_short_recordings():
    prep = preprocess(_recording(np.random.default_rng(0).normal(0, 1e-5, (1, 300)), 256.0, ["Cz"]))
    w = sliding_windows(prep, 4.0)
    assert w.x.shape == (1, 1, 1024) and np.all(w.x[0, 0, 300:] == 0)  # padded, never rejected
    assert len(w.warnings) == 1 and "zero-padded to 4 s" in w.warnings[0]
    long = np.random.default_rng(1).normal(0, 1e-5, (1, 5000))
    assert sliding_windows(preprocess(_recording(long, 256.0, ["Cz"])), 4.0).warnings == ()
    with pytest.raises(BrainkitError, match="at least 2"):
        preprocess(_recording(np.zeros((1, 1)), 256.0, ["Cz"]))
    with pytest.raises(BrainkitError, match="no EEG or MEG"):
        preprocess(_recording(np.zeros((1, 5000)), 256.0, ["ECG"], "ecg"))


def test_a_0p3_s_meg_recording_gives_one_padded_window():
    """DESIGN.md: a window of another length is padded, never rejected (a 0.30-s BTi-like MEG
    recording at 1017.25 Hz was once refused with "at least 0.5 s is needed")."""
    sfreq, n = 1017.25, round(0.3 * 1017.25)
    t = np.arange(n) / sfreq
    data = 1e-12 * np.sin(2 * np.pi * 10 * t) + np.random.default_rng(0).normal(0, 1e-13, (4, n))
    info = mne.create_info([f"A{i}" for i in range(1, 5)], sfreq, "mag")
    for i, ch in enumerate(info["chs"]):  # magnetometers 12 cm from the head centre, facing out
        direction = np.array([np.cos(i), np.sin(i), 1.0]) / np.sqrt(2)
        ch["loc"][:3], ch["loc"][9:12] = 0.12 * direction, direction
    raw = mne.io.RawArray(data, info, verbose="error")
    sensors, _ = sensors_from_info(raw.info)
    prep = preprocess(Recording(raw=raw, sensors=sensors, format="test", name="bti.fif"))
    assert prep.data.shape == (4, round(0.3 * 256))
    w = sliding_windows(prep, 4.0)
    assert w.x.shape == (1, 4, 1024) and list(w.starts_s) == [0.0]
    kept = prep.data.shape[1]
    np.testing.assert_array_equal(w.x[0, :, :kept], prep.data)
    assert np.all(w.x[0, :, kept:] == 0) and np.abs(w.x[0, :, :kept]).max() > 0.5
    assert w.warnings and "0.30 s of signal" in w.warnings[0] and "zero-padded" in w.warnings[0]


def test_slow_recording_filters_below_nyquist():
    sfreq = 100.0
    t = np.arange(int(20 * sfreq)) / sfreq
    prep = preprocess(_recording([1e-5 * np.sin(2 * np.pi * 12 * t)], sfreq, ["C3-A1"]),
                      PreprocessConfig(notch=None))
    assert np.isfinite(prep.data).all() and prep.data.shape[1] == 20 * 256


def test_channels_without_a_signal_are_left_out_as_if_absent():
    rng = np.random.default_rng(5)
    sfreq, n = 250.0, 2500
    live = rng.normal(0.0, 20e-6, (3, n))
    quantised = np.where(rng.random(n) < 0.01, 50e-6, 0.0)  # one level, rare steps
    mixed = _recording(np.vstack([live[:1], np.zeros((1, n)), live[1:], quantised[None]]), sfreq,
                       ["Cz", "C3", "Pz", "Oz", "O1"])
    mixed.raw.info["bads"] = ["Oz"]
    alone = _recording(live[:2], sfreq, ["Cz", "Pz"])
    config = PreprocessConfig(notch=None)
    got, want = preprocess(mixed, config), preprocess(alone, config)
    assert got.sensors.names == ["Cz", "Pz"]
    np.testing.assert_array_equal(got.data, want.data)
    np.testing.assert_array_equal(got.scale, want.scale)


def test_a_recording_without_any_signal_is_refused_in_one_line():
    n = 2500
    rec = _recording([np.zeros(n), np.full(n, 3e-5), np.where(np.arange(n) % 200 == 0, 5e-5, 0.0)],
                     250.0, ["Cz", "Pz", "Oz"])
    with pytest.raises(BrainkitError, match=r"^no EEG or MEG channel carries a signal: all 3 are flat "
                                             r"\(constant, a disconnected lead or a dead sensor\)"):
        preprocess(rec)


def test_the_channels_read_follow_the_recording_when_it_changes():
    """``Recording.decoded_channels`` is kept between calls, and follows a pick of channels or a
    channel marked bad after it was first asked (the teaching demos pick a 4-channel montage)."""
    rng = np.random.default_rng(8)
    rec = _recording(np.vstack([rng.normal(0, 2e-5, (3, 2500)), np.zeros((1, 2500))]), 250.0,
                     ["Cz", "Pz", "Oz", "O1"])
    assert rec.decoded_channels[0].tolist() == [0, 1, 2] and rec.decoded_channels[1] == {"O1": "flat"}
    rec.raw.info["bads"] = ["Pz"]
    assert rec.decoded_channels[0].tolist() == [0, 2]
    rec.raw.pick([2, 3])
    rec.sensors = rec.sensors.pick([2, 3])
    assert rec.decoded_channels[0].tolist() == [0] and rec.decoded_channels[1] == {"O1": "flat"}
    assert preprocess(rec).sensors.names == ["Oz"]


def test_selecting_windows_keeps_each_ones_scale():
    """Windows of several recordings carry a scale per window (N, C): a selection keeps the
    selected windows' rows (it kept all N before, and a window explained alone got N rows)."""
    from brainkit.preprocess import Windows
    from brainkit.sensors import SensorArray

    sensors = SensorArray(["Cz", "Pz"], ["eeg", "eeg"], np.zeros((2, 3)), np.zeros((2, 3)), np.zeros(2, bool))
    x = np.zeros((3, 2, 8), np.float32)
    w = Windows(x, 256.0, np.arange(3.0), sensors, np.array([[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]]))
    np.testing.assert_array_equal(w.select([2, 0]).scale, [[5.0, 6.0], [1.0, 2.0]])
    one = Windows(x, 256.0, np.arange(3.0), sensors, np.array([1.0, 2.0]))
    np.testing.assert_array_equal(one.select([1]).scale, [1.0, 2.0])
