"""Nihon Kohden .EEG sets (written here by tests/nihon_writer.py), and .eeg told from BrainVision's."""

import json
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest

from brainkit.errors import BrainkitError
from brainkit.io import read_recording
from brainkit.io.sources import find_recordings

sys.path.insert(0, str(Path(__file__).parent))
from nihon_writer import write_nihon  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
NAMES = ["Fp1", "Fp2", "F3", "F4", "C3", "C4", "P3", "P4", "O1", "O2", "Fz", "Cz", "Pz"]


@pytest.fixture
def signal():
    rng = np.random.default_rng(1)
    t = np.arange(500 * 6) / 500
    data = rng.normal(0, 10e-6, (len(NAMES), t.size))
    data[8:10] += 30e-6 * np.sin(2 * np.pi * 10 * t)  # alpha at O1, O2
    return data


def test_info_matches_mne_on_a_written_set(tmp_path, signal):
    import mne

    path = write_nihon(tmp_path / "pat.EEG", signal, 500, NAMES, events=[(1, "eyes closed"), (4, "photic")])
    raw = mne.io.read_raw_nihon(path, preload=True, verbose="error")  # MNE reads it back first
    assert raw.ch_names == NAMES and raw.info["sfreq"] == 500 and raw.n_times == signal.shape[1]
    res = subprocess.run([sys.executable, "-m", "brainkit", "info", str(path)], capture_output=True,
                         text=True, cwd=ROOT, timeout=120)
    assert res.returncode == 0, res.stderr
    info = json.loads(res.stdout)
    assert (info["format"], info["n_channels"], info["sfreq"]) == ("Nihon Kohden", len(raw.ch_names), 500.0)
    assert info["annotations"]["descriptions"] == {"eyes closed": 1, "photic": 1}
    assert info["channels_by_kind"] == {"eeg": len(NAMES)} and info["warnings"] == []
    recording = read_recording(path)
    # samples are 6399.902/65535 µV steps: back within half a step
    assert np.abs(recording.raw.get_data() - signal).max() < 0.05e-6
    assert list(recording.annotations.onset) == [1.0, 4.0]


def test_missing_companions_are_said(tmp_path, signal):
    path = write_nihon(tmp_path / "bare.EEG", signal, 500, NAMES, companions=())
    recording = read_recording(path)
    assert recording.raw.ch_names[:3] == ["FP1", "FP2", "F3"]  # MNE's default electrode table
    assert sum("beside the Nihon Kohden file" in w for w in recording.warnings) == 3


def test_truncated_set_is_refused(tmp_path, signal):
    path = write_nihon(tmp_path / "cut.EEG", signal, 500, NAMES)
    path.write_bytes(path.read_bytes()[:-1000])
    with pytest.raises(BrainkitError, match="cut.EEG is truncated"):
        read_recording(path)


def test_eeg_without_nihon_header_or_vhdr_says_what_it_is_not(tmp_path):
    lone = tmp_path / "lone.eeg"
    lone.write_bytes(np.random.default_rng(0).bytes(4096))
    with pytest.raises(BrainkitError, match="neither a Nihon Kohden EEG file .* lone.vhdr"):
        read_recording(lone)


def test_brainvision_eeg_is_read_through_its_header(tmp_path, samples_dir):
    for ext in (".vhdr", ".vmrk", ".eeg"):
        shutil.copy(samples_dir / f"oddball_erp{ext}", tmp_path / f"oddball_erp{ext}")
    by_data = read_recording(tmp_path / "oddball_erp.eeg")
    by_header = read_recording(tmp_path / "oddball_erp.vhdr")
    assert by_data.format == "BrainVision"
    assert np.array_equal(by_data.raw.get_data(), by_header.raw.get_data())
    assert [p.name for p in find_recordings(tmp_path)] == ["oddball_erp.vhdr"]
    # the three parts uploaded together: the header is the entry, as before
    parts = [(f"oddball_erp{ext}", (tmp_path / f"oddball_erp{ext}").read_bytes())
             for ext in (".vhdr", ".vmrk", ".eeg")]
    assert read_recording(parts).format == "BrainVision"


def test_zipped_set_is_read(tmp_path, signal):
    (tmp_path / "set").mkdir()
    path = write_nihon(tmp_path / "set" / "pat.EEG", signal, 500, NAMES)
    with zipfile.ZipFile(tmp_path / "pat.zip", "w") as z:
        for part in path.parent.iterdir():
            z.write(part, part.name)
    recording = read_recording(tmp_path / "pat.zip")
    assert recording.format == "Nihon Kohden" and recording.raw.ch_names == NAMES
