"""Integrated gradients of one answer over the input samples and over the tokens.

Everything here explains one answer: the log-probability of an answer among the task's options,
``log softmax(logp / temperature)[a]`` (:func:`brainkit.inference.answer_log_probabilities`, the
probability :meth:`Brainkit.predict` reports), seen as a function of one preprocessed window
``x`` (C, T).

**Differentiable path.** ``x -> tokenizer sources z (N, K, P, D) -> quantized latents -> connector
-> language-model option scores``, with the channel tokens' log band powers computed from the
same ``x``. Quantization (nearest code) and query selection (argmax) are piecewise constant, so
gradients pass the quantizer by the **straight-through** path, ``latents = z + (q - z).detach()``,
and the selection by the chosen queries. :class:`AnswerModel` holds the window's own quantization
offset ``q* - z*`` and router scores fixed along the integration path (``frozen``, the default):
at the explained window it *is* the model (same codes, queries and probabilities), its gradient
there is the straight-through gradient, and it is smooth everywhere else, so integrated gradients
are complete for it. With ``frozen=False`` codes and queries are recomputed at every point of the
path (each code switch is then a jump no gradient sees, and completeness fails by their sum).

**Baseline and path.** :func:`explain_window` starts from windows spread across the same
recording and averages the paths' attributions (expected gradients; :func:`start_windows`), from
one window given, or from the zero signal (``"silence"``, and a one-window recording). From
zero, log band power ``log(P + 1e-6)`` moves from -13.8 to its value within ``alpha ~ 1e-3 /
sqrt(P)`` of the baseline, far below the first point of a 50-step grid, so that path is cut at
:data:`IG_BOUNDARIES` (one piece per decade of alpha), each integrated by Gauss-Legendre nodes
uniform in log(alpha) (:func:`path_quadrature`); the pieces add up to the integral over the whole
path. A task decided by the read-out is gain-invariant down to its floors, far lower: its path is
cut down to 1e-20 (:data:`~brainkit.explain.readout.READOUT_BOUNDARIES`); its answer there
falls through the floors and rises again by nats for a net change near zero, which is why silence
is not the default. From another window the path is one piece.

**Read-out.** For the tasks in ``decoder.config.readout_tasks`` the read-out features are
recomputed from x inside the forward pass (:class:`~brainkit.explain.readout.ReadoutPath`), with
its step-like features held at the window's values, and a sequence task's neighbouring windows
held fixed.

**Token attributions** (K, P, L): layer integrated gradients over the per-level code vectors
(:class:`CodeEmbedding`), from "no code" (an extra null code, the zero vector) to the window's
codes, band powers and query selection held fixed; summed over the D features. They add up to
``f(codes) - f(no codes)``.

**Channel totals** (C,) are the signed sums over time: additive, positive for the answer,
negative against it. ``channel_attribution_abs`` (sum of absolute values) is the magnitude used
across tasks, where the answers explained differ and signs would cancel.

Shapes: N windows, C channels, T samples, K sources, P patches, L levels, D features, M soft
tokens, Q queries per slot, A answers.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from brainkit._logging import logger
from brainkit.errors import BrainkitError
from brainkit.explain.attention import (connector_attention, lm_attention, require_eager, task_routing,
                                        to_sources)
from brainkit.explain.context import explaining, fixed_router, model_lock, temperature_of, tile
from brainkit.explain.integrated import (IG_BOUNDARIES, complete_integrated_gradients,  # noqa: F401 (re-exported)
                                         completeness, integrated_gradients, is_complete, path_quadrature,
                                         token_attributions)
from brainkit.explain.readout import (READOUT_BOUNDARIES, READOUT_STEPS_PER_PIECE, ReadoutPath,
                                     RecordingContext, readout_contributions, readout_rows,
                                     reference_row)
from brainkit.inference import answer_log_probabilities, fit_window, window_features
from brainkit.preprocess import evenly_spaced
from brainkit.models.readout import empty_regions
from brainkit.models.spectral import band_power_features
from brainkit.tasks import get_task

# ---------------------------------------------------------------------------------- models


class AnswerModel(nn.Module):
    """Windows (N, C, T) -> log-probabilities of the task's answers (N, A), differentiable in x.

    Parameters
    ----------
    tokenizer : BrainTokenizer
    decoder : BrainDecoder
        With its language model attached.
    sensors : SensorArray
        The C channels.
    scale : array, shape (C,) or (N, C)
        ``Windows.scale``.
    task : str
    sfreq : float
        Hz.
    temperature : float
        The task's calibration temperature.
    anchor : Tensor, shape (N, C, T), optional
        The windows explained; with ``frozen`` their quantization offsets, router scores and
        held read-out features are held fixed for every input (see the module docstring). Inputs
        then come in batches of a multiple of N, ordered as captum makes them (alpha-major).
    frozen : bool
        Hold codes, queries and step-like read-out features of ``anchor`` fixed (smooth,
        complete); else straight-through at every input.
    context : RecordingContext, optional
        For a task read as a sequence (``decoder.config.sequence_tasks``): the read-out features
        of the anchor's recording and the anchor's rows in it; the other windows are held fixed
        (:mod:`brainkit.explain.readout`). Default: the anchor windows are the recording.
    """

    def __init__(self, tokenizer, decoder, sensors, scale, task, sfreq, temperature=1.0,
                 anchor=None, frozen=True, context=None):
        super().__init__()
        self.tokenizer, self.decoder = tokenizer, decoder
        self.sensors, self.task, self.sfreq, self.temperature = sensors, get_task(task).id, sfreq, temperature
        self.scale = torch.as_tensor(np.asarray(scale), dtype=torch.float32)
        self.anchor, self.context, self.offset, self.router_logits = anchor, context, None, None
        self.readout = None
        if self.task in decoder.config.readout_tasks:
            held = anchor is not None and frozen
            self.readout = ReadoutPath(decoder, self.task, sensors, sfreq,
                                       torch.as_tensor(anchor, dtype=torch.float32) if held else None,
                                       self.scale, context)
            self.boundaries = READOUT_BOUNDARIES  # the read-out's floors, from the zero signal
            self.steps_per_piece = READOUT_STEPS_PER_PIECE
        if anchor is not None and frozen:
            self.offset, self.router_logits = self._context(torch.as_tensor(anchor, dtype=torch.float32))

    def with_decoder(self, decoder) -> AnswerModel:
        """The same explanation problem with another decoder (e.g. randomised)."""
        return AnswerModel(self.tokenizer, decoder, self.sensors, self.scale, self.task, self.sfreq,
                           self.temperature, self.anchor, self.offset is not None, self.context)

    def _sources(self, x):
        x, s, _ = self.tokenizer._prepare(x, self.sensors, None)
        return x, self.tokenizer._sources(x, self.tokenizer._embed(s), None)  # (N, C, T), (N, K, P, D)

    def readout_inputs(self, x):
        """The read-out vector (B, F') of windows x (B, C, T), or None for a task without one."""
        if self.readout is None:
            return None
        scale = self.scale if self.scale.ndim == 1 else tile(self.scale, x.shape[0])
        return self.readout(x, scale)

    @torch.no_grad()
    def _context(self, x):
        """Quantization offset (N, K, P, D) and router scores (N, M*Q) of the anchor windows."""
        x, z = self._sources(x)
        q = self.tokenizer._quantize(z, update=False)[0]
        seen = []
        handle = self.decoder.router.register_forward_hook(lambda mod, args, out: seen.append(out))
        try:
            self.decoder.connect(q, self._bandpower(x), self.scale, self.sensors, self.task,
                                 readout=self.readout_inputs(x))
        finally:
            handle.remove()
        return q - z, seen[0].detach()

    def _bandpower(self, x):
        return band_power_features(x, self.sfreq, self.decoder.config.bands_hz)  # (N, C, B)

    def forward(self, x):
        B = x.shape[0]
        readout = self.readout_inputs(x)  # (B, F'), from the samples as they come
        x, z = self._sources(x)  # (B, C, T), (B, K, P, D)
        if self.offset is None:
            q = self.tokenizer._quantize(z, update=False)[0]
            latents = z + (q - z).detach()  # straight-through
        else:
            latents = z + tile(self.offset, B)  # straight-through, anchor's codes
        scale = self.scale if self.scale.ndim == 1 else tile(self.scale, B)
        with fixed_router(self.decoder, self.router_logits):
            return answer_log_probabilities(self.decoder, latents, self._bandpower(x), scale,
                                            self.sensors, self.task, self.temperature,
                                            readout=readout)[0]  # (B, A)


class CodeEmbedding(nn.Module):
    """Codes (N, K, P, L) -> per-level code vectors (N, K, P, L, D).

    Code ``V`` (the codebook size) at any level is the null code: the zero vector.
    """

    def __init__(self, codebooks):
        super().__init__()
        L, V, D = codebooks.shape
        table = torch.cat([codebooks.detach().float(), codebooks.new_zeros(L, 1, D).float()], 1)
        self.register_buffer("table", table.reshape(L * (V + 1), D))  # (L*(V+1), D)
        self.register_buffer("offsets", torch.arange(L) * (V + 1))  # (L,)
        self.null = V

    def forward(self, codes):
        return F.embedding(codes + self.offsets, self.table)  # (N, K, P, L, D)


class TokenAnswerModel(nn.Module):
    """Codes (N, K, P, L) -> answer log-probabilities (N, A), band powers and queries held fixed.

    Parameters
    ----------
    decoder : BrainDecoder
    codebooks : Tensor, shape (L, V, D)
        ``tokenizer.quantizer.codebooks``.
    bandpower : Tensor, shape (N, C, B)
    scale, sensors, task, temperature
        As in :class:`AnswerModel`.
    router_logits : Tensor, shape (N, M*Q), optional
        Router scores to hold (``AnswerModel.router_logits``); None lets the codes route.
    readout : Tensor, shape (N, F'), optional
        The windows' read-out inputs (tasks decided by the read-out), held fixed: codes do not
        change them.
    """

    def __init__(self, decoder, codebooks, bandpower, scale, sensors, task, temperature=1.0,
                 router_logits=None, readout=None):
        super().__init__()
        self.decoder, self.embed = decoder, CodeEmbedding(codebooks)
        self.bandpower, self.sensors, self.task = bandpower.detach(), sensors, get_task(task).id
        self.scale = torch.as_tensor(np.asarray(scale), dtype=torch.float32)
        self.temperature, self.router_logits = temperature, router_logits
        self.readout = None if readout is None else readout.detach()

    def forward(self, codes):
        B = codes.shape[0]
        latents = self.embed(codes).sum(-2)  # (B, K, P, D)
        scale = self.scale if self.scale.ndim == 1 else tile(self.scale, B)
        with fixed_router(self.decoder, self.router_logits):
            return answer_log_probabilities(self.decoder, latents, tile(self.bandpower, B), scale,
                                            self.sensors, self.task, self.temperature,
                                            readout=tile(self.readout, B))[0]  # (B, A)


# ---------------------------------------------------------------------------- one window


def window_input(windows, task, window_index):
    """(the window as one-window ``Windows``, its samples x (1, C, T)), at the task's length."""
    task = get_task(task)
    windows = fit_window(windows, task.window_s)
    if not 0 <= window_index < len(windows):
        raise BrainkitError(f"window_index {window_index} is out of range: the recording has "
                            f"{len(windows)} windows of {task.window_s:g} s (0-{len(windows) - 1})")
    one = windows.select([window_index])
    return one, torch.from_numpy(np.ascontiguousarray(one.x, dtype=np.float32))


def window_model(bk, windows, task, window_index):
    """(AnswerModel frozen at the window, the window, x (1, C, T), the answer index it gives).

    The model's ``context`` holds the read-out features of every window of the recording (at
    the task's window length) when the decoder has read-out tasks.
    """
    task = get_task(task)
    windows = fit_window(windows, task.window_s)
    one, x = window_input(windows, task.id, window_index)
    context = RecordingContext.of(windows, [window_index]) if bk.decoder.config.readout_tasks else None
    with model_lock(bk), explaining(bk.tokenizer, bk.decoder):
        model = AnswerModel(bk.tokenizer, bk.decoder, one.sensors, one.scale, task.id, one.sfreq,
                            temperature_of(bk, task.id), anchor=x, context=context)
        with torch.no_grad():
            a = int(model(x)[0].argmax())
    return model, one, x, a


def _str(values) -> np.ndarray:
    return np.array([str(v) for v in values], dtype=str)  # fixed-width unicode, never object


#: where integrated gradients start: windows spread across the recording (the default), or silence
RECORDING, SILENCE = "recording", "silence"
#: windows of the recording a window is explained against by default, spread across it
RECORDING_STARTS = 4
MIN_STEPS_PER_PATH = 8  #: with several starts, each path takes at least this many steps


def start_windows(n_windows: int, window_index: int, baseline=RECORDING) -> np.ndarray:
    """The windows integrated gradients start from: up to :data:`RECORDING_STARTS` of the
    recording's windows spread evenly across it, the explained one left out (``"recording"``;
    none in a one-window recording), none (``"silence"``), or the one window given (an index).

    Raises
    ------
    BrainkitError
        For an index out of range or an unknown name.
    """
    if isinstance(baseline, str):
        if baseline not in (RECORDING, SILENCE):
            raise BrainkitError(f"the baseline is {RECORDING!r}, {SILENCE!r} or a window index, not {baseline!r}")
        if baseline == SILENCE:
            return np.array([], dtype=int)
        others = np.delete(np.arange(n_windows), window_index)
        return others[evenly_spaced(len(others), RECORDING_STARTS)]
    if not 0 <= int(baseline) < n_windows:
        raise BrainkitError(f"the baseline window {baseline} is out of range: the recording has "
                            f"{n_windows} windows (0-{n_windows - 1})")
    return np.array([int(baseline)])


def steps_per_path(n_steps: int, n_paths: int) -> int:
    """Integration steps of each of ``n_paths`` paths that share ``n_steps``: all of them for one
    path, else an equal share of at least :data:`MIN_STEPS_PER_PATH`."""
    return n_steps if n_paths <= 1 else max(MIN_STEPS_PER_PATH, -(-n_steps // n_paths))


def explain_window(bk, windows, task: str, window_index: int = 0, n_steps: int = 64,
                   token_steps: int = 32, internal_batch_size: int | None = 16,
                   baseline=RECORDING, max_steps: int | None = None) -> dict:
    """Everything the ``explain`` command saves, for one window.

    Parameters
    ----------
    bk : Brainkit
        Its language model loaded with ``attn_implementation="eager"``.
    windows : Windows
        Resampled to the task's window length first, as for prediction.
    task : str
    window_index : int
    n_steps, token_steps : int
        Model evaluations along the input's integrated-gradients paths (shared by the paths, at
        least :data:`MIN_STEPS_PER_PATH` each) and along the tokens'. The input's are doubled
        until its attributions are complete (:func:`complete_integrated_gradients`), up to
        ``max_steps`` (default four times ``n_steps``).
    internal_batch_size : int, optional
        Path points per forward pass.
    baseline : str or int
        Where the input attributions start (:func:`start_windows`). ``"recording"`` (default):
        from windows spread across the same recording, the attributions averaged (expected
        gradients): what in this window moves the answer compared with the rest of the
        recording, the reference the read-out's contributions are measured from too. A window
        index: compared with that window (e.g. a rest or eyes-open one). ``"silence"``: from the
        all-zero signal, which sits at the floor of every band power; a read-out task is
        gain-invariant, so that path swings its answer by nats through the floors and back (the
        sample's first window: down 2.8 nats and up again, a net change of 0.02), and the maps
        say more about the floors than about the signal.

    Returns
    -------
    dict of ndarray (for ``np.savez``; strings fixed-width unicode)
        ``ch_names`` (C,); ``attribution`` (C, T); ``channel_attribution`` (C,) signed sum over
        time; ``channel_attribution_abs`` (C,); ``token_attribution`` (K, P, L);
        ``connector_attention`` (K, P); ``lm_attention`` (K, P); ``routing`` (M*Q,) router
        probabilities, slot-major; ``answer`` (); ``answers`` (A,); ``probabilities`` (A,); and
        ``query_attention`` (M, K, P), ``channel_attention`` (M, C), ``lm_soft_attention`` (M,),
        ``selected`` (M,), ``routing_by_task`` (n_tasks, M*Q), ``task_ids`` (n_tasks,),
        ``completeness_error``, ``completeness_relative`` (input attributions against
        ``logprob - baseline_logprob``), ``complete`` (within tolerance), ``n_steps`` (taken, over
        all paths), ``path_steps`` (each path's),
        ``token_completeness_error``,
        ``token_completeness_relative``, ``logprob`` (the answer's log-probability),
        ``baseline_logprob`` (the frozen model of the module docstring at the start signals,
        averaged: the window's codes and queries, the start's samples), ``baseline``
        (``recording``, ``window`` or ``silence``), ``baseline_windows`` (the start windows'
        indices), ``baseline_index`` (the one start window, else -1), ``n_paths``, ``task``,
        ``window_index``, ``start_s``, ``sfreq``; ``readout_names`` (F',) and
        ``readout_contributions`` (F',): the read-out head's logit decomposition
        (:func:`~brainkit.explain.readout.readout_contributions`, measured from the mean of the
        start windows, or of all the recording's windows from silence), largest first; empty
        for a task without read-out.

    Raises
    ------
    BrainkitError
        For a window index out of range, or a language model without eager attention.
    """
    task = get_task(task)
    require_eager(bk.decoder)
    windows = fit_window(windows, task.window_s)  # once: window_model finds them fitted
    model, one, x, a = window_model(bk, windows, task.id, window_index)
    starts = start_windows(len(windows), window_index, baseline)
    start = (torch.from_numpy(np.ascontiguousarray(windows.x[starts], dtype=np.float32)) if len(starts)
             else None)
    paths = max(1, len(starts))
    per_path = steps_per_path(n_steps, paths)
    max_per_path = (max_steps or 4 * n_steps) * per_path // n_steps
    with model_lock(bk), explaining(bk.tokenizer, bk.decoder):
        with torch.no_grad():
            logp = model(x)[0]  # (A,)
            base = model(torch.zeros_like(x) if start is None else start).mean(0)
        attr, err, rel, steps = complete_integrated_gradients(
            model, x, a, baseline=start, n_steps=per_path, max_steps=max_per_path,
            internal_batch_size=internal_batch_size)
        with torch.no_grad():
            codes, latents, bp = window_features(bk.tokenizer, x, one.sensors, one.sfreq,
                                                 bk.decoder.config.bands_hz)  # (1, K, P, L/D), (1, C, B)
            readout = model.readout_inputs(x)  # (1, F') or None
        tok_model = TokenAnswerModel(bk.decoder, bk.tokenizer.quantizer.codebooks, bp, one.scale,
                                     one.sensors, task.id, model.temperature, model.router_logits, readout)
        tok_attr, tok_delta = token_attributions(tok_model, codes, a, token_steps, internal_batch_size)
        with torch.no_grad():
            null = torch.full_like(codes, tok_model.embed.null)
            tok_gap = float(tok_model(codes)[0, a] - tok_model(null)[0, a])
        att = connector_attention(bk.decoder, latents, bp, one.scale, one.sensors, task.id, readout)
        lm_soft, _ = lm_attention(bk.decoder, att.soft_tokens, task.id)
        every = {t: readout_rows(bk.decoder, t, model.context) for t in bk.decoder.config.readout_tasks}
        routes = task_routing(bk.decoder, latents, bp, one.scale, one.sensors, readout=every)  # (n_tasks, 1, M, Q)
    names, contributions = [], []
    if readout is not None:
        reference = reference_row(bk.decoder, task.id, model.context, starts if len(starts) else None)
        empty = empty_regions(one.sensors.pos, one.sensors.has_position)
        for region, feature, c in readout_contributions(bk.decoder, readout[0], task.id, a, reference, empty):
            names.append(f"{region} {feature}")
            contributions.append(c)
    attr = attr[0].numpy()
    tok_err = abs(float(tok_delta[0]))
    kind = SILENCE if not len(starts) else (RECORDING if isinstance(baseline, str) else "window")
    logger.info("explained window %d for %s from %s: %s, completeness error %.2g (%.1f%%) with %d steps over "
                "%d path(s)", window_index, task.id, kind, task.answers[a], err[0], 100 * rel[0], steps.sum(), paths)
    return {
        "ch_names": _str(one.sensors.names), "attribution": attr.astype(np.float32),
        "channel_attribution": attr.sum(-1), "channel_attribution_abs": np.abs(attr).sum(-1),
        "token_attribution": tok_attr[0].numpy(), "connector_attention": att.source_time[0],
        "lm_attention": to_sources(lm_soft, att.query_maps)[0].astype(np.float32),
        "routing": att.routing[0].reshape(-1), "answer": np.array(task.answers[a]),
        "answers": _str(task.answers), "probabilities": logp.exp().numpy(),
        "query_attention": att.query_maps[0], "channel_attention": att.channels[0],
        "lm_soft_attention": lm_soft[0], "selected": att.selected[0],
        "routing_by_task": routes[:, 0].reshape(len(routes), -1),
        "task_ids": _str(bk.decoder.config.task_ids),
        "completeness_error": np.float64(err[0]), "completeness_relative": np.float64(rel[0]),
        "complete": np.bool_(is_complete(err, float(logp[a] - base[a]))), "n_steps": np.int64(steps.sum()),
        "path_steps": steps.astype(np.int64),
        "token_completeness_error": np.float64(tok_err),
        "token_completeness_relative": np.float64(tok_err / max(abs(tok_gap), 1e-8)),
        "logprob": np.float64(logp[a]), "baseline_logprob": np.float64(base[a]),
        "baseline": np.array(kind), "baseline_windows": starts.astype(np.int64), "n_paths": np.int64(paths),
        "baseline_index": np.int64(starts[0] if kind == "window" else -1),
        "task": np.array(task.id), "window_index": np.int64(window_index),
        "start_s": np.float64(one.starts_s[0]), "sfreq": np.float64(one.sfreq),
        "readout_names": _str(names), "readout_contributions": np.array(contributions, dtype=np.float64),
    }
