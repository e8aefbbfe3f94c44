"""The benchmark's machinery on a tiny configuration (structure only, never timings)."""

import json
import shutil
import statistics
from pathlib import Path

import pytest

from brainkit.bench import harness as bench
from brainkit.bench import tables as bench_markdown
from brainkit.bench.reference import ReferenceDecoder
from brainkit.bench.stages import evenly_spaced
from brainkit.bench.workloads import BenchConfig, Workload

TINY_GPT2 = dict(n_layer=1, n_embd=32, n_head=2, vocab_size=50257, n_positions=1024)


def tiny_config(checkpoint, lm, tmp_path) -> BenchConfig:
    workloads = (Workload("sleep", "sleep", 60.0, 100.0, 2, ("sleep_stage",), 30.0),
                 Workload("clinical", "eeg", 8.0, 128.0, 19, ("workload", "eyes"), 4.0),
                 Workload("meg", "meg", 4.0, 150.0, 306, (), 4.0))
    return BenchConfig(workloads, repeats=1, edf_duration_s=10.0, edf_channels=32, reference=TINY_GPT2,
                       checkpoint=str(checkpoint), lm_path=str(lm), int8=True, profile=True,
                       manifests=str(tmp_path / "no-manifests"), fresh_imports=False,
                       simulator_montages=("headset4",))


def _high_water_mb() -> float | None:
    """This process's peak resident memory so far in MB (10^6 bytes, as the bench), or None."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024 / 1e6
    except OSError:
        return None


def _stats_ok(stats):
    assert {"median_s", "min_s", "max_s", "peak_rss_mb", "values_s", "repeats"} <= set(stats)
    assert stats["repeats"] == len(stats["values_s"]) == 1
    assert stats["median_s"] == statistics.median(stats["values_s"])
    assert stats["min_s"] == min(stats["values_s"]) and stats["max_s"] == max(stats["values_s"])
    # memory is sampled from this very process (torch and a model loaded: well over 50 MB), so
    # the peak lies between the stage's start and the process's high-water mark
    high = _high_water_mb()
    assert 50 < stats["start_rss_mb"] <= stats["peak_rss_mb"] <= (high + 1 if high else float("inf"))


def test_bench_tiny(tiny_model, tmp_path):
    checkpoint, lm = tiny_model
    only_tokenizer = tmp_path / "ckpt"
    shutil.copytree(checkpoint / "tokenizer", only_tokenizer / "tokenizer")  # no decoder yet
    result = bench.run(tiny_config(only_tokenizer, lm, tmp_path))
    assert result["meta"]["decoder"] == "untrained, same architecture"

    sleep, clinical, meg = (result["workloads"][k] for k in ("sleep", "clinical", "meg"))
    for w in (sleep, clinical):
        for name in ("preprocess", "tokenize", "decode", "decode_model", "reference_model",
                     "reference_model_cached"):
            _stats_ok(w["stages"][name])
        _ratios_ok(w)
    assert sleep["n_windows"] == {"sleep_stage": 2}
    assert clinical["n_windows"] == {"workload": 2, "eyes": 2}
    layout = clinical["reference_layout"]["eyes"]
    assert layout["eeg_tokens"] == 19 * 4 and not layout["cut"]
    assert sleep["reference_layout"]["sleep_stage"]["eeg_tokens"] == 2 * 30
    assert set(meg["stages"]) == {"preprocess", "tokenize"} and "ratio" not in meg
    target = sleep["target"]
    assert target["estimate_8h_s"] == pytest.approx(sleep["stages"]["decode"]["median_s"]
                                                     * target["n_windows_8h"] / target["n_windows"])
    assert target["met"] == (target["estimate_8h_s"] <= target["decode_s"])
    assert target["decode_s"] == 60.0  # issue 15
    loads = sleep["decode_load_average"]  # read beside the decode timing
    assert all(isinstance(v, float) and v >= 0 for v in (loads["before"], loads["after"]))
    for name in ("read_edf", "first_trace", "first_window"):
        _stats_ok(result["app"]["stages"][name])
    int8 = result["int8"]
    assert int8["speedup"] == pytest.approx(int8["stages"]["float"]["median_s"]
                                            / int8["stages"]["int8"]["median_s"])
    assert int8["within_tolerance"] == (int8["max_abs_prob_diff"] <= int8["tolerance"])
    assert result["profile"]["top_own"] and result["profile"]["top_ops"]
    assert result["accuracy"] == "not run: no manifests"
    simulator = result["simulator"]["headset4"]  # issue 17: five changes, one repeat
    assert simulator["n"] == 5 and simulator["first_s"] > 0
    assert simulator["redraw"]["min_s"] <= simulator["redraw"]["median_s"] <= simulator["redraw"]["max_s"]

    out = tmp_path / "bench.json"
    bench.save_json(result, out)
    assert json.loads(out.read_text())["workloads"]["sleep"]["stages"]["decode"]["median_s"] > 0
    md_path = tmp_path / "BENCHMARKS.md"
    md_path.write_text(f"# B\n\nstory\n\n{bench_markdown.RESULTS_BEGIN}\nold\n{bench_markdown.RESULTS_END}\n\nafter\n")
    bench_markdown.write_markdown(result, md_path)
    text = md_path.read_text()
    assert "old" not in text and "story" in text and "after" in text and bench_markdown.PROFILE_BEGIN in text
    results_block = text.split(bench_markdown.RESULTS_BEGIN)[1].split(bench_markdown.RESULTS_END)[0]
    assert "untrained, same architecture" in results_block
    # measured sections carry numbers, not placeholders; only the skipped step says so
    assert results_block.count(bench_markdown.NOT_MEASURED) == 1  # the fresh-interpreter imports (off here)
    assert "cpu_median_s" in sleep["stages"]["decode"] and "estimate_8h_s" in sleep["target"]
    simulator_block = text.split("<!-- bench:simulator:begin -->")[1].split("<!-- bench:simulator:end -->")[0]
    assert "| 4-channel headset (TP9, AF7, AF8, TP10) |" in simulator_block


def test_bench_only_the_simulator(tiny_model, tmp_path, capsys):
    """``brainkit bench --only simulator``: the redraw section alone, its table into the Markdown."""
    from brainkit.cli import main

    checkpoint, lm = tiny_model
    md = tmp_path / "BENCHMARKS.md"
    md.write_text("# B\n\n<!-- bench:simulator:begin -->\nold\n<!-- bench:simulator:end -->\n")
    out = tmp_path / "sim.json"
    assert main(["bench", "--only", "simulator", "--repeats", "1", "--threads", "1", "--checkpoint",
                 str(checkpoint), "--lm", str(lm), "--out", str(out), "--markdown", str(md)]) == 0
    result = json.loads(out.read_text())
    assert set(result) == {"meta", "simulator"} and set(result["simulator"]) == {"eeg19", "eeg64", "headset4", "meg306"}
    assert all(r["n"] == 5 for r in result["simulator"].values())
    assert "old" not in md.read_text() and "| 306-channel MEG (Neuromag VectorView) |" in md.read_text()
    assert "redraw s: median" in capsys.readouterr().out


def _ratios_ok(w):
    """Each speed ratio is the reference's time over brainkit's, from the stages it reports."""
    med = {name: stats["median_s"] for name, stats in w["stages"].items()}
    scale = sum(w["n_windows"].values()) / sum(w["compared_windows"].values())
    r = w["ratio"]
    for suffix in ("", "_cached"):
        reference = med["reference_model" + suffix]
        assert r["model" + suffix] == pytest.approx(reference / med["decode_model"])
        assert r["end_to_end" + suffix] == pytest.approx((med["preprocess"] + reference * scale)
                                                         / med["decode"])
        assert r["met" + suffix] == (min(r["model" + suffix], r["end_to_end" + suffix]) >= r["target"])


def test_int8_tolerance_flag(tiny_model, tmp_path, monkeypatch):
    """``within_tolerance`` says whether the int8 model moved any probability by more than the
    tolerance. The tiny random model's answers hardly depend on its language model (int8 moves
    them by about 1e-7), so here the "int8" copy is the float model with noise added to every
    linear weight: a copy known to move them (by about 3e-5), and an exact copy that moves
    nothing."""
    import copy

    import torch

    from brainkit.bench import optional
    from brainkit.inference import Brainkit

    def noisy(model):
        out = copy.deepcopy(model)
        torch.manual_seed(0)
        with torch.no_grad():
            for module in out.modules():
                if isinstance(module, torch.nn.Linear):
                    module.weight.add_(torch.randn_like(module.weight))
        return out

    checkpoint, lm = tiny_model
    bk, cfg = Brainkit(checkpoint, lm_path=lm), tiny_config(checkpoint, lm, tmp_path)
    monkeypatch.setattr(optional, "quantized_lm", lambda model: copy.deepcopy(model))
    same = optional.bench_int8(bk, cfg, tolerance=0.0)
    assert same["max_abs_prob_diff"] == 0 and same["within_tolerance"] is True
    assert same["answer_agreement"] == 1.0
    monkeypatch.setattr(optional, "quantized_lm", noisy)
    moved = optional.bench_int8(bk, cfg, tolerance=0.0)
    diff = moved["max_abs_prob_diff"]
    assert diff > 1e-6 and moved["within_tolerance"] is False  # float32 resolution: 1e-7
    assert optional.bench_int8(bk, cfg, tolerance=2 * diff)["within_tolerance"] is True


def test_reference_procedures_agree():
    """NeuroLM's procedure (whole sequence per token) and the cached one give the same answer."""
    import torch

    x = torch.randn(3, 2, 2 * 256)
    prompt = torch.arange(100, 112)
    slow = ReferenceDecoder(256, TINY_GPT2, new_tokens=5).generate(x, prompt)
    fast = ReferenceDecoder(256, TINY_GPT2, new_tokens=5, kv_cache=True).generate(x, prompt)
    assert slow.shape == (3, 5) and torch.equal(slow, fast)


def test_evenly_spaced_windows():
    import numpy as np

    from brainkit.preprocess import Windows

    windows = Windows(np.zeros((10, 2, 8), np.float32), 256.0, np.arange(10.0), None, np.ones(2))
    picked = evenly_spaced(windows, 4)
    assert list(picked.starts_s) == [0.0, 3.0, 6.0, 9.0]
    assert evenly_spaced(windows, 10) is windows


def test_reference_cuts_long_sequences():
    ref = ReferenceDecoder(256, TINY_GPT2, new_tokens=5)
    layout = ref.layout(306, 4 * 256, 20)
    assert layout["cut"] and layout["sequence"] <= 1024
    assert layout["patches_per_channel"] == (1024 - 25) // 306
    assert ref.layout(2, 30 * 256, 20)["eeg_tokens"] == 60
