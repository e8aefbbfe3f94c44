"""``brainkit evaluate``: metrics of a model over the labelled windows an evaluation manifest lists."""

from __future__ import annotations

import numpy as np

from brainkit.data.manifests import read_manifest
from brainkit.evaluation.metrics import classification_metrics
from brainkit.errors import BrainkitError
from brainkit.inference import fit_window, window_at
from brainkit.io import read_recording
from brainkit.preprocess import Windows, preprocess
from brainkit.tasks import get_task


def evaluate_manifest(bk, manifest, read=None, progress=None) -> dict:
    """Metrics per task over the windows a manifest lists (``brainkit evaluate``).

    Each recording is read and preprocessed once; ``read(path)`` reads a recording (default
    :func:`brainkit.io.read_recording`).
    """
    read = read or read_recording
    rows = read_manifest(manifest)
    by_file: dict = {}
    for row in rows:
        by_file.setdefault((row["file"], row["sfreq"]), []).append(row)
    results: dict[str, dict] = {}
    for done, ((file, sfreq), file_rows) in enumerate(by_file.items(), start=1):
        recording = read(file, sfreq=sfreq)
        try:
            prep = preprocess(recording, bk.preprocess_config)
        except BrainkitError as err:  # the manifest lists many files: say which
            raise BrainkitError(f"{recording.name}: {err}") from None
        for task_id in sorted({r["task"] for r in file_rows}):
            task_rows = [r for r in file_rows if r["task"] == task_id]
            windows = [fit_window(window_at(None, r["start_s"], r["duration_s"], prep),
                                  get_task(task_id).window_s) for r in task_rows]
            stacked = Windows(np.concatenate([w.x for w in windows]), prep.sfreq,
                              np.array([r["start_s"] for r in task_rows]), prep.sensors, prep.scale)
            pred = bk.predict(stacked, task_id)
            entry = results.setdefault(task_id, {"proba": [], "labels": []})
            entry["proba"].append(pred.probabilities)
            answers = get_task(task_id).answers
            entry["labels"] += [answers.index(r["label"]) for r in task_rows]
        if progress is not None:
            progress(done, len(by_file))
    tasks = {t: classification_metrics(e["labels"], np.concatenate(e["proba"]), get_task(t).answers)
             for t, e in sorted(results.items())}
    mean = float(np.mean([m["balanced_accuracy"] for m in tasks.values()]))
    return {"tasks": tasks, "mean_balanced_accuracy": mean}
