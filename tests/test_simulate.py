"""The simulated sample recordings: regeneration and their known phenomena.

Each phenomenon is checked on the files as a user reads them (``mne.io.read_raw``), written
once per session into a temporary folder. One test compares them with the committed
``sample_data/`` files as MNE reads both: the same channels, rate, length, annotations and
header, and every sample within one digital unit of its file format. Bytes are not compared:
floating point differs between CPUs, so a sample at a rounding boundary may land one unit
apart on another machine (a byte-for-byte test failed on an AMD EPYC).
"""

import re
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


def _band_power(x, sfreq, lo, hi):
    """Mean power of the last axis of ``x`` in [lo, hi] Hz (Welch, 2-s segments)."""
    freqs, psd = welch(x, sfreq, nperseg=int(2 * sfreq))
    return psd[..., (freqs >= lo) & (freqs <= hi)].mean(axis=-1)


#: (file read by MNE, format) of each sample recording (.vmrk and .eeg come with the .vhdr)
READ_AS = {"eyes_open_closed.edf": "edf", "oddball_erp.vhdr": "brainvision", "sleep_night.edf": "edf",
           "meg_evoked_raw.fif.gz": "fif"}
UNIT_V = {"uV": 1e-6, "µV": 1e-6, "mV": 1e-3, "V": 1.0, "nV": 1e-9}


def _edf_header(path: Path) -> tuple[dict, np.ndarray]:
    """Text fields of an EDF header, and the volts of one digital unit per signal (the EDF+
    annotation signal left out, as MNE leaves it out of the channels)."""
    raw = path.read_bytes()
    n = int(raw[252:256])
    head = raw[256:256 + 256 * n].decode("latin-1")
    widths = {"label": 16, "transducer": 80, "dimension": 8, "phys_min": 8, "phys_max": 8,
              "dig_min": 8, "dig_max": 8, "prefilter": 80, "samples": 8, "reserved": 32}
    fields, pos = {}, 0
    for key, width in widths.items():
        fields[key] = [head[pos + i * width: pos + (i + 1) * width].strip() for i in range(n)]
        pos += n * width
    signal = [label != "EDF Annotations" for label in fields["label"]]
    number = {k: np.array([float(v) for v, keep in zip(fields[k], signal) if keep])
              for k in ("phys_min", "phys_max", "dig_min", "dig_max")}
    unit = np.array([UNIT_V[d] for d, keep in zip(fields["dimension"], signal) if keep])
    step = (number["phys_max"] - number["phys_min"]) / (number["dig_max"] - number["dig_min"]) * unit
    text = {k: fields[k] for k in ("label", "transducer", "dimension", "prefilter", "samples")}
    # patient and recording identification, start date and time, records, record duration, signals
    text["main"] = [raw[8:88].decode("latin-1"), raw[88:168].decode("latin-1"), raw[168:184].decode(),
                    raw[236:256].decode()]
    return text, step


def _brainvision_header(vhdr: Path) -> tuple[dict, np.ndarray]:
    """Channel lines and common settings of a .vhdr, and the volts of one digital unit per channel."""
    text = vhdr.read_text(encoding="utf-8")
    channels = re.findall(r"^Ch\d+=([^,]*),([^,]*),([^,]*),(.*)$", text, flags=re.M)
    settings = re.findall(r"^(DataFormat|DataOrientation|NumberOfChannels|SamplingInterval|"
                          r"BinaryFormat)=(.*)$", text, flags=re.M)
    step = np.array([float(res) * UNIT_V[unit.strip()] for _, _, res, unit in channels])
    return {"channels": channels, "settings": settings}, step


def _fif_header(raw) -> tuple[dict, np.ndarray]:
    """Channel definitions of a FIF file (16-bit: one unit is ``cal * range`` volts or tesla)."""
    chs = raw.info["chs"]
    text = {"channels": [(c["ch_name"], int(c["kind"]), int(c["coil_type"]), int(c["unit"])) for c in chs],
            "loc": np.array([c["loc"] for c in chs])}
    return text, np.array([c["cal"] * c["range"] for c in chs])


def _header(path: Path, fmt: str, raw) -> tuple[dict, np.ndarray]:
    if fmt == "edf":
        return _edf_header(path)
    if fmt == "brainvision":
        return _brainvision_header(path)
    return _fif_header(raw)


def assert_same_recording(committed: Path, regenerated: Path, fmt: str) -> None:
    """What matters of two writings of one recording, each as MNE reads it.

    Equal: channel names and types, sampling rate, number of samples, measurement date,
    annotations (onset to a microsecond, duration, description), the header's text fields (EDF
    labels, transducers, units, prefiltering, identification; BrainVision channel lines and data
    format; FIF channel kinds, coils and units, sensor locations to a micrometre) and the
    "SIMULATED" note. Every sample within one digital unit of its channel (EDF: physical over
    digital range; BrainVision: the resolution; FIF, written as 16-bit: ``cal * range``), the
    larger of the two files' units where their ranges differ.
    """
    a, b = (mne.io.read_raw(p, preload=True, verbose=False) for p in (committed, regenerated))
    assert a.ch_names == b.ch_names and a.get_channel_types() == b.get_channel_types()
    assert a.info["sfreq"] == b.info["sfreq"] and a.n_times == b.n_times
    assert a.info["meas_date"] == b.info["meas_date"]
    assert list(a.annotations.description) == list(b.annotations.description)
    np.testing.assert_allclose(a.annotations.onset, b.annotations.onset, rtol=0, atol=1e-6)
    np.testing.assert_allclose(a.annotations.duration, b.annotations.duration, rtol=0, atol=1e-6)
    if fmt == "fif":
        assert "SIMULATED" in a.info["description"] and "SIMULATED" in b.info["description"]
    head_a, step_a = _header(committed, fmt, a)
    head_b, step_b = _header(regenerated, fmt, b)
    assert head_a.keys() == head_b.keys()
    for key in head_a:
        if key == "loc":
            np.testing.assert_allclose(head_a[key], head_b[key], rtol=0, atol=1e-6, err_msg=key)
        else:
            assert head_a[key] == head_b[key], key
    assert len(step_a) == len(a.ch_names) and (step_a > 0).all()
    unit = np.maximum(step_a, step_b)[:, None]  # (C, 1)
    excess = np.abs(a.get_data() - b.get_data()) / unit  # (C, T), in digital units
    worst = np.unravel_index(excess.argmax(), excess.shape)
    assert excess.max() <= 1 + 1e-6, (f"{committed.name}: channel {a.ch_names[worst[0]]}, sample "
                                      f"{worst[1]} differs by {excess.max():.2f} digital units")


@pytest.mark.parametrize("name", READ_AS)
def test_regenerates_the_committed_files(written, name):
    """The committed sample and a fresh one (seed 0) hold the same recording, to one digital unit."""
    assert (SAMPLES / name).is_file(), f"{name} missing: run python -m brainkit simulate --out sample_data"
    assert_same_recording(SAMPLES / name, written / name, READ_AS[name])


def test_committed_samples_are_small_and_say_simulated():
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

    # several times wake's slow-wave power (wake keeps the slow drift and eye-movement power that
    # the real DREAMS wake epochs show: calibrate.py)
    assert power("N3", 0.5, 2) > 5 * power("W", 0.5, 2)
    assert power("N2", 11, 15) > 1.5 * power("N1", 11, 15)
    assert power("W", 8, 12) > 2 * power("N2", 8, 12)
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


def test_simulated_features_fall_inside_the_real_ranges(data_dir):
    """The features that decide eyes and sleep staging: simulated class medians inside the real
    recordings' 10-90 % ranges (EEGMMIDB + Bonn for eyes, DREAMS for sleep) on most rows, and on
    every row of the deciding ones (posterior alpha and the 1/f slope for eyes; slow waves and
    sigma for N2/N3)."""
    import torch

    from brainkit.data.simulate.calibrate import calibration_table
    from brainkit.models import readout

    torch.set_num_threads(1)
    rows = calibration_table(readout, data_dir)
    inside = {(r["task"], r["feature"], r["label"]): r["inside"] for r in rows}
    assert len(rows) >= 50
    assert np.mean(list(inside.values())) >= 0.75
    for label in ("open", "closed"):
        for feature in ("posterior rel_alpha", "posterior aperiodic_slope", "posterior alpha_peak_hz"):
            assert inside["eyes", feature, label], (feature, label)
    for label in ("N2", "N3"):
        for feature in ("whole rel_slow", "whole rel_delta", "whole rel_sigma", "whole aperiodic_slope"):
            assert inside["sleep_stage", feature, label], (feature, label)
