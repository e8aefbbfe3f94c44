"""What a checkpoint carries for the app's model pages: its task-by-task matrices
(``correlations.json``), its metrics (``metrics.json``, with ``crossval``), and the model card's
chart of cross-validated accuracy."""

import hashlib
import json

import numpy as np
import pytest

from brainkit import BrainkitError
from brainkit.models.checkpoint import DEFAULT_CHECKPOINT, load_correlations, load_metrics
from brainkit.tasks import TASK_IDS, get_task
from brainkit.evaluation.crossval import paired_gaps
from brainkit.viz.card import crossval_figure, gap_figure, method_order


def fake_crossval() -> dict:
    """``brainkit crossval``'s structure: three tasks, brainkit and baselines that apply to some."""
    def stats(folds):
        folds = list(folds)
        return {"balanced_accuracy": {"mean": float(np.mean(folds)), "std": float(np.std(folds)),
                                      "folds": folds}}

    return {"k": 5, "seed": 0, "tasks": {
        "eyes": {"unit": "subject", "n_folds": 3, "n_windows": 300, "n_groups": 3, "methods": {
            "brainkit": stats([0.9, 0.8, 0.85]), "bandpower_logreg": stats([0.7, 0.75, 0.8]),
            "posterior_alpha": stats([0.85, 0.9, 0.6])}},
        "sleep_stage": {"unit": "recording", "n_folds": 2, "n_windows": 900, "n_groups": 2, "methods": {
            "brainkit": stats([0.6, 0.7]), "bandpower_logreg": stats([0.5, 0.55]),
            "yasa_staging": stats([0.65, 0.62])}},
        "p300": {"unit": "subject", "n_folds": 4, "n_windows": 400, "n_groups": 4, "methods": {
            "brainkit": stats([0.5, 0.52, 0.49, 0.55]), "bandpower_logreg": stats([0.51, 0.5, 0.53, 0.5]),
            "xdawn_tangent": {"balanced_accuracy": {"mean": None, "std": None, "folds": [None] * 4}}}},
    }}


def fake_correlations(tasks=("eyes", "workload", "sleep_stage")) -> dict:
    n = len(tasks)
    m = np.full((n, n), 0.3) + 0.7 * np.eye(n)
    return {"tasks": list(tasks), "order": list(tasks)[::-1],
            "matrices": {"routing": m.tolist(), "attribution": None, "representation": m.tolist()},
            "not_computed": {"attribution": "explanations do not reach the read-out yet"},
            "n_windows": {t: 4 for t in tasks}, "computed_on": "a test"}


def test_loaders_read_what_the_checkpoint_carries_and_none_otherwise(tmp_path):
    assert load_correlations(tmp_path) is None and load_metrics(tmp_path) is None
    assert load_correlations(tmp_path / "no such folder") is None
    (tmp_path / "correlations.json").write_text(json.dumps(fake_correlations()))
    (tmp_path / "metrics.json").write_text(json.dumps({"decoder": {}, "crossval": fake_crossval()}))
    assert load_correlations(tmp_path) == fake_correlations()
    assert load_metrics(tmp_path)["crossval"] == fake_crossval()
    (tmp_path / "correlations.json").write_text('{"tasks": ["eyes"]')  # cut off
    with pytest.raises(BrainkitError, match="not valid JSON"):
        load_correlations(tmp_path)
    (tmp_path / "correlations.json").write_text('{"tasks": ["eyes"]}')
    with pytest.raises(BrainkitError, match="lacks"):
        load_correlations(tmp_path)


def test_shipped_checkpoint_carries_symmetric_task_matrices():
    shipped = load_correlations()
    assert shipped is not None, "brainkit/assets/brainkit-base/correlations.json is missing"
    tasks = shipped["tasks"]
    assert tasks == [t for t in TASK_IDS if t in tasks] and len(tasks) == len(TASK_IDS)
    assert sorted(shipped["order"]) == sorted(tasks)
    assert set(shipped["n_windows"]) == set(tasks) and min(shipped["n_windows"].values()) >= 2
    assert "shared corpus" in shipped["computed_on"]
    weights = DEFAULT_CHECKPOINT / "decoder" / "model.safetensors"  # computed with the shipped decoder
    assert shipped["decoder_sha256"] == hashlib.sha256(weights.read_bytes()).hexdigest(), (
        "the decoder changed since: rerun " + shipped["command"])
    computed = {k: np.asarray(m) for k, m in shipped["matrices"].items() if m is not None}
    assert {"routing", "representation"} <= set(computed)
    for name in {"routing", "attribution", "representation"} - set(computed):
        assert shipped["not_computed"][name]  # a matrix left out says why
    for name, m in computed.items():
        m = m.astype(float)  # null (unknown) -> NaN
        known = [i for i, t in enumerate(tasks) if t not in shipped.get(f"{name}_unknown", {}).get("tasks", [])]
        assert np.isnan(m).sum() == len(tasks) ** 2 - len(known) ** 2, name  # unknown rows and columns
        m = m[np.ix_(known, known)]
        assert len(known) >= 5 and np.isfinite(m).all(), name
        np.testing.assert_allclose(m, m.T, err_msg=name)
        np.testing.assert_allclose(np.diag(m), 1.0, err_msg=name)
        assert np.abs(m).max() <= 1.0 and np.ptp(m[np.triu_indices(len(known), 1)]) > 0, name


def test_crossval_figure_has_a_bar_per_method_with_the_spread_over_folds():
    cv = fake_crossval()
    fig = crossval_figure(cv)
    bars = [t for t in fig.data if t.type == "bar"]
    assert [b.name for b in bars] == method_order(cv)
    assert method_order(cv)[0] == "brainkit" and len(bars) == 5
    tasks = list(cv["tasks"])
    for bar in bars:
        assert list(bar.x) == tasks
        for task, y, err in zip(tasks, bar.y, bar.error_y.array):
            acc = cv["tasks"][task]["methods"].get(bar.name, {}).get("balanced_accuracy")
            if acc is None or acc["mean"] is None:  # not applicable or not measured: no bar
                assert y is None and err is None, (bar.name, task)
            else:
                assert y == pytest.approx(acc["mean"]) and err == pytest.approx(acc["std"])
    assert dict(zip(bars[0].x, bars[0].error_y.array))["eyes"] == pytest.approx(np.std([0.9, 0.8, 0.85]))
    # one dashed line per task at chance, under that task's bars
    lines = [s for s in fig.layout.shapes if s.line.dash == "dash"]
    assert [s.y0 for s in lines] == pytest.approx([1 / len(get_task(t).answers) for t in tasks])
    assert [s.y0 for s in lines] == pytest.approx([0.5, 0.2, 0.5])
    assert all(s.x0 < i < s.x1 for i, s in enumerate(lines))


def test_gap_figure_shows_each_baseline_paired_fold_by_fold_with_two_standard_errors():
    cv = fake_crossval()
    gaps = paired_gaps(cv)
    assert list(gaps) == ["eyes", "sleep_stage", "p300"]
    eyes = np.subtract([0.9, 0.8, 0.85], [0.7, 0.75, 0.8])  # brainkit minus band power, fold by fold
    assert gaps["eyes"]["gaps"]["bandpower_logreg"] == pytest.approx(
        {"mean": eyes.mean(), "se": eyes.std(ddof=1) / np.sqrt(3)})
    assert gaps["eyes"]["reference"] == "brainkit"
    assert gaps["p300"]["gaps"]["xdawn_tangent"] == {"mean": None, "se": None}  # never scored
    fig = gap_figure(gaps, method_order(cv))
    traces = {t.name: t for t in fig.data}
    assert list(traces) == ["bandpower_logreg", "posterior_alpha", "yasa_staging"]  # the card's order
    power = traces["bandpower_logreg"]
    assert list(power.y) == ["eyes", "sleep_stage", "p300"]
    assert power.x[0] == pytest.approx(100 * eyes.mean())
    assert power.error_x.array[0] == pytest.approx(200 * eyes.std(ddof=1) / np.sqrt(3))
    assert power.x[1] == pytest.approx(100 * 0.125)  # sleep: 0.6 - 0.5 and 0.7 - 0.55
    # a method has one colour in both charts
    bars = {b.name: b.marker.color for b in crossval_figure(cv).data if b.type == "bar"}
    assert all(t.marker.color == bars[name] for name, t in traces.items())
    assert len({t.marker.color for t in traces.values()}) == 3
    assert [s.x0 for s in fig.layout.shapes] == [0]  # the line of no difference


def test_the_shipped_cards_tables_are_its_metrics():
    """The card's cross-validation figures are the shipped metrics.json's: each method's mean ±
    std in its task's row, and the paired table's rows as ``scripts/card_crossval.py`` prints
    them (a card edited by hand, or metrics rerun without the card, fails here)."""
    from brainkit.evaluation.crossval import _cell, markdown

    card = (DEFAULT_CHECKPOINT / "MODEL_CARD.md").read_text(encoding="utf-8")
    crossval = load_metrics()["crossval"]
    for task, r in crossval["tasks"].items():
        (row,) = [line for line in card.splitlines() if line.startswith(f"| {task} | {r['unit']} (")]
        for name, m in r["methods"].items():
            assert f"| {_cell(m['balanced_accuracy'])} |" in row, (task, name)
    gap_rows = [line for line in markdown(crossval).splitlines()
                if line.split(" | ")[1:2] in (["brainkit"], ["read-out head"])]
    assert len(gap_rows) == len(paired_gaps(crossval)) == len(crossval["tasks"])
    assert [r for r in gap_rows if r not in card] == []
    pooled = markdown(crossval).split("pooled over the folds")[1].split("\n\n")[1].splitlines()[2:]
    assert len(pooled) == len(crossval["tasks"]) and [r for r in pooled if r not in card] == []
