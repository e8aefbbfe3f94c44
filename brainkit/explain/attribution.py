"""Why the model answered: attention maps, integrated gradients, sanity checks, task correlations.

Everything here explains one answer: the log-probability of an answer among the task's options,
``log softmax(logp / temperature)[a]`` (the log of the probability :meth:`Brainkit.predict`
reports), seen as a function of one preprocessed window ``x`` (C, T).

**Differentiable path.** ``x -> tokenizer sources z (N, K, P, D) -> quantized latents -> connector
-> language-model option scores``, with the channel tokens' log band powers
(:func:`~brainkit.models.decoder.band_power_features`) computed from the same ``x``. Quantization
(nearest code) and query selection (argmax) are piecewise constant, so gradients pass the
quantizer by the **straight-through** path, ``latents = z + (q - z).detach()``, and the selection
by the chosen queries. :class:`AnswerModel` holds the window's own quantization offset
``q* - z*`` and router scores fixed along the integration path (``frozen``, the default): at the
explained window it *is* the model (same codes, same queries, same answer probabilities) and its
gradient there is the straight-through gradient, and it is smooth everywhere else, so integrated
gradients are complete for it. With ``frozen=False`` codes and queries are recomputed at every
point of the path (the model itself; each code switch is a jump no gradient sees, so
completeness then fails by the sum of those jumps).

**Baseline and path.** The baseline is the zero signal unless another window is given. From
zero, log band power ``log(P + 1e-6)`` moves from -13.8 to its value within
``alpha ~ 1e-3 / sqrt(P)`` of the baseline, far below the first point of any usual 50-step grid,
so that path is cut at :data:`IG_BOUNDARIES` (one piece per decade of alpha) and captum
integrates each piece; the pieces' attributions add up to the integral over the whole path
(attributions are additive along a path). From another window there is no log floor on the way
and the path is one even piece.

**Token attributions** (K, P, L): layer integrated gradients over the per-level code vectors
(:class:`CodeEmbedding`), from "no code" (the zero vector at every level, an extra null code) to
the window's codes, with its band powers and query selection held fixed; summed over the D
features. They explain the token pathway alone and add up to ``f(codes) - f(no codes)``.

**Channel totals** (C,) are the signed sums of the attribution over time: additive (they sum to
``f(x) - f(0)``), positive for the answer, negative against it. ``channel_attribution_abs`` (sum
of absolute values) is the magnitude used for topographies across tasks, where the answers
explained differ from window to window and signs would cancel.

**Sanity checks** (Adebayo et al. 2018, "Sanity checks for saliency maps"): cascading
randomisation of the decoder from the top layer down must change the maps (Spearman rank
correlation with the trained model's map, per step), and the map of another answer must differ
from the chosen one's. Magnitude maps keep part of the input's pattern under any weights
(integrated gradients multiply by ``x``); the signed maps are the stricter test.

**Task correlations** (:func:`task_correlations`): task x task similarity of the routers' query
distributions (1 - Jensen-Shannon distance), of channel-attribution topographies interpolated onto
one 10-10 layout (Pearson), and of the soft tokens of the same windows read under each task's
caption (linear CKA), each symmetric with a unit diagonal.

Shapes: N windows, C channels, T samples, K sources, P patches, L levels, D features, M soft
tokens (query slots), Q queries per slot, A answers.
"""

from __future__ import annotations

import contextlib
import copy
import itertools
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from brainkit._logging import logger
from brainkit.models.decoder import band_power_features
from brainkit.errors import BrainkitError
from brainkit.tasks import TASK_IDS, get_task

#: Cuts of the integration path in alpha (baseline at 0, window at 1), see the module docstring.
IG_BOUNDARIES = (0.0, 1e-6, 1e-5, 1e-4, 1e-3, 1e-2, 1e-1, 1.0)
#: The common sensor layout of cross-task topographies: 10-10 electrodes (plus Muse's TP9/TP10).
TOPO_LABELS = ("Fp1", "Fpz", "Fp2", "AF7", "AF3", "AFz", "AF4", "AF8", "F7", "F5", "F3", "F1", "Fz",
               "F2", "F4", "F6", "F8", "FT7", "FC5", "FC3", "FC1", "FCz", "FC2", "FC4", "FC6", "FT8",
               "T7", "C5", "C3", "C1", "Cz", "C2", "C4", "C6", "T8", "TP9", "TP7", "CP5", "CP3",
               "CP1", "CPz", "CP2", "CP4", "CP6", "TP8", "TP10", "P7", "P5", "P3", "P1", "Pz", "P2",
               "P4", "P6", "P8", "PO7", "PO3", "POz", "PO4", "PO8", "O1", "Oz", "O2")
IDW_POWER = 2.0  #: inverse-distance weighting exponent of the topography interpolation
IDW_MIN_M = 1e-3  #: distances below 1 mm count as 1 mm (a channel on a grid point dominates it)


def _captum():
    try:
        import captum.attr
    except ImportError:
        raise BrainkitError("explanations need captum: pip install captum") from None
    return captum.attr


def _tile(t, batch: int):
    """Repeat per-window context (N, ...) to a captum batch (batch, ...) laid out alpha-major."""
    if t is None or t.ndim == 0 or t.shape[0] == batch:
        return t
    if batch % t.shape[0]:
        raise BrainkitError(f"batch of {batch} is not a multiple of the {t.shape[0]} windows explained")
    return t.repeat(batch // t.shape[0], *([1] * (t.ndim - 1)))


@contextlib.contextmanager
def _fixed_router(decoder, logits):
    """Replace the router's scores by ``logits`` (N, M*Q), so each window keeps its queries."""
    if logits is None:
        yield
        return
    handle = decoder.router.register_forward_hook(lambda mod, args, out: _tile(logits, out.shape[0]))
    try:
        yield
    finally:
        handle.remove()


@contextlib.contextmanager
def _explaining(*modules):
    """Eval mode and no parameter gradients (only the input's are needed), restored afterwards."""
    state = [(m, m.training, [(p, p.requires_grad) for p in m.parameters()]) for m in modules]
    try:
        for m in modules:
            m.eval().requires_grad_(False)
        yield
    finally:
        for m, training, params in state:
            m.train(training)
            for p, flag in params:
                p.requires_grad_(flag)


def _lock(bk):
    return getattr(bk, "_lock", None) or contextlib.nullcontext()


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
        The windows explained; with ``frozen`` their quantization offsets and router scores are
        held fixed for every input (see the module docstring). Inputs then come in batches of a
        multiple of N, ordered as captum makes them (alpha-major).
    frozen : bool
        Hold codes and queries of ``anchor`` fixed (smooth, complete); else straight-through at
        every input.
    """

    def __init__(self, tokenizer, decoder, sensors, scale, task, sfreq, temperature=1.0,
                 anchor=None, frozen=True):
        super().__init__()
        self.tokenizer, self.decoder = tokenizer, decoder
        self.sensors, self.task, self.sfreq, self.temperature = sensors, get_task(task).id, sfreq, temperature
        self.scale = torch.as_tensor(np.asarray(scale), dtype=torch.float32)
        self.anchor, self.offset, self.router_logits = anchor, None, None
        if anchor is not None and frozen:
            self.offset, self.router_logits = self._context(torch.as_tensor(anchor, dtype=torch.float32))

    def with_decoder(self, decoder) -> AnswerModel:
        """The same explanation problem with another decoder (e.g. randomised)."""
        return AnswerModel(self.tokenizer, decoder, self.sensors, self.scale, self.task, self.sfreq,
                           self.temperature, self.anchor, self.offset is not None)

    def _sources(self, x):
        x, s, _ = self.tokenizer._prepare(x, self.sensors, None)
        return x, self.tokenizer._sources(x, self.tokenizer._embed(s), None)  # (N, C, T), (N, K, P, D)

    @torch.no_grad()
    def _context(self, x):
        """Quantization offset (N, K, P, D) and router scores (N, M*Q) of the anchor windows."""
        x, z = self._sources(x)
        q = self.tokenizer._quantize(z, update=False)[0]
        seen = []
        handle = self.decoder.router.register_forward_hook(lambda mod, args, out: seen.append(out))
        try:
            self.decoder.connect(q, self._bandpower(x), self.scale, self.sensors, self.task)
        finally:
            handle.remove()
        return q - z, seen[0].detach()

    def _bandpower(self, x):
        return band_power_features(x, self.sfreq, self.decoder.config.bands_hz)  # (N, C, B)

    def forward(self, x):
        B = x.shape[0]
        x, z = self._sources(x)  # (B, C, T), (B, K, P, D)
        if self.offset is None:
            q = self.tokenizer._quantize(z, update=False)[0]
            latents = z + (q - z).detach()  # straight-through
        else:
            latents = z + _tile(self.offset, B)  # straight-through, anchor's codes
        scale = self.scale if self.scale.ndim == 1 else _tile(self.scale, B)
        with _fixed_router(self.decoder, self.router_logits):
            conn = self.decoder.connect(latents, self._bandpower(x), scale, self.sensors, self.task)
        logp, _ = self.decoder.answer_logprobs(conn.soft_tokens, self.task)  # (B, A)
        return (logp / self.temperature).log_softmax(-1)


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
    """

    def __init__(self, decoder, codebooks, bandpower, scale, sensors, task, temperature=1.0,
                 router_logits=None):
        super().__init__()
        self.decoder, self.embed = decoder, CodeEmbedding(codebooks)
        self.bandpower, self.sensors, self.task = bandpower.detach(), sensors, get_task(task).id
        self.scale = torch.as_tensor(np.asarray(scale), dtype=torch.float32)
        self.temperature, self.router_logits = temperature, router_logits

    def forward(self, codes):
        B = codes.shape[0]
        latents = self.embed(codes).sum(-2)  # (B, K, P, D)
        scale = self.scale if self.scale.ndim == 1 else _tile(self.scale, B)
        with _fixed_router(self.decoder, self.router_logits):
            conn = self.decoder.connect(latents, _tile(self.bandpower, B), scale, self.sensors, self.task)
        logp, _ = self.decoder.answer_logprobs(conn.soft_tokens, self.task)
        return (logp / self.temperature).log_softmax(-1)


# ---------------------------------------------------------------------------- attributions


def integrated_gradients(model, x, target, *, baseline=None, n_steps: int = 64,
                         internal_batch_size: int | None = None, boundaries=None):
    """Integrated gradients of ``model(x)[:, target]`` with respect to x (captum).

    Parameters
    ----------
    model : callable
        (N, ...) -> (N, n_outputs), e.g. :class:`AnswerModel`.
    x : Tensor, shape (N, ...)
    target : int or Tensor of shape (N,)
        Output column explained per window.
    baseline : Tensor like x, optional
        Default zeros.
    n_steps : int
        Model evaluations per window along the path, spread evenly over the pieces (at least one
        per piece).
    internal_batch_size : int, optional
        Inputs per forward pass (captum's); a multiple of N.
    boundaries : sequence of float, optional
        Cuts of the path in [0, 1] (``(0, 1)``: one plain captum pass). Default:
        :data:`IG_BOUNDARIES` from the zero signal, one even piece from a given baseline.

    Returns
    -------
    Tensor, shape like x
        Sums to ``model(x) - model(baseline)`` (for the target) up to quadrature error.
    """
    ig = _captum().IntegratedGradients(model)
    x = torch.as_tensor(x, dtype=torch.float32)
    if boundaries is None:
        boundaries = IG_BOUNDARIES if baseline is None else (0.0, 1.0)
    baseline = torch.zeros_like(x) if baseline is None else torch.as_tensor(baseline, dtype=x.dtype)
    pieces = list(itertools.pairwise(boundaries))
    per = max(1, round(n_steps / len(pieces)))
    total = torch.zeros_like(x)
    for a0, a1 in pieces:
        lo, hi = baseline + a0 * (x - baseline), baseline + a1 * (x - baseline)
        total += ig.attribute(hi, lo, target=target, n_steps=per,
                              internal_batch_size=internal_batch_size).detach()
    return total


def completeness(model, x, target, attribution, baseline=None) -> tuple[np.ndarray, np.ndarray]:
    """How far attributions are from adding up to ``f(x) - f(baseline)``.

    Returns
    -------
    error : ndarray, shape (N,)
        ``|sum(attribution) - (f(x) - f(baseline))|`` per window.
    relative : ndarray, shape (N,)
        ``error / max(|f(x) - f(baseline)|, 1e-8)``.
    """
    baseline = torch.zeros_like(x) if baseline is None else baseline
    target = torch.as_tensor(target).expand(len(x))
    with torch.no_grad():
        fx, fb = model(x), model(baseline)  # (N, A)
    rows = torch.arange(len(x))
    delta = (fx[rows, target] - fb[rows, target]).double()
    error = (attribution.flatten(1).double().sum(1) - delta).abs()
    return error.numpy(), (error / delta.abs().clamp(min=1e-8)).numpy()


def token_attributions(model: TokenAnswerModel, codes, target, n_steps: int = 32,
                       internal_batch_size: int | None = None):
    """Layer integrated gradients over the code vectors, from the null code to ``codes``.

    Returns
    -------
    attribution : Tensor, shape (N, K, P, L)
        Summed over the D features of each code vector.
    delta : Tensor, shape (N,)
        Signed completeness error (captum's convergence delta).
    """
    lig = _captum().LayerIntegratedGradients(model, model.embed)
    codes = torch.as_tensor(codes, dtype=torch.long)
    attr, delta = lig.attribute(codes, torch.full_like(codes, model.embed.null), target=target,
                                n_steps=n_steps, internal_batch_size=internal_batch_size,
                                return_convergence_delta=True)
    return attr.detach().sum(-1), delta.detach()  # (N, K, P, L), (N,)


# ------------------------------------------------------------------------------- attention


@dataclass
class ConnectorAttention:
    """Where the connector's soft tokens look, for N windows (numpy arrays).

    query_maps (N, M, K, P): each soft token's attention over source-time tokens;
    source_time (N, K, P): their mean over the M soft tokens; channels (N, M, C): attention on the
    channel tokens (each row of query_maps + channels sums to one); routing (N, M, Q) router
    probabilities; selected (N, M) chosen query per slot; soft_tokens (N, M, H) as a Tensor.
    """

    query_maps: np.ndarray
    source_time: np.ndarray
    channels: np.ndarray
    routing: np.ndarray
    selected: np.ndarray
    soft_tokens: torch.Tensor


@torch.no_grad()
def connector_attention(decoder, latents, bandpower, scale, sensors, task) -> ConnectorAttention:
    """The last query layer's attention of each soft token over sources x time and channels.

    Parameters
    ----------
    latents : Tensor, shape (N, K, P, D)
    bandpower : Tensor, shape (N, C, B)
    scale : array, shape (C,) or (N, C)
    sensors : SensorArray
    task : str
    """
    N, K, P, _ = latents.shape
    conn = decoder.connect(latents, bandpower, scale, sensors, get_task(task).id, return_attention=True)
    att = conn.query_attention.float()  # (N, M, K*P + C), source-major k*P + p
    maps = att[..., :K * P].reshape(N, -1, K, P)  # (N, M, K, P)
    return ConnectorAttention(maps.numpy(), maps.mean(1).numpy(), att[..., K * P:].numpy(),
                              conn.routing.float().numpy(), conn.selected.numpy(), conn.soft_tokens)


def _require_eager(decoder):
    model = decoder.lm[0]
    if getattr(model.config, "_attn_implementation", None) != "eager":
        raise BrainkitError("language-model attention maps need the model loaded with "
                            "attn_implementation='eager': use Brainkit(checkpoint, "
                            "attn_implementation='eager')")


@torch.no_grad()
def lm_attention(decoder, soft_tokens, task, question_index: int = 0):
    """Attention of the language model from the answer position (last prompt token).

    Mean over layers and heads of the attention from the position that predicts the answer's
    first token.

    Returns
    -------
    soft : ndarray, shape (N, M)
        On each soft token.
    row : ndarray, shape (N, n_positions)
        Over every prompt position (prefix, soft tokens, suffix); sums to one.

    Raises
    ------
    BrainkitError
        When the language model was not loaded with ``attn_implementation="eager"``.
    """
    _require_eager(decoder)
    model = decoder.lm[0]
    seen = []

    def hook(module, args, out):
        if not seen and getattr(out, "attentions", None) is not None:
            seen.append(out.attentions)

    handle = model.register_forward_hook(hook)
    try:
        _, soft = decoder.answer_logprobs(soft_tokens, get_task(task).id, question_index,
                                          return_lm_attention=True)
    finally:
        handle.remove()
    row = torch.stack([a[:, :, -1, :] for a in seen[0]]).mean((0, 2))  # (N, n_positions)
    return soft.float().numpy(), row.float().numpy()


def to_sources(weights, query_maps) -> np.ndarray:
    """Soft-token weights (N, M) mapped to sources x time (N, K, P) through the query maps.

    Weights are normalised to sum to one over the M soft tokens first.
    """
    w = np.asarray(weights, dtype=np.float64)
    w = w / np.clip(w.sum(-1, keepdims=True), 1e-12, None)
    return np.einsum("nm,nmkp->nkp", w, query_maps)


@torch.no_grad()
def task_routing(decoder, latents, bandpower, scale, sensors, tasks=None) -> np.ndarray:
    """Router probabilities of the same windows under every task's caption.

    Returns
    -------
    ndarray, shape (n_tasks, N, M, Q)
    """
    tasks = [get_task(t).id for t in (decoder.config.task_ids if tasks is None else tasks)]
    return np.stack([decoder.connect(latents, bandpower, scale, sensors, t).routing.float().numpy()
                     for t in tasks])


# --------------------------------------------------------------------------- sanity checks


def _spearman(a, b) -> float:
    from scipy.stats import spearmanr

    a, b = np.ravel(a), np.ravel(b)
    if np.ptp(a) == 0 or np.ptp(b) == 0:
        return float("nan")
    return float(spearmanr(a, b).statistic)


def decoder_layers(decoder) -> list[tuple[str, list]]:
    """The decoder's parts from the top (next to the language model) down, for randomisation."""
    n = len(decoder.query_blocks)
    layers = [("to_lm", [decoder.to_lm])]
    layers += [(f"query_layer_{i}", [decoder.query_self[i], decoder.query_blocks[i]])
               for i in reversed(range(n))]
    layers += [("query_selection", [decoder.queries, decoder.router, decoder.caption_in]),
               ("channel_tokens", [decoder.channel_in, decoder.sensor_in, decoder.type_emb])]
    layers += [(f"connector_layer_{i}", [decoder.time_blocks[i], decoder.space_blocks[i]])
               for i in reversed(range(len(decoder.space_blocks)))]
    return layers + [("latent_in", [decoder.latent_in, decoder.source_emb, decoder.time_emb])]


@torch.no_grad()
def _reinitialise(parts, std: float = 0.02):
    """Fresh weights as at construction: linear N(0, std) truncated, zero bias; layer norms reset."""
    for part in parts:
        if isinstance(part, nn.Parameter):
            part.normal_(0.0, std)
            continue
        for m in part.modules():
            if isinstance(m, nn.Linear):
                nn.init.trunc_normal_(m.weight, std=std)
                if m.bias is not None:
                    m.bias.zero_()
            elif isinstance(m, nn.LayerNorm):
                m.reset_parameters()


def copy_decoder(decoder):
    """A deep copy of the decoder sharing its (frozen) language model and prefix cache."""
    memo = {id(decoder._lm): decoder._lm, id(decoder._prefix_cache): decoder._prefix_cache}
    return copy.deepcopy(decoder, memo)


def cascading_randomization(model: AnswerModel, x, target, n_steps: int = 32, seed: int = 0,
                            internal_batch_size: int | None = None) -> dict:
    """Adebayo et al. (2018): re-initialise the decoder from the top layer down, one more part at
    a time, and compare each explanation with the trained model's by Spearman rank correlation.

    Maps that do not change when the weights are destroyed explain the input, not the model.

    Parameters
    ----------
    model : AnswerModel
        With ``anchor`` set to x.
    x : Tensor, shape (1, C, T)
    target : int

    Returns
    -------
    dict
        ``layers`` (names, top first, cumulative), ``attribution`` and ``attribution_abs``
        (Spearman of the signed and absolute integrated gradients, per layer),
        ``connector_attention`` (Spearman of the (K, P) attention map; 1 while only parts above
        the attention are randomised).
    """
    def maps(m):
        attr = integrated_gradients(m, x, target, n_steps=n_steps, internal_batch_size=internal_batch_size)
        with torch.no_grad():
            xs, z = m._sources(x)
            lat = z + m.offset  # the anchor's quantized latents
            with _fixed_router(m.decoder, m.router_logits):
                att = connector_attention(m.decoder, lat, m._bandpower(xs), m.scale, m.sensors, m.task)
        return attr.numpy(), att.source_time

    if model.offset is None:
        raise BrainkitError("cascading_randomization needs an AnswerModel frozen at its window "
                            "(anchor=x, frozen=True)")
    out = {"layers": [], "attribution": [], "attribution_abs": [], "connector_attention": []}
    with _explaining(model.tokenizer, model.decoder), torch.random.fork_rng(devices=[]):
        base_attr, base_att = maps(model)
        decoder = copy_decoder(model.decoder)
        torch.manual_seed(seed)
        for name, _ in decoder_layers(model.decoder):
            _reinitialise(dict(decoder_layers(decoder))[name])
            attr, att = maps(model.with_decoder(decoder))
            out["layers"].append(name)
            out["attribution"].append(_spearman(base_attr, attr))
            out["attribution_abs"].append(_spearman(np.abs(base_attr), np.abs(attr)))
            out["connector_attention"].append(_spearman(base_att, att))
            logger.info("randomised down to %s: rank correlation %.3f", name, out["attribution"][-1])
    return out


def answer_contrast(model: AnswerModel, x, target: int, n_steps: int = 32,
                    internal_batch_size: int | None = None) -> dict[str, float]:
    """Label check: Spearman correlation of the chosen answer's attribution with every other's.

    With option-normalised probabilities, evidence for one of two answers is evidence against
    the other: expect strongly negative correlations for binary tasks, and anything but 1.
    """
    answers = get_task(model.task).answers
    with _explaining(model.tokenizer, model.decoder):
        attr = [integrated_gradients(model, x, a, n_steps=n_steps, internal_batch_size=internal_batch_size)
                for a in range(len(answers))]
    return {answers[a]: _spearman(attr[target], attr[a]) for a in range(len(answers)) if a != target}


def sanity_checks(bk, windows, task: str, window_index: int = 0, n_steps: int = 32, seed: int = 0,
                  internal_batch_size: int | None = 16) -> dict:
    """:func:`cascading_randomization` and :func:`answer_contrast` for one window of a Brainkit.

    Returns
    -------
    dict (JSON-ready)
        The keys of :func:`cascading_randomization`, ``answer`` (the answer explained) and
        ``answer_contrast`` ({other answer: Spearman correlation}).
    """
    model, _, x, a = _window_model(bk, windows, task, window_index)
    with _lock(bk):
        out = cascading_randomization(model, x, a, n_steps, seed, internal_batch_size)
        out["answer_contrast"] = answer_contrast(model, x, a, n_steps, internal_batch_size)
    out["answer"] = get_task(task).answers[a]
    return out


def window_input(windows, task, window_index):
    """(the window as one-window ``Windows``, its samples x (1, C, T)), at the task's length."""
    from brainkit.inference import fit_window

    task = get_task(task)
    windows = fit_window(windows, task.window_s)
    if not 0 <= window_index < len(windows):
        raise BrainkitError(f"window_index {window_index} is out of range: the recording has "
                            f"{len(windows)} windows of {task.window_s:g} s (0-{len(windows) - 1})")
    one = windows.select([window_index])
    return one, torch.from_numpy(np.ascontiguousarray(one.x, dtype=np.float32))


def _window_model(bk, windows, task, window_index):
    """(AnswerModel frozen at the window, the window, x (1, C, T), the answer index it gives)."""
    task = get_task(task)
    one, x = window_input(windows, task.id, window_index)
    temperature = bk.temperature(task.id) if hasattr(bk, "temperature") else 1.0
    with _lock(bk), _explaining(bk.tokenizer, bk.decoder):
        model = AnswerModel(bk.tokenizer, bk.decoder, one.sensors, one.scale, task.id, one.sfreq,
                            temperature, anchor=x)
        with torch.no_grad():
            a = int(model(x)[0].argmax())
    return model, one, x, a


# ------------------------------------------------------------------------ command line: explain


def _str(values) -> np.ndarray:
    return np.array([str(v) for v in values], dtype=str)  # fixed-width unicode, never object


def explain_window(bk, windows, task: str, window_index: int = 0, n_steps: int = 64,
                   token_steps: int = 32, internal_batch_size: int | None = 16,
                   baseline_index: int | None = None) -> dict:
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
        Model evaluations per integrated-gradients path (input, tokens).
    internal_batch_size : int, optional
        Path points per forward pass.
    baseline_index : int, optional
        Start the input attributions from this window of the same recording instead of the
        all-zero signal: they then say what in the window moves the answer relative to that one
        (e.g. a rest or eyes-open window). The zero signal sits at the log floor of every band
        power, so its attributions lean on the model's weights as much as on the signal.

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
        ``logprob - baseline_logprob``), ``token_completeness_error``,
        ``token_completeness_relative``, ``logprob`` (the answer's log-probability),
        ``baseline_logprob`` (the frozen model of the module docstring at the start signal: the
        window's codes and queries, the start's samples), ``baseline_index`` (-1: the zero
        signal), ``task``, ``window_index``, ``start_s``, ``sfreq``.

    Raises
    ------
    BrainkitError
        For a window index out of range, or a language model without eager attention.
    """
    task = get_task(task)
    _require_eager(bk.decoder)
    model, one, x, a = _window_model(bk, windows, task.id, window_index)
    start = None if baseline_index is None else window_input(windows, task.id, baseline_index)[1]
    with _lock(bk), _explaining(bk.tokenizer, bk.decoder):
        with torch.no_grad():
            logp = model(x)[0]  # (A,)
            base = model(torch.zeros_like(x) if start is None else start)[0]
        attr = integrated_gradients(model, x, a, baseline=start, n_steps=n_steps,
                                    internal_batch_size=internal_batch_size)
        err, rel = completeness(model, x, a, attr, start)
        with torch.no_grad():
            codes, latents = bk.tokenizer.encode(x, one.sensors)  # (1, K, P, L), (1, K, P, D)
            bp = band_power_features(x, one.sfreq, bk.decoder.config.bands_hz)
        tok_model = TokenAnswerModel(bk.decoder, bk.tokenizer.quantizer.codebooks, bp, one.scale,
                                     one.sensors, task.id, model.temperature, model.router_logits)
        tok_attr, tok_delta = token_attributions(tok_model, codes, a, token_steps, internal_batch_size)
        with torch.no_grad():
            null = torch.full_like(codes, tok_model.embed.null)
            tok_gap = float(tok_model(codes)[0, a] - tok_model(null)[0, a])
        att = connector_attention(bk.decoder, latents, bp, one.scale, one.sensors, task.id)
        lm_soft, _ = lm_attention(bk.decoder, att.soft_tokens, task.id)
        routes = task_routing(bk.decoder, latents, bp, one.scale, one.sensors)  # (n_tasks, 1, M, Q)
    attr = attr[0].numpy()
    tok_err = abs(float(tok_delta[0]))
    logger.info("explained window %d for %s: %s, completeness error %.2g (%.1f%%)", window_index,
                task.id, task.answers[a], err[0], 100 * rel[0])
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
        "token_completeness_error": np.float64(tok_err),
        "token_completeness_relative": np.float64(tok_err / max(abs(tok_gap), 1e-8)),
        "logprob": np.float64(logp[a]), "baseline_logprob": np.float64(base[a]),
        "baseline_index": np.int64(-1 if baseline_index is None else baseline_index),
        "task": np.array(task.id), "window_index": np.int64(window_index),
        "start_s": np.float64(one.starts_s[0]), "sfreq": np.float64(one.sfreq),
    }


# -------------------------------------------------------------------- command line: correlations


def topography(sensors, values, labels=TOPO_LABELS) -> np.ndarray | None:
    """Per-channel values on a common layout by inverse-distance weighting in 3-D.

    Parameters
    ----------
    sensors : SensorArray
    values : array, shape (C,)
    labels : sequence of str
        Template electrodes (MNE's 10-05 template positions) of the common layout.

    Returns
    -------
    ndarray, shape (len(labels),), or None when fewer than two channels have a position.
    """
    from brainkit.sensors import template_position

    has = np.asarray(sensors.has_position, bool)
    if has.sum() < 2:
        return None
    grid = np.stack([template_position(label) for label in labels]).astype(np.float64)  # (G, 3)
    pos = np.asarray(sensors.pos, np.float64)[has]  # (C', 3)
    d = np.linalg.norm(grid[:, None] - pos[None], axis=-1).clip(min=IDW_MIN_M)  # (G, C')
    w = d ** -IDW_POWER
    return (w * np.asarray(values, np.float64)[has]).sum(1) / w.sum(1)


def linear_cka(x, y) -> float:
    """Linear centred kernel alignment of two representations of the same n samples.

    Parameters
    ----------
    x : array, shape (n, p)
    y : array, shape (n, q)

    Returns
    -------
    float in [0, 1]; 0 when either representation is constant.
    """
    x = np.asarray(x, np.float64)
    y = np.asarray(y, np.float64)
    x, y = x - x.mean(0), y - y.mean(0)
    kx, ky = x @ x.T, y @ y.T  # (n, n)
    denom = np.sqrt((kx * kx).sum() * (ky * ky).sum())
    return float((kx * ky).sum() / denom) if denom > 0 else 0.0


def _js_similarity(p, q) -> float:
    """1 - Jensen-Shannon distance (base 2, in [0, 1]) of routing distributions (M, Q), mean over slots."""
    p, q = np.asarray(p, np.float64), np.asarray(q, np.float64)
    m = (p + q) / 2

    def kl(a, b):  # (M,) in bits; 0 log 0 = 0
        return np.where(a > 0, a * np.log2(np.where(a > 0, a, 1.0) / np.where(b > 0, b, 1.0)), 0.0).sum(-1)

    divergence = np.clip((kl(p, m) + kl(q, m)) / 2, 0.0, 1.0)  # (M,)
    return float(1.0 - np.sqrt(divergence).mean())


def _symmetric(m) -> list[list[float]]:
    m = np.clip((np.asarray(m, np.float64) + np.asarray(m, np.float64).T) / 2, -1.0, 1.0)
    np.fill_diagonal(m, 1.0)
    return m.round(6).tolist()


def cluster_order(similarity, tasks) -> list[str]:
    """Tasks in the leaf order of average-linkage clustering on ``1 - similarity`` (scipy)."""
    if len(tasks) < 3:
        return list(tasks)
    from scipy.cluster.hierarchy import leaves_list, linkage
    from scipy.spatial.distance import squareform

    dist = np.clip(1.0 - np.asarray(similarity, np.float64), 0.0, None)
    np.fill_diagonal(dist, 0.0)
    tree = linkage(squareform((dist + dist.T) / 2, checks=False), "average", optimal_ordering=True)
    return [tasks[i] for i in leaves_list(tree)]


def task_correlations(bk, reference: dict, seed: int = 0, n_attribution: int = 8, n_steps: int = 14,
                      batch_size: int = 16) -> dict:
    """Task x task similarity of query selection, attribution topographies and representations.

    Parameters
    ----------
    bk : Brainkit
    reference : dict of str to Windows
        Reference windows per task (:func:`reference_windows`); each resampled to its task's window.
    seed : int
        Chooses the ``n_attribution`` windows per task whose integrated gradients are computed.
    n_attribution : int
        Windows per task for the attribution topographies (integrated gradients are costly).
    n_steps : int
        Model evaluations per integrated-gradients path.
    batch_size : int
        Windows per forward pass.

    Returns
    -------
    dict (JSON-ready)
        ``tasks``; ``order`` (hierarchical clustering of the routing similarity); ``matrices``:
        ``routing`` 1 - Jensen-Shannon distance (base 2, mean over slots) of the mean router
        distributions of each task's windows under its own caption; ``attribution`` Pearson
        correlation of the mean normalised channel |attribution| (each window's sums to one),
        interpolated onto :data:`TOPO_LABELS` by :func:`topography` (0 where a task has fewer than
        two channels with a position); ``representation`` linear CKA of the soft tokens (flattened
        M*H) of *all* reference windows under the two tasks' captions: tasks have different
        windows, so the same windows are compared under both captions; ``n_windows`` per task.
        Symmetric, unit diagonal, in [-1, 1].
    """
    from brainkit.inference import fit_window

    tasks = [t for t in TASK_IDS if t in reference and len(reference[t])]
    unknown = set(reference) - set(TASK_IDS)
    if unknown:
        raise BrainkitError(f"unknown task(s) {', '.join(sorted(unknown))}; use {', '.join(TASK_IDS)}")
    if not tasks:
        raise BrainkitError("no reference windows: give at least one task with windows")
    ref = {t: fit_window(reference[t], get_task(t).window_s) for t in tasks}
    dec = bk.decoder
    routing, reps = {}, {t: [] for t in tasks}
    with _lock(bk), _explaining(bk.tokenizer, dec), torch.no_grad(), torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        feats = {t: [bk.features(w.select(np.arange(i, min(i + batch_size, len(w)))))
                     for i in range(0, len(w), batch_size)] for t, w in ref.items()}
        for caption in tasks:
            for t in tasks:
                for lat, bp, scale in feats[t]:
                    conn = dec.connect(lat, bp, scale, ref[t].sensors, caption)
                    reps[caption].append(conn.soft_tokens.flatten(1).float().numpy())  # (n, M*H)
                    if t == caption:
                        routing.setdefault(t, []).append(conn.routing.float().numpy())
    mean_routes = {t: np.concatenate(routing[t]).mean(0) for t in tasks}  # (M, Q)
    reps = {t: np.concatenate(r) for t, r in reps.items()}  # (N_all, M*H)
    topo = {t: _task_topography(bk, ref[t], t, seed, n_attribution, n_steps, batch_size) for t in tasks}
    n = len(tasks)
    route_m, attr_m, rep_m = np.eye(n), np.eye(n), np.eye(n)
    for i in range(n):
        for j in range(i + 1, n):
            a, b = tasks[i], tasks[j]
            route_m[i, j] = route_m[j, i] = _js_similarity(mean_routes[a], mean_routes[b])
            rep_m[i, j] = rep_m[j, i] = linear_cka(reps[a], reps[b])
            ta, tb = topo[a], topo[b]
            ok = ta is not None and tb is not None and np.ptp(ta) > 0 and np.ptp(tb) > 0
            attr_m[i, j] = attr_m[j, i] = float(np.corrcoef(ta, tb)[0, 1]) if ok else 0.0
    missing = [t for t in tasks if topo[t] is None]
    if missing:
        logger.warning("no attribution topography for %s (fewer than two channels with a position): "
                       "their attribution correlations are set to 0", ", ".join(missing))
    return {"tasks": tasks, "order": cluster_order(route_m, tasks),
            "matrices": {"routing": _symmetric(route_m), "attribution": _symmetric(attr_m),
                         "representation": _symmetric(rep_m)},
            "n_windows": {t: len(ref[t]) for t in tasks}}


def _task_topography(bk, windows, task, seed, n_windows, n_steps, batch_size):
    """Mean normalised channel |integrated gradients| of a seeded subset of windows on the grid."""
    rng = np.random.default_rng([seed, TASK_IDS.index(task)])
    idx = np.sort(rng.choice(len(windows), min(n_windows, len(windows)), replace=False))
    sub = windows.select(idx)
    temperature = bk.temperature(task) if hasattr(bk, "temperature") else 1.0
    totals = []
    with _lock(bk), _explaining(bk.tokenizer, bk.decoder):
        for i in range(0, len(sub), batch_size):
            x = torch.from_numpy(np.ascontiguousarray(sub.x[i:i + batch_size], dtype=np.float32))
            model = AnswerModel(bk.tokenizer, bk.decoder, sub.sensors, sub.scale, task, sub.sfreq,
                                temperature, anchor=x)
            with torch.no_grad():
                target = model(x).argmax(-1)  # (n,) the answers given
            attr = integrated_gradients(model, x, target, n_steps=n_steps,
                                        internal_batch_size=max(batch_size, len(x)))
            mag = attr.abs().sum(-1).double()  # (n, C)
            totals.append((mag / mag.sum(-1, keepdim=True).clamp(min=1e-12)).numpy())
    return topography(windows.sensors, np.concatenate(totals).mean(0))


def reference_windows(data_dir=None, n_per_task: int = 32, seed: int = 0, tasks=None) -> dict:
    """A seeded sample of validation windows per task, for :func:`task_correlations`.

    A task whose validation windows come in several sensor layouts keeps the layout with the most
    windows; the per-recording scales are replaced by their median (a Windows holds one scale per
    channel), so absolute amplitude differences between recordings are not part of these maps.

    Returns
    -------
    dict of str to Windows
        At most ``n_per_task`` windows per task (tasks without validation windows are left out).
    """
    from brainkit.data.corpora import load_tasks
    from brainkit.preprocess import Windows

    out = {}
    for task, sets in load_tasks(tasks, data_dir, "val").items():
        groups: dict = {}
        for s in sets:
            w = s.windows
            key = (tuple(w.sensors.names), tuple(w.sensors.kinds), w.sensors.pos.tobytes(), w.x.shape[1:])
            groups.setdefault(key, []).append(w)
        if not groups:
            logger.warning("no validation windows for %s: left out of the reference", task)
            continue
        members = max(groups.values(), key=lambda ws: sum(len(w) for w in ws))
        x = np.concatenate([w.x for w in members])
        labels = np.concatenate([w.labels if w.labels is not None else np.full(len(w), "") for w in members])
        rng = np.random.default_rng([seed, TASK_IDS.index(task)])
        idx = np.sort(rng.choice(len(x), min(n_per_task, len(x)), replace=False))
        out[task] = Windows(x[idx], members[0].sfreq, np.concatenate([w.starts_s for w in members])[idx],
                            members[0].sensors, np.median(np.stack([w.scale for w in members]), 0),
                            labels[idx])
    return out
