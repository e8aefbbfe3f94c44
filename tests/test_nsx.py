"""Blackrock NSx (.ns1-.ns6), written here from the file specification (version 3.0)."""

import json
import subprocess
import sys
from pathlib import Path

import numpy as np

from brainkit.io import read_recording

ROOT = Path(__file__).resolve().parents[1]
BASIC = [("file_id", "S8"), ("ver_major", "u1"), ("ver_minor", "u1"), ("bytes_in_headers", "<u4"),
         ("label", "S16"), ("comment", "S256"), ("period", "<u4"), ("timestamp_resolution", "<u4"),
         ("time", "<u2", 8), ("channel_count", "<u4")]
EXTENDED = [("type", "S2"), ("electrode_id", "<u2"), ("electrode_label", "S16"), ("connector", "u1"),
            ("pin", "u1"), ("digital", "<i2", 2), ("analog", "<i2", 2), ("units", "S16"),
            ("high", "<u4", 2), ("high_type", "<u2"), ("low", "<u4", 2), ("low_type", "<u2")]
PACKET = [("header", "u1"), ("timestamp", "<u8"), ("n_points", "<u4")]
STEP_V = 16382 / 65528 * 1e-6  # ±8191 µV over ±32764 steps


def write_nsx(path, steps, sfreq, names):
    n, t = steps.shape
    basic = np.zeros(1, BASIC)
    basic["file_id"], basic["ver_major"] = b"NEURALCD", 3
    basic["bytes_in_headers"] = np.dtype(BASIC).itemsize + n * np.dtype(EXTENDED).itemsize
    basic["period"], basic["timestamp_resolution"] = 30000 // sfreq, 30000
    basic["time"] = [2000, 1, 6, 1, 0, 0, 0, 0]  # year, month, weekday, day, h, m, s, ms
    basic["channel_count"] = n
    ext = np.zeros(n, EXTENDED)
    ext["type"], ext["electrode_id"] = b"CC", np.arange(1, n + 1)
    ext["electrode_label"] = [name.encode() for name in names]
    ext["digital"], ext["analog"], ext["units"] = (-32764, 32764), (-8191, 8191), b"uV"
    packet = np.zeros(1, PACKET)
    packet["header"], packet["n_points"] = 1, t
    path.write_bytes(basic.tobytes() + ext.tobytes() + packet.tobytes() + steps.T.astype("<i2").tobytes())
    return path


def test_nsx_written_here_reads_as_mne_reads_it(tmp_path):
    import mne

    steps = np.random.default_rng(0).integers(-1000, 1000, (3, 2000)).astype(np.int16)
    path = write_nsx(tmp_path / "array.ns3", steps, 1000, ["elec1", "elec2", "elec3"])
    raw = mne.io.read_raw_nsx(path, preload=True, verbose="error")
    assert np.allclose(raw.get_data(), steps * STEP_V)  # MNE reads it back first
    recording = read_recording(path)
    assert recording.format == "Blackrock NSx" and recording.sfreq == 1000
    assert np.allclose(recording.raw.get_data(), steps * STEP_V)
    res = subprocess.run([sys.executable, "-m", "brainkit", "info", str(path)], capture_output=True,
                         text=True, cwd=ROOT, timeout=120)
    info = json.loads(res.stdout)
    assert (info["n_channels"], info["sfreq"]) == (len(raw.ch_names), 1000.0)
