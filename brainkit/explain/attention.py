"""Where the model looks: the connector's attention over sources x time and channels, the
language model's attention from the answer position, and the query routing of each task.

Shapes: N windows, C channels, K sources, P patches, M soft tokens (query slots), Q queries per
slot, H the language model's width.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from brainkit.errors import BrainkitError
from brainkit.tasks import get_task


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
def connector_attention(decoder, latents, bandpower, scale, sensors, task, readout=None) -> ConnectorAttention:
    """The last query layer's attention of each soft token over sources x time and channels.

    Parameters
    ----------
    latents : Tensor, shape (N, K, P, D)
    bandpower : Tensor, shape (N, C, B)
    scale : array, shape (C,) or (N, C)
    sensors : SensorArray
    task : str
    readout : Tensor, shape (N, F'), optional
        The windows' read-out inputs (required for a task in ``decoder.config.readout_tasks``).
    """
    N, K, P, _ = latents.shape
    conn = decoder.connect(latents, bandpower, scale, sensors, get_task(task).id, return_attention=True,
                           readout=readout)
    att = conn.query_attention.float()  # (N, M, K*P + C), source-major k*P + p
    maps = att[..., :K * P].reshape(N, -1, K, P)  # (N, M, K, P)
    return ConnectorAttention(maps.numpy(), maps.mean(1).numpy(), att[..., K * P:].numpy(),
                              conn.routing.float().numpy(), conn.selected.numpy(), conn.soft_tokens)


def require_eager(decoder):
    """Raise unless the decoder's language model returns attention maps (eager attention)."""
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
    require_eager(decoder)
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
def task_routing(decoder, latents, bandpower, scale, sensors, tasks=None, readout=None) -> np.ndarray:
    """Router probabilities of the same windows under every task's caption.

    ``readout`` maps each task decided by the read-out to the windows' read-out inputs (N, F')
    (the routing does not depend on them, but the connector needs them).

    Returns
    -------
    ndarray, shape (n_tasks, N, M, Q)
    """
    tasks = [get_task(t).id for t in (decoder.config.task_ids if tasks is None else tasks)]
    readout = readout or {}
    return np.stack([decoder.connect(latents, bandpower, scale, sensors, t, readout=readout.get(t))
                     .routing.float().numpy() for t in tasks])


def query_selection(bk, reference: dict) -> dict:
    """How often each task picks each learned query (Task-aware Query Selection).

    Parameters
    ----------
    bk : brainkit.inference.Brainkit
    reference : dict of str to Windows
        Windows per task (:func:`brainkit.inference.recording_reference`), each read under its
        task's caption.

    Returns
    -------
    dict of str to ndarray, shape (M, Q)
        Per task, the fraction of windows whose soft-token slot ``m`` chose query ``q`` (each
        row sums to 1).
    """
    from brainkit.inference import fit_window, readout_inputs

    decoder = bk.decoder
    out = {}
    for task_id, windows in reference.items():
        windows = fit_window(windows, get_task(task_id).window_s)
        latents, bp, scale = bk.features(windows)
        with torch.inference_mode():
            conn = decoder.connect(latents, bp, scale, windows.sensors, task_id,
                                   readout=readout_inputs(decoder, windows, task_id))
        chosen = torch.nn.functional.one_hot(conn.selected, decoder.config.pool_size)  # (N, M, Q)
        out[task_id] = chosen.double().mean(0).numpy()
    return out
