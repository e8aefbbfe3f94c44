"""Readers of mne.io added for issue 18, each on a file written here: Blackrock NSx (.ns1-.ns6, from
the file specification, version 3.0) and SR Research EyeLink (.asc, the converter's text format)."""

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


def write_eyelink(path, x_px: np.ndarray, sfreq: int = 500, message_at: int = 300) -> Path:
    """An EyeLink .asc: one monocular recording block (left eye, gaze x/y, pupil area) and one message."""
    step = 1000 // sfreq
    lines = ["** CONVERTED FROM D:\\rec.edf using edfapi 4.2.1", "** DATE: Wed Mar 16 11:47:27 2022",
             "** TYPE: EDF_FILE BINARY EVENT SAMPLE TAGGED", "**", "",
             "MSG\t1000 DISPLAY_COORDS 0 0 1919 1079", "START\t1000 \tLEFT\tSAMPLES\tEVENTS",
             "PRESCALER\t1", "VPRESCALER\t1", "PUPIL\tAREA",
             f"EVENTS\tGAZE\tLEFT\tRATE\t {sfreq:.2f}\tTRACKING\tCR\tFILTER\t2",
             f"SAMPLES\tGAZE\tLEFT\tRATE\t {sfreq:.2f}\tTRACKING\tCR\tFILTER\t2"]
    for i, x in enumerate(x_px):
        if i == message_at:
            lines.append(f"MSG\t{1000 + step * i} stimulus on")
        lines.append(f"{1000 + step * i}\t  {x:.1f}\t  540.0\t 1000.0\t...")
    lines.append(f"END\t{1000 + step * len(x_px)}\tSAMPLES\tEVENTS\tRES\t 38.54\t 31.12")
    path.write_text("\n".join(lines) + "\n")
    return path


def test_eyelink_written_here_reads_as_mne_reads_it(tmp_path):
    import mne

    x = 960 + 50 * np.sin(np.arange(1000) / 50)
    path = write_eyelink(tmp_path / "gaze.asc", x)
    raw = mne.io.read_raw_eyelink(path, verbose="error")  # MNE reads it back first
    assert raw.ch_names == ["xpos_left", "ypos_left", "pupil_left"]
    recording = read_recording(path)
    assert recording.format == "EyeLink" and recording.sfreq == 500
    assert np.allclose(recording.raw.get_data(picks="xpos_left")[0], np.round(x, 1))
    assert list(recording.annotations.description) == ["stimulus on"]
    assert recording.annotations.onset[0] == 300 / 500
    assert "no EEG or MEG channel: nothing the model can read" in recording.warnings
