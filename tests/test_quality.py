"""brainkit.quality: each flag fires on the fault it names and on nothing else."""

import mne
import numpy as np
import pytest

from brainkit.io import Recording
from brainkit.quality import (CLIPPED_FRACTION, FLAT_STD, channel_quality, clipped_fraction,
                              model_channels, welch_psd)
from brainkit.sensors import sensors_from_info

NAMES = ["Fp1", "Fp2", "F3", "F4", "C3", "C4", "P3", "P4", "O1", "O2"]
SFREQ = 256.0


def _recording(data, names=NAMES, kinds="eeg") -> Recording:
    raw = mne.io.RawArray(data, mne.create_info(list(names), SFREQ, kinds), verbose="error")
    sensors, _ = sensors_from_info(raw.info)
    return Recording(raw=raw, sensors=sensors, format="test", name="test")


@pytest.fixture(scope="module")
def faulty():
    """Ten 20-uV channels: C3 flat (constant offset), C4 x10, P3 clipped at +-1.2 sd, O2 50 Hz."""
    rng = np.random.default_rng(0)
    n = int(60 * SFREQ)
    data = rng.normal(0.0, 20e-6, (len(NAMES), n))
    data[NAMES.index("C3")] = 35e-6 + rng.normal(0.0, 1e-9, n)
    data[NAMES.index("C4")] *= 10
    p3 = NAMES.index("P3")
    data[p3] = np.clip(data[p3], -24e-6, 24e-6)
    t = np.arange(n) / SFREQ
    data[NAMES.index("O2")] += 200e-6 * np.sin(2 * np.pi * 50.0 * t)
    return {row["name"]: row for row in channel_quality(_recording(data))}


def test_flat_channel_is_flat(faulty):
    assert faulty["C3"]["flags"] == ["flat"]
    assert faulty["C3"]["robust_std"] < FLAT_STD["eeg"] * 1e6


def test_ten_times_amplitude_is_noisy(faulty):
    assert faulty["C4"]["flags"] == ["noisy"]
    assert faulty["C4"]["robust_std"] == pytest.approx(200.0, rel=0.05)  # µV


def test_clipped_channel_is_clipped(faulty):
    assert "clipped" in faulty["P3"]["flags"]
    assert faulty["P3"]["clipped_fraction"] > 0.2


def test_line_noise_dominated_channel_is_noisy(faulty):
    assert faulty["O2"]["flags"] == ["noisy"]
    assert faulty["O2"]["line_fraction"] > 0.5


def test_clean_channels_have_no_flags_and_numbers(faulty):
    for name in ("Fp1", "Fp2", "F3", "F4", "P4", "O1"):
        row = faulty[name]
        assert row["flags"] == [], name
        assert row["unit"] == "µV" and row["robust_std"] == pytest.approx(20.0, rel=0.05)
        assert row["clipped_fraction"] < CLIPPED_FRACTION and row["line_fraction"] < 0.1
        assert row["kind"] == "eeg" and row["has_position"]


def test_coarse_quantisation_is_not_clipping():
    """Few distinct levels put many samples on the extremes, but they do not pile up there."""
    x = np.round(np.random.default_rng(1).normal(0, 2.0, 20000))
    fraction, pile_up = clipped_fraction(x)
    assert not pile_up
    _, pile_up = clipped_fraction(np.clip(x, -2, 2))
    assert pile_up


def test_meg_units_and_stim_channels_are_not_flagged():
    rng = np.random.default_rng(2)
    n = int(20 * SFREQ)
    data = np.vstack([rng.normal(0, 100e-15, (3, n)), rng.normal(0, 3e-12, (3, n)), np.zeros((1, n))])
    names = ["M1", "M2", "M3", "G1", "G2", "G3", "STI"]
    kinds = ["mag"] * 3 + ["grad"] * 3 + ["stim"]
    rows = channel_quality(_recording(data, names, kinds))
    assert [r["unit"] for r in rows] == ["fT"] * 3 + ["fT/cm"] * 3 + ["AU"]
    assert rows[0]["robust_std"] == pytest.approx(100.0, rel=0.1)
    assert rows[3]["robust_std"] == pytest.approx(30.0, rel=0.1)  # 3e-12 T/m
    assert all(r["flags"] == [] for r in rows)


@pytest.mark.parametrize("n_times, sfreq", [(5000, 256.0), (5001, 250.0), (300, 256.0)])
def test_welch_psd_matches_scipy(n_times, sfreq):
    from scipy.signal import welch

    x = np.random.default_rng(3).normal(size=(2, n_times)) + 0.3
    freqs, psd = welch_psd(x, sfreq, segment_s=2.0)
    ref_f, ref = welch(x, fs=sfreq, nperseg=min(n_times, int(round(2 * sfreq))), axis=-1)
    np.testing.assert_allclose(freqs, ref_f)
    np.testing.assert_allclose(psd, ref, rtol=1e-9, atol=1e-15)


def test_decoding_leaves_out_flat_and_bad_channels_and_only_those():
    """A zero lead, one quantised to a single level with rare steps (as in clinical exports whose
    scaling lost the signal) and one the file marks bad are left out; flat is the report's flag."""
    rng = np.random.default_rng(4)
    n = int(30 * SFREQ)
    data = rng.normal(0.0, 20e-6, (len(NAMES), n))
    data[NAMES.index("C3")] = 0.0
    steps = np.zeros(n)
    steps[rng.choice(n, n // 100, replace=False)] = 50e-6  # 99 % of samples on one level
    data[NAMES.index("P4")] = steps
    data[NAMES.index("O2")] *= 0.05  # 1 µV: small but alive
    recording = _recording(data)
    recording.raw.info["bads"] = ["O1"]
    picks, left_out = model_channels(recording)
    assert left_out == {"C3": "flat", "P4": "flat", "O1": "marked bad in the file"}
    assert [NAMES[i] for i in picks] == [n for n in NAMES if n not in left_out]
    flagged = {row["name"] for row in channel_quality(recording) if "flat" in row["flags"]}
    assert flagged == {"C3", "P4"}
