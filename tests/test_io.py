"""Reading recordings: every format, every kind of source, de-identified, bad input as one line."""

import datetime
import gzip
import io
import json
import subprocess
import sys
import zipfile
from pathlib import Path

import mne
import numpy as np
import pytest
from conftest import write_identified_edf

from brainkit.errors import BrainkitError
from brainkit.io import Limits, read_recording

ROOT = Path(__file__).resolve().parents[1]

# Every recording in the shared corpus folders `formats/` and `meg/` (entry points only).
FORMAT_FILES = [
    "formats/ant_eego_cnt/test_CA_208.cnt",
    "formats/bdf/multiple_annotation_chans.bdf",
    "formats/brainvision_eeglab/testbva.vhdr",
    "formats/brainvision_mne/test.vhdr",
    "formats/edf/eeglab_test_16ch_1997.edf",
    "formats/edf/test_edf_overlapping_annotations.edf",
    "formats/egi_mff/test_egi_multiepoch_paused.mff",
    "formats/egi_mff/test_egi_pns.mff",
    "formats/neuroscan_cnt/eeglab_test.cnt",
    "formats/neuroscan_cnt/scan41_short.cnt",
    "formats/tuab_lemon/lemon_sub-032301/sub-032301.vhdr",
    "formats/tuab_lemon/tuab_train_normal/aaaaaaav_s004_t000.edf",
    "formats/tuab_lemon/tuab_train_normal/aaaaaabn_s005_t000.edf",
    "formats/tuab_lemon/tuab_train_normal/aaaaaaff_s002_t000.edf",
    "formats/xdf/test.xdf",
    "meg/ctf275_testdata_ctf_short_discontinuous.ds_raw.fif",
    "meg/elekta_3ch_raw.fif",
    "meg/kit157_test.sqd",
    "meg/kit157_test_py_5s_raw.fif",
    "meg/neuromag306_sample_audvis_trunc_raw_sss.fif",
]


def _run_cli(*args):
    return subprocess.run([sys.executable, "-m", "brainkit", *args], capture_output=True, text=True,
                          cwd=ROOT, timeout=300)


def test_format_table_covers_the_corpus(data_dir):
    """The list above is every recording entry point under formats/ and meg/."""
    entries = set()
    for folder in ("formats", "meg"):
        for path in (data_dir / folder).rglob("*"):
            rel = path.relative_to(data_dir).as_posix()
            if ".mff/" in rel:
                continue
            if path.suffix.lower() in (".edf", ".bdf", ".vhdr", ".cnt", ".xdf", ".fif", ".sqd", ".mff"):
                entries.add(rel)
    assert entries == set(FORMAT_FILES)


@pytest.mark.parametrize("rel", FORMAT_FILES)
def test_reads_every_format(data_dir, rel):
    rec = read_recording(data_dir / rel)
    assert rec.raw.n_times > 1 and len(rec.sensors) == len(rec.raw.ch_names)
    assert np.isfinite(rec.raw.get_data()).all()
    if rel.endswith((".cnt", ".xdf")):
        return  # mne.io.read_raw would try antio on a Neuroscan file, which crashes the process
    try:  # where MNE reads the file itself, channel count and rate agree with MNE's
        ref = mne.io.read_raw(data_dir / rel, verbose="error")
    except Exception:
        return
    assert len(rec.raw.ch_names) == len(ref.ch_names)
    assert rec.sfreq == pytest.approx(ref.info["sfreq"])
    assert rec.raw.n_times == ref.n_times


def test_meg_kinds_and_positions(data_dir):
    rec = read_recording(data_dir / "meg/neuromag306_sample_audvis_trunc_raw_sss.fif")
    kinds = rec.sensors.kinds
    assert kinds.count("mag") == 102 and kinds.count("grad") == 204
    meg = [i for i, k in enumerate(kinds) if k in ("mag", "grad")]
    pos, ori = rec.sensors.pos[meg], rec.sensors.ori[meg]
    assert rec.sensors.has_position[meg].all()
    # head frame: sensors sit 5-20 cm from the head origin, coil normals are unit vectors
    assert np.all((np.linalg.norm(pos, axis=1) > 0.05) & (np.linalg.norm(pos, axis=1) < 0.2))
    assert np.allclose(np.linalg.norm(ori, axis=1), 1.0, atol=1e-4)


@pytest.mark.parametrize("rel, expected", [
    ("eegmmidb/S001/S001R01.edf", 64),
    ("eegmat/Subject00_1.edf", 19),  # 19 scalp electrodes; A2-A1 is misc, ECG is ecg
    ("formats/tuab_lemon/tuab_train_normal/aaaaaaav_s004_t000.edf", 21),  # TUH: EEG FP1-REF ...
    ("muse/visual/P300/subject1/session1/data_2017-02-04-15_55_07.csv.gz", 4),
])
def test_eeg_positions_from_names(data_dir, rel, expected):
    rec = read_recording(data_dir / rel)
    eeg = [i for i, k in enumerate(rec.sensors.kinds) if k == "eeg"]
    assert int(rec.sensors.has_position[eeg].sum()) == expected
    assert np.all(np.abs(rec.sensors.pos[rec.sensors.has_position]) < 0.2)


def test_eegmat_channel_kinds(data_dir):
    rec = read_recording(data_dir / "eegmat/Subject00_2.edf")
    kinds = dict(zip(rec.sensors.names, rec.sensors.kinds))
    assert kinds["ECG ECG"] == "ecg" and kinds["EEG A2-A1"] == "misc"
    assert kinds["EEG Fp1"] == "eeg"


def test_dreams_text_and_edf(data_dir):
    rec = read_recording(data_dir / "dreams/excerpt1.txt.gz", sfreq=100.0)
    assert rec.sensors.names == ["C3-A1"] and rec.sensors.has_position.all()
    assert rec.duration_s == pytest.approx(1800, abs=1)
    # values are microvolts in the file, volts here
    assert 1e-6 < np.std(rec.raw.get_data()) < 1e-3
    psg = read_recording(data_dir / "dreams/excerpt3.edf")
    assert {"C3-A1", "O1-A1", "FP1-A1"} <= {n for n, h in zip(psg.sensors.names, psg.sensors.has_position) if h}
    assert 1e-6 < np.std(psg.raw.get_data(picks=["C3-A1"])) < 1e-3


def test_muse_csv_rate_and_markers(data_dir):
    path = next((data_dir / "muse/visual/N170").rglob("*.csv.gz"))
    rec = read_recording(path)
    assert rec.sfreq == 256.0
    assert rec.sensors.kinds == ["eeg", "eeg", "eeg", "eeg", "misc"]  # Right AUX is not EEG
    with gzip.open(path, "rt") as f:
        header = f.readline().strip().split(",")
        markers = [float(line.split(",")[header.index(header[-1])]) for line in f]
    assert len(rec.annotations) == sum(m != 0 for m in markers)
    assert set(rec.annotations.description) <= {"1", "2"}


def test_bytes_and_path_agree(data_dir):
    path = data_dir / "eegmmidb/S001/S001R01.edf"
    a, b = read_recording(path), read_recording(path.read_bytes(), name=path.name)
    c = read_recording(io.BytesIO(path.read_bytes()), name=path.name)
    for other in (b, c):
        assert other.raw.ch_names == a.raw.ch_names
        np.testing.assert_array_equal(other.raw.get_data(), a.raw.get_data())
        np.testing.assert_array_equal(other.annotations.onset, a.annotations.onset)


def test_multifile_brainvision_as_parts_and_zip(data_dir):
    folder = data_dir / "formats/brainvision_mne"
    ref = read_recording(folder / "test.vhdr")
    parts = [(p.name, p.read_bytes()) for p in sorted(folder.iterdir())]
    from_parts = read_recording(parts)
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        for name, data in parts:
            z.writestr(f"upload/{name}", data)
    from_zip = read_recording(buf.getvalue(), name="recording.zip")
    for rec in (from_parts, from_zip):
        np.testing.assert_array_equal(rec.raw.get_data(), ref.raw.get_data())
        assert len(rec.annotations) == len(ref.annotations)
    missing = [p for p in parts if not p[0].endswith(".eeg")]
    with pytest.raises(BrainkitError):
        read_recording(missing)


def test_mff_folder_as_zip(data_dir):
    folder = data_dir / "formats/egi_mff/test_egi_pns.mff"
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        for p in folder.rglob("*"):
            if p.is_file():
                z.write(p, Path(folder.name) / p.relative_to(folder))
    rec = read_recording(buf.getvalue(), name="egi.zip")
    ref = read_recording(folder)
    np.testing.assert_array_equal(rec.raw.get_data(), ref.raw.get_data())


def test_eeglab_set_with_fdt_as_parts(data_dir):
    folder = data_dir / "eeglab_sample"
    parts = [(n, (folder / n).read_bytes()) for n in ("eeglab_data.set", "eeglab_data.fdt")]
    rec = read_recording(parts)
    assert rec.format == "EEGLAB" and len(rec.annotations) == 154
    with pytest.raises(BrainkitError, match="fdt|could not read"):
        read_recording(parts[:1])


# ------------------------------------------------------------------------- made in the test


def _edf_bytes(tmp_path, *, patient_name="Jane_Doe", n_seconds=10, sfreq=256):
    import edfio

    rng = np.random.default_rng(0)
    signals = [edfio.EdfSignal(rng.normal(0, 20, n_seconds * sfreq), sampling_frequency=sfreq,
                               label=name, physical_dimension="uV", physical_range=(-500, 500))
               for name in ("EEG Fp1", "EEG O1", "ECG")]
    return write_identified_edf(tmp_path / "patient.edf", signals, name=patient_name)


def _all_text(obj, seen=None, depth=0) -> str:
    """Every string and number reachable from ``obj`` (attributes, dicts, lists), joined."""
    seen = set() if seen is None else seen
    if id(obj) in seen or depth > 12:
        return ""
    seen.add(id(obj))
    if isinstance(obj, (str, bytes)):
        return obj if isinstance(obj, str) else obj.decode("latin-1")
    if isinstance(obj, (int, float, np.generic, datetime.date, datetime.datetime)):
        return str(obj)
    if isinstance(obj, np.ndarray):
        return " ".join(map(str, obj.ravel()[:50])) if obj.dtype.kind in "USO" else ""
    out = []
    if isinstance(obj, dict):
        items = list(obj.items())
        out += [_all_text(k, seen, depth + 1) + " " + _all_text(v, seen, depth + 1) for k, v in items]
    elif isinstance(obj, (list, tuple, set)):
        out += [_all_text(v, seen, depth + 1) for v in obj]
    elif hasattr(obj, "__dict__"):
        out += [_all_text(v, seen, depth + 1) for v in vars(obj).values()]
    return " ".join(out) + " " + repr(obj) if hasattr(obj, "__dict__") or isinstance(obj, dict) else " ".join(out)


IDENTIFIERS = ["Jane", "Doe", "MRN-4711", "1961", "StMaryHosp", "TechnicianSmith", "AmpSerial", "2019"]


def test_deidentified_on_load(tmp_path):
    path = _edf_bytes(tmp_path)
    original = mne.io.read_raw_edf(path, verbose="error")
    assert "Jane" in str(original.info["subject_info"])  # the file really names the patient
    for rec in (read_recording(path), read_recording(path.read_bytes(), name="x.edf")):
        text = _all_text(rec) + repr(rec.raw.info) + json.dumps(rec.summary())
        for ident in IDENTIFIERS:
            assert ident.lower() not in text.lower(), ident
        assert rec.raw.info["subject_info"] is None
        assert rec.raw.info["meas_date"].year == 2000
        assert list(rec.annotations.description) == ["stimulus"]
        assert rec.annotations.onset[0] == pytest.approx(1.0)
        buf = io.BytesIO()
        fif = tmp_path / "copy_raw.fif"
        rec.raw.save(fif, overwrite=True, verbose="error")
        blob = fif.read_bytes()
        for ident in IDENTIFIERS[:6]:
            assert ident.encode() not in blob, ident
        buf.close()


def test_nan_samples_become_zero_with_warning(tmp_path):
    data = np.random.default_rng(1).normal(0, 10, (2, 1000))
    data[0, 100:110] = np.nan
    data[1, 5] = np.inf
    lines = ["timestamps,TP9,AF7"] + [f"{i / 256:.6f},{a},{b}" for i, (a, b) in enumerate(data.T)]
    path = tmp_path / "headset.csv"
    path.write_text("\n".join(lines))
    rec = read_recording(path)
    assert np.isfinite(rec.raw.get_data()).all()
    assert any("11 samples were NaN or infinite" in w for w in rec.warnings)


def test_verbose_sets_the_log_level_for_the_call_only(caplog):
    """``verbose`` logs the read at INFO and leaves brainkit's level as it was (and MNE's too)."""
    import logging

    logger = logging.getLogger("brainkit")
    logger.setLevel(logging.WARNING)
    mne_level = logging.getLogger("mne").level
    try:
        with caplog.at_level(logging.NOTSET, logger="brainkit"):
            logger.setLevel(logging.WARNING)
            read_recording(ROOT / "sample_data" / "eyes_open_closed.edf", verbose=True)
            assert logger.level == logging.WARNING
            assert any(r.levelname == "INFO" and "eyes_open_closed.edf" in r.getMessage()
                       for r in caplog.records)
            caplog.clear()
            read_recording(ROOT / "sample_data" / "eyes_open_closed.edf")  # no verbose: no INFO
            assert not caplog.records
        with pytest.raises(ValueError, match="verbose must be"):
            read_recording(ROOT / "sample_data" / "eyes_open_closed.edf", verbose="LOUD")
        assert logger.level == logging.WARNING
        assert logging.getLogger("mne").level == mne_level
    finally:
        logger.setLevel(logging.NOTSET)


def test_csv_rate_from_millisecond_timestamps_and_explicit_rate(tmp_path):
    t = 1_600_000_000_000 + np.arange(2000) * 4.0  # unix ms at 250 Hz
    lines = ["time_ms;Fz;Cz;trigger"] + [f"{x:.0f};{np.sin(i)};{np.cos(i)};{1 if i == 500 else 0}"
                                          for i, x in enumerate(t)]
    path = tmp_path / "export.csv"
    path.write_text("\n".join(lines))
    rec = read_recording(path)
    assert rec.sfreq == 250.0 and rec.sensors.names == ["Fz", "Cz"]
    assert rec.annotations.onset.tolist() == [2.0]
    single = tmp_path / "one.txt"
    single.write_text("\n".join(str(v) for v in np.arange(500) % 7))
    with pytest.raises(BrainkitError, match="sampling rate"):
        read_recording(single)
    assert read_recording(single, sfreq=100).duration_s == pytest.approx(5.0)


def test_unknown_channel_is_a_warning_not_a_crash(tmp_path):
    lines = ["timestamps,Cz,Mystery7"] + [f"{i / 128:.5f},{i % 5},{i % 3}" for i in range(600)]
    path = tmp_path / "x.csv"
    path.write_text("\n".join(lines))
    rec = read_recording(path)
    assert list(rec.sensors.has_position) == [True, False]
    assert any("Mystery7" in w for w in rec.warnings)


# ------------------------------------------------------------------------- bad input


@pytest.mark.parametrize("maker, match", [
    (lambda d: d / "empty.edf", "empty"),
    (lambda d: d / "notes.edf", "EDF"),
    (lambda d: d / "noext", "unknown format"),
    (lambda d: d / "garbage.fif", "could not read"),
])
def test_bad_files_give_one_line(tmp_path, maker, match):
    (tmp_path / "empty.edf").write_bytes(b"")
    (tmp_path / "notes.edf").write_text("this is a text file, not a recording\n" * 20)
    (tmp_path / "noext").write_bytes(b"\x00" * 100)
    (tmp_path / "garbage.fif").write_bytes(np.random.default_rng(0).bytes(4096))
    with pytest.raises(BrainkitError, match=match) as info:
        read_recording(maker(tmp_path))
    assert "\n" not in str(info.value)


def test_truncated_edf_warns_and_keeps_what_is_there(data_dir, tmp_path):
    src = (data_dir / "eegmat/Subject00_1.edf").read_bytes()
    path = tmp_path / "cut.edf"
    path.write_bytes(src[: len(src) // 2])
    rec = read_recording(path)
    assert rec.truncated and any("truncated" in w for w in rec.warnings)
    assert 0 < rec.duration_s < 62


def test_zip_safety(tmp_path):
    evil = io.BytesIO()
    with zipfile.ZipFile(evil, "w") as z:
        z.writestr("../../etc/passwd.edf", b"x")
    with pytest.raises(BrainkitError, match="outside"):
        read_recording(evil.getvalue(), name="evil.zip")
    nested = io.BytesIO()
    with zipfile.ZipFile(nested, "w") as z:
        z.writestr("inner.zip", evil.getvalue())
    with pytest.raises(BrainkitError, match="zip inside a zip"):
        read_recording(nested.getvalue(), name="nested.zip")
    bomb = io.BytesIO()
    with zipfile.ZipFile(bomb, "w", compression=zipfile.ZIP_DEFLATED) as z:
        z.writestr("big.csv", b"0" * (20 * 2**20))
    assert len(bomb.getvalue()) < 2**20
    with pytest.raises(BrainkitError, match="limit"):
        read_recording(bomb.getvalue(), name="bomb.zip", limits=Limits(max_bytes=5 * 2**20))


def test_limits_from_header(data_dir):
    path = data_dir / "eegmmidb/S001/S001R01.edf"
    with pytest.raises(BrainkitError, match="channels"):
        read_recording(path, limits=Limits(max_channels=32))
    with pytest.raises(BrainkitError, match="lasts"):
        read_recording(path, limits=Limits(max_duration_s=30))


# ------------------------------------------------------------------------- command line


@pytest.mark.parametrize("rel", FORMAT_FILES)
def test_cli_info_on_corpus(data_dir, rel):
    out = _run_cli("info", str(data_dir / rel))
    assert out.returncode == 0, out.stderr
    summary = json.loads(out.stdout)
    for key in ("format", "n_channels", "sfreq", "duration_s", "channels", "annotations", "warnings"):
        assert key in summary
    assert summary["n_channels"] == len(summary["channels"])


def test_cli_info_bad_input(tmp_path, data_dir):
    (tmp_path / "empty.edf").write_bytes(b"")
    (tmp_path / "text.edf").write_text("hello\n" * 100)
    src = (data_dir / "eegmat/Subject00_1.edf").read_bytes()
    (tmp_path / "cut.edf").write_bytes(src[:50_000])
    for name in ("empty.edf", "text.edf", "cut.edf", "missing.edf"):
        out = _run_cli("info", str(tmp_path / name))
        assert out.returncode == 2, (name, out.stdout)
        assert out.stderr.count("\n") == 1 and "Traceback" not in out.stderr


def test_cli_info_on_samples(samples_dir):
    entries = [p for p in sorted(samples_dir.iterdir()) if p.name.endswith((".edf", ".vhdr", ".fif.gz"))]
    assert len(entries) == 4
    for path in entries:
        out = _run_cli("info", str(path))
        assert out.returncode == 0, out.stderr
        summary = json.loads(out.stdout)
        ref = mne.io.read_raw(path, verbose="error")
        assert summary["n_channels"] == len(ref.ch_names)
        assert summary["sfreq"] == pytest.approx(ref.info["sfreq"])


def test_list_recordings_gives_entry_points(samples_dir, data_dir):
    from brainkit.io import list_recordings

    assert [p.name for p in list_recordings(samples_dir)] == [
        "eyes_open_closed.edf", "meg_evoked_raw.fif.gz", "oddball_erp.vhdr", "sleep_night.edf"]
    assert [p.name for p in list_recordings(data_dir / "formats/egi_mff")] == [
        "test_egi_multiepoch_paused.mff", "test_egi_pns.mff"]


@pytest.mark.parametrize("text, said", [
    ("Copyright (c) the authors\nAll rights reserved.\n", "holds text, not samples"),
    ("[C3-A1]\nsee the header\n", "holds text, not samples"),
    ("1.0 2.0 3.0\n4.0 5.0 6.0\n", "columns separated by spaces"),
    ("[Cz]\n12\n-3.5\n7\n", "no sampling rate: give"),
])
def test_text_that_is_not_one_number_per_line_is_named_before_a_rate_is_asked(tmp_path, text, said):
    path = tmp_path / "notes.txt"
    path.write_text(text)
    with pytest.raises(BrainkitError, match=said):
        read_recording(path)


def test_a_rate_in_the_file_name_is_named_in_the_error_never_assumed(tmp_path):
    path = tmp_path / "night_N2_200Hz.txt"
    path.write_text("\n".join(str(v) for v in np.arange(400) % 9))
    with pytest.raises(BrainkitError, match=r"its name says 200 Hz"):
        read_recording(path)
    assert read_recording(path, sfreq=100).sfreq == 100.0  # the given rate, not the name's
    export = tmp_path / "headset_250Hz.csv"  # every reader that needs a rate says it alike
    export.write_text("Fz,Cz\n" + "".join(f"{i % 5},{i % 3}\n" for i in range(300)))
    with pytest.raises(BrainkitError, match=r"has no timestamp column \(its name says 250 Hz\)"):
        read_recording(export)


def test_clinical_export_names_give_kinds_and_flat_leads_are_named():
    """TUH-style names ("EEG EKG1-REF", "EEG LOC-REF") are the heart and the eyes, not the brain;
    a flat electrode is named among the channels decoding leaves out."""
    from brainkit.io import recording_from_raw

    names = ["EEG FP1-REF", "EEG C3-REF", "EEG O1-REF", "EEG EKG1-REF", "EEG LOC-REF", "EEG ROC-REF",
             "EEG CHIN1-REF"]
    data = np.random.default_rng(6).normal(0.0, 20e-6, (len(names), 2560))
    data[1] = 0.0
    rec = recording_from_raw(mne.io.RawArray(data, mne.create_info(names, 256.0, "eeg"), verbose="error"))
    assert rec.sensors.kinds == ["eeg", "eeg", "eeg", "ecg", "eog", "eog", "emg"]
    assert "1 channel(s) left out of decoding, flat: EEG C3-REF" in rec.warnings
    summary = rec.summary()
    assert summary["n_model_channels"] == 2 and summary["channels_by_kind"]["eeg"] == 3


def test_chb_mit_names_give_positions_and_kinds():
    """CHB-MIT-style bipolar exports: a lead the file lists twice (MNE names them ``T8-P8-0`` and
    ``T8-P8-1``) sits where ``T8-P8`` does; the stimulator and the nameless spacers are not EEG."""
    from brainkit.io import recording_from_raw
    from brainkit.sensors import eeg_position

    names = ["FP1-F7", "T8-P8-0", "P8-O2", "T8-P8-1", "VNS", "-", "--0", "ECG"]
    data = np.random.default_rng(7).normal(0.0, 20e-6, (len(names), 2560))
    rec = recording_from_raw(mne.io.RawArray(data, mne.create_info(names, 256.0, "eeg"), verbose="error"))
    assert rec.sensors.kinds == ["eeg", "eeg", "eeg", "eeg", "misc", "misc", "misc", "ecg"]
    lead = eeg_position("T8-P8")[0]
    for i in (1, 3):
        np.testing.assert_array_equal(rec.sensors.pos[i], lead)
        assert rec.sensors.position_source[i] == "derivation"
    assert not any("without a known position" in w for w in rec.warnings)
