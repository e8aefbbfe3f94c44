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
    for key in ("balanced_accuracy", "cohen_kappa", "macro_f1", "weighted_f1", "ece"):
        assert -1 <= sleep[key] <= 1
    assert np.array(sleep["confusion"]).shape == (5, 5) and np.sum(sleep["confusion"]) == n
    assert 0 <= result["mean_balanced_accuracy"] <= 1


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
    assert summary["n_windows"] == 45 and -1 <= summary["reconstruction_r"] <= 1
    assert len(summary["codebook_usage"]["fraction_used"]) == 2
    tokens = np.load(tmp_path / "t.npz", allow_pickle=False)
    assert tokens["codes"].shape == (45, 4, 16, 2) and len(tokens["ch_names"]) == 19
    res = run("explain", samples_dir / "eyes_open_closed.edf", "--task", "eyes", "--window-index", "3",
              "--steps", "8", "--out", tmp_path / "e.npz", *model_args(tiny))
    assert res.returncode == 0, res.stderr
    e = np.load(tmp_path / "e.npz", allow_pickle=False)
    assert e["attribution"].shape == (19, 1024) and e["token_attribution"].shape == (4, 16, 2)
    assert int(e["baseline_index"]) == -1
    res = run("explain", samples_dir / "eyes_open_closed.edf", "--task", "eyes", "--window-index", "3",
              "--baseline-window", "45", "--steps", "8", "--out", tmp_path / "e2.npz", *model_args(tiny))
    assert res.returncode == 2 and "--baseline-window must be in 0..44" in res.stderr


@pytest.mark.parametrize("args, match", [
    (["decode", "sample_data/eyes_open_closed.edf", "--task", "dreaming"], "unknown task"),
    (["evaluate", "--manifest", "no/such.csv"], "does not exist"),
    (["tokenize", "sample_data/eyes_open_closed.edf", "--checkpoint", "no/such/dir"], "checkpoint"),
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
