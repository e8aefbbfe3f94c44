"""BCI2000 .dat files (written here from the format's description), and .dat told from the data part
of a BrainVision set (../shared/data/formats/brainvision_eeglab)."""

import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from brainkit.errors import BrainkitError
from brainkit.io import read_recording
from brainkit.io.sources import find_recordings

ROOT = Path(__file__).resolve().parents[1]
NAMES = ["Fz", "Cz", "Pz", "Oz"]


def write_bci2000(path, counts: np.ndarray, sfreq: int, gain_uv: float, offset: float = 0.0,
                  names=NAMES, stimulus=None) -> Path:
    """A BCI2000 .dat: first line, a state vector (StimulusCode, 1 byte), parameters, int16 frames."""
    n = counts.shape[0]
    states = "[ State Vector Definition ]\r\nStimulusCode 8 0 0 0\r\n"
    params = ("[ Parameter Definition ]\r\n"
              f"Source:Signal%20Properties:DataIOFilter int SourceCh= {n} 16 1 % // channels\r\n"
              f"Source:Signal%20Properties:DataIOFilter floatlist SourceChGain= {n} "
              + " ".join([f"{gain_uv:g}"] * n) + " 0.003 % % // µV per step\r\n"
              f"Source:Signal%20Properties:DataIOFilter floatlist SourceChOffset= {n} "
              + " ".join([f"{offset:g}"] * n) + " 0 % % //\r\n"
              f"Source:Signal%20Properties:DataIOFilter list ChannelNames= {n} " + " ".join(names)
              + " // names\r\n"
              f"Source:Signal%20Properties:DataIOFilter int SamplingRate= {sfreq}Hz 256Hz 1 % //\r\n\r\n")
    rest = states + params
    first = "HeaderLen= {:6d} SourceCh= {} StatevectorLen= 1 DataFormat= int16\r\n"
    header_len = len(first.format(0, n)) + len(rest.encode("latin-1"))
    header = (first.format(header_len, n) + rest).encode("latin-1")
    frames = np.zeros(counts.shape[1], dtype=[("x", "<i2", (n,)), ("s", "u1")])
    frames["x"] = counts.T
    frames["s"] = 0 if stimulus is None else stimulus
    path.write_bytes(header + frames.tobytes())
    return path


def test_bci2000_written_here_reads_in_volts(tmp_path):
    import mne

    rng = np.random.default_rng(0)
    counts = rng.integers(-2000, 2000, (4, 256 * 3)).astype(np.int16)
    stim = np.zeros(counts.shape[1], np.uint8)
    stim[256:300] = 3
    path = write_bci2000(tmp_path / "run1.dat", counts, 256, gain_uv=0.1, offset=5, stimulus=stim)
    raw = mne.io.read_raw_bci2k(path, preload=True, verbose="error")  # MNE reads it back first
    assert raw.info["sfreq"] == 256 and np.array_equal(raw.get_data()[:4], counts)
    recording = read_recording(path)
    assert recording.format == "BCI2000" and recording.raw.ch_names[:4] == NAMES
    expected = (counts - 5.0) * 0.1e-6  # (steps - offset) x µV per step, in volts
    assert np.allclose(recording.raw.get_data(picks=NAMES), expected)
    res = subprocess.run([sys.executable, "-m", "brainkit", "info", str(path)], capture_output=True,
                         text=True, cwd=ROOT, timeout=120)
    info = json.loads(res.stdout)
    assert (info["n_channels"], info["sfreq"]) == (len(raw.ch_names), 256.0)
    assert info["channels_by_kind"]["eeg"] == 4


def test_truncated_bci2000_is_said(tmp_path):
    path = write_bci2000(tmp_path / "cut.dat", np.zeros((4, 512), np.int16), 256, gain_uv=0.1)
    path.write_bytes(path.read_bytes()[:-3])
    recording = read_recording(path)
    assert recording.truncated and recording.raw.n_times == 511


def test_dat_beside_a_brainvision_header_is_its_data(data_dir, tmp_path):
    source = data_dir / "formats" / "brainvision_eeglab"
    for part in source.iterdir():
        shutil.copy(part, tmp_path / part.name)
    assert [p.name for p in find_recordings(tmp_path)] == ["testbva.vhdr"]
    by_data, by_header = read_recording(tmp_path / "testbva.dat"), read_recording(tmp_path / "testbva.vhdr")
    assert by_data.format == "BrainVision"
    assert np.array_equal(by_data.raw.get_data(), by_header.raw.get_data())


def test_lone_dat_says_what_it_is_not(tmp_path):
    (tmp_path / "x.dat").write_bytes(b"\x00\x01" * 100)
    with pytest.raises(BrainkitError, match="neither a BCI2000 file"):
        read_recording(tmp_path / "x.dat")
