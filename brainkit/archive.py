"""A whole archive of recordings decoded on Dask distributed (``brainkit decode-archive``).

An archive is a folder (every recording :func:`brainkit.io.read_recording` reads, multi-file
formats counted once: :func:`brainkit.io.sources.find_recordings`) or a BIDS root
(:mod:`brainkit.io.bids`). Each recording is one Dask task, :func:`decode_job`, run on a worker
that loads the model once (a per-process cache keyed by checkpoint and language model) and writes
``OUT/<path relative to the archive>.csv`` with the columns of ``brainkit decode``. The client
(:func:`run_archive`) collects one row per recording into ``OUT/summary.csv`` and one line per
failure into ``OUT/errors.csv``: a bad file never stops the archive. A recording whose CSV is
there and whose summary row names the same tasks and window length is complete, and a second run
skips it. A local cluster (processes, one thread each) is started unless a scheduler's address is
given; the code path is the same.
"""

from __future__ import annotations

import csv
import json
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from brainkit._logging import logger
from brainkit.errors import BrainkitError
from brainkit.tasks import get_task

SUMMARY, ERRORS = "summary.csv", "errors.csv"
#: where ``--bids-derivatives`` writes, inside the output folder
DERIVATIVES = Path("derivatives") / "brainkit"
#: seconds to wait for a scheduler given by address
CONNECT_TIMEOUT_S = 15
_FIXED = ["path", "format", "duration_s", "windows", "seconds", "tasks", "window_s"]


@dataclass(frozen=True)
class Job:
    """One recording of an archive: its entry point (absolute) and its path relative to the archive
    (POSIX), and the BIDS root it is read from (None for a plain folder)."""

    path: str
    rel: str
    bids_root: str | None = None


@dataclass
class ArchiveResult:
    """What :func:`run_archive` did: rows written (``summary.csv``), paths skipped as complete,
    ``(path, error)`` failures, wall seconds, and each worker's peak resident memory (MiB) and
    model loads."""

    jobs: list[Job]
    decoded: list[dict] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    failed: list[tuple[str, str]] = field(default_factory=list)
    seconds: float = 0.0
    workers: dict = field(default_factory=dict)


def find_jobs(root, out=None) -> list[Job]:
    """The recordings of a folder or BIDS root, sorted by relative path (``out`` is left out)."""
    from brainkit.io.bids import bids_recordings, is_bids_root
    from brainkit.io.sources import find_recordings

    root = Path(root)
    if not root.is_dir():
        raise BrainkitError(f"no such folder: {root}")
    if is_bids_root(root):
        paths, bids_root = bids_recordings(root), str(root.resolve())
    else:
        paths, bids_root = find_recordings(root, skip=[out] if out else ()), None
    return [Job(str(p.resolve()), p.relative_to(root).as_posix(), bids_root) for p in paths]


def output_csv(out, rel: str) -> Path:
    """``OUT/<rel>.csv``: the decode CSV of the recording at ``rel``."""
    return Path(out) / (rel + ".csv")


def derivative_tsv(out, rel: str) -> Path:
    """The BIDS derivative table of a BIDS recording: ``<entities>_desc-brainkit_annotations.tsv``."""
    folder, name = Path(rel).parent, Path(rel).name
    stem = name[:name.rindex("_")] if "_" in name else name.split(".")[0]
    return Path(out) / DERIVATIVES / folder / f"{stem}_desc-brainkit_annotations.tsv"


def summary_columns(tasks) -> list[str]:
    """``summary.csv``'s columns: the fixed ones, then ``<task>_n_<answer>`` (windows answered so)
    and ``<task>_p_<answer>`` (mean probability of the answer) for each task."""
    columns = list(_FIXED)
    for t in tasks:
        answers = get_task(t).answers
        columns += [f"{t}_n_{a}" for a in answers] + [f"{t}_p_{a}" for a in answers]
    return columns


# ---------------------------------------------------------------------------- on a worker

_MODELS: dict = {}
_LOADS: list = []


def _model(checkpoint, lm, threads: int):
    """The worker's model: loaded on its first job, then kept (one per process)."""
    key = (checkpoint, lm)
    if key not in _MODELS:
        import torch

        from brainkit.inference import Brainkit

        from transformers.utils import logging as hf_logging

        os.environ.setdefault("HF_HUB_OFFLINE", "1")  # a worker never downloads
        hf_logging.disable_progress_bar()  # the terminal shows the archive's bar only
        if threads:
            torch.set_num_threads(threads)
        _MODELS.clear()
        _MODELS[key] = Brainkit(checkpoint, lm_path=lm)
        _LOADS.append(key)
    return _MODELS[key]


def _write(path: Path, text: str) -> None:
    """Write ``text`` whole or not at all (a temporary file renamed into place)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.part")
    tmp.write_text(text)
    os.replace(tmp, path)


def decode_job(job: Job, out: str, tasks: list[str], window_s: float | None = None,
               checkpoint: str | None = None, lm: str | None = None, threads: int = 1,
               derivatives: bool = False) -> dict:
    """Read one recording, decode ``tasks`` over it and write its CSV (and BIDS table); never raises.

    Returns
    -------
    dict
        Its ``summary.csv`` row, or ``{"path": rel, "error": one line}`` when it failed.
    """
    from brainkit.export import predictions_csv, predictions_tsv, summary_table
    from brainkit.io import read_recording
    from brainkit.io.bids import read_bids

    start = time.perf_counter()
    try:
        recording = (read_bids(job.path, job.bids_root) if job.bids_root
                     else read_recording(job.path))
        if recording.truncated:
            raise BrainkitError(next(w for w in recording.warnings if w.startswith("file is truncated")))
        preds = _model(checkpoint, lm, threads).decode_tasks(recording, tasks, window_s=window_s)
        _write(output_csv(out, job.rel), predictions_csv(list(preds.values())))
        if derivatives:
            tsv = derivative_tsv(out, job.rel)
            _write(tsv, predictions_tsv(list(preds.values())))
            _write(tsv.with_suffix(".json"), json.dumps(_columns_sidecar(preds), indent=2) + "\n")
    except BrainkitError as err:
        return {"path": job.rel, "error": str(err)}
    except MemoryError:
        return {"path": job.rel, "error": "the recording does not fit in the worker's memory"}
    except Exception as err:  # a bug, not a bad file: one line here, the worker's log has the rest
        logger.debug("decoding %s failed", job.rel, exc_info=True)
        return {"path": job.rel, "error": f"internal error: {type(err).__name__}: {err}"}
    row = {"path": job.rel, "format": recording.format, "duration_s": round(recording.duration_s, 3),
           "windows": sum(len(p.starts_s) for p in preds.values()),
           "seconds": round(time.perf_counter() - start, 3), "tasks": ";".join(tasks),
           "window_s": "" if window_s is None else f"{window_s:g}"}
    for r in summary_table(list(preds.values())):
        row[f"{r['task']}_n_{r['answer']}"] = r["n_windows"]
        row[f"{r['task']}_p_{r['answer']}"] = round(r["mean_probability"], 6)
    return row


def _columns_sidecar(preds: dict) -> dict:
    """The JSON sidecar of a derivative table: what each column means (BIDS column descriptions)."""
    columns = {"onset": {"Description": "Start of the window from the start of the recording",
                         "Units": "s"},
               "duration": {"Description": "Length of the window", "Units": "s"},
               "task": {"Description": "brainkit task id"},
               "answer": {"Description": "The most probable answer of the task for this window"}}
    for p in preds.values():
        for a in p.answers:
            columns.setdefault(f"p_{a}", {"Description": f"Probability of the answer '{a}'"})
    return columns


def worker_state() -> dict:
    """On a worker: its peak resident memory (MiB) and how many times it loaded a model."""
    import resource

    return {"peak_mib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
            "model_loads": len(_LOADS)}


# ---------------------------------------------------------------------------- the client


def _complete_rows(out: Path, jobs: list[Job], tasks, window_s, derivatives: bool) -> dict:
    """Rows of an earlier ``summary.csv`` whose recording is complete for these tasks and window."""
    path = out / SUMMARY
    if not path.is_file():
        return {}
    wanted = {j.rel for j in jobs}
    with open(path, newline="") as f:
        rows = list(csv.DictReader(f))
    window = "" if window_s is None else f"{window_s:g}"
    return {r["path"]: r for r in rows
            if r.get("path") in wanted and r.get("tasks") == ";".join(tasks) and r.get("window_s") == window
            and output_csv(out, r["path"]).is_file()
            and (not derivatives or derivative_tsv(out, r["path"]).is_file())}


def _write_table(path: Path, columns: list[str], rows: list[dict]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.part")
    with open(tmp, "w", newline="") as f:
        writer = csv.DictWriter(f, columns, extrasaction="ignore", lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
    os.replace(tmp, path)


def _write_description(out: Path, root: Path) -> None:
    """``dataset_description.json`` of the derivative dataset (BIDS 1.9, DatasetType derivative)."""
    from brainkit import __version__

    _write(out / DERIVATIVES / "dataset_description.json", json.dumps({
        "Name": f"brainkit predictions for {root.name}", "BIDSVersion": "1.9.0",
        "DatasetType": "derivative",
        "GeneratedBy": [{"Name": "brainkit", "Version": __version__,
                         "Description": "brainkit decode-archive: one answer per window"}],
        "SourceDatasets": [{"URL": root.resolve().as_uri()}]}, indent=2) + "\n")


def _client(workers: int, scheduler: str | None):
    """A Dask client of an existing scheduler, or of a new local cluster of ``workers`` processes."""
    import logging

    import dask
    from distributed import Client, LocalCluster

    dask.config.set({"distributed.scheduler.allowed-failures": 1})  # a file that kills workers fails
    if scheduler:
        try:
            return Client(scheduler, timeout=f"{CONNECT_TIMEOUT_S}s"), None
        except (OSError, TimeoutError, ValueError) as err:
            raise BrainkitError(f"could not reach the Dask scheduler at {scheduler} ({err})") from None
    cluster = LocalCluster(n_workers=workers, threads_per_worker=1, processes=True,
                           dashboard_address=None, silence_logs=logging.ERROR, host="127.0.0.1")
    return Client(cluster), cluster


def run_archive(root, tasks, out, *, workers: int = 1, scheduler: str | None = None,
                window_s: float | None = None, checkpoint=None, lm=None, threads: int = 1,
                bids_derivatives: bool = False,
                progress: Callable[[dict], None] | None = None) -> ArchiveResult:
    """Decode every recording of an archive on Dask; resumable.

    Parameters
    ----------
    root : str | Path
        A folder of recordings, or a BIDS root.
    tasks : list of str
        Task ids decoded for every recording.
    out : str | Path
        Output folder: ``<rel>.csv`` per recording, ``summary.csv``, ``errors.csv``.
    workers : int
        Processes of the local cluster (ignored with ``scheduler``).
    scheduler : str, optional
        Address of a running Dask scheduler (``tcp://host:8786``); its workers must import
        brainkit and see ``root`` and ``out`` at the same paths.
    window_s : float, optional
        One window length for every task (default: each task's own).
    checkpoint, lm : str, optional
        Checkpoint folder and language model (default: the shipped ones).
    threads : int
        Torch threads per worker.
    bids_derivatives : bool
        Also write a BIDS derivative dataset under ``OUT/derivatives/brainkit`` (BIDS roots only).
    progress : callable, optional
        ``progress(row)`` after each recording (its summary row, or its error).

    Returns
    -------
    ArchiveResult
    """
    tasks = [get_task(t).id for t in tasks]
    if not tasks:
        raise BrainkitError("no task chosen: give at least one --task")
    if window_s is not None and not window_s > 0:
        raise BrainkitError(f"window length must be positive, not {window_s}")
    if workers < 1:
        raise BrainkitError(f"workers must be at least 1, not {workers}")
    root, out = Path(root), Path(out)
    jobs = find_jobs(root, out)
    if not jobs:
        raise BrainkitError(f"no recording found in {root}")
    if bids_derivatives and jobs[0].bids_root is None:
        raise BrainkitError(f"--bids-derivatives needs a BIDS dataset; {root} has no "
                            "dataset_description.json")
    start = time.perf_counter()
    result = ArchiveResult(jobs)
    kept = _complete_rows(out, jobs, tasks, window_s, bids_derivatives)
    result.skipped = sorted(kept)
    todo = [j for j in jobs if j.rel not in kept]
    columns = summary_columns(tasks)
    rows, failed = dict(kept), []
    _write_table(out / SUMMARY, columns, [rows[j.rel] for j in jobs if j.rel in rows])
    if bids_derivatives:
        _write_description(out, root)
    if todo:
        _run(todo, out, tasks, window_s, checkpoint, lm, threads, bids_derivatives, workers, scheduler,
             columns, rows, failed, progress, result)
    result.failed = sorted(failed)
    _write_table(out / SUMMARY, columns, [rows[j.rel] for j in jobs if j.rel in rows])
    _write_table(out / ERRORS, ["path", "error"], [{"path": p, "error": e} for p, e in result.failed])
    result.seconds = time.perf_counter() - start
    return result


def _run(todo, out, tasks, window_s, checkpoint, lm, threads, derivatives, workers, scheduler,
         columns, rows, failed, progress, result) -> None:
    """Submit the jobs, append each row as it comes (a killed run keeps what it finished)."""
    from distributed import as_completed

    client, cluster = _client(workers, scheduler)
    try:
        futures = {client.submit(decode_job, job, str(out), tasks, window_s,
                                 None if checkpoint is None else str(checkpoint),
                                 None if lm is None else str(lm), threads, derivatives,
                                 key=f"brainkit-{job.rel}-{time.time_ns()}", pure=False): job
                   for job in todo}
        with open(out / SUMMARY, "a", newline="") as summary:
            writer = csv.DictWriter(summary, columns, extrasaction="ignore", lineterminator="\n")
            for future in as_completed(futures):
                job = futures[future]
                try:
                    row = future.result()
                except Exception as err:  # the worker died (e.g. out of memory) or was lost
                    row = {"path": job.rel, "error": f"worker failed: {type(err).__name__}: {err}"}
                if "error" in row:
                    failed.append((job.rel, " ".join(str(row["error"]).split())))
                else:
                    rows[job.rel] = row
                    result.decoded.append(row)
                    writer.writerow(row)
                    summary.flush()
                if progress is not None:
                    progress(row)
        result.workers = client.run(worker_state)
    finally:
        client.close()
        if cluster is not None:
            cluster.close()
