"""decode, evaluate, tokenize and explain from the command line, on a tiny checkpoint."""

import csv
import gzip
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def tiny(tiny_model):
    """The shared tiny checkpoint laid out as ckpt/ and lm/ under one folder."""
    checkpoint, lm = tiny_model
    assert checkpoint.parent == lm.parent
    return checkpoint.parent


def run(*args):
    return subprocess.run([sys.executable, "-m", "brainkit", *map(str, args)], capture_output=True,
                          text=True, cwd=ROOT, timeout=600)


def model_args(tiny):
    return ["--checkpoint", tiny / "checkpoint", "--lm", tiny / "lm"]


def test_decode_writes_the_csv_contract(tiny, samples_dir, tmp_path):
    out = tmp_path / "preds.csv"
    res = run("decode", samples_dir / "eyes_open_closed.edf", "--task", "eyes", "--out", out, *model_args(tiny))
    assert res.returncode == 0, res.stderr
    rows = list(csv.DictReader(open(out)))
    assert list(rows[0]) == ["start_s", "duration_s", "task", "answer", "p_open", "p_closed"]
    assert len(rows) == 45  # 180 s in 4-s windows
    p = np.array([[float(r["p_open"]), float(r["p_closed"])] for r in rows])
    assert np.allclose(p.sum(1), 1, atol=1e-4) and {r["answer"] for r in rows} <= {"open", "closed"}
    assert [float(r["start_s"]) for r in rows[:3]] == [0.0, 4.0, 8.0]


def _manifest_from_annotations(path: Path, rec_path: Path, task: str, mapping: dict, duration: float):
    import mne

    raw = mne.io.read_raw(rec_path, verbose="error")
    rows = [(rec_path.name if rec_path.parent == path.parent else str(rec_path), task, mapping[d], o, duration, "sim")
            for o, d in zip(raw.annotations.onset, raw.annotations.description)
            if d in mapping and o + duration <= raw.times[-1]]
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["path", "task", "label", "start_s", "duration_s", "subject"])
        w.writerows(rows)
    return len(rows)


def test_evaluate_json_contract(tiny, samples_dir, tmp_path):
    manifest = tmp_path / "m.csv"
    n = _manifest_from_annotations(manifest, samples_dir / "sleep_night.edf", "sleep_stage",
                                   {"Sleep stage W": "W", "Sleep stage N2": "N2", "Sleep stage N3": "N3",
                                    "Sleep stage R": "REM", "Sleep stage N1": "N1"}, 30.0)
    with open(manifest, "a", newline="") as f:  # a second task, another format, other lengths
        w = csv.writer(f)
        for start in (5.0, 40.0, 100.0):
            w.writerow([str(samples_dir / "eyes_open_closed.edf"), "eyes", "open", start, 3.0, "sim"])
    res = run("evaluate", "--manifest", manifest, "--out", tmp_path / "metrics.json", *model_args(tiny))
    assert res.returncode == 0, res.stderr
    result = json.loads(res.stdout)
    assert result == json.loads((tmp_path / "metrics.json").read_text())
    assert set(result["tasks"]) == {"sleep_stage", "eyes"}
    sleep = result["tasks"]["sleep_stage"]
    assert sleep["n"] == n and result["tasks"]["eyes"]["n"] == 3
    # the confusion's rows are the manifest's labels; every figure follows from the confusion
    labels = [row["label"] for row in csv.DictReader(open(manifest)) if row["task"] == "sleep_stage"]
    answers = ["W", "N1", "N2", "N3", "REM"]
    confusion = np.array(sleep["confusion"])
    assert confusion.shape == (5, 5) and list(confusion.sum(1)) == [labels.count(a) for a in answers]
    for key, value in _metrics_from_confusion(confusion).items():
        assert sleep[key] == pytest.approx(value, abs=1e-9), key
    assert sleep["auroc"] is None  # binary tasks only
    # the calibration error needs the probabilities: the library, run on the same manifest in this
    # process, gives the command line's figure
    from brainkit.evaluation.evaluate import evaluate_manifest
    from brainkit.inference import Brainkit

    library = evaluate_manifest(Brainkit(tiny / "checkpoint", lm_path=tiny / "lm"), manifest)
    assert sleep["ece"] == pytest.approx(library["tasks"]["sleep_stage"]["ece"], abs=1e-6)
    eyes = result["tasks"]["eyes"]
    assert np.array(eyes["confusion"]).sum(1).tolist() == [3, 0]  # three windows labelled open
    assert result["mean_balanced_accuracy"] == pytest.approx(
        np.mean([sleep["balanced_accuracy"], eyes["balanced_accuracy"]]))


def test_evaluate_names_the_recording_without_a_signal(tiny, tmp_path):
    """A manifest lists many files: the one whose every channel is flat is named, in one line."""
    import mne

    raw = mne.io.RawArray(np.zeros((3, 2560)), mne.create_info(["Cz", "Pz", "Oz"], 256.0, "eeg"),
                          verbose="error")
    raw.save(tmp_path / "disconnected_raw.fif", verbose="error")
    manifest = tmp_path / "m.csv"
    manifest.write_text("path,task,label,start_s,duration_s,subject\n"
                        "disconnected_raw.fif,eyes,open,0,4,s1\n")
    res = run("evaluate", "--manifest", manifest, *model_args(tiny))
    assert res.returncode == 2 and "Traceback" not in res.stderr
    assert res.stderr.strip().splitlines() == [
        "brainkit evaluate: disconnected_raw.fif: no EEG or MEG channel carries a signal: all 3 are flat "
        "(constant, a disconnected lead or a dead sensor); nothing to decode"]


def _metrics_from_confusion(c: np.ndarray) -> dict:
    """Balanced accuracy, Cohen's kappa, macro F1 (over the classes present) and weighted F1 of a
    confusion matrix (rows: true, columns: predicted), from their textbook definitions."""
    n, rows, cols, tp = c.sum(), c.sum(1), c.sum(0), np.diag(c)
    present = rows > 0
    f1 = np.divide(2 * tp, rows + cols, out=np.zeros(len(c)), where=rows + cols > 0)
    po, pe = tp.sum() / n, (rows * cols).sum() / n**2
    return {"balanced_accuracy": np.mean(tp[present] / rows[present]),
            "cohen_kappa": (po - pe) / (1 - pe) if pe < 1 else 0.0,
            "macro_f1": f1[present].mean(), "weighted_f1": (f1 * rows).sum() / n}


def test_evaluate_on_a_gzip_headset_export(tiny, data_dir, tmp_path):
    src = next((data_dir / "muse/visual/P300/subject4").rglob("*.csv.gz"))
    with gzip.open(src, "rt") as f:
        f.readline()  # header
        marks = [(i, line.strip().split(",")[-1]) for i, line in enumerate(f)]
    rows = [(str(src), "p300", "target" if m == "2" else "nontarget", i / 256 - 0.1, 1.0, "subject4")
            for i, m in marks if m in ("1", "2") and i > 256][:40]
    manifest = tmp_path / "muse.csv"
    with open(manifest, "w", newline="") as f:
        csv.writer(f).writerows([["path", "task", "label", "start_s", "duration_s", "subject"], *rows])
    res = run("evaluate", "--manifest", manifest, *model_args(tiny))
    assert res.returncode == 0, res.stderr
    assert json.loads(res.stdout)["tasks"]["p300"]["n"] == len(rows)


def test_tokenize_and_explain(tiny, samples_dir, tmp_path):
    res = run("tokenize", samples_dir / "eyes_open_closed.edf", "--out", tmp_path / "t.npz",
              "--checkpoint", tiny / "checkpoint")
    assert res.returncode == 0, res.stderr
    summary = json.loads(res.stdout)
    assert summary["n_windows"] == 45 and len(summary["codebook_usage"]["fraction_used"]) == 2
    tokens = np.load(tmp_path / "t.npz", allow_pickle=False)
    assert tokens["codes"].shape == (45, 4, 16, 2) and len(tokens["ch_names"]) == 19
    # the same codes and reconstruction correlation as the library on the same file
    from brainkit.io import read_recording
    from brainkit.models.checkpoint import load_tokenizer_model
    from brainkit.models.tokenizer import tokenize_windows
    from brainkit.preprocess import make_windows

    windows = make_windows(read_recording(samples_dir / "eyes_open_closed.edf"), 4.0)
    codes, _, r = tokenize_windows(load_tokenizer_model(tiny / "checkpoint"), windows)
    np.testing.assert_array_equal(tokens["codes"], codes)
    assert summary["reconstruction_r"] == pytest.approx(r, abs=1e-6) and summary["warnings"] == []
    res = run("explain", samples_dir / "eyes_open_closed.edf", "--task", "eyes", "--window-index", "3",
              "--steps", "8", "--out", tmp_path / "e.npz", *model_args(tiny))
    assert res.returncode == 0, res.stderr
    e = np.load(tmp_path / "e.npz", allow_pickle=False)
    assert e["attribution"].shape == (19, 1024) and e["token_attribution"].shape == (4, 16, 2)
    assert int(e["baseline_index"]) == -1 and str(e["baseline"]) == "recording"
    printed = json.loads(res.stdout)  # how far the attributions add up, and with how many steps
    assert printed["integration_steps"] == int(e["n_steps"]) and printed["complete"] == bool(e["complete"])
    assert printed["baseline"] == "recording" and printed["baseline_windows"] == [0, 15, 30, 44]
    assert printed["paths"] == 4 and 3 not in printed["baseline_windows"]
    assert printed["completeness_relative"] == pytest.approx(float(e["completeness_relative"]))
    res = run("explain", samples_dir / "eyes_open_closed.edf", "--task", "eyes", "--steps", "8",
              "--max-steps", "4", "--out", tmp_path / "e3.npz", *model_args(tiny))
    assert res.returncode == 2 and "--max-steps at least --steps" in res.stderr and "Traceback" not in res.stderr
    res = run("explain", samples_dir / "eyes_open_closed.edf", "--task", "eyes", "--window-index", "3",
              "--baseline-window", "45", "--steps", "8", "--out", tmp_path / "e2.npz", *model_args(tiny))
    assert res.returncode == 2 and "--baseline-window must be in 0..44" in res.stderr


def _tokenize_short(tiny, path):
    res = run("tokenize", path, "--checkpoint", tiny / "checkpoint")
    assert res.returncode == 0, res.stderr
    summary = json.loads(res.stdout)
    assert summary["n_windows"] == 1 and summary["codes_shape"][0] == 1
    assert any("zero-padded to 4 s" in w for w in summary["warnings"]), summary["warnings"]
    return summary


def test_tokenize_pads_a_0p3_s_meg_recording(tiny, tmp_path):
    """DESIGN.md: a window of another length is padded, never rejected. A 0.30-s BTi-like MEG
    recording (248 magnetometers at 1017.25 Hz were refused with "at least 0.5 s is needed")."""
    import mne

    sfreq = 1017.25
    n = round(0.3 * sfreq)
    info = mne.create_info([f"A{i}" for i in range(1, 33)], sfreq, "mag")
    for i, ch in enumerate(info["chs"]):  # on a 12-cm sphere, facing out
        theta, phi = 0.3 + 1.2 * (i % 8) / 8, 2 * np.pi * (i // 8) / 4
        direction = np.array([np.sin(theta) * np.cos(phi), np.sin(theta) * np.sin(phi), np.cos(theta)])
        ch["loc"][:3], ch["loc"][9:12] = 0.12 * direction, direction
    data = np.random.default_rng(0).normal(0, 1e-13, (32, n))
    path = tmp_path / "bti_0p3s_raw.fif"
    mne.io.RawArray(data, info, verbose="error").save(path, verbose="error")
    summary = _tokenize_short(tiny, path)
    assert "0.30 s of signal" in " ".join(summary["warnings"])


def test_tokenize_pads_a_real_meg_recording_cut_to_0p3_s(tiny, data_dir, tmp_path):
    """The same on a real MEG system (KIT 157 channels; no BTi recording in ../shared/data)."""
    import mne

    raw = mne.io.read_raw_kit(data_dir / "meg" / "kit157_test.sqd", verbose="error")
    path = tmp_path / "kit_0p3s_raw.fif"
    raw.crop(0, 0.3).load_data().save(path, verbose="error")
    _tokenize_short(tiny, path)


@pytest.mark.parametrize("args, match", [
    (["decode", "sample_data/eyes_open_closed.edf", "--task", "dreaming"], "unknown task"),
    (["evaluate", "--manifest", "no/such.csv"], "does not exist"),
    (["tokenize", "sample_data/eyes_open_closed.edf", "--checkpoint", "no/such/dir"], "checkpoint"),
    (["fit-readout", "--anchor-temperature", "sleep_stage=sharp"], "expected TASK=T"),
    (["fit-readout", "--anchor-temperature", "dreaming=0.1"], "TASK must be a task id"),
    (["fit-readout", "--anchor-temperature", "sleep_stage=0"], "T above 0"),
    (["fit-readout", "--entropy-task", "dreaming"], "not a task id"),
])
def test_bad_arguments_give_one_line(tiny, args, match):
    res = run(*args, *(model_args(tiny) if args[0] != "tokenize" else []))
    assert res.returncode == 2 and match in res.stderr and res.stderr.count("\n") == 1


def test_pickle_in_checkpoint_is_refused(tiny, tmp_path, samples_dir):
    import shutil

    bad = tmp_path / "bad"
    shutil.copytree(tiny / "checkpoint", bad)
    torch.save({"x": 1}, bad / "tokenizer" / "pytorch_model.bin")
    res = run("tokenize", samples_dir / "eyes_open_closed.edf", "--checkpoint", bad)
    assert res.returncode == 2 and "pickle" in res.stderr
