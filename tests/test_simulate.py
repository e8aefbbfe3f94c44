"""The simulated sample recordings: byte-for-byte regeneration and their known phenomena.

Each phenomenon is checked on the files as a user reads them (``mne.io.read_raw``), written
once per session into a temporary folder; one test compares those bytes with the committed
``sample_data/`` files.
"""

import gzip
import hashlib
from pathlib import Path

import mne
import numpy as np
import pytest
from scipy.signal import welch

from brainkit.data import simulate

SAMPLES = Path(__file__).resolve().parents[1] / "sample_data"
RECORDINGS = ["eyes_open_closed.edf", "oddball_erp.vhdr", "oddball_erp.vmrk", "oddball_erp.eeg",
              "sleep_night.edf", "meg_evoked_raw.fif.gz"]
MAX_TOTAL_BYTES = 8_000_000


@pytest.fixture(scope="module")
def written(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("samples")
    paths = simulate.write_samples(out, seed=0)
    assert sorted(p.name for p in paths) == sorted(RECORDINGS)
    return out


def _read(path, **kwargs):
    return mne.io.read_raw(path, preload=True, verbose=False, **kwargs)


def _content_hash(path: Path) -> str:
    """sha256 of the file, or of its decompressed content for ``.gz`` (zlib builds differ)."""
    data = path.read_bytes()
    return hashlib.sha256(gzip.decompress(data) if path.suffix == ".gz" else data).hexdigest()


def _band_power(x, sfreq, lo, hi):
    """Mean power of the last axis of ``x`` in [lo, hi] Hz (Welch, 2-s segments)."""
    freqs, psd = welch(x, sfreq, nperseg=int(2 * sfreq))
    return psd[..., (freqs >= lo) & (freqs <= hi)].mean(axis=-1)


def test_regenerates_the_committed_files_bit_for_bit(written):
    for name in RECORDINGS:
        assert (SAMPLES / name).is_file(), f"{name} missing: run python -m brainkit simulate"
        assert _content_hash(written / name) == _content_hash(SAMPLES / name), (
            f"{name} differs from sample_data/: regenerate with python -m brainkit simulate "
            "--out sample_data (and say why in the commit)")
    assert sum((SAMPLES / name).stat().st_size for name in RECORDINGS) < MAX_TOTAL_BYTES
    assert "SIMULATED" in (SAMPLES / "README.md").read_text()


def test_eyes_closed_alpha_is_strong_and_occipital(written):
    raw = _read(written / "eyes_open_closed.edf")
    assert len(raw.ch_names) == 19 and raw.info["sfreq"] == 128
    sfreq, data = raw.info["sfreq"], raw.get_data()
    ann = raw.annotations
    assert set(ann.description) == {"eyes open", "eyes closed"}
    np.testing.assert_allclose(ann.onset[1:], ann.onset[:-1] + ann.duration[:-1])
    assert ann.onset[0] == 0 and ann.onset[-1] + ann.duration[-1] == pytest.approx(raw.n_times
                                                                                     / sfreq)
    pick = {name: raw.ch_names.index(name) for name in ("O1", "O2", "Fp1", "Fp2")}
    alpha = {state: [] for state in ("eyes open", "eyes closed")}
    peak = {state: [] for state in ("eyes open", "eyes closed")}
    for onset, duration, state in zip(ann.onset, ann.duration, ann.description):
        block = data[:, int(onset * sfreq):int((onset + duration) * sfreq)]
        alpha[state].append(_band_power(block[list(pick.values())], sfreq, 8, 12))
        peak[state].append(np.abs(block[pick["Fp1"]]).max())
    opened, closed = np.array(alpha["eyes open"]), np.array(alpha["eyes closed"])  # (blocks, 4)
    # occipital alpha: every closed block above every open block, several times on average
    assert closed[:, :2].min() > opened[:, :2].max()
    assert closed[:, :2].mean() > 4 * opened[:, :2].mean()
    # eyes closed: occipital alpha above frontal alpha
    assert closed[:, :2].mean() > 3 * closed[:, 2:].mean()
    # blinks (eyes open) make the largest deflections at Fp1
    assert min(peak["eyes open"]) > 1.5 * max(peak["eyes closed"])


def test_oddball_targets_evoke_a_parietal_p300(written):
    raw = _read(written / "oddball_erp.vhdr", ignore_marker_types=True)
    events, ids = mne.events_from_annotations(raw, verbose=False)
    assert set(ids) == {"target", "standard"}
    is_target = events[:, 2] == ids["target"]
    assert 0.12 < is_target.mean() < 0.28
    assert np.all(np.diff(events[:, 0]) / raw.info["sfreq"] > 0.85)  # a tone every ~1 s
    epochs = mne.Epochs(raw, events, ids, tmin=-0.1, tmax=0.8, baseline=(None, 0),
                        preload=True, verbose=False)
    difference = (epochs["target"].average().get_data(tmin=0.3, tmax=0.5)
                  - epochs["standard"].average().get_data(tmin=0.3, tmax=0.5)).mean(axis=1)
    pz, fp1 = difference[raw.ch_names.index("Pz")], difference[raw.ch_names.index("Fp1")]
    assert pz > 4e-6 and pz > fp1 + 4e-6
    # every tone has an N1 at Cz around 100 ms
    n1 = epochs["standard"].average().get_data(picks=["Cz"], tmin=0.08, tmax=0.12).mean()
    assert n1 < -2e-6


def test_sleep_stages_carry_their_signatures(written):
    raw = _read(written / "sleep_night.edf", infer_types=True)
    assert raw.get_channel_types() == ["eeg", "eeg", "eog"]
    assert raw.ch_names[:2] == ["C3-A2", "C4-A1"]
    sfreq, eeg = raw.info["sfreq"], raw.get_data(picks="eeg")
    ann = raw.annotations
    assert set(ann.description) == set(simulate.STAGE_LABELS.values())
    np.testing.assert_allclose(ann.duration, 30.0)
    np.testing.assert_allclose(ann.onset, 30.0 * np.arange(len(ann)))
    assert len(ann) * 30 * sfreq == raw.n_times
    stages = [d.split()[-1] for d in ann.description]
    assert stages[0] == "W" and stages.index("N1") < stages.index("N2") < stages.index("N3")
    assert stages.index("N3") < stages.index("R")
    epochs = eeg[:, :len(ann) * int(30 * sfreq)].reshape(2, len(ann), -1)  # (C, epochs, T)

    def power(stage, lo, hi):
        return _band_power(epochs[:, [s == stage for s in stages]], sfreq, lo, hi).mean()

    assert power("N3", 0.5, 2) > 10 * power("W", 0.5, 2)
    assert power("N2", 11, 15) > 1.5 * power("N1", 11, 15)
    assert power("W", 8, 12) > 3 * power("N2", 8, 12)
    n3 = epochs[:, [s == "N3" for s in stages]]
    assert np.median(np.ptp(n3, axis=-1)) > 75e-6  # slow waves above 75 uV peak to peak


def test_meg_has_306_real_sensors_and_an_m100(written):
    raw = mne.io.read_raw_fif(written / "meg_evoked_raw.fif.gz", preload=True, verbose=False)
    types = raw.get_channel_types()
    assert types.count("mag") == 102 and types.count("grad") == 204 and types.count("stim") == 1
    chs = [ch for ch in raw.info["chs"] if ch["kind"] == mne.io.constants.FIFF.FIFFV_MEG_CH]
    assert {ch["coil_type"] for ch in chs} == {3012, 3024}
    loc = np.array([ch["loc"] for ch in chs])
    assert np.isfinite(loc).all() and (np.linalg.norm(loc[:, :3], axis=1) > 0.05).all()
    for frame in (loc[:, 3:6], loc[:, 6:9], loc[:, 9:12]):  # ex, ey, ez: unit vectors
        np.testing.assert_allclose(np.linalg.norm(frame, axis=1), 1.0, atol=1e-3)
    events = mne.find_events(raw, verbose=False)
    assert len(events) == len(raw.annotations) > 40
    assert set(raw.annotations.description) == {"standard", "deviant"}
    evoked = mne.Epochs(raw, events, tmin=-0.1, tmax=0.4, baseline=(None, 0), preload=True,
                        verbose=False).average(picks="meg")
    for kind in ("mag", "grad"):
        x = evoked.copy().pick(kind)
        rms = np.sqrt((x.data**2).mean(axis=0))
        assert 0.08 <= x.times[rms.argmax()] <= 0.12
    # at the M100, the temporal sensors see more than any other region (VectorView selections)
    regions = ("temporal", "parietal", "frontal", "occipital")
    for kind in ("mag", "grad"):
        x = evoked.copy().pick(kind).crop(0.08, 0.12)
        rms = np.sqrt((x.data**2).mean(axis=1))
        by_region = {}
        for side in ("Left", "Right"):
            for region in regions:
                names = set(mne.read_vectorview_selection(f"{side}-{region}", info=raw.info))
                by_region[side, region] = rms[[n in names for n in x.ch_names]].mean()
        temporal = min(by_region["Left", "temporal"], by_region["Right", "temporal"])
        assert temporal > max(v for (_, region), v in by_region.items() if region != "temporal")


def test_lengths_channels_and_seeds_are_parameters():
    sleep = simulate.simulate_sleep(duration_s=95.0, n_channels=4, eog=False, seed=3)
    assert sleep.ch_names == list(simulate.SLEEP_DERIVATIONS[:4])
    assert sleep.n_times == 3 * 30 * 100 and len(sleep.annotations) == 3
    eeg = simulate.simulate_eyes(duration_s=12.0, sfreq=100.0, n_channels=32, block_s=5.0, seed=1)
    assert eeg.get_data().shape == (32, 1200) and len(eeg.annotations) == 3
    assert np.abs(eeg.get_data()).max() < 1e-3  # volts: well below a millivolt
    again = simulate.simulate_eyes(duration_s=12.0, sfreq=100.0, n_channels=32, block_s=5.0,
                                   seed=1)
    other = simulate.simulate_eyes(duration_s=12.0, sfreq=100.0, n_channels=32, block_s=5.0,
                                   seed=2)
    np.testing.assert_array_equal(eeg.get_data(), again.get_data())
    assert not np.allclose(eeg.get_data(), other.get_data())
    meg = simulate.simulate_meg(duration_s=5.0, sfreq=200.0)
    assert meg.get_data().shape == (307, 1000)
    with pytest.raises(ValueError, match="n_channels"):
        simulate.simulate_oddball(duration_s=5.0, n_channels=7)
