"""The benchmark's machinery on a tiny configuration (structure only, never timings)."""

import json
import shutil

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
                       manifests=str(tmp_path / "no-manifests"), fresh_imports=False)


def _stats_ok(stats):
    assert {"median_s", "min_s", "max_s", "peak_rss_mb", "values_s", "repeats"} <= set(stats)
    assert stats["min_s"] <= stats["median_s"] <= stats["max_s"]
    assert stats["repeats"] == 1 and stats["peak_rss_mb"] > 0


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
        for key in ("model", "end_to_end", "model_cached", "end_to_end_cached"):
            assert w["ratio"][key] > 0
    assert sleep["n_windows"] == {"sleep_stage": 2}
    assert clinical["n_windows"] == {"workload": 2, "eyes": 2}
    layout = clinical["reference_layout"]["eyes"]
    assert layout["eeg_tokens"] == 19 * 4 and not layout["cut"]
    assert sleep["reference_layout"]["sleep_stage"]["eeg_tokens"] == 2 * 30
    assert set(meg["stages"]) == {"preprocess", "tokenize"} and "ratio" not in meg
    assert "met" in sleep["target"]
    for name in ("read_edf", "first_trace", "first_window"):
        _stats_ok(result["app"]["stages"][name])
    assert result["int8"]["max_abs_prob_diff"] >= 0 and result["int8"]["speedup"] > 0
    assert result["profile"]["top_own"] and result["profile"]["top_ops"]
    assert result["accuracy"] == "not run: no manifests"

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
