"""Sensor positions from names, files and MEG coil definitions."""

import mne
import numpy as np
import pytest

from brainkit.sensors import (SensorArray, clean_eeg_name, eeg_position, electrode_key, sensors_from_info,
                              template_position)


@pytest.mark.parametrize("name, label", [
    ("EEG FP1-REF", "FP1"), ("EEG Fp1", "Fp1"), ("Fc5.", "Fc5"), ("Cz..", "Cz"),
    ("EEG C3-LE", "C3"), ("eeg:O2", "O2"), ("  Pz  ", "Pz"), ("C3-A1", "C3-A1"),
])
def test_clean_names(name, label):
    assert clean_eeg_name(name) == label


def test_case_and_old_names():
    assert np.allclose(template_position("FP1"), template_position("Fp1"))
    for old, new in {"T3": "T7", "T4": "T8", "T5": "P7", "T6": "P8"}.items():
        assert np.allclose(eeg_position(old)[0], template_position(new), atol=0.02)


@pytest.mark.parametrize("names, key", [
    (("EEG FP1-REF", "EEG FP1-LE", "Fp1", "FP1"), "fp1"), (("EEG T3-REF", "T7", "t3"), "t7"),
    (("Fc5.", "FC5"), "fc5"), (("C3-A1",), "c3-a1"), (("MEG 0111",), "meg 0111")])
def test_one_electrode_has_one_key(names, key):
    assert {electrode_key(n) for n in names} == {key}


def test_derivations():
    referential = eeg_position("C3-A1")
    assert referential[2] == "template" and np.allclose(referential[0], template_position("C3"))
    assert not referential[1].any()
    pos, ori, source = eeg_position("Fpz-Cz")
    assert source == "derivation"
    assert np.allclose(pos, (template_position("Fpz") + template_position("Cz")) / 2)
    assert np.isclose(np.linalg.norm(ori), 1.0)
    assert ori @ (template_position("Fpz") - template_position("Cz")) > 0  # points from Cz to Fpz


def test_head_frame_orientation_of_template():
    """Head frame: +x right, +y nose, +z up."""
    assert template_position("T8")[0] > 0.05 > -0.05 > template_position("T7")[0]
    assert template_position("Fpz")[1] > 0.05 and template_position("Oz")[1] < -0.05
    assert template_position("Cz")[2] > 0.08


def test_unknown_names_warn():
    info = mne.create_info(["Cz", "Blob", "XYZ-9", "ECG"], 100.0, ["eeg", "eeg", "eeg", "ecg"])
    sensors, warnings = sensors_from_info(info)
    assert sensors.has_position.tolist() == [True, False, False, False]
    assert np.isnan(sensors.pos[1]).all()
    assert len(warnings) == 1 and "Blob" in warnings[0] and "ECG" not in warnings[0]
    assert sensors.model_picks.tolist() == [0, 1, 2]
    assert sensors.kind_index.tolist() == [0, 0, 0, -1]


def test_file_montage_wins_over_names():
    info = mne.create_info(["Cz", "Pz"], 100.0, "eeg")
    montage = mne.channels.make_dig_montage({"Cz": [0.0, 0.0, 0.09], "Pz": [0.0, -0.05, 0.07]},
                                            coord_frame="head")
    info.set_montage(montage)
    sensors, _ = sensors_from_info(info)
    assert np.allclose(sensors.pos[0], [0, 0, 0.09]) and sensors.position_source == ["file", "file"]


def test_pick_keeps_fields_aligned():
    sensors, _ = sensors_from_info(mne.create_info(["Fz", "Cz", "Pz"], 100.0, "eeg"))
    picked = sensors.pick([2, 0])
    assert picked.names == ["Pz", "Fz"]
    assert np.allclose(picked.pos[0], sensors.pos[2])
    assert isinstance(picked, SensorArray) and len(picked.to_records()) == 2
