"""No export and no log line carries the patient's identity.

Recordings whose headers name a patient (EDF written by edfio and by MNE, FIF, BrainVision) are
read, tokenized, decoded and exported; the name, identifiers, birth date (in several spellings),
hospital, technician and device serial must appear in none of: the ``info`` JSON, the tokens
``.npz`` of ``brainkit tokenize --out``, the decode CSV (``report.predictions_csv`` and ``brainkit
decode --out``), the EDF+ export, the HTML report, the ``brainkit`` log at DEBUG and the stderr of
the commands (run with ``--verbose``).
"""

import datetime
import io
import json
import logging
import re
import subprocess
import sys
import zipfile
from pathlib import Path

import mne
import numpy as np
import pytest
from conftest import write_identified_edf
import torch

from brainkit.io import read_recording
from brainkit.inference import Brainkit
from brainkit.viz.answers import probability_figure, timeline_figure
from brainkit.export import html_report, predictions_csv, predictions_edf

torch.set_num_threads(1)
ROOT = Path(__file__).resolve().parents[1]
BIRTH = datetime.date(1961, 3, 14)
#: what must never leave brainkit, in the spellings exports and headers use
IDENTIFIERS = ["Jane", "Doe", "MRN-4711", "4711-0815", "StMaryHosp", "TechnicianSmith", "AmpSerial",
               "1961-03-14", "14-MAR-1961", "14.03.1961", "14.03.61", "19610314", "03/14/1961",
               "14/03/1961", "1961"]
EEG = ["Fp1", "Fp2", "F3", "F4", "C3", "C4", "O1", "O2"]


def _signal(seconds=40, sfreq=128.0):
    return np.random.default_rng(0).normal(0, 20e-6, (len(EEG), int(seconds * sfreq))), sfreq


def _edfio_file(folder: Path) -> Path:
    """EDF+ written by edfio with every patient and recording field filled in."""
    import edfio

    x, sfreq = _signal()
    signals = [edfio.EdfSignal(row * 1e6, sampling_frequency=sfreq, label=f"EEG {name}",
                               physical_dimension="uV", physical_range=(-500, 500))
               for name, row in zip(EEG, x)]
    return write_identified_edf(folder / "patient_edfio.edf", signals, additional=["StMaryHosp"],
                                annotation="eyes closed")


def _raw_with_identity():
    x, sfreq = _signal()
    raw = mne.io.RawArray(x, mne.create_info(EEG, sfreq, "eeg"), verbose="error")
    raw.set_meas_date(datetime.datetime(2019, 5, 2, 9, 30, tzinfo=datetime.timezone.utc))
    with raw.info._unlock():
        raw.info["subject_info"] = {"id": 4711, "his_id": "MRN-4711-0815", "first_name": "Jane",
                                    "last_name": "Doe", "birthday": BIRTH, "sex": 2, "hand": 1}
        raw.info["experimenter"] = "TechnicianSmith"
        raw.info["description"] = "Jane Doe MRN-4711-0815 born 14.03.1961 at StMaryHosp"
        raw.info["proj_name"] = "StMaryHosp"
        raw.info["device_info"] = {"type": "EEG", "model": "amp", "serial": "AmpSerial-99813",
                                   "site": "StMaryHosp"}
    raw.set_annotations(mne.Annotations([1.0], [2.0], ["eyes closed"]))
    return raw


def _mne_edf_file(folder: Path) -> Path:
    path = folder / "patient_mne.edf"
    mne.export.export_raw(path, _raw_with_identity(), fmt="edf", verbose="error")
    return path


def _fif_file(folder: Path) -> Path:
    path = folder / "patient_raw.fif"
    _raw_with_identity().save(path, verbose="error")
    return path


def _brainvision_file(folder: Path) -> Path:
    """BrainVision with the identity in the header's comment section and the marker file."""
    pytest.importorskip("pybv")
    path = folder / "patient.vhdr"
    mne.export.export_raw(path, _raw_with_identity(), fmt="brainvision", verbose="error")
    with open(path, "a", encoding="utf-8") as f:
        f.write("\nPatient: Jane Doe, MRN-4711-0815, born 14.03.1961, StMaryHosp, TechnicianSmith\n")
    return path


MAKERS = {"edfio": _edfio_file, "mne-edf": _mne_edf_file, "fif": _fif_file, "brainvision": _brainvision_file}


def _leaks(text: str) -> list[str]:
    """The identifiers found in ``text``; all-digit ones only as whole numbers (not inside 0.19613)."""
    found = []
    for ident in IDENTIFIERS:
        pattern = rf"(?<![\w.]){ident}(?!\w)" if ident.isdigit() else re.escape(ident)
        if re.search(pattern, text, re.IGNORECASE):
            found.append(ident)
    return found


def _without_plotly_library(page: str) -> str:
    """An HTML report without the inlined plotly.js source (whose own text holds years and names)."""
    start = page.find("* plotly.js v")
    if start < 0:
        return page
    end = page.find("</script>", start)
    return page[:start] + page[end:]


def _npz_text(path: Path) -> str:
    """Every name, string and number of an .npz (loaded without pickle), plus its member names."""
    parts = []
    with np.load(path, allow_pickle=False) as z:
        for key in z.files:
            a = z[key]
            parts.append(key)
            parts.append(" ".join(map(str, a.ravel()[:10_000])) if a.dtype.kind in "USb" else str(a.shape))
    with zipfile.ZipFile(path) as archive:
        parts += archive.namelist()
    return " ".join(parts)


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    folder = tmp_path_factory.mktemp("identified")
    return {kind: make(folder) for kind, make in MAKERS.items()}


@pytest.fixture(scope="module")
def bk(tiny_model):
    checkpoint, lm = tiny_model
    return Brainkit(checkpoint, lm_path=lm)


def test_the_files_really_carry_the_identity(files):
    """Otherwise every check below passes for the wrong reason."""
    for kind in ("edfio", "mne-edf", "fif"):
        blob = files[kind].read_bytes().decode("latin-1")
        assert {"Jane", "Doe", "MRN-4711"} <= set(_leaks(blob)), kind
    assert {"14-MAR-1961", "StMaryHosp", "TechnicianSmith", "AmpSerial"} <= set(
        _leaks(files["edfio"].read_bytes().decode("latin-1")))
    assert _leaks("born 1961, p=0.196100") == ["1961"]
    subject = mne.io.read_raw(files["fif"], verbose="error").info["subject_info"]
    assert subject["birthday"] == BIRTH and subject["his_id"] == "MRN-4711-0815"
    assert "Jane" in files["brainvision"].read_text()


@pytest.mark.parametrize("kind", list(MAKERS))
def test_exports_and_logs_are_deidentified(kind, files, bk, caplog, tmp_path):
    caplog.set_level(logging.DEBUG, logger="brainkit")
    rec = read_recording(files[kind])
    found = {"summary": _leaks(json.dumps(rec.summary())), "info": _leaks(repr(rec.raw.info))}
    preds = bk.decode_tasks(rec, ["eyes", "sleep_stage"])
    found["csv"] = _leaks(predictions_csv(preds))
    edf = predictions_edf(rec, preds)
    found["edf"] = _leaks(edf.decode("latin-1"))
    figures = {"eyes": timeline_figure(preds["eyes"]), "eyes p": probability_figure(preds["eyes"])}
    page = html_report(rec.summary(), preds, figures)
    found["html"] = _leaks(_without_plotly_library(page))
    found["log"] = _leaks("\n".join(r.getMessage() for r in caplog.records))
    assert not {k: v for k, v in found.items() if v}, found
    # the exports are real: the EDF+ holds the signal and the answers, the page the tables
    (tmp_path / "out.edf").write_bytes(edf)
    back = mne.io.read_raw_edf(tmp_path / "out.edf", verbose="error")
    assert back.n_times == rec.raw.n_times
    assert any(d.startswith("eyes:") for d in back.annotations.description)
    assert "<table class='summary'>" in page and len(caplog.records) > 0


def _cli(*args):
    return subprocess.run([sys.executable, "-m", "brainkit", "--verbose", *map(str, args)],
                          capture_output=True, text=True, cwd=ROOT, timeout=300)


def test_command_line_outputs_are_deidentified(files, tiny_model, tmp_path):
    checkpoint, lm = tiny_model
    from concurrent.futures import ThreadPoolExecutor

    jobs = {}
    for kind in ("edfio", "fif"):
        jobs[(kind, "info")] = ("info", files[kind])
        jobs[(kind, "tokenize")] = ("tokenize", files[kind], "--checkpoint", checkpoint,
                                    "--out", tmp_path / f"{kind}_tokens.npz")
    jobs[("edfio", "decode")] = ("decode", files["edfio"], "--task", "eyes", "--checkpoint", checkpoint,
                                 "--lm", lm, "--out", tmp_path / "preds.csv")
    with ThreadPoolExecutor(2) as pool:
        runs = dict(zip(jobs, pool.map(lambda a: _cli(*a), jobs.values())))
    found = {}
    for (kind, command), res in runs.items():
        assert res.returncode == 0, (kind, command, res.stderr[-500:])
        found[(kind, command, "stdout")] = _leaks(res.stdout)
        found[(kind, command, "stderr")] = _leaks(res.stderr)
    assert "brainkit INFO" in runs[("edfio", "info")].stderr  # --verbose really logged
    for kind in ("edfio", "fif"):
        found[(kind, "tokens.npz")] = _leaks(_npz_text(tmp_path / f"{kind}_tokens.npz"))
        assert json.loads(runs[(kind, "info")].stdout)["n_channels"] == len(EEG)
    found[("edfio", "preds.csv")] = _leaks((tmp_path / "preds.csv").read_text())
    assert not {k: v for k, v in found.items() if v}, found


def test_upload_bytes_and_zip_are_deidentified(files, caplog):
    """The app's way in (bytes with a name, a zip) drops the identity too, file names aside."""
    caplog.set_level(logging.DEBUG, logger="brainkit")
    blob = files["edfio"].read_bytes()
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("recording.edf", blob)
    uploads = (read_recording(blob, name="recording.edf"), read_recording(buffer.getvalue(), name="up.zip"))
    for rec in uploads:
        assert not _leaks(json.dumps(rec.summary()) + repr(rec.raw.info))
    assert not _leaks("\n".join(r.getMessage() for r in caplog.records))
