"""brainkit.viz (tokens, answers, explain, topomap, tasks): every figure carries its data; known answers on constructed inputs."""

import mne
import numpy as np
import pytest
import torch

from brainkit import BrainkitError
from brainkit.inference import Predictions
from brainkit.viz.answers import (HYPNOGRAM_ORDER, hypnogram_figure, prediction_figures,
                                  probability_figure, timeline_figure)
from brainkit.viz.explain import (attribution_figure, explanation_figures, source_time_heatmap,
                                  token_attribution_figure)
from brainkit.viz.tasks import cluster_order, query_selection_figure, task_matrix_figure
from brainkit.viz.tokens import (code_waveform, code_waveform_figure, codebook_usage_figure, codes_figure,
                                 reconstruction_figure, reference_codes)
from brainkit.viz.topomap import (TOPO_LABELS, interpolate, topography, topomap_figure, topomap_grid,
                                  topomap_png)
from brainkit.preprocess import Windows
from brainkit.sensors import sensors_from_info
from brainkit.models.tokenizer import BrainTokenizer, BrainTokenizerConfig

torch.set_num_threads(1)
EEG_1020 = ["Fp1", "Fp2", "F7", "F3", "Fz", "F4", "F8", "T7", "C3", "Cz", "C4", "T8",
            "P7", "P3", "Pz", "P4", "P8", "O1", "O2"]


def _sensors(names=EEG_1020):
    sensors, _ = sensors_from_info(mne.create_info(list(names), 256.0, "eeg"))
    return sensors


def _preds(task="eyes", answers=("open", "closed"), probabilities=((0.9, 0.1), (0.2, 0.8), (0.6, 0.4)),
           duration_s=4.0):
    p = np.asarray(probabilities, dtype=float)
    return Predictions(task, np.arange(len(p)) * duration_s, duration_s, tuple(answers), p)


@pytest.fixture(scope="module")
def tokenizer():
    torch.manual_seed(0)
    config = BrainTokenizerConfig(d_model=16, n_sources=4, codebook_size=32, n_levels=2)
    return BrainTokenizer(config).eval()


def test_codes_figure_one_level_or_all():
    codes = np.random.default_rng(0).integers(0, 32, (4, 16, 3))  # (K, P, L)
    every = codes_figure(codes, patch_s=0.25, t0=8.0, codebook_size=32)
    assert len(every.data) == 3
    for lv, trace in enumerate(every.data):
        np.testing.assert_array_equal(np.asarray(trace.z), codes[:, :, lv])
        assert trace.zmin == 0 and trace.zmax == 31
    np.testing.assert_allclose(every.data[0].x, 8.0 + (np.arange(16) + 0.5) * 0.25)
    one = codes_figure(codes, patch_s=0.25, level=1)
    assert len(one.data) == 1
    np.testing.assert_array_equal(np.asarray(one.data[0].z), codes[:, :, 1])


def test_codebook_usage_counts_every_token():
    codes = np.zeros((5, 4, 16, 2), dtype=int)  # (N, K, P, L)
    codes[..., 1] = np.arange(16) % 8  # level 2 uses 8 codes equally
    fig = codebook_usage_figure(codes, codebook_size=32)
    assert len(fig.data) == 2
    assert [sum(t.y) for t in fig.data] == [5 * 4 * 16] * 2
    assert "3% used, perplexity 1.0" in fig.data[0].name  # 1 of 32 codes
    assert "25% used, perplexity 8.0" in fig.data[1].name  # 8 of 32, uniform


def test_reconstruction_figure_reports_r():
    rng = np.random.default_rng(1)
    x = rng.normal(size=(3, 256))
    fig = reconstruction_figure(x, 2 * x + 1, ["A", "B", "C"], sfreq=256.0, channels=["C", "A"])
    assert "mean r = 1.000" in fig.layout.title.text
    assert len(fig.data) == 4 and all(len(t.x) == 256 for t in fig.data)
    assert fig.data[1].name == "C reconstruction (r=1.00)"
    noisy = reconstruction_figure(x, -x, ["A", "B", "C"], sfreq=256.0)
    assert "mean r = -1.000" in noisy.layout.title.text


def test_reference_codes_are_the_most_used():
    codes = np.array([[3, 7], [3, 1], [5, 1], [3, 1]])  # (M, L)
    np.testing.assert_array_equal(reference_codes(codes, 8), [3, 1])


def test_code_waveform_is_the_reference_when_the_code_is_the_reference(tokenizer):
    sensors = _sensors(["Cz", "Pz"])
    reference = [2, 5]
    t, same, ref = code_waveform(tokenizer, sensors, code=2, level=0, reference=reference,
                                 n_patches=3)
    assert same.shape == ref.shape == (2, 3 * 64) and len(t) == 3 * 64
    np.testing.assert_allclose(t[1], 1 / 256)
    np.testing.assert_allclose(same, ref, atol=1e-6)
    _, other, ref2 = code_waveform(tokenizer, sensors, code=9, level=0, reference=reference,
                                   n_patches=3)
    np.testing.assert_allclose(ref2, ref, atol=1e-6)
    assert np.abs(other - ref).max() > 1e-4  # another code rebuilds another waveform
    with pytest.raises(BrainkitError, match="code in"):
        code_waveform(tokenizer, sensors, code=32, level=0)
    fig = code_waveform_figure(tokenizer, sensors, "Pz", code=9, level=1, reference=reference)
    assert len(fig.data) == 3 and all(len(tr.y) == 4 * 64 for tr in fig.data)
    assert "Pz" in fig.layout.title.text


def test_timeline_and_probabilities():
    preds = _preds()
    fig = timeline_figure(preds)
    assert list(fig.data[0].y) == ["open", "closed", "open"]
    np.testing.assert_allclose(fig.data[0].x, [2.0, 6.0, 10.0])  # window centres
    np.testing.assert_allclose(fig.data[0].marker.color, [0.9, 0.8, 0.6])
    stacked = probability_figure(preds)
    assert [t.name for t in stacked.data] == ["open", "closed"]
    np.testing.assert_allclose(np.add(stacked.data[0].y, stacked.data[1].y), 1.0)
    assert list(prediction_figures(preds)) == ["eyes: answers", "eyes: probabilities"]


def test_hypnogram_puts_wake_on_top_and_marks_rem():
    answers = ("W", "N1", "N2", "N3", "REM")
    order = ["W", "N1", "N2", "N3", "N2", "REM", "W"]
    probs = np.eye(5)[[answers.index(s) for s in order]] * 0.8 + 0.04
    preds = _preds("sleep_stage", answers, probs, 30.0)
    fig = hypnogram_figure(preds)
    assert prediction_figures(preds)["sleep_stage: answers"].layout.title.text.startswith("Hypnogram")
    steps = fig.data[0]
    level = {s: 4 - HYPNOGRAM_ORDER.index(s) for s in HYPNOGRAM_ORDER}
    assert list(steps.y) == [level[s] for s in order] + [level["W"]]
    assert steps.x[-1] == pytest.approx(7 * 30 / 3600)  # the last epoch ends the plot
    assert list(fig.layout.yaxis.ticktext) == list(HYPNOGRAM_ORDER)
    assert level["W"] > level["REM"] > level["N1"] > level["N2"] > level["N3"]
    rem = [t for t in fig.data if t.name == "REM"][0]
    assert len(rem.x) == 1 and rem.x[0] == pytest.approx(5.5 * 30 / 3600)


def test_attribution_heatmap_is_centred_on_zero():
    a = np.zeros((3, 100))
    a[1, 10] = -2.0
    a[2, 50] = 0.5
    fig = attribution_figure(a, ["A", "B", "C"], sfreq=100.0, t0=4.0)
    trace = fig.data[0]
    assert trace.zmin == -2.0 and trace.zmax == 2.0 and list(trace.y) == ["A", "B", "C"]
    assert trace.x[0] == 4.0 and trace.x[-1] == pytest.approx(4.99)
    long = np.random.default_rng(0).normal(size=(2, 1500))  # binned: sums are kept
    binned = attribution_figure(long, ["A", "B"], sfreq=100.0, max_columns=500).data[0]
    assert np.asarray(binned.z).shape == (2, 500)
    np.testing.assert_allclose(np.asarray(binned.z).sum(1), long.sum(1))
    np.testing.assert_allclose(binned.x[:2], [0.01, 0.04])  # centres of 3-sample bins


def test_topomap_interpolates_inside_the_head():
    sensors = _sensors()
    values = np.array([1.0 if n in ("O1", "O2") else 0.0 for n in sensors.names])
    fig = topomap_figure(sensors, values, "alpha")
    heat = [t for t in fig.data if t.type == "heatmap"]
    markers = [t for t in fig.data if t.name == "sensors"]
    assert len(heat) == 1 and len(markers) == 1 and len(markers[0].x) == 19
    z = np.asarray(heat[0].z, dtype=float)
    assert np.isfinite(z).sum() > 100 and np.nanmax(z) <= 1.0 + 1e-9
    g = np.asarray(heat[0].y)
    back = z[g < -40][:, np.abs(np.asarray(heat[0].x)) < 20]  # occipital, middle
    front = z[g > 40][:, np.abs(np.asarray(heat[0].x)) < 20]
    assert np.nanmean(back) > np.nanmean(front)


def test_topomap_with_too_few_or_unplaced_sensors():
    sensors = _sensors(["Cz", "Pz", "Xyz1"])
    fig = topomap_figure(sensors, [1.0, 2.0, 3.0], "few")
    assert not [t for t in fig.data if t.type == "heatmap"]  # two points: no surface
    assert len([t for t in fig.data if t.name == "sensors"][0].x) == 2
    assert "1 channel(s) without a position" in fig.layout.title.text


def test_cluster_order_groups_similar_tasks():
    tasks = ["a", "b", "c", "d"]
    m = np.full((4, 4), -0.2)
    for group in ([0, 2], [1, 3]):
        m[np.ix_(group, group)] = 0.9
    order = cluster_order(m)
    assert sorted(order) == [0, 1, 2, 3]
    pos = {t: order.index(i) for i, t in enumerate(tasks)}
    assert abs(pos["a"] - pos["c"]) == 1 and abs(pos["b"] - pos["d"]) == 1
    fig = task_matrix_figure(m, tasks, title="t")
    x = list(fig.data[0].x)
    assert abs(x.index("a") - x.index("c")) == 1
    named = task_matrix_figure(m, tasks, order=["d", "c", "b", "a"])
    assert list(named.data[0].x) == ["d", "c", "b", "a"]
    np.testing.assert_allclose(np.asarray(named.data[0].z), m[::-1, ::-1])


def test_query_selection_histogram_per_task():
    selection = {"eyes": np.array([[1.0, 0.0, 0.0], [0.25, 0.75, 0.0]]),
                 "p300": np.array([[0.0, 0.0, 1.0], [0.0, 1.0, 0.0]])}
    fig = query_selection_figure(selection)
    assert [t.name for t in fig.data] == ["eyes", "p300"]
    assert list(fig.data[0].x) == ["s1q1", "s1q2", "s1q3", "s2q1", "s2q2", "s2q3"]
    np.testing.assert_allclose(fig.data[0].y, [1, 0, 0, 0.25, 0.75, 0])


def test_source_time_heatmap():
    fig = source_time_heatmap(np.arange(12.0).reshape(3, 4), patch_s=0.25, t0=1.0, title="att")
    assert np.asarray(fig.data[0].z).shape == (3, 4) and list(fig.data[0].y)[0] == "source 1"
    np.testing.assert_allclose(fig.data[0].x, [1.125, 1.375, 1.625, 1.875])


def test_one_interpolation_behind_every_scalp_map(tmp_path):
    """The figure's grid, the common-layout numbers and the PNG come from the same weighting."""
    sensors = _sensors()
    values = np.linspace(-1.0, 1.0, len(sensors.names))
    g, z = topomap_grid(sensors, values)
    fig = topomap_figure(sensors, values)
    np.testing.assert_allclose(np.asarray(fig.data[0].z, dtype=float), z, equal_nan=True)
    # a grid point on a sensor takes (nearly) its value; everything stays within the values' range
    xy = np.stack([np.asarray(fig.data[-1].x), np.asarray(fig.data[-1].y)], 1)
    at = interpolate(xy, values, xy)
    np.testing.assert_allclose(at, values, atol=0.01)
    assert np.nanmin(z) >= -1 - 1e-9 and np.nanmax(z) <= 1 + 1e-9
    common = topography(sensors, values)
    assert common.shape == (len(TOPO_LABELS),)
    assert common[TOPO_LABELS.index("O2")] == pytest.approx(values[sensors.names.index("O2")], abs=0.01)
    assert interpolate(xy[:1], values[:1], xy, min_sensors=2) is None
    topomap_png(sensors, values, tmp_path / "map.png", title="t")
    assert (tmp_path / "map.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_explanation_figures_of_one_window():
    sensors = _sensors(["Fz", "Cz", "Pz", "Oz"])
    rng = np.random.default_rng(0)
    windows = Windows(np.zeros((3, 4, 256), np.float32), 256.0, np.array([0.0, 1.0, 2.0]), sensors,
                      np.ones(4))
    attribution = rng.normal(size=(4, 256))
    ex = {"ch_names": np.array(["Fz", "Cz", "Pz", "Oz"]), "attribution": attribution,
          "channel_attribution": attribution.sum(-1), "connector_attention": rng.random((4, 4)),
          "lm_attention": rng.random((4, 4)), "token_attribution": rng.normal(size=(4, 4, 2)),
          "window_index": np.int64(2)}
    figures = explanation_figures(ex, windows, "from window 1")
    assert list(figures) == ["ig", "topomap", "conn_att", "lm_att"]
    assert "from window 1" in figures["ig"].layout.title.text
    assert figures["ig"].data[0].x[0] >= 2.0  # times from the window's start
    np.testing.assert_allclose(figures["conn_att"].data[0].x, 2.0 + (np.arange(4) + 0.5) * 0.25)
    markers = [t for t in figures["topomap"].data if t.name == "sensors"][0]
    np.testing.assert_allclose(markers.customdata, ex["channel_attribution"])
    summed = token_attribution_figure(ex, windows)
    np.testing.assert_allclose(np.asarray(summed.data[0].z), ex["token_attribution"].sum(2))
    second = token_attribution_figure(ex, windows, level=1)
    np.testing.assert_allclose(np.asarray(second.data[0].z), ex["token_attribution"][:, :, 1])


def test_a_share_is_coloured_from_its_smallest_value_and_a_similarity_from_minus_one():
    m = np.array([[1.0, 0.83, 0.97], [0.83, 1.0, 0.9], [0.97, 0.9, 1.0]])
    share = task_matrix_figure(m, ["a", "b", "c"], share=True).data[0]
    assert (share.zmin, share.zmax) == (0.8, 1.0) and share.colorbar.title.text == "shared"
    similarity = task_matrix_figure(m, ["a", "b", "c"]).data[0]
    assert (similarity.zmin, similarity.zmax, similarity.zmid) == (-1, 1, 0)
    flat = task_matrix_figure(np.ones((2, 2)), ["a", "b"], share=True).data[0]
    assert flat.zmin == 0.9  # a matrix of ones still spans a scale
