"""Results already computed, as tables and files; nothing here runs the model.

Answers come from :mod:`brainkit.inference` (:class:`~brainkit.inference.Predictions`); this
module only formats them: :func:`summary_table` (answers per task), :func:`predictions_csv` (one
row per window, the ``brainkit decode`` columns), :func:`predictions_edf` (the recording as EDF+
with the decoded answers as annotations) and :func:`html_report` (one self-contained HTML file:
summary, tables, interactive figures); :func:`predictions_tsv` is
:func:`predictions_csv` as a BIDS events-like table.
"""

from __future__ import annotations

import csv
import html
import io
import tempfile
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

from brainkit.tasks import get_task

#: Said on every exported report.
DISCLAIMER = ("Research tool, not a medical device: these outputs are not a diagnosis and must "
              "not guide the care of a patient.")


# ------------------------------------------------------------------------------------ tables


def summary_table(preds) -> list[dict]:
    """Per task and answer: windows answered so, their share, and the mean probability.

    Parameters
    ----------
    preds : Predictions or iterable of Predictions

    Returns
    -------
    list of dict
        ``task, answer, n_windows, fraction, mean_probability`` (the answer's probability
        averaged over all windows of the task), in the order of the task's answers.
    """
    rows = []
    for p in _as_list(preds):
        predicted = p.predicted
        n = len(predicted)
        for j, answer in enumerate(p.answers):
            count = int(np.sum(predicted == answer))
            rows.append({"task": p.task, "answer": str(answer), "n_windows": count,
                         "fraction": count / n if n else 0.0,
                         "mean_probability": float(p.probabilities[:, j].mean()) if n else 0.0})
    return rows


# ------------------------------------------------------------------------------------ export


def predictions_csv(preds) -> str:
    """The rows of ``brainkit decode``: ``start_s,duration_s,task,answer,p_<answer>...``.

    Several tasks go in one table whose probability columns are the union of theirs, in order
    of first appearance (a task leaves the others' columns empty).
    """
    return _window_table(preds, ",", {})


def predictions_tsv(preds) -> str:
    """The same rows as a BIDS events-like table: ``onset,duration,task,answer,p_<answer>...``
    (tab-separated; onsets and durations in seconds from the start of the recording)."""
    return _window_table(preds, "\t", {"start_s": "onset", "duration_s": "duration"})


def _window_table(preds, delimiter: str, rename: dict) -> str:
    rows = [{rename.get(k, k): v for k, v in row.items()} for p in _as_list(preds) for row in p.rows()]
    columns = [rename.get(c, c) for c in ("start_s", "duration_s", "task", "answer")]
    for p in _as_list(preds):
        columns += [f"p_{a}" for a in p.answers if f"p_{a}" not in columns]
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, columns, delimiter=delimiter, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return buffer.getvalue()


def decoded_annotations(preds, orig_time=None):
    """The answers as :class:`mne.Annotations`: one per window, ``"<task>: <answer> (p=0.93)"``."""
    import mne

    onsets, durations, descriptions = [], [], []
    for p in _as_list(preds):
        best = p.probabilities.max(1) if len(p.probabilities) else np.zeros(0)
        for start, answer, prob in zip(p.starts_s, p.predicted, best):
            onsets.append(float(start))
            durations.append(float(p.duration_s))
            descriptions.append(f"{p.task}: {answer} (p={prob:.2f})")
    return mne.Annotations(onsets, durations, descriptions, orig_time=orig_time)


def predictions_edf(recording, preds) -> bytes:
    """The recording as EDF+ bytes with the decoded answers added as annotations.

    Written from a copy of the (already de-identified) signal with no subject, experimenter or
    device information; the recording's own annotations are kept.
    """
    import mne

    raw = recording.raw.copy()
    raw.anonymize(daysback=None, keep_his=False, verbose="error")
    with raw.info._unlock():
        raw.info["subject_info"] = None
        raw.info["experimenter"] = None
        raw.info["device_info"] = None
    if raw.info["meas_date"] is None:  # EDF needs a start date; the de-identified one
        raw.set_meas_date(recording.raw.info["meas_date"] or _EPOCH)
    decoded = decoded_annotations(preds, orig_time=raw.annotations.orig_time)
    raw.set_annotations(raw.annotations + decoded)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "decoded.edf"
        mne.export.export_raw(path, raw, fmt="edf", overwrite=True, verbose="error")
        return path.read_bytes()


def html_report(recording_summary: dict, preds_by_task: dict, figures=()) -> str:
    """One self-contained HTML page: recording, per-task summary, figures (plotly inlined once).

    Parameters
    ----------
    recording_summary : dict
        :meth:`brainkit.io.Recording.summary`.
    preds_by_task : dict of str to Predictions
    figures : iterable of plotly figures, or dict of caption to figure
        Embedded in order; the first carries plotly.js, the others reuse it.
    """
    items = list(figures.items()) if isinstance(figures, dict) else [("", f) for f in figures]
    s = recording_summary
    esc = html.escape
    kinds = ", ".join(f"{k} {n}" for k, n in s.get("channels_by_kind", {}).items())
    facts = [("Recording", s.get("name", "")), ("Format", s.get("format", "")),
             ("Channels", f"{s.get('n_channels', '')} ({kinds})"),
             ("Sampling rate", f"{s.get('sfreq', 0):g} Hz"),
             ("Duration", f"{s.get('duration_s', 0):.1f} s")]
    parts = [f"<!DOCTYPE html>\n<html lang='en'><head><meta charset='utf-8'>"
             f"<title>brainkit report: {esc(str(s.get('name', '')))}</title><style>{_CSS}</style>"
             "</head><body><h1>brainkit report</h1>",
             f"<p class='note'>{esc(DISCLAIMER)}</p>", "<h2>Recording</h2>",
             _table([{"": k, "value": v} for k, v in facts], header=False)]
    if preds_by_task:
        parts.append("<h2>Answers per task</h2>")
        for task_id, p in preds_by_task.items():
            parts.append(f"<h3>{esc(task_id)}</h3><p>{len(p.starts_s)} windows of "
                         f"{p.duration_s:g} s. {esc(get_task(task_id).caption)}</p>")
            parts.append(_table(summary_table(p)))
    for i, (caption, fig) in enumerate(items):
        if caption:
            parts.append(f"<h3>{esc(caption)}</h3>")
        parts.append(fig.to_html(full_html=False, include_plotlyjs=(i == 0)))
    parts.append("</body></html>")
    return "\n".join(parts)


# ------------------------------------------------------------------------------------ helpers

_EPOCH = datetime(2000, 1, 1, tzinfo=timezone.utc)  # the date io gives de-identified files
_CSS = ("body{font-family:system-ui,sans-serif;max-width:1100px;margin:2em auto;color:#222}"
        "table{border-collapse:collapse;margin:0.5em 0}td,th{border:1px solid #ccc;"
        "padding:3px 8px;text-align:left}.note{background:#fff4e5;padding:0.6em}")


def _as_list(preds) -> list:
    if hasattr(preds, "probabilities"):
        return [preds]
    if isinstance(preds, dict):
        return list(preds.values())
    return list(preds)


def _table(rows: list[dict], header: bool = True) -> str:
    """An HTML table of rows (floats with 3 decimals)."""
    if not rows:
        return "<p>(none)</p>"

    def cell(v):
        return f"{v:.3f}" if isinstance(v, float) else html.escape(str(v))

    head = "<tr>" + "".join(f"<th>{html.escape(c)}</th>" for c in rows[0]) + "</tr>" if header else ""
    body = "".join("<tr>" + "".join(f"<td>{cell(v)}</td>" for v in r.values()) + "</tr>"
                   for r in rows)
    return f"<table class='summary'>{head}{body}</table>"
