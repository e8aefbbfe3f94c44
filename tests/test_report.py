"""What the pages compute with a (tiny) model (brainkit.inference, brainkit.explain), and the
files brainkit.export writes from the results."""

import csv
import io

import mne
import numpy as np
import pytest
import torch

from brainkit.io import Recording, read_recording
from brainkit.explain.attention import query_selection
from brainkit.explain.correlations import correlate_tasks
from brainkit.export import html_report, predictions_csv, predictions_edf, summary_table
from brainkit.inference import (Brainkit, Predictions, answer_log_probabilities, recording_reference,
                                tokenize_recording, window_features)
from brainkit.preprocess import evenly_spaced, make_windows
from brainkit.viz.answers import probability_figure, timeline_figure
from brainkit.sensors import sensors_from_info
from brainkit.tasks import TASK_IDS

torch.set_num_threads(1)
EEG = ["Fp1", "Fp2", "C3", "C4", "O1", "O2"]


@pytest.fixture(scope="module")
def bk(tiny_model):
    checkpoint, lm = tiny_model
    return Brainkit(checkpoint, lm_path=lm, attn_implementation="eager")


def _recording(seconds=40.0, sfreq=128.0, subject=True) -> Recording:
    """A recording built by hand (not through brainkit.io), carrying a patient's name."""
    rng = np.random.default_rng(0)
    raw = mne.io.RawArray(rng.normal(0, 20e-6, (len(EEG), int(seconds * sfreq))),
                          mne.create_info(EEG, sfreq, "eeg"), verbose="error")
    if subject:
        raw.info["subject_info"] = {"first_name": "Jane", "last_name": "Doe", "his_id": "P-4711"}
    raw.set_annotations(mne.Annotations([1.0], [2.0], ["eyes closed"]))
    sensors, _ = sensors_from_info(raw.info)
    return Recording(raw=raw, sensors=sensors, format="test", name="jane.edf")


def _tags(page: str) -> list:
    """(tag, attributes) of every start tag of an HTML page (script bodies are not parsed)."""
    from html.parser import HTMLParser

    tags = []

    class Parser(HTMLParser):
        def handle_starttag(self, tag, attrs):
            tags.append((tag, dict(attrs)))

    Parser().feed(page)
    return tags


def _preds(task="eyes", answers=("open", "closed"), probs=((0.9, 0.1), (0.3, 0.7), (0.6, 0.4)),
           duration_s=4.0):
    p = np.asarray(probs, dtype=float)
    return Predictions(task, np.arange(len(p)) * duration_s, duration_s, tuple(answers), p)


# ------------------------------------------------------------------------------------ compute


def test_tokenize_recording(bk):
    recording = _recording()
    tokens = tokenize_recording(bk.tokenizer, recording, window_s=4.0, max_windows=6)
    assert tokens.n_available == 10 and len(tokens.windows) == 6
    assert tokens.codes.shape == (6, 4, 16, 2) and tokens.codes.max() < 32
    assert tokens.reconstruction.shape == tokens.windows.x.shape == (6, len(EEG), 1024)
    assert tokens.patch_s == 0.25
    # the first six 4-s windows of the recording, and r their mean per-channel Pearson correlation
    # with the reconstruction
    np.testing.assert_array_equal(tokens.windows.x, make_windows(recording, 4.0).x[:6])
    r = [np.corrcoef(x, y)[0, 1] for x, y in zip(tokens.windows.x.reshape(-1, 1024),
                                                  tokens.reconstruction.reshape(-1, 1024))]
    assert tokens.r == pytest.approx(np.mean(r), abs=1e-5)
    assert len(tokens.usage["fraction_used"]) == 2
    few = tokenize_recording(bk.tokenizer, recording, window_s=4.0, max_values=3 * len(EEG) * 1024)
    assert len(few.windows) == 3 and few.n_available == 10  # bounded by size too


def test_decode_tasks_reads_each_task_in_its_own_windows(bk):
    calls = []
    preds = bk.decode_tasks(_recording(), ["sleep_stage", "eyes"],
                            progress=lambda done, total: calls.append((done, total)))
    assert list(preds) == ["sleep_stage", "eyes"]
    assert len(preds["sleep_stage"].starts_s) == 1 and len(preds["eyes"].starts_s) == 10
    np.testing.assert_allclose(preds["eyes"].starts_s, np.arange(10) * 4.0)
    for p in preds.values():
        np.testing.assert_allclose(p.probabilities.sum(1), 1.0, atol=1e-5)
    assert calls[-1] == (11, 11) and all(a[0] <= b[0] for a, b in zip(calls, calls[1:]))
    with pytest.raises(Exception, match="unknown task"):
        bk.decode_tasks(_recording(), ["nope"])


def test_decode_of_one_task_is_decode_tasks(bk):
    """The command line (decode) and the app (decode_tasks) take the same path."""
    recording = _recording(seconds=20.0)
    one = bk.decode(recording, "eyes")
    both = bk.decode_tasks(recording, ["p300", "eyes"])["eyes"]
    np.testing.assert_array_equal(one.starts_s, both.starts_s)
    np.testing.assert_allclose(one.probabilities, both.probabilities, rtol=1e-6)
    longer = bk.decode(recording, "eyes", window_s=8.0, stride_s=4.0)  # resampled to 4 s
    assert longer.probabilities.shape == (4, 2) and longer.duration_s == 4.0


def test_predict_is_the_answer_recipe_at_the_task_temperature(bk):
    windows = make_windows(_recording(seconds=12.0), 1.0)
    codes, latents, bandpower = window_features(bk.tokenizer, torch.from_numpy(windows.x),
                                                windows.sensors, windows.sfreq,
                                                bk.decoder.config.bands_hz)
    assert codes.shape[:3] == latents.shape[:3] and bandpower.shape[:2] == windows.x.shape[:2]
    with torch.no_grad():
        logprob, conn = answer_log_probabilities(bk.decoder, latents, bandpower, windows.scale,
                                                 windows.sensors, "p300", temperature=2.0)
        plain, _ = answer_log_probabilities(bk.decoder, latents, bandpower, windows.scale,
                                            windows.sensors, "p300")
    np.testing.assert_allclose(logprob.exp().sum(-1), 1.0, rtol=1e-5)
    assert conn.soft_tokens.shape[0] == len(windows)
    # a higher temperature flattens the same ranking
    assert (logprob.max(-1).values <= plain.max(-1).values + 1e-6).all()
    assert (logprob.argmax(-1) == plain.argmax(-1)).all()
    saved = dict(bk.decoder.config.temperatures)
    bk.decoder.config.temperatures["p300"] = 2.0
    try:
        np.testing.assert_allclose(bk.predict(windows, "p300").probabilities, logprob.exp().numpy(),
                                   rtol=1e-4, atol=1e-6)
    finally:
        bk.decoder.config.temperatures = saved


@pytest.mark.parametrize("n_total, n", [(10, 5), (10, 10), (3, 8), (100, 7), (5, 1), (0, 3), (7, 2)])
def test_evenly_spaced_choice(n_total, n):
    idx = evenly_spaced(n_total, n)
    assert len(idx) == min(n, n_total) and (np.diff(idx) > 0).all()
    if len(idx):
        assert idx[0] == 0 and (len(idx) == 1 or idx[-1] == n_total - 1)
    if len(idx) > 2:  # gaps differ by at most one
        assert np.ptp(np.diff(idx)) <= 1


def test_query_selection_rows_are_distributions(bk):
    reference = recording_reference(_recording(), ["eyes", "p300"], n_per_task=5)
    assert len(reference["eyes"]) == 5 and reference["p300"].x.shape[-1] == 256
    np.testing.assert_allclose(reference["eyes"].starts_s, [0, 8, 16, 28, 36])  # evenly_spaced(10, 5)
    selection = query_selection(bk, reference)
    for task in ("eyes", "p300"):
        assert selection[task].shape == (4, 3)
        np.testing.assert_allclose(selection[task].sum(1), 1.0)
        assert set(np.unique(selection[task] * 5)) <= set(range(6))  # counts of 5 windows


def test_correlate_tasks(bk):
    result = correlate_tasks(bk, _recording(seconds=12.0), n_per_task=2)
    tasks = result["tasks"]
    assert sorted(tasks) == sorted(TASK_IDS) and sorted(result["order"]) == sorted(tasks)
    for m in result["matrices"].values():
        m = np.asarray(m)
        assert m.shape == (len(tasks), len(tasks)) and np.allclose(m, m.T)
    assert set(result["selection"]) == set(tasks)


def test_summary_table_counts_and_means():
    rows = summary_table(_preds())
    assert rows == [
        {"task": "eyes", "answer": "open", "n_windows": 2, "fraction": pytest.approx(2 / 3),
         "mean_probability": pytest.approx(0.6)},
        {"task": "eyes", "answer": "closed", "n_windows": 1, "fraction": pytest.approx(1 / 3),
         "mean_probability": pytest.approx(0.4)}]


# ------------------------------------------------------------------------------------ export


def test_csv_has_the_decode_columns():
    text = predictions_csv(_preds())
    lines = text.splitlines()
    assert lines[0] == "start_s,duration_s,task,answer,p_open,p_closed"
    rows = list(csv.DictReader(io.StringIO(text)))
    assert [r["answer"] for r in rows] == ["open", "closed", "open"]
    assert [float(r["start_s"]) for r in rows] == [0.0, 4.0, 8.0]
    assert float(rows[1]["p_closed"]) == pytest.approx(0.7)
    # two tasks: one table, the union of their probability columns
    sleep = _preds("sleep_stage", ("W", "N1", "N2", "N3", "REM"), [[0.1, 0.1, 0.6, 0.1, 0.1]], 30.0)
    both = list(csv.DictReader(io.StringIO(predictions_csv([_preds(), sleep]))))
    assert list(both[0]) == ["start_s", "duration_s", "task", "answer", "p_open", "p_closed",
                             "p_W", "p_N1", "p_N2", "p_N3", "p_REM"]
    assert both[3]["answer"] == "N2" and both[3]["p_open"] == "" and both[0]["p_W"] == ""


def test_edf_carries_the_answers_and_no_patient(tmp_path):
    recording = _recording()
    data = predictions_edf(recording, _preds())
    assert b"Jane" not in data and b"Doe" not in data and b"P-4711" not in data
    assert data[8:16] == b"X X X X "  # EDF+ patient field: anonymous
    path = tmp_path / "decoded.edf"
    path.write_bytes(data)
    raw = mne.io.read_raw_edf(path, verbose="error")
    assert raw.ch_names == EEG and raw.n_times == recording.raw.n_times
    ann = raw.annotations
    decoded = [(o, d, s) for o, d, s in zip(ann.onset, ann.duration, ann.description)
               if s.startswith("eyes:")]
    assert [s for _, _, s in decoded] == ["eyes: open (p=0.90)", "eyes: closed (p=0.70)",
                                          "eyes: open (p=0.60)"]
    np.testing.assert_allclose([o for o, _, _ in decoded], [0.0, 4.0, 8.0], atol=1e-3)
    np.testing.assert_allclose([d for _, d, _ in decoded], 4.0, atol=1e-3)
    assert "eyes closed" in ann.description  # the recording's own annotation is kept
    info = raw.info["subject_info"] or {}
    assert info.get("first_name") in (None, "X") and info.get("last_name") in (None, "X")
    np.testing.assert_allclose(raw.get_data(), recording.raw.get_data(), atol=1e-7)
    assert recording.raw.info["subject_info"]["first_name"] == "Jane"  # the original is untouched


def test_edf_of_a_sample_recording(samples_dir, tmp_path):
    recording = read_recording(samples_dir / "sleep_night.edf")
    sleep = _preds("sleep_stage", ("W", "N1", "N2", "N3", "REM"), np.full((60, 5), 0.2) +
                   np.eye(5)[np.arange(60) % 5] * 0.1, 30.0)
    path = tmp_path / "sleep.edf"
    path.write_bytes(predictions_edf(recording, sleep))
    raw = mne.io.read_raw_edf(path, verbose="error")
    labels = [s for s in raw.annotations.description if s.startswith("sleep_stage:")]
    assert len(labels) == 60 and labels[:2] == ["sleep_stage: W (p=0.30)", "sleep_stage: N1 (p=0.30)"]
    assert len(raw.annotations) == 60 + len(recording.annotations)


def test_html_report_is_self_contained():
    preds = _preds()
    figures = {"eyes: answers": timeline_figure(preds), "eyes: probabilities": probability_figure(preds)}
    page = html_report(_recording(subject=False).summary(), {"eyes": preds}, figures)
    assert page.startswith("<!DOCTYPE html>") and page.rstrip().endswith("</html>")
    tags = _tags(page)
    assert not [a for t, a in tags if t in ("script", "img", "iframe") and a.get("src")]
    assert not [a for t, a in tags if t == "link" and a.get("href")]  # nothing fetched
    assert page.count("Plotly.newPlot(") == 2  # both figures, drawn by the same plotly.js
    assert len(page) > 1_000_000 and page.count("* plotly.js v") == 1  # the library, once
    assert "<table class='summary'>" in page and "mean_probability" in page
    assert "<td>closed</td>" in page and "not a medical device" in page
    assert "jane.edf" in page and "eyes: probabilities" in page
