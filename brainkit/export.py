"""What the app computes from one recording with the model, and the files it exports.

Computed (each a single call for a page): :func:`tokenize_recording` (codes and reconstruction
of sliding windows), :func:`decode_tasks` (answers of several tasks from one preprocessing pass),
:func:`correlate_tasks` (task similarities and each task's query selection, read from the
recording), :func:`summary_table`.

Exported: :func:`predictions_csv` (one row per window, the ``brainkit decode`` columns),
:func:`predictions_edf` (the recording as EDF+ with the decoded answers as annotations) and
:func:`html_report` (one self-contained HTML file: summary, tables, interactive figures).
"""

from __future__ import annotations

import csv
import html
import io
import tempfile
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

from brainkit.errors import BrainkitError
from brainkit.preprocess import Windows, preprocess, sliding_windows
from brainkit.tasks import TASK_IDS, get_task

#: Windows tokenized at most per call (from the start of the recording), and samples (windows x
#: channels x times) at most, so that windows and reconstruction stay below about 64 MB.
MAX_TOKEN_WINDOWS = 300
MAX_TOKEN_VALUES = 8_000_000
#: Said on every exported report.
DISCLAIMER = ("Research tool, not a medical device: these outputs are not a diagnosis and must "
              "not guide the care of a patient.")


# ------------------------------------------------------------------------------------ compute


@dataclass
class RecordingTokens:
    """Codes of a recording's sliding windows and how well they rebuild it.

    Attributes
    ----------
    windows : Windows
        The N tokenized windows (preprocessed, robust-scaled).
    codes : ndarray, shape (N, K, P, L), int64
    reconstruction : ndarray, shape (N, C, T), float32
        Decoded from ``codes``, in the units of ``windows.x``.
    r : float
        Mean Pearson correlation of windows and reconstruction over channels and windows.
    usage : dict
        :func:`brainkit.models.tokenizer.codebook_usage` of ``codes``.
    patch_s : float
        Seconds per patch (one code column).
    n_available : int
        Windows in the whole recording (``N`` is at most ``max_windows`` of them).
    """

    windows: Windows
    codes: np.ndarray
    reconstruction: np.ndarray
    r: float
    usage: dict
    patch_s: float
    n_available: int


def tokenize_recording(model, recording, window_s: float = 4.0,
                       max_windows: int = MAX_TOKEN_WINDOWS,
                       max_values: int = MAX_TOKEN_VALUES) -> RecordingTokens:
    """Tokenize consecutive windows of ``window_s`` seconds from the start of a recording.

    Parameters
    ----------
    model : brainkit.models.tokenizer.BrainTokenizer
    recording : brainkit.io.Recording
    window_s : float
        Window length in seconds (windows do not overlap).
    max_windows, max_values : int
        Tokenize at most this many windows (the first ones), and at most ``max_values`` samples
        over windows, channels and times (at least one window).
    """
    from brainkit.models.tokenizer import codebook_usage, tokenize_windows

    windows = sliding_windows(preprocess(recording), window_s, window_s)
    n_available = len(windows)
    per_window = windows.x.shape[1] * windows.x.shape[2]
    windows = windows.select(np.arange(min(n_available, max_windows, max(1, max_values // per_window))))
    codes, recon, r = tokenize_windows(model, windows)
    return RecordingTokens(windows, codes, recon, r, codebook_usage(codes, model.config.codebook_size),
                           model.config.patch_size / model.config.sfreq, n_available)


def decode_tasks(bk, recording, tasks=TASK_IDS, stride_s: float | None = None,
                 progress=None) -> dict:
    """Answers of several tasks for sliding windows over a whole recording.

    The recording is preprocessed once; each task uses its own window length.

    Parameters
    ----------
    bk : brainkit.inference.Brainkit
    recording : brainkit.io.Recording
    tasks : iterable of str
        Task ids.
    stride_s : float, optional
        Seconds between window starts (default: each task's window length, no overlap).
    progress : callable, optional
        ``progress(done, total)`` in windows over all tasks, called after each batch.

    Returns
    -------
    dict of str to brainkit.inference.Predictions
        In the order of ``tasks``.
    """
    tasks = [get_task(t) for t in tasks]
    if not tasks:
        raise BrainkitError(f"no task chosen: pick at least one of {', '.join(TASK_IDS)}")
    prep = preprocess(recording)
    windows = {t.id: sliding_windows(prep, t.window_s, stride_s or t.window_s) for t in tasks}
    total, done = sum(len(w) for w in windows.values()), 0
    out = {}
    for task_id, w in windows.items():
        def step(n, _total, before=done):
            if progress is not None:
                progress(before + n, total)

        out[task_id] = bk.predict(w, task_id, progress=step)
        done += len(w)
    return out


def recording_reference(recording, tasks=TASK_IDS, n_per_task: int = 16) -> dict:
    """Reference windows per task from one recording, for task correlations.

    Each task gets at most ``n_per_task`` windows of its own length, evenly spread over the
    recording (the recording is preprocessed once).

    Returns
    -------
    dict of str to Windows
    """
    prep = preprocess(recording)
    out = {}
    for task in [get_task(t) for t in tasks]:
        windows = sliding_windows(prep, task.window_s)
        n = min(len(windows), max(1, int(n_per_task)))
        out[task.id] = windows.select(np.unique(np.linspace(0, len(windows) - 1, n).astype(int)))
    return out


def query_selection(bk, reference: dict) -> dict:
    """How often each task picks each learned query (Task-aware Query Selection).

    Parameters
    ----------
    bk : brainkit.inference.Brainkit
    reference : dict of str to Windows
        Windows per task (:func:`recording_reference`), each read under its task's caption.

    Returns
    -------
    dict of str to ndarray, shape (M, Q)
        Per task, the fraction of windows whose soft-token slot ``m`` chose query ``q`` (each
        row sums to 1).
    """
    import torch

    from brainkit.inference import fit_window

    decoder = bk.decoder
    out = {}
    for task_id, windows in reference.items():
        windows = fit_window(windows, get_task(task_id).window_s)
        latents, bp, scale = bk.features(windows)
        with torch.inference_mode():
            conn = decoder.connect(latents, bp, scale, windows.sensors, task_id)
        chosen = torch.nn.functional.one_hot(conn.selected, decoder.config.pool_size)  # (N, M, Q)
        out[task_id] = chosen.double().mean(0).numpy()
    return out


def correlate_tasks(bk, recording, n_per_task: int = 16) -> dict:
    """Task x task similarities (:func:`brainkit.explain.attribution.task_correlations`) read from one
    recording, plus each task's query selection.

    Returns
    -------
    dict
        ``tasks, order, matrices {routing, attribution, representation}, n_windows`` as
        ``brainkit correlations`` writes them, and ``selection``: :func:`query_selection`.
    """
    from brainkit.explain.attribution import task_correlations

    reference = recording_reference(recording, n_per_task=n_per_task)
    out = task_correlations(bk, reference, n_attribution=min(8, n_per_task))
    out["selection"] = query_selection(bk, reference)
    return out


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
    rows = [row for p in _as_list(preds) for row in p.rows()]
    columns = ["start_s", "duration_s", "task", "answer"]
    for p in _as_list(preds):
        columns += [f"p_{a}" for a in p.answers if f"p_{a}" not in columns]
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, columns, lineterminator="\n")
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
