"""Benchmarks: speed and memory of brainkit on simulated recordings (``brainkit bench``).

What is measured (each timing is the median of ``repeats`` runs, with their min and max):

- **Workloads**, made in memory by :mod:`brainkit.data.simulate` and wrapped by
  :func:`brainkit.io.recording_from_raw` (nothing is written to disk):

  ========== ================================================= ===================== =========
  name       recording                                         tasks (window)        reference
  ========== ================================================= ===================== =========
  sleep      8 h, 2 EEG derivations + EOG at 100 Hz            ``sleep_stage`` (30 s) yes
  clinical   20 min, 19-channel 10-20 EEG at 256 Hz            ``workload``, ``eyes``  yes
                                                               (4 s)
  meg        10 min, 306-channel Neuromag MEG at 500 Hz        tokenization only     no
  ========== ================================================= ===================== =========

  Stages: ``preprocess`` (filtering, resampling, scaling and cutting the windows of every task),
  ``tokenize`` (``brainkit tokenize``'s path: windows, codes and reconstruction),
  ``decode`` (end to end, :meth:`brainkit.inference.Brainkit.decode_tasks`: preprocessing, windows,
  tokens, connector, language model, option probabilities), ``decode_model`` (only
  :meth:`brainkit.inference.Brainkit.predict` on windows already cut), ``reference_model`` and
  ``reference_model_cached`` (:class:`ReferenceDecoder` without and with a key/value cache, on
  the same windows as ``decode_model``).
- **Reference**: a NeuroLM-style decoder (arXiv 2409.00101): a GPT-2-size causal LM (124 M
  parameters, random weights, built from its config) that reads every channel patch of 1 s as
  one token (a linear projection of the patch's samples plus channel and time embeddings), then a
  short text prompt, and generates 5 answer tokens greedily. As NeuroLM's own ``generate`` does,
  every generated token runs the whole sequence again (no key/value cache); the same model with a
  key/value cache is measured too, as a stronger reference. Windows whose channels x patches +
  prompt + answer exceed GPT-2's 1024 positions keep their first patches (the time axis is cut,
  as NeuroLM cuts its EEG sequences to its context). Same batch size as brainkit. Both references
  and brainkit's model (``decode_model``) run on the same evenly spaced subset of each task's
  windows (``reference_windows`` per task; their cost per window does not depend on where the
  window lies); the ratio ``reference / brainkit`` is measured on those windows, and end to end
  (reference = ``preprocess`` + its time per window x all windows, against ``decode``).
- **App**: reading a 1-hour 64-channel EDF (written to a temporary folder first), the first
  trace page (:func:`brainkit.viz.signals.trace_figure`), the imports of a fresh interpreter, and the
  time to the first decoded window (load the model, read the file, decode its first window).
- **Accuracy**: ``evaluate`` on ``manifests/val_<task>.csv`` beside the baselines of the
  checkpoint's ``metrics.json`` (skipped under ``--quick``).

Memory: a background thread samples the process's resident set size (``/proc/self/statm``,
every 5 ms) during each run of a stage; ``peak_rss_mb`` is the highest value over the repeats
(the whole process: loaded models and the recording included), ``start_rss_mb`` the value when
the stage started. Without ``/proc`` the peak is ``resource.getrusage(...).ru_maxrss`` (the
process's peak so far). Everything runs in one process, on the threads torch is given.
"""

from __future__ import annotations

import gc
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field, replace
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import torch

from brainkit._logging import logger

ROOT = Path(__file__).resolve().parents[2]
NOT_MEASURED = "not measured"
#: Targets checked (and reported, never asserted).
TARGET_SLEEP_S = 120.0
TARGET_RATIO = 5.0
#: The reference's GPT-2 (124 M): layers, width, heads, vocabulary, positions, answer tokens.
GPT2_SMALL = dict(n_layer=12, n_embd=768, n_head=12, vocab_size=50257, n_positions=1024)
REFERENCE_NEW_TOKENS = 5
RSS_INTERVAL_S = 0.005


# ------------------------------------------------------------------------------------ sizes


@dataclass(frozen=True)
class Workload:
    """One simulated recording and what is done with it.

    Attributes
    ----------
    name : str
    kind : {"sleep", "eeg", "meg"}
        Which simulator makes it.
    duration_s : float
    sfreq : float
        Sampling rate of the simulated recording in Hz.
    n_channels : int
        EEG derivations / electrodes (ignored for MEG: always 306).
    tasks : tuple of str
        Decoded tasks (empty: tokenization only).
    window_s : float
        Window length of the tokenization stage.
    """

    name: str
    kind: str
    duration_s: float
    sfreq: float
    n_channels: int
    tasks: tuple = ()
    window_s: float = 4.0

    def describe(self) -> str:
        length = (f"{self.duration_s / 3600:g} h" if self.duration_s >= 3600
                  else f"{self.duration_s / 60:g} min")
        chans = "306-channel MEG" if self.kind == "meg" else f"{self.n_channels}-channel {self.kind.upper()}"
        return f"{length} {chans} at {self.sfreq:g} Hz (simulated)"


@dataclass(frozen=True)
class BenchConfig:
    """Everything a benchmark run depends on (sizes, repeats, model choices)."""

    workloads: tuple
    repeats: int = 3
    edf_duration_s: float = 3600.0
    edf_channels: int = 64
    edf_sfreq: float = 256.0
    reference: dict = field(default_factory=lambda: dict(GPT2_SMALL))
    reference_new_tokens: int = REFERENCE_NEW_TOKENS
    #: windows per task on which brainkit's model and both references are compared
    reference_windows: int = 64
    checkpoint: str | None = None
    lm_path: str | None = None
    int8: bool = False
    profile: bool = False
    accuracy: bool = True
    manifests: str = str(ROOT / "manifests")
    threads: int = 0
    quick: bool = False
    fresh_imports: bool = True


FULL_WORKLOADS = (
    Workload("sleep", "sleep", 8 * 3600.0, 100.0, 2, ("sleep_stage",), 30.0),
    Workload("clinical", "eeg", 20 * 60.0, 256.0, 19, ("workload", "eyes"), 4.0),
    Workload("meg", "meg", 10 * 60.0, 500.0, 306, (), 4.0),
)
#: ``--quick``: the same recordings, shorter (development only; not the reported numbers).
QUICK_DURATIONS_S = {"sleep": 16 * 60.0, "clinical": 2 * 60.0, "meg": 60.0}


def default_config(quick: bool = False, **overrides) -> BenchConfig:
    """The full benchmark, or ``--quick`` (short recordings, 2 repeats, no accuracy)."""
    if not quick:
        return BenchConfig(FULL_WORKLOADS, **overrides)
    workloads = tuple(replace(w, duration_s=QUICK_DURATIONS_S[w.name]) for w in FULL_WORKLOADS)
    base = dict(repeats=2, edf_duration_s=300.0, accuracy=False, quick=True, reference_windows=32)
    return BenchConfig(workloads, **{**base, **overrides})


# ------------------------------------------------------------------------------------ measuring


def _rss_mb() -> float:
    """Resident set size of this process now, in MB (peak so far where /proc is missing)."""
    try:
        with open("/proc/self/statm") as f:
            pages = int(f.read().split()[1])
        return pages * os.sysconf("SC_PAGE_SIZE") / 1e6
    except (OSError, ValueError, IndexError):
        import resource

        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e3  # kB on Linux


class RssSampler:
    """Highest resident set size seen while the ``with`` block runs (a 5-ms polling thread)."""

    def __init__(self, interval_s: float = RSS_INTERVAL_S):
        self.interval_s, self.start_mb, self.peak_mb = interval_s, 0.0, 0.0
        self._stop = threading.Event()

    def _poll(self):
        while not self._stop.wait(self.interval_s):
            self.peak_mb = max(self.peak_mb, _rss_mb())

    def __enter__(self):
        self.start_mb = self.peak_mb = _rss_mb()
        self._thread = threading.Thread(target=self._poll, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()
        self.peak_mb = max(self.peak_mb, _rss_mb())


def measure(fn, repeats: int):
    """Run ``fn()`` ``repeats`` times; timing statistics, peak memory, and the last result.

    Returns
    -------
    stats : dict
        ``median_s, min_s, max_s, values_s, repeats`` (wall clock), ``cpu_median_s`` (CPU time
        of the process, all threads: less sensitive to other jobs on the machine),
        ``peak_rss_mb, start_rss_mb``.
    result
        What the last call returned.
    """
    values, cpu, peaks, starts, result = [], [], [], [], None
    for _ in range(max(1, int(repeats))):
        result = None
        gc.collect()
        with RssSampler() as rss:
            t0, c0 = time.perf_counter(), time.process_time()
            result = fn()
            values.append(time.perf_counter() - t0)
            cpu.append(time.process_time() - c0)
        peaks.append(rss.peak_mb)
        starts.append(rss.start_mb)
    stats = {"median_s": statistics.median(values), "min_s": min(values), "max_s": max(values),
             "values_s": values, "repeats": len(values), "cpu_median_s": statistics.median(cpu),
             "peak_rss_mb": max(peaks), "start_rss_mb": min(starts)}
    return stats, result


# ------------------------------------------------------------------------------------ data


def simulate_workload(workload: Workload, seed: int = 0):
    """The workload's recording, in memory (:class:`brainkit.io.Recording`)."""
    from brainkit.data import simulate
    from brainkit.io import recording_from_raw

    if workload.kind == "sleep":
        raw = simulate.simulate_sleep(workload.duration_s, n_channels=workload.n_channels,
                                      sfreq=workload.sfreq, seed=seed)
    elif workload.kind == "eeg":
        raw = simulate.simulate_eyes(workload.duration_s, n_channels=workload.n_channels,
                                     sfreq=workload.sfreq, seed=seed)
    elif workload.kind == "meg":
        raw = simulate.simulate_meg(workload.duration_s, sfreq=workload.sfreq, seed=seed)
    else:
        raise ValueError(f"unknown workload kind {workload.kind!r}")
    return recording_from_raw(raw, name=f"bench-{workload.name}", fmt="simulated")


#: 32 more 10-10 electrodes that make :data:`brainkit.data.simulate.EEG_32` a 64-channel cap.
EXTRA_32 = ("AF3", "AF4", "F1", "F2", "F5", "F6", "FC3", "FC4", "C1", "C2", "C5", "C6", "CP3",
            "CP4", "P1", "P2", "P5", "P6", "PO3", "PO4", "PO7", "PO8", "FT7", "FT8", "TP7", "TP8",
            "AFz", "FCz", "CPz", "POz", "F9", "F10")


def write_edf(folder: Path, duration_s: float, n_channels: int = 64, sfreq: float = 256.0) -> Path:
    """A simulated EEG of ``n_channels`` (32 or 64) written as EDF+ into ``folder``."""
    import mne

    from brainkit.data import simulate

    raw = simulate.simulate_eyes(duration_s, n_channels=32, sfreq=sfreq, seed=0)
    if n_channels == 64:
        more = simulate.simulate_eyes(duration_s, n_channels=32, sfreq=sfreq, seed=1)
        more.set_montage(None)
        more.rename_channels(dict(zip(more.ch_names, EXTRA_32)))
        more.set_annotations(None)
        raw.add_channels([more], force_update_info=True)
    elif n_channels != 32:
        raise ValueError("n_channels must be 32 or 64")
    path = Path(folder) / f"bench_{n_channels}ch.edf"
    mne.export.export_raw(path, raw, fmt="edf", overwrite=True, verbose=False)
    return path


# ------------------------------------------------------------------------------------ model


def model_source(checkpoint=None, lm_path=None, workdir: Path | None = None):
    """The checkpoint folder to load, and which decoder it holds.

    When the checkpoint has no ``decoder/`` yet, a decoder of the shipped architecture with
    random weights is saved beside a copy of its tokenizer in ``workdir`` and loaded from there
    (through the same public path): timing does not depend on the weights.

    Returns
    -------
    folder : Path or None
        None for the shipped checkpoint.
    decoder : str
        ``"shipped"``, ``"checkpoint <dir>"`` or ``"untrained, same architecture"``.
    """
    from brainkit.models.checkpoint import DEFAULT_CHECKPOINT

    root = Path(checkpoint) if checkpoint else DEFAULT_CHECKPOINT
    if (root / "decoder" / "config.json").is_file():
        return checkpoint, ("shipped" if checkpoint is None else f"checkpoint {checkpoint}")
    if workdir is None:
        raise ValueError("workdir is needed to build an untrained decoder")
    return untrained_checkpoint(root, Path(workdir) / "checkpoint", lm_path), "untrained, same architecture"


def untrained_checkpoint(root: Path, out: Path, lm_path=None) -> Path:
    """``out`` holding ``root``'s tokenizer and a random decoder configured as training does."""
    from transformers import AutoConfig

    from brainkit.models.checkpoint import load_tokenizer_model
    from brainkit.models.decoder import BrainDecoder, BrainDecoderConfig
    from brainkit.models.llm import default_model_dir

    tokenizer = load_tokenizer_model(root)
    lm_config = AutoConfig.from_pretrained(lm_path or default_model_dir(), local_files_only=True)
    config = BrainDecoderConfig(lm_hidden=lm_config.hidden_size,
                                latent_dim=tokenizer.config.d_model,
                                n_sources=tokenizer.config.n_sources)  # as train_decoder.train
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        decoder = BrainDecoder(config)
    shutil.copytree(root / "tokenizer", out / "tokenizer", dirs_exist_ok=True)
    decoder.save_pretrained(out / "decoder")
    return out


def predict_batch_size() -> int:
    """The batch size :meth:`Brainkit.predict` uses by default (the reference uses the same)."""
    import inspect

    from brainkit.inference import Brainkit

    return int(inspect.signature(Brainkit.predict).parameters["batch_size"].default)


# ------------------------------------------------------------------------------------ reference


class ReferenceDecoder(torch.nn.Module):
    """NeuroLM-style decoding: every channel patch is one token of a GPT-2-size causal LM.

    Each window (C, T) is cut into 1-s patches per channel; a patch's samples are projected to
    the LM width, plus a channel embedding and a time embedding; the C x P tokens (time-major)
    are followed by the prompt's token embeddings, and the LM generates ``new_tokens`` tokens
    greedily, logits of the last position only. Without ``kv_cache`` (the default) every step runs
    the whole sequence again, as NeuroLM's ``generate`` does (its loop calls the GPT-2 on the EEG
    tokens, the text and the answer so far, for each new token); with it, each step after the
    first runs one position against the cached keys and values.

    Parameters
    ----------
    patch_samples : int
        Samples per patch (1 s at the windows' rate).
    config : dict
        ``GPT2Config`` fields (default :data:`GPT2_SMALL`). Weights are random.
    new_tokens : int
    max_channels : int
        Size of the channel embedding table.
    kv_cache : bool
        Generate with a key/value cache (faster than NeuroLM's own procedure).
    """

    def __init__(self, patch_samples: int, config: dict | None = None,
                 new_tokens: int = REFERENCE_NEW_TOKENS, max_channels: int = 1024, seed: int = 0,
                 kv_cache: bool = False):
        from transformers import GPT2Config, GPT2LMHeadModel

        super().__init__()
        cfg = GPT2Config(**(config or GPT2_SMALL))
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            self.lm = GPT2LMHeadModel(cfg).eval()
            width = cfg.n_embd
            self.patch = torch.nn.Linear(patch_samples, width)
            self.channel = torch.nn.Embedding(max_channels, width)
            self.time = torch.nn.Embedding(cfg.n_positions, width)
        self.patch_samples, self.new_tokens, self.n_positions = patch_samples, new_tokens, cfg.n_positions
        self.kv_cache = kv_cache
        self.requires_grad_(False)
        self.eval()

    def n_patches(self, n_channels: int, n_times: int, n_prompt: int) -> int:
        """Patches per channel that fit: all of them, or the first ones within the context."""
        full = -(-n_times // self.patch_samples)
        room = (self.n_positions - n_prompt - self.new_tokens) // n_channels
        if room < 1:
            raise ValueError(f"{n_channels} channels do not fit in {self.n_positions} positions")
        return min(full, room)

    def layout(self, n_channels: int, n_times: int, n_prompt: int) -> dict:
        """Token counts of one window: EEG tokens, prompt, answer, and whether patches were cut."""
        p = self.n_patches(n_channels, n_times, n_prompt)
        full = -(-n_times // self.patch_samples)
        return {"channels": n_channels, "patches_per_channel": p, "eeg_tokens": n_channels * p,
                "prompt_tokens": n_prompt, "answer_tokens": self.new_tokens,
                "sequence": n_channels * p + n_prompt + self.new_tokens, "cut": p < full,
                "eeg_tokens_uncut": n_channels * full}

    def embed(self, x: torch.Tensor, prompt_ids: torch.Tensor) -> torch.Tensor:
        """Input embeddings (N, C*P + L, width) of windows x (N, C, T) and a prompt (L,)."""
        N, C, T = x.shape
        P = self.n_patches(C, T, len(prompt_ids))
        S = self.patch_samples
        x = torch.nn.functional.pad(x, (0, max(0, P * S - T)))[..., :P * S]
        tokens = self.patch(x.reshape(N, C, P, S))  # (N, C, P, width)
        tokens = tokens + self.channel.weight[:C, None] + self.time.weight[:P]
        tokens = tokens.transpose(1, 2).reshape(N, P * C, -1)  # time-major
        text = self.lm.get_input_embeddings()(prompt_ids)[None].expand(N, -1, -1)
        return torch.cat([tokens, text], 1)

    @torch.inference_mode()
    def generate(self, x, prompt_ids) -> torch.Tensor:
        """Greedy answer token ids (N, new_tokens) for windows x (N, C, T)."""
        x = torch.as_tensor(x, dtype=torch.float32)
        prompt_ids = torch.as_tensor(prompt_ids, dtype=torch.long)
        x = self.embed(x, prompt_ids)
        if not self.kv_cache:
            answer = []
            for _ in range(self.new_tokens):  # the whole sequence each step, as NeuroLM
                if answer:
                    x = torch.cat([x, self.lm.get_input_embeddings()(answer[-1])[:, None]], 1)
                logits = self.lm(inputs_embeds=x, use_cache=False, logits_to_keep=1).logits
                answer.append(logits[:, -1].argmax(-1))
            return torch.stack(answer, 1)
        out = self.lm(inputs_embeds=x, use_cache=True, logits_to_keep=1)
        step = out.logits[:, -1].argmax(-1)  # (N,)
        answer = [step]
        for _ in range(self.new_tokens - 1):
            out = self.lm(input_ids=step[:, None], cache=out.cache,
                          use_cache=True, logits_to_keep=1)
            step = out.logits[:, -1].argmax(-1)
            answer.append(step)
        return torch.stack(answer, 1)

    def decode(self, windows, prompt_ids, batch_size: int) -> np.ndarray:
        """Answer ids of all windows (``brainkit.preprocess.Windows``), in batches."""
        out = [self.generate(windows.x[i:i + batch_size], prompt_ids)
               for i in range(0, len(windows), batch_size)]
        return torch.cat(out).numpy() if out else np.zeros((0, self.new_tokens), int)


def reference_prompt(tokenizer, task_id: str, vocab_size: int) -> list[int]:
    """Token ids of a short NeuroLM-style text prompt for a task (question and options).

    Counted with the language model's BPE tokenizer (GPT-2-like); ids above the reference's
    vocabulary wrap around (only their number matters for speed).
    """
    from brainkit.tasks import get_task

    task = get_task(task_id)
    options = ", ".join(task.answer_texts[a] for a in task.answers)
    text = f"Question: {task.questions[0]} Options: {options}. Answer:"
    return [i % vocab_size for i in tokenizer(text, add_special_tokens=False)["input_ids"]]


# ------------------------------------------------------------------------------------ stages


def prepare_windows(recording, tasks, window_s: float = 4.0):
    """Preprocess once and cut each task's windows (what ``decode_tasks`` does before the model).

    Without tasks: windows of ``window_s`` under the key ``"windows"``.
    """
    from brainkit.inference import fit_window
    from brainkit.preprocess import preprocess, sliding_windows
    from brainkit.tasks import get_task

    prep = preprocess(recording)
    if not tasks:
        return {"windows": sliding_windows(prep, window_s)}
    return {t: fit_window(sliding_windows(prep, get_task(t).window_s), get_task(t).window_s)
            for t in tasks}


def tokenize_all(bk, recording, window_s: float):
    """``brainkit tokenize``'s path: preprocessing, windows, codes and reconstruction."""
    from brainkit.preprocess import make_windows
    from brainkit.models.tokenizer import tokenize_windows

    windows = make_windows(recording, window_s)
    codes, _, r = tokenize_windows(bk.tokenizer, windows)
    return len(windows), codes.shape, r


def predict_all(bk, windows_by_task) -> dict:
    """Option probabilities of every task's prepared windows (``Brainkit.predict``)."""
    return {t: bk.predict(w, t).probabilities for t, w in windows_by_task.items()}


def bench_workload(bk, reference_for, workload: Workload, cfg: BenchConfig, batch_size: int,
                   lm_tokenizer) -> dict:
    """Every stage of one workload; see the module docstring."""
    t0 = time.perf_counter()
    recording = simulate_workload(workload)
    out = {"description": workload.describe(), "duration_s": workload.duration_s,
           "n_channels": len(recording.sensors.model_picks), "tasks": list(workload.tasks),
           "simulate_s": time.perf_counter() - t0, "stages": {}}
    stages = out["stages"]
    repeats = cfg.repeats
    tasks = list(workload.tasks)
    stages["preprocess"], windows = measure(
        lambda: prepare_windows(recording, tasks, workload.window_s), repeats)
    stages["tokenize"], (n_tok, codes_shape, r) = measure(
        lambda: tokenize_all(bk, recording, workload.window_s), repeats)
    out["tokenize"] = {"n_windows": n_tok, "window_s": workload.window_s,
                       "codes_shape": list(codes_shape),
                       "windows_per_s": n_tok / stages["tokenize"]["median_s"]}
    if not tasks:
        return out
    out["n_windows"] = {t: len(w) for t, w in windows.items()}
    total = sum(out["n_windows"].values())
    prompts = {t: reference_prompt(lm_tokenizer, t, cfg.reference["vocab_size"]) for t in tasks}
    reference = reference_for(windows[tasks[0]].sfreq, False)
    cached = reference_for(windows[tasks[0]].sfreq, True)
    out["first_call_s"] = warm_up(bk, {"reference": reference, "reference_cached": cached}, windows,
                                  prompts)
    stages["decode"], preds = measure(lambda: bk.decode_tasks(recording, tasks), repeats)
    out["decode_windows_per_s"] = total / stages["decode"]["median_s"]
    # brainkit's model and both references on the same windows
    same = {t: evenly_spaced(w, cfg.reference_windows) for t, w in windows.items()}
    out["compared_windows"] = {t: len(w) for t, w in same.items()}
    out["reference_layout"] = {t: reference.layout(w.x.shape[1], w.x.shape[2], len(prompts[t]))
                               for t, w in windows.items()}
    stages["decode_model"], _ = measure(lambda: predict_all(bk, same), repeats)
    for name, model in (("reference_model", reference), ("reference_model_cached", cached)):
        stages[name], _ = measure(
            lambda m=model: {t: m.decode(w, prompts[t], batch_size) for t, w in same.items()}, repeats)
    out["ratio"] = ratios(stages, total / sum(out["compared_windows"].values()))
    if workload.name == "sleep":
        out["target"] = sleep_target(stages["decode"]["median_s"], total)
    out["probabilities_shape"] = {t: list(p.probabilities.shape) for t, p in preds.items()}
    return out


def evenly_spaced(windows, n: int):
    """At most ``n`` windows spread evenly over the recording (all of them if fewer)."""
    if len(windows) <= n:
        return windows
    from brainkit.preprocess import evenly_spaced as spread

    return windows.select(spread(len(windows), n))


def warm_up(bk, references: dict, windows_by_task, prompts) -> dict:
    """One untimed call per task and model on two windows (prompt caches, kernels, allocator).

    Returns the seconds each took: what a first request pays on top of the steady state.
    """
    out = {}
    for task, windows in windows_by_task.items():
        few = windows.select(np.arange(min(2, len(windows))))
        t0 = time.perf_counter()
        bk.predict(few, task)
        out[task] = {"brainkit": time.perf_counter() - t0}
        for name, reference in references.items():
            t0 = time.perf_counter()
            reference.decode(few, prompts[task], 2)
            out[task][name] = time.perf_counter() - t0
    return out


def sleep_target(decode_s: float, n_windows: int) -> dict:
    """The 8-hour target: met or not; for other lengths (``--quick``) extrapolated per window."""
    full = FULL_WORKLOADS[0]
    n_full = int(full.duration_s // 30.0)  # 30-s sleep epochs: 960
    estimate = decode_s * n_full / max(n_windows, 1)
    out = {"decode_s": TARGET_SLEEP_S, "n_windows": n_windows, "n_windows_8h": n_full,
           "estimate_8h_s": estimate, "extrapolated": n_windows != n_full}
    out["met"] = estimate <= TARGET_SLEEP_S
    return out


def ratios(stages: dict, scale: float) -> dict:
    """Reference time / brainkit time, against NeuroLM's procedure and the cached reference.

    ``model``: the models alone on the same windows. ``end_to_end``: the reference's time per
    window scaled to every window (``scale`` = all windows / compared windows) plus the same
    preprocessing, against brainkit's ``decode`` of the whole recording.
    """
    model_s, pre_s, decode_s = (stages[k]["median_s"] for k in ("decode_model", "preprocess", "decode"))
    out = {"target": TARGET_RATIO}
    for key, name in (("reference_model", ""), ("reference_model_cached", "_cached")):
        ref = stages[key]["median_s"]
        out["model" + name] = ref / model_s
        out["end_to_end" + name] = (pre_s + ref * scale) / decode_s
    out["met"] = min(out["model"], out["end_to_end"]) >= TARGET_RATIO
    out["met_cached"] = min(out["model_cached"], out["end_to_end_cached"]) >= TARGET_RATIO
    return out


# ------------------------------------------------------------------------------------ app side


def bench_app(cfg: BenchConfig, workdir: Path, load_model) -> dict:
    """Reading a 64-channel EDF, its first trace page, imports, and time to the first answer."""
    from brainkit.io import read_recording
    from brainkit.inference import window_at
    from brainkit.viz.signals import trace_figure

    t0 = time.perf_counter()
    path = write_edf(workdir, cfg.edf_duration_s, cfg.edf_channels, cfg.edf_sfreq)
    out = {"edf": {"duration_s": cfg.edf_duration_s, "n_channels": cfg.edf_channels,
                   "sfreq": cfg.edf_sfreq, "size_mb": path.stat().st_size / 1e6,
                   "write_s": time.perf_counter() - t0}, "stages": {}}
    stages = out["stages"]
    stages["read_edf"], recording = measure(lambda: read_recording(path), cfg.repeats)
    stages["first_trace"], _ = measure(lambda: trace_figure(recording), cfg.repeats)
    if cfg.fresh_imports:
        stages["imports"], _ = measure(_fresh_imports, cfg.repeats)

    def first_window():
        bk = load_model()
        rec = read_recording(path)
        return bk.predict(window_at(rec, 0.0, 4.0), "eyes").probabilities

    stages["first_window"], _ = measure(first_window, cfg.repeats)
    out["first_window_note"] = ("in this process: imports done, files in the page cache; "
                                "a fresh start adds `imports`")
    return out


def _fresh_imports() -> None:
    """Import what the app needs in a fresh interpreter (its own process)."""
    code = "import torch, transformers, mne, brainkit.inference, brainkit.viz.signals, brainkit.io"
    subprocess.run([sys.executable, "-c", code], check=True, capture_output=True)


# ------------------------------------------------------------------------------------ int8


def quantized_lm(model):
    """A copy of a language model with every ``nn.Linear`` dynamically quantized to int8."""
    import copy
    import warnings

    with warnings.catch_warnings():  # torch.ao.quantization is deprecated in favour of torchao
        warnings.simplefilter("ignore")
        from torch.ao.quantization import quantize_dynamic

        return quantize_dynamic(copy.deepcopy(model), {torch.nn.Linear}, dtype=torch.qint8)


def bench_int8(bk, cfg: BenchConfig, tolerance: float = 0.05) -> dict:
    """Float vs int8 language model on the sleep workload's windows: speed and probabilities."""
    import warnings

    workload = next(w for w in cfg.workloads if w.name == "sleep")
    windows = prepare_windows(simulate_workload(workload), workload.tasks)
    model, tok = bk.decoder.lm
    float_stats, float_p = measure(lambda: predict_all(bk, windows), cfg.repeats)
    try:
        bk.decoder.attach_lm(quantized_lm(model), tok)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            int8_stats, int8_p = measure(lambda: predict_all(bk, windows), cfg.repeats)
    finally:
        bk.decoder.attach_lm(model, tok)
    diff = max(float(np.abs(float_p[t] - int8_p[t]).max()) for t in float_p)
    agree = float(np.mean(np.concatenate([float_p[t].argmax(1) == int8_p[t].argmax(1)
                                          for t in float_p])))
    return {"workload": workload.name, "stages": {"float": float_stats, "int8": int8_stats},
            "speedup": float_stats["median_s"] / int8_stats["median_s"],
            "max_abs_prob_diff": diff, "answer_agreement": agree, "tolerance": tolerance,
            "within_tolerance": diff <= tolerance}


# ------------------------------------------------------------------------------------ profile


def profile_sleep(bk, cfg: BenchConfig, top: int = 15) -> dict:
    """Where ``decode_tasks`` spends its time on the sleep workload.

    One warm-up run, then one run under cProfile (Python functions, by own time) and one under
    ``torch.profiler`` (operators, by self CPU time).
    """
    import cProfile
    import pstats

    workload = next(w for w in cfg.workloads if w.name == "sleep")
    recording = simulate_workload(workload)
    bk.decode_tasks(recording, workload.tasks)  # warm-up (prefix cache, allocator)
    profiler = cProfile.Profile()
    t0 = time.perf_counter()
    profiler.enable()
    bk.decode_tasks(recording, workload.tasks)
    profiler.disable()
    wall = time.perf_counter() - t0
    rows = [{"function": f"{Path(file).name}:{line}({name})", "calls": nc, "own_s": tt,
             "cumulative_s": ct}
            for (file, line, name), (_, nc, tt, ct, _) in pstats.Stats(profiler).stats.items()]
    return {"workload": workload.describe(), "wall_s": wall,
            "top_own": sorted(rows, key=lambda r: -r["own_s"])[:top],
            "top_cumulative": sorted(rows, key=lambda r: -r["cumulative_s"])[:top],
            "top_ops": torch_ops(lambda: bk.decode_tasks(recording, workload.tasks), top)}


def torch_ops(fn, top: int = 15) -> list[dict]:
    """The operators ``fn()`` spends most CPU time in (``torch.profiler``, self time)."""
    from torch.profiler import ProfilerActivity, profile

    with profile(activities=[ProfilerActivity.CPU]) as prof:
        fn()
    events = sorted(prof.key_averages(), key=lambda e: -e.self_cpu_time_total)[:top]
    return [{"op": e.key, "calls": e.count, "self_s": e.self_cpu_time_total / 1e6,
             "total_s": e.cpu_time_total / 1e6} for e in events]


# ------------------------------------------------------------------------------------ accuracy


def bench_accuracy(bk, cfg: BenchConfig, checkpoint=None) -> dict | str:
    """``evaluate`` on ``manifests/val_<task>.csv`` beside the checkpoint's baselines."""
    from brainkit.models.checkpoint import DEFAULT_CHECKPOINT
    from brainkit.inference import evaluate_manifest

    folder = Path(cfg.manifests)
    manifests = sorted(folder.glob("val_*.csv")) if folder.is_dir() else []
    if not manifests:
        return "not run: no manifests"
    metrics_file = Path(checkpoint or DEFAULT_CHECKPOINT) / "metrics.json"
    baselines = find_baselines(json.loads(metrics_file.read_text())) if metrics_file.is_file() else {}
    tasks = {}
    for manifest in manifests:
        t0 = time.perf_counter()
        result = evaluate_manifest(bk, manifest)
        for task, m in result["tasks"].items():
            base = baselines.get(task, {})
            tasks[task] = {"manifest": manifest.name, "n": m["n"],
                           "balanced_accuracy": m["balanced_accuracy"],
                           "cohen_kappa": m.get("cohen_kappa"), "macro_f1": m.get("macro_f1"),
                           "baseline_balanced_accuracy": base.get("balanced_accuracy"),
                           "seconds": time.perf_counter() - t0}
    return {"tasks": tasks}


def find_baselines(metrics) -> dict:
    """``{task: {"balanced_accuracy": x, ...}}`` from the first ``*baseline*`` mapping found."""
    from brainkit.tasks import TASK_IDS

    if isinstance(metrics, dict):
        for key, value in metrics.items():
            if "baseline" in str(key).lower() and isinstance(value, dict):
                found = {t: v for t, v in value.get("tasks", value).items()
                         if t in TASK_IDS and isinstance(v, dict)}
                if found:
                    return found
            inner = find_baselines(value)
            if inner:
                return inner
    return {}


# ------------------------------------------------------------------------------------ run


def machine_info() -> dict:
    """CPU model, cores, memory, versions and the git commit."""
    import mne
    import transformers

    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    try:
        ram_gb = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    except (ValueError, OSError, AttributeError):
        ram_gb = None
    return {"cpu": cpu, "cores": os.cpu_count(), "ram_gb": ram_gb, "torch_threads": torch.get_num_threads(),
            "load_average": os.getloadavg() if hasattr(os, "getloadavg") else None,
            "python": platform.python_version(), "torch": torch.__version__,
            "transformers": transformers.__version__, "mne": mne.__version__,
            "brainkit_commit": git_commit(), "platform": platform.platform()}


def git_commit() -> str:
    """The repository's commit (with ``-dirty`` when the tree has changes), or ``unknown``."""
    try:
        sha = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, check=True,
                             capture_output=True, text=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=ROOT,
                               capture_output=True, text=True).stdout.strip()
        return sha + ("-dirty" if dirty else "")
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


@contextmanager
def _threads(n: int):
    before = torch.get_num_threads()
    if n:
        torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def run(cfg: BenchConfig, progress=None) -> dict:
    """Every section of the benchmark; a JSON-ready dict (see :func:`to_markdown`)."""
    import mne

    say = progress or (lambda msg: logger.info("bench: %s", msg))
    mne.set_log_level("ERROR")
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="brainkit-bench-") as tmp, _threads(cfg.threads):
        workdir = Path(tmp)
        from brainkit.inference import Brainkit

        folder, decoder_label = model_source(cfg.checkpoint, cfg.lm_path, workdir / "model")
        load = lambda: Brainkit(folder, lm_path=cfg.lm_path)  # noqa: E731
        t0 = time.perf_counter()
        bk = load()
        created = datetime.now(timezone.utc).isoformat(timespec="seconds")
        result = {"meta": {**machine_info(), "created": created,
                           "decoder": decoder_label, "language_model": cfg.lm_path or "SmolLM2-135M-Instruct",
                           "load_model_s": time.perf_counter() - t0, "batch_size": predict_batch_size(),
                           "rss_method": "5-ms sampling of /proc/self/statm (whole process)",
                           "config": _jsonable(asdict(cfg))}}
        batch = result["meta"]["batch_size"]
        lm_tokenizer = bk.decoder.lm[1]
        refs = {}

        def reference_for(sfreq, kv_cache):
            key = (int(round(sfreq)), kv_cache)
            if key not in refs:
                refs[key] = ReferenceDecoder(key[0], cfg.reference, cfg.reference_new_tokens,
                                             kv_cache=kv_cache)
            return refs[key]

        result["workloads"] = {}
        for workload in cfg.workloads:
            say(f"workload {workload.name}: {workload.describe()}")
            result["workloads"][workload.name] = bench_workload(bk, reference_for, workload, cfg,
                                                                batch, lm_tokenizer)
        refs.clear()
        say("app: EDF, first trace, first decoded window")
        result["app"] = bench_app(cfg, workdir, load)
        if cfg.int8:
            say("int8 language model")
            result["int8"] = bench_int8(bk, cfg)
        if cfg.profile:
            say("profile of the sleep decode")
            result["profile"] = profile_sleep(bk, cfg)
        if cfg.accuracy:
            say("accuracy on the validation manifests")
            result["accuracy"] = bench_accuracy(bk, cfg, cfg.checkpoint)
        else:
            result["accuracy"] = "not run: --quick"
    result["meta"]["total_s"] = time.perf_counter() - started
    return result


def _jsonable(obj):
    if isinstance(obj, dict):
        return {k: _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_jsonable(v) for v in obj]
    if isinstance(obj, (np.floating, np.integer)):
        return obj.item()
    if isinstance(obj, np.bool_):
        return bool(obj)
    return obj


def save_json(result: dict, path) -> None:
    Path(path).write_text(json.dumps(_jsonable(result), indent=2, default=str) + "\n")
