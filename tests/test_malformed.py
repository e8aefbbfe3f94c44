"""Malformed input: every damaged, lying or hostile file gives a Recording or one clean line.

The corpus is made at test time (:mod:`malformed_cases`) from ``sample_data/`` and, when present,
real files of ``../shared/data``. Each case is read in a worker process with a wall-clock limit of
10 s; a case that runs longer is killed and counted as a hang. Peak resident memory is measured
per case (the worker resets its high-water mark before each read) and bounded by
``MEMORY_BOUND`` (512 MiB; tighter for headers that promise far more data than the file holds).
"""

import csv
import json
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from malformed_cases import (CASE_TIMEOUT_S, MEMORY_BOUND, SAMPLES, Case, StalledUpload, build_corpus,
                             run_corpus, summarize)

ROOT = Path(__file__).resolve().parents[1]
MIN_CASES = 200


def _message_problem(message: str, case: Case) -> str | None:
    """Why an error message is not one clean line, or None."""
    folder = str(Path(case.source if isinstance(case.source, str) else case.source[0]).parent)
    if not message.strip():
        return "empty message"
    if "\n" in message or "\r" in message:
        return "more than one line"
    for bad in ("Traceback", "object at 0x", "Path(", "/brainkit-", "<ZipInfo"):
        if bad in message:
            return f"contains {bad!r}"
    if folder in message:
        return "names the folder it was read from"
    if len(message) > 600:
        return "longer than 600 characters"
    return None


def _violations(cases: list[Case], results: list[dict]) -> list[str]:
    """Every broken promise of the corpus, one line each."""
    bound_mib = MEMORY_BOUND / 2**20
    out = []
    for case, r in zip(cases, results):
        where = f"{case.name}: {r['outcome']} ({r['message'][:200]})"
        if r["outcome"] in ("crash", "hang"):
            out.append(where)
            continue
        if r["outcome"] == "error" and (problem := _message_problem(r["message"], case)):
            out.append(f"{where}: message {problem}")
        if case.expect == "error" and r["outcome"] != "error":
            out.append(f"{where}: should have been refused")
        if r["problems"]:
            out.append(f"{where}: recording is unusable: {', '.join(r['problems'])}")
        if r["seconds"] > CASE_TIMEOUT_S:
            out.append(f"{where}: took {r['seconds']:.1f} s")
        limit = min(bound_mib, case.max_peak_mib or bound_mib)
        if r["peak_mib"] is not None and r["peak_mib"] > limit:
            out.append(f"{where}: peak memory grew by {r['peak_mib']:.0f} MiB, bound {limit:.0f} MiB")
    return out


def _report(tag: str, results: list[dict], folder: Path) -> dict:
    summary = summarize(results)
    report = folder / f"malformed_{tag}.json"
    report.write_text(json.dumps({"summary": summary, "cases": results}, indent=1))
    print(f"\nmalformed corpus ({tag}): {summary['cases']} cases, {summary['error']} clean errors, "
          f"{summary['warnings']} recordings with warnings, {summary['clean']} clean recordings, "
          f"{summary['crash']} crashes, {summary['hang']} hangs; slowest {summary['max_seconds']:.2f} s, "
          f"largest peak memory growth {summary['max_peak_mib']:.0f} MiB "
          f"(report: {report})")
    return summary


@pytest.fixture(scope="module")
def synthetic(tmp_path_factory):
    """The corpus made from ``sample_data/``, read: (cases, results, folder)."""
    folder = tmp_path_factory.mktemp("malformed")
    cases = build_corpus(folder / "cases", SAMPLES)
    return cases, run_corpus(cases), folder


def test_corpus_from_samples(synthetic):
    cases, results, folder = synthetic
    summary = _report("samples", results, folder)
    assert summary["cases"] >= MIN_CASES
    assert summary["crash"] == 0 and summary["hang"] == 0
    violations = _violations(cases, results)
    assert not violations, "\n".join(violations)
    # every family is there, and the corpus both refuses and reads
    assert set(summary["families"]) >= {"truncation", "flip", "lying-header", "extension", "empty", "zeros",
                                        "random", "nonfinite", "one-sample", "zip", "missing-part"}
    assert summary["error"] > 100 and summary["warnings"] + summary["clean"] > 30


def test_memory_is_measured(synthetic):
    """The per-case memory figures are real (not zeros), so the bound means something."""
    _, results, _ = synthetic
    if not any(r["peak_exact"] for r in results):
        pytest.skip("this kernel cannot reset the peak-memory mark (/proc/self/clear_refs)")
    assert max(r["peak_mib"] for r in results) > 1.0


def test_corpus_from_real_files(data_dir, tmp_path):
    cases = build_corpus(tmp_path / "cases", SAMPLES, data_dir=data_dir)
    results = run_corpus(cases)
    summary = _report("real", results, tmp_path)
    assert summary["cases"] >= 100
    assert summary["crash"] == 0 and summary["hang"] == 0
    violations = _violations(cases, results)
    assert not violations, "\n".join(violations)


def test_a_hang_is_caught_and_the_next_case_still_runs(tmp_path):
    """The harness itself: a case over its time limit is killed and reported, the run goes on.

    The second case (an empty file, refused within a millisecond) runs on a fresh worker; its
    clock starts once that worker is ready, so the worker's start-up (about 0.4 s here, longer
    than the limit) is not charged to it.
    """
    empty = tmp_path / "empty.edf"
    empty.write_bytes(b"")
    cases = [Case("stalled", "harness", StalledUpload()), Case("empty", "harness", str(empty))]
    results = run_corpus(cases, workers=1, timeout_s=0.25)
    assert [r["name"] for r in results] == ["stalled", "empty"]
    assert results[0]["outcome"] == "hang" and results[0]["seconds"] >= 0.25
    assert results[1]["outcome"] == "error" and "empty" in results[1]["message"], results[1]
    assert results[1]["seconds"] < 0.25


# ------------------------------------------------------------------------------ command line

#: representative cases for the command line (each must exist in the sample corpus)
CLI_CASES = [
    "empty/.edf", "random/.fif", "zeros/.vhdr", "truncation/eyes-cut-0.5", "lying-header/eyes-duration-nan",
    "lying-header/edf-2000-channels", "lying-header/oddball-datafile-traversal",
    "missing-part/oddball-no-eeg",
    "zip/traversal-parent", "zip/nested", "zip/bomb-declared-2GiB", "nonfinite/npz-rate-text",
    "lying-header/csv-10000-columns", "truncation/meg-cut-0.5", "extension/edf-no-extension",
    "nonfinite/csv-nan-cells",
]


def _cli(*args, timeout=120):
    return subprocess.run([sys.executable, "-m", "brainkit", *map(str, args)], capture_output=True, text=True,
                          cwd=ROOT, timeout=timeout)


def _one_line_refusal(res) -> bool:
    return (res.returncode == 2 and res.stderr.count("\n") == 1 and res.stderr.strip() != ""
            and "Traceback" not in res.stderr)


@pytest.fixture(scope="module")
def tiny_tokenizer(tmp_path_factory):
    from conftest import save_tiny_tokenizer

    root = tmp_path_factory.mktemp("tiny_tok")
    save_tiny_tokenizer(root / "tokenizer")
    return root


def test_cli_info_and_tokenize_on_bad_files(synthetic, tiny_tokenizer):
    cases, results, _ = synthetic
    by_name = {c.name: (c, r) for c, r in zip(cases, results)}
    jobs = []
    for name in CLI_CASES:
        case, _ = by_name[name]
        jobs.append((name, ("info", case.source)))
        jobs.append((name, ("tokenize", case.source, "--checkpoint", tiny_tokenizer)))
    with ThreadPoolExecutor(2) as pool:
        runs = list(pool.map(lambda job: _cli(*job[1]), jobs))
    failures = []
    for (name, args), res in zip(jobs, runs):
        case, result = by_name[name]
        truncated = any(w.startswith("file is truncated") for w in result["message"].split(" | "))
        must_refuse = result["outcome"] == "error" or truncated
        ok = _one_line_refusal(res) if must_refuse else res.returncode == 0 and not res.stderr.strip()
        if ok and args[0] == "info" and not must_refuse:
            ok = json.loads(res.stdout)["n_channels"] > 0
        if not ok:
            failures.append(f"{args[0]} {name}: exit {res.returncode}, stderr {res.stderr[-300:]!r}")
    assert not failures, "\n".join(failures)
    assert sum(by_name[n][1]["outcome"] == "error" for n in CLI_CASES) >= 12  # mostly bad files


def test_decode_refuses_a_bad_file_before_loading_the_model(synthetic, tmp_path):
    """With the shipped checkpoint (which may hold no decoder yet) the answer is about the file."""
    cases, _, _ = synthetic
    by_name = {c.name: c for c in cases}
    runs = {
        "bad": _cli("decode", by_name["random/.fif"].source, "--task", "eyes"),
        "traversal": _cli("decode", by_name["lying-header/oddball-datafile-traversal"].source,
                          "--task", "eyes"),
        "missing": _cli("decode", tmp_path / "no_such.edf", "--task", "eyes"),
    }
    for what, res in runs.items():
        assert _one_line_refusal(res), (what, res.returncode, res.stderr)
        assert "decoder" not in res.stderr and "checkpoint" not in res.stderr, (what, res.stderr)
    assert "random.fif" in runs["bad"].stderr and "no such file" in runs["missing"].stderr
    assert "DataFile" in runs["traversal"].stderr


def _manifest(path: Path, rows, columns=("path", "task", "label", "start_s", "duration_s", "subject")):
    with open(path, "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(columns)
        writer.writerows(rows)
    return path


def test_evaluate_refuses_bad_manifests(synthetic, tiny_model, tmp_path):
    cases, _, _ = synthetic
    broken = Path({c.name: c for c in cases}["truncation/meg-cut-0.5"].source)
    no_columns = _manifest(tmp_path / "cols.csv", [["x.edf", "eyes", "open"]], ("path", "task", "label"))
    res = _cli("evaluate", "--manifest", no_columns)  # before any model: the shipped checkpoint is fine
    assert _one_line_refusal(res) and "lacks column" in res.stderr, res.stderr
    checkpoint, lm = tiny_model
    model = ("--checkpoint", checkpoint, "--lm", lm)
    manifests = {
        "broken": _manifest(tmp_path / "broken.csv", [[str(broken), "eyes", "open", 0, 1, "s"]]),
        "missing": _manifest(tmp_path / "missing.csv", [["nowhere.edf", "eyes", "open", 0, 4, "s"]]),
    }
    with ThreadPoolExecutor(2) as pool:
        runs = dict(zip(manifests, pool.map(lambda m: _cli("evaluate", "--manifest", m, *model, timeout=300),
                                            manifests.values())))
    for what, res in runs.items():
        assert _one_line_refusal(res), (what, res.returncode, res.stderr)
    assert broken.name in runs["broken"].stderr
    assert "nowhere.edf" in runs["missing"].stderr


def test_limits_are_documented_and_match_the_app():
    """README's Limits, the app's upload limit and brainkit.io.Limits say the same."""
    import tomllib

    from brainkit.io import DEFAULT_LIMITS as limits

    upload_mb = tomllib.loads((ROOT / ".streamlit" / "config.toml").read_text())["server"]["maxUploadSize"]
    readme = (ROOT / "README.md").read_text()
    section = readme.split("### Limits", 1)[1].split("\n### ", 1)[0]
    assert f"| {upload_mb} MB (`maxUploadSize`" in section and f"uploads up to {upload_mb} MB" in readme
    assert upload_mb * 2**20 <= limits.max_bytes  # what the app accepts, the reader accepts
    assert f"| {limits.max_bytes // 2**30} GiB |" in section
    assert f"| {limits.max_archive_files:,};" in section
    assert f"| {limits.max_channels:,} |" in section
    assert f"| {limits.max_duration_s / 3600:g} h |" in section
    assert f"up to {limits.max_sfreq / 1000:g} kHz" in section
    assert f"| {limits.max_samples / 1e6:g} million" in section
    assert f"under {MEMORY_BOUND // 2**20} MiB" in section and f"within {CASE_TIMEOUT_S:g} s" in section
