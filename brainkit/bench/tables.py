"""``BENCHMARKS.md`` from a benchmark result (:func:`brainkit.bench.harness.run`): the tables between the
``bench:`` markers are rewritten, the text around them is kept."""

from __future__ import annotations

from pathlib import Path

from brainkit.bench.workloads import TARGET_RATIO, TARGET_SLEEP_S

NOT_MEASURED = "not measured"

RESULTS_BEGIN, RESULTS_END = "<!-- bench:results:begin -->", "<!-- bench:results:end -->"
PROFILE_BEGIN, PROFILE_END = "<!-- bench:profile:begin -->", "<!-- bench:profile:end -->"


def _t(stats, missing: str = NOT_MEASURED) -> str:
    if not isinstance(stats, dict):
        return missing
    return f"{stats['median_s']:.2f} ({stats['min_s']:.2f}-{stats['max_s']:.2f})"


def _mb(stats, missing: str = NOT_MEASURED) -> str:
    return f"{stats['peak_rss_mb']:.0f}" if isinstance(stats, dict) else missing


def _table(header, rows) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    return lines + ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]


def to_markdown(result: dict) -> str:
    """The results as Markdown: run facts, then one table per section."""
    meta = result["meta"]
    cfg = meta.get("config", {})
    lines = [f"Run {meta['created']} · brainkit {meta['brainkit_commit']} · {meta['cpu']}, "
             f"{meta['cores']} cores, {meta['ram_gb']:.0f} GB RAM, torch threads {meta['torch_threads']} · "
             f"python {meta['python']}, torch {meta['torch']}, transformers {meta['transformers']}, "
             f"mne {meta['mne']} · decoder: **{meta['decoder']}** · batch size {meta['batch_size']} · "
             f"{cfg.get('repeats')} repeats{' · **--quick sizes**' if cfg.get('quick') else ''} · "
             f"load average at start {_load(meta)}", "",
             "Times in seconds: median (min-max). Memory: peak resident set of the whole process (MB).", ""]
    rows = []
    for name, w in result["workloads"].items():
        s = w["stages"]
        rows.append([name, w["description"], w["tokenize"]["n_windows"], _t(s.get("preprocess")),
                     _t(s.get("tokenize")), f"{w['tokenize']['windows_per_s']:.1f}", _mb(s.get("tokenize")),
                     _t(s.get("decode"), "-"), _mb(s.get("decode"), "-"),
                     f"{w['decode_windows_per_s']:.1f}" if "decode_windows_per_s" in w else "-"])
    lines += _table(["workload", "recording", "windows", "preprocess s", "tokenize s", "tokenize win/s",
                     "tokenize MB", "decode end-to-end s", "decode MB", "decode win/s"], rows)
    lines += ["", "**Against the NeuroLM-style reference** (GPT-2 124M, every channel patch a token, "
              "5 greedy tokens; NeuroLM's procedure runs the whole sequence for each token, the cached "
              "one does not). Models alone on the same windows; end to end = the whole recording, "
              "the references' time per window scaled to all windows:", ""]
    rows = []
    for name, w in result["workloads"].items():
        if "ratio" not in w:
            continue
        layout = "; ".join(f"{t}: {v['eeg_tokens']} EEG + {v['prompt_tokens']} prompt + "
                           f"{v['answer_tokens']} answer = {v['sequence']}" + (" (cut)" if v["cut"] else "")
                           for t, v in w["reference_layout"].items())
        r, s = w["ratio"], w["stages"]
        rows.append([name, layout, sum(w["compared_windows"].values()), _t(s["decode_model"]),
                     _t(s["reference_model"]), _t(s["reference_model_cached"]),
                     f"{r['model']:.1f}x / {r['model_cached']:.1f}x",
                     f"{r['end_to_end']:.1f}x / {r['end_to_end_cached']:.1f}x",
                     f"{'yes' if r['met'] else 'no'} / {'yes' if r['met_cached'] else 'no'}"])
    lines += _table(["workload", "tokens per window (reference)", "windows compared", "brainkit model s",
                     "NeuroLM procedure s", "cached reference s", "speed-up, models (NeuroLM / cached)",
                     "speed-up, end to end (NeuroLM / cached)", f">= {TARGET_RATIO:g}x"], rows)
    sleep = result["workloads"].get("sleep", {})
    if "target" in sleep:
        t = sleep["target"]
        how = (f"extrapolated from {t['n_windows']} windows to {t['n_windows_8h']}: "
               f"{t['estimate_8h_s']:.0f} s" if t["extrapolated"]
               else f"{t['estimate_8h_s']:.1f} s for {t['n_windows']} windows")
        lines += ["", f"Sleep target (8 h decoded end to end in <= {TARGET_SLEEP_S:g} s): "
                      f"{'met' if t['met'] else 'not met'} ({how})."]
    lines += ["", *_app_markdown(result.get("app")), "", *_int8_markdown(result.get("int8")), "",
              *_accuracy_markdown(result.get("accuracy"))]
    return "\n".join(lines).rstrip() + "\n"


def _load(meta):
    load = meta.get("load_average")
    return ", ".join(f"{x:.2f}" for x in load) if load else "unknown"


def _app_markdown(app) -> list[str]:
    if not isinstance(app, dict):
        return ["**App**: not measured"]
    edf, s = app["edf"], app["stages"]
    rows = [["read EDF", _t(s["read_edf"]), _mb(s["read_edf"])],
            ["first trace figure (10 s, 20 channels)", _t(s["first_trace"]), _mb(s["first_trace"])],
            ["imports in a fresh interpreter", _t(s.get("imports")), "-"],
            ["first decoded window (load model + read + decode)", _t(s["first_window"]),
             _mb(s["first_window"])]]
    head = (f"**App** ({edf['duration_s'] / 3600:g} h, {edf['n_channels']} channels at {edf['sfreq']:g} Hz, "
            f"EDF of {edf['size_mb']:.0f} MB):")
    return [head, "", *_table(["step", "s", "peak MB"], rows)]


def _int8_markdown(int8) -> list[str]:
    if not isinstance(int8, dict):
        return ["**int8 language model**: not run (`--int8`)"]
    s = int8["stages"]
    head = f"**int8 language model** (dynamic quantization of every `nn.Linear`, {int8['workload']} windows):"
    return [head, "",
            *_table(["float s", "int8 s", "speed-up", "max abs prob diff", "same answer", "within tolerance"],
                    [[_t(s["float"]), _t(s["int8"]), f"{int8['speedup']:.2f}x",
                      f"{int8['max_abs_prob_diff']:.4f}", f"{int8['answer_agreement']:.1%}",
                      f"{'yes' if int8['within_tolerance'] else 'no'} (<= {int8['tolerance']})"]])]


def _accuracy_markdown(acc) -> list[str]:
    if not isinstance(acc, dict):
        return [f"**Accuracy**: {acc or NOT_MEASURED}"]
    rows = [[t, m["n"], f"{m['balanced_accuracy']:.3f}",
             "-" if m["baseline_balanced_accuracy"] is None else f"{m['baseline_balanced_accuracy']:.3f}"]
            for t, m in sorted(acc["tasks"].items())]
    return ["**Accuracy** (validation manifests):", "",
            *_table(["task", "windows", "balanced accuracy", "baseline"], rows)]


def profile_markdown(profile) -> str:
    """The top functions and operators of :func:`profile_sleep` as Markdown tables."""
    functions = [[f"`{r['function']}`", r["calls"], f"{r['own_s']:.2f}", f"{r['cumulative_s']:.2f}"]
                 for r in profile["top_own"]]
    ops = [[f"`{r['op']}`", r["calls"], f"{r['self_s']:.2f}", f"{r['total_s']:.2f}"]
           for r in profile.get("top_ops", [])]
    head = f"`decode_tasks` on the {profile['workload']}: {profile['wall_s']:.1f} s wall under cProfile."
    lines = [head, "", *_table(["function (cProfile, by own time)", "calls", "own s", "cumulative s"],
                               functions),
             "", *_table(["operator (torch.profiler, by self CPU)", "calls", "self s", "total s"], ops)]
    return "\n".join(lines) + "\n"


def write_markdown(result: dict, path) -> None:
    """Put the results (and the profile, if any) between the markers of ``path``.

    A file without the markers gets them appended; a missing file is created.
    """
    path = Path(path)
    text = path.read_text() if path.is_file() else "# Benchmarks\n"
    text = _replace_block(text, RESULTS_BEGIN, RESULTS_END, to_markdown(result))
    if isinstance(result.get("profile"), dict):
        text = _replace_block(text, PROFILE_BEGIN, PROFILE_END, profile_markdown(result["profile"]))
    if isinstance(result.get("simulator"), dict):
        from brainkit.bench.simulator import BEGIN, END, simulator_markdown

        text = _replace_block(text, BEGIN, END, simulator_markdown(result))
    path.write_text(text)


def write_block(path, begin: str, end: str, body: str) -> None:
    """Put ``body`` between the markers ``begin`` and ``end`` of ``path`` (appended when missing)."""
    path = Path(path)
    text = path.read_text() if path.is_file() else "# Benchmarks\n"
    path.write_text(_replace_block(text, begin, end, body))


def _replace_block(text: str, begin: str, end: str, body: str) -> str:
    block = f"{begin}\n{body}{end}"
    if begin in text and end in text:
        head, rest = text.split(begin, 1)
        return head + block + rest.split(end, 1)[1]
    return text.rstrip() + "\n\n" + block + "\n"
