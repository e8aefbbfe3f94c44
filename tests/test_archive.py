"""decode-archive: a folder or BIDS dataset decoded on Dask, resumable; bad files listed, not fatal."""

import csv
import json
import shutil
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from brainkit.archive import Job, decode_job, derivative_tsv, find_jobs, summary_columns
from brainkit.io.sources import find_recordings

ROOT = Path(__file__).resolve().parents[1]

sys.path.insert(0, str(Path(__file__).parent))
from nihon_writer import write_nihon  # noqa: E402


@dataclass
class Result:
    returncode: int
    stdout: str
    stderr: str


@pytest.fixture
def run(capsys):
    """The command line in this process (the Dask workers are processes of their own)."""
    def call(*args):
        from brainkit.cli import main

        capsys.readouterr()
        code = main([str(a) for a in args])
        out, err = capsys.readouterr()
        return Result(code, out, err)
    return call


def model_args(tiny_model):
    return ["--checkpoint", tiny_model[0], "--lm", tiny_model[1]]


def rows(path, delimiter=","):
    with open(path, newline="") as f:
        return list(csv.DictReader(f, delimiter=delimiter))


def write_nihon_from_edf(edf, target):
    """The eyes sample (19 channels, 128 Hz) as a Nihon Kohden set."""
    import mne

    raw = mne.io.read_raw_edf(edf, preload=True, verbose="error")
    return write_nihon(target, raw.get_data(), int(raw.info["sfreq"]), raw.ch_names,
                       events=[(0, "eyes open"), (30, "eyes closed")])


@pytest.fixture(scope="module")
def archive(tmp_path_factory, samples_dir):
    """Good recordings of three formats (EDF, BrainVision, Nihon Kohden in a subfolder), a truncated
    EDF, a file of random bytes, a note beside the EDF, a README and a hidden file."""
    root = tmp_path_factory.mktemp("archive")
    shutil.copy(samples_dir / "eyes_open_closed.edf", root / "eyes.edf")
    (root / "eyes.txt").write_text("notes of the technician\n")
    for ext in (".vhdr", ".vmrk", ".eeg"):
        shutil.copy(samples_dir / f"oddball_erp{ext}", root / f"oddball_erp{ext}")
    (root / "ward" / "bed1").mkdir(parents=True)
    write_nihon_from_edf(samples_dir / "eyes_open_closed.edf", root / "ward" / "bed1" / "night.EEG")
    data = (samples_dir / "eyes_open_closed.edf").read_bytes()
    (root / "ward" / "cut.edf").write_bytes(data[:len(data) // 3])
    (root / "random.bdf").write_bytes(np.random.default_rng(0).bytes(5000))
    (root / ".hidden.edf").write_bytes(data)
    (root / "README.txt").write_text("archive of the ward\n")
    return root


GOOD = ["eyes.edf", "oddball_erp.vhdr", "ward/bed1/night.EEG"]
BAD = ["random.bdf", "ward/cut.edf"]


def test_discovery_lists_entry_points_only(archive, tmp_path):
    found = [p.relative_to(archive).as_posix() for p in find_recordings(archive)]
    assert found == sorted(GOOD + BAD)  # no .vmrk/.eeg/.21E/.PNT/.LOG, no note, no hidden file
    out = archive / "results"
    out.mkdir(exist_ok=True)
    (out / "old.edf").write_bytes(b"x")
    assert [j.rel for j in find_jobs(archive, out)] == sorted(GOOD + BAD)  # the output is skipped
    shutil.rmtree(out)


def test_summary_columns_follow_the_tasks():
    assert summary_columns(["eyes"])[-4:] == ["eyes_n_open", "eyes_n_closed", "eyes_p_open", "eyes_p_closed"]
    assert derivative_tsv("o", "sub-01/eeg/sub-01_task-rest_eeg.edf") == \
        Path("o/derivatives/brainkit/sub-01/eeg/sub-01_task-rest_desc-brainkit_annotations.tsv")


def test_decode_job_returns_one_line_for_a_bad_file(archive, tiny_model, tmp_path):
    job = Job(str(archive / "random.bdf"), "random.bdf")
    row = decode_job(job, str(tmp_path), ["eyes"], checkpoint=str(tiny_model[0]), lm=str(tiny_model[1]))
    assert set(row) == {"path", "error"} and "\n" not in row["error"] and "random.bdf" in row["error"]
    assert not (tmp_path / "random.bdf.csv").exists()


def test_archive_decodes_good_files_lists_bad_ones_and_resumes(archive, tiny_model, tmp_path, run):
    out = tmp_path / "out"
    res = run("decode-archive", archive, "--task", "eyes", "--out", out, "--workers", "1",
              *model_args(tiny_model))
    assert res.returncode == 3, res.stderr
    assert "Traceback" not in res.stderr
    report = json.loads(res.stdout)
    assert (report["recordings"], report["decoded"], report["failed"]) == (5, 3, 2)
    assert [w["model_loads"] for w in report["workers"].values()] == [1]  # one load for 3 files
    errors = rows(out / "errors.csv")
    assert [e["path"] for e in errors] == BAD
    assert "truncated" in errors[1]["error"] and all("\n" not in e["error"] for e in errors)
    for path in BAD:
        assert f"  {path}: " in res.stderr
    summary = {r["path"]: r for r in rows(out / "summary.csv")}
    assert sorted(summary) == GOOD
    assert summary["ward/bed1/night.EEG"]["format"] == "Nihon Kohden"
    assert summary["eyes.edf"]["windows"] == "45"  # 180 s in 4-s windows
    # answers equal `brainkit decode` on the same file, byte for byte
    for rel in GOOD:
        single = tmp_path / "single.csv"
        res1 = run("decode", archive / rel, "--task", "eyes", "--out", single, *model_args(tiny_model))
        assert res1.returncode == 0, res1.stderr
        assert (out / f"{rel}.csv").read_text() == single.read_text(), rel
        decoded = rows(single)
        counts = {a: sum(r["answer"] == a for r in decoded) for a in ("open", "closed")}
        assert int(summary[rel]["eyes_n_open"]) == counts["open"]
        assert float(summary[rel]["eyes_p_closed"]) == pytest.approx(
            np.mean([float(r["p_closed"]) for r in decoded]), abs=1e-5)
    # a second run does no work: nothing decoded, no model loaded, outputs untouched
    stamps = {rel: (out / f"{rel}.csv").stat().st_mtime_ns for rel in GOOD}
    again = run("decode-archive", archive, "--task", "eyes", "--out", out, *model_args(tiny_model))
    assert again.returncode == 3, again.stderr  # the bad files are tried again, and fail again
    report = json.loads(again.stdout)
    assert (report["decoded"], report["skipped"], report["failed"]) == (0, 3, 2)
    assert [w["model_loads"] for w in report["workers"].values()] == [0]
    assert stamps == {rel: (out / f"{rel}.csv").stat().st_mtime_ns for rel in GOOD}
    assert sorted(r["path"] for r in rows(out / "summary.csv")) == GOOD


@pytest.mark.slow
def test_a_complete_archive_starts_no_cluster_and_exits_0(samples_dir, tiny_model, tmp_path, run):
    root = tmp_path / "one"
    root.mkdir()
    shutil.copy(samples_dir / "eyes_open_closed.edf", root / "a.edf")
    out = tmp_path / "out"
    first = run("decode-archive", root, "--task", "eyes", "--out", out, *model_args(tiny_model))
    assert first.returncode == 0, first.stderr
    assert rows(out / "errors.csv") == []
    second = run("decode-archive", root, "--task", "eyes", "--out", out, *model_args(tiny_model))
    assert second.returncode == 0 and json.loads(second.stdout)["workers"] == {}
    # another window length is another result: decoded again
    third = run("decode-archive", root, "--task", "eyes", "--window-s", "2", "--out", out,
                *model_args(tiny_model))
    assert json.loads(third.stdout)["decoded"] == 1 and len(rows(out / "a.edf.csv")) == 90


def write_bids(root, samples_dir):
    import mne
    import mne_bids

    sources = {"01": samples_dir / "eyes_open_closed.edf", "02": samples_dir / "oddball_erp.vhdr"}
    for subject, source in sources.items():
        raw = mne.io.read_raw(source, verbose="error")
        bids_path = mne_bids.BIDSPath(subject=subject, session="1", task="rest", run=1,
                                      datatype="eeg", root=root)
        mne_bids.write_raw_bids(raw, bids_path, overwrite=True, verbose="error")
    return sorted(p.relative_to(root).as_posix() for p in root.rglob("*_eeg.*")
                  if p.suffix in (".edf", ".vhdr"))


def test_bids_dataset_decoded_with_derivatives(samples_dir, tiny_model, tmp_path, run):
    bids = tmp_path / "bids"
    recordings = write_bids(bids, samples_dir)
    assert recordings == ["sub-01/ses-1/eeg/sub-01_ses-1_task-rest_run-1_eeg.edf",
                          "sub-02/ses-1/eeg/sub-02_ses-1_task-rest_run-1_eeg.vhdr"]
    assert [j.rel for j in find_jobs(bids)] == recordings
    out = tmp_path / "out"
    res = run("decode-archive", bids, "--task", "eyes", "--out", out, "--bids-derivatives",
              *model_args(tiny_model))
    assert res.returncode == 0, res.stderr
    summary = {r["path"]: r for r in rows(out / "summary.csv")}
    assert summary[recordings[0]]["format"] == "BIDS EDF"
    assert summary[recordings[1]]["format"] == "BIDS BrainVision"
    for rel in recordings:
        single = tmp_path / "single.csv"
        assert run("decode", bids / rel, "--task", "eyes", "--out", single, *model_args(tiny_model)).returncode == 0
        assert (out / f"{rel}.csv").read_text() == single.read_text(), rel
    assert run("decode", bids / recordings[0], "--task", "eyes", "--out", single,
               *model_args(tiny_model)).returncode == 0
    description = json.loads((out / "derivatives/brainkit/dataset_description.json").read_text())
    assert description["DatasetType"] == "derivative" and description["GeneratedBy"][0]["Name"] == "brainkit"
    tsv = out / "derivatives/brainkit/sub-01/ses-1/eeg/sub-01_ses-1_task-rest_run-1_desc-brainkit_annotations.tsv"
    events = rows(tsv, "\t")
    decoded = rows(single)
    assert list(events[0])[:4] == ["onset", "duration", "task", "answer"]
    assert [(e["onset"], e["answer"], e["p_open"]) for e in events] == \
        [(d["start_s"], d["answer"], d["p_open"]) for d in decoded]
    sidecar = json.loads(tsv.with_suffix(".json").read_text())
    assert list(sidecar)[:4] == ["onset", "duration", "task", "answer"] and sidecar["onset"]["Units"] == "s"
    assert set(sidecar) == set(events[0])  # every column described


def test_bids_events_become_annotations(samples_dir, tmp_path):
    from brainkit.io.bids import read_bids

    bids = tmp_path / "bids"
    recordings = write_bids(bids, samples_dir)
    recording = read_bids(bids / recordings[0], bids)
    assert sorted(set(recording.annotations.description)) == ["eyes closed", "eyes open"]
    assert recording.raw.info["subject_info"] in (None, {}) or "his_id" not in recording.raw.info["subject_info"]


@pytest.mark.parametrize("argv, words", [
    (["decode-archive", "no/such/folder", "--task", "eyes", "--out", "x"], "no such folder"),
    (["decode-archive", "SAMPLES", "--task", "nope", "--out", "x"], "nope"),
    (["decode-archive", "SAMPLES", "--task", "eyes", "--out", "x", "--workers", "0"], "workers"),
    (["decode-archive", "SAMPLES", "--task", "eyes", "--out", "x", "--window-s", "-1"], "positive"),
    (["decode-archive", "SAMPLES", "--task", "eyes", "--out", "x", "--bids-derivatives"], "BIDS"),
])
def test_bad_arguments_exit_2_with_one_line(argv, words, tmp_path, run):
    argv = [str(tmp_path / a) if a == "x" else str(ROOT / "sample_data") if a == "SAMPLES" else a
            for a in argv]
    res = run(*argv)
    assert res.returncode == 2, res.stderr
    assert res.stderr.count("\n") == 1 and words in res.stderr and "Traceback" not in res.stderr


def test_unreachable_scheduler_exits_2(tmp_path, run, monkeypatch):
    from brainkit import archive as archive_module

    monkeypatch.setattr(archive_module, "CONNECT_TIMEOUT_S", 1)
    res = run("decode-archive", ROOT / "sample_data", "--task", "eyes", "--out", tmp_path / "o",
              "--scheduler", "tcp://127.0.0.1:9")
    assert res.returncode == 2 and "could not reach the Dask scheduler" in res.stderr


@pytest.mark.slow
def test_two_workers_give_the_same_answers(archive, tiny_model, tmp_path, run):
    one, two = tmp_path / "one", tmp_path / "two"
    for out, n in ((one, 1), (two, 2)):
        res = run("decode-archive", archive, "--task", "eyes", "--out", out, "--workers", n,
                  *model_args(tiny_model))
        assert res.returncode == 3, res.stderr
        report = json.loads(res.stdout)
        assert len(report["workers"]) == n
        assert sum(w["model_loads"] for w in report["workers"].values()) <= n
    for rel in GOOD:
        assert (one / f"{rel}.csv").read_text() == (two / f"{rel}.csv").read_text()


def test_bench_archive_reports_each_worker_count(archive, tiny_model):
    from brainkit.bench.archive import archive_markdown, bench_archive

    result = bench_archive(archive, ["eyes"], (1,), str(tiny_model[0]), str(tiny_model[1]))
    run1 = result["runs"][1]
    assert (result["recordings"], run1["decoded"], run1["failed"]) == (5, 3, 2)
    assert run1["recordings_per_min"] == pytest.approx(60 * 3 / run1["seconds"])
    assert run1["speedup"] == 1.0 and len(run1["worker_peak_mib"]) == 1 and run1["worker_peak_mib"][0] > 50
    assert "| 1 |" in archive_markdown(result)


def test_progress_bar_on_a_terminal(samples_dir, tiny_model, tmp_path, monkeypatch, capsys):
    import io

    from brainkit.cli import main

    class Terminal(io.StringIO):
        def isatty(self):
            return True

    root = tmp_path / "two"
    root.mkdir()
    for name in ("eyes_open_closed.edf", "sleep_night.edf"):
        shutil.copy(samples_dir / name, root / name)
    terminal = Terminal()
    monkeypatch.setattr(sys, "stderr", terminal)
    code = main(["decode-archive", str(root), "--task", "eyes", "--out", str(tmp_path / "out"),
                 "--window-s", "30", *map(str, model_args(tiny_model))])
    assert code == 0
    assert "decode-archive: 100%" in terminal.getvalue() and "2/2" in terminal.getvalue()
    assert json.loads(capsys.readouterr().out)["decoded"] == 2


def test_an_existing_cluster_runs_the_same_jobs(samples_dir, tiny_model, tmp_path, run):
    """--scheduler: the jobs go to a running cluster's workers, which keep their model between runs."""
    import logging

    from distributed import LocalCluster

    root = tmp_path / "one"
    root.mkdir()
    shutil.copy(samples_dir / "eyes_open_closed.edf", root / "a.edf")
    with LocalCluster(n_workers=1, threads_per_worker=1, processes=True, dashboard_address=None,
                      silence_logs=logging.ERROR, host="127.0.0.1") as cluster:
        reports = []
        for out in ("first", "second"):
            res = run("decode-archive", root, "--task", "eyes", "--out", tmp_path / out,
                      "--scheduler", cluster.scheduler_address, *model_args(tiny_model))
            assert res.returncode == 0, res.stderr
            reports.append(json.loads(res.stdout))
        assert len(cluster.workers) == 1  # the command left the cluster running
    assert [list(r["workers"].values())[0]["model_loads"] for r in reports] == [1, 1]  # loaded once
    assert (tmp_path / "first/a.edf.csv").read_text() == (tmp_path / "second/a.edf.csv").read_text()
