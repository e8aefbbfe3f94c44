"""Task packs: a task taught from the user's labelled windows (``brainkit teach``), saved and loaded.

A pack is a folder::

    task.json           the task (id, caption, answers, window), the base checkpoint's identity,
                        and the quality report of the teaching (cross-validation, learning curve)
    model.safetensors   readout.weight (A, F), readout.bias (A,): the read-out head on the
                        region-pooled spectral features (:mod:`brainkit.models.readout`),
                        followed, for a pack taught on one montage, by its channels' own
                        band powers (``channels`` in task.json,
                        :class:`brainkit.models.readout.Montage`); such a pack also
                        holds readout_portable.weight (A, F) and .bias (A,), the head on
                        the regions alone, for recordings without those channels, and may
                        hold spatial_filters (K, n_channels) and evoked_filters
                        (K_e, n_channels) with evoked_times_s (P,): filters of those
                        channels fitted to the labels, read after the channels' features
                        (:class:`brainkit.models.readout.Montage`);
                        answer_prototypes (A, H_lm): the answer anchor's vectors;
                        caption_embedding (H_lm,): the language model's embedding of the caption

The base model stays frozen: a pack only adds what a built-in read-out task has of its own (its
head and answer prototypes). It is bound to what it reads of the decoder it was taught on
(:func:`base_identity`: the SHA-256 of the weights every task shares, not the built-in tasks'
own heads and prototypes, and the language model's identity): loading it for another checkpoint
is refused; a checkpoint whose built-in heads were refitted keeps it. Never a pickle.

:func:`decoder_with_packs` makes a view of a loaded decoder that also decides the packs' tasks,
sharing every weight of the original (which stays unchanged, so that other users of the same
app never see another's taught tasks).
"""

from __future__ import annotations

import copy
import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.nn as nn

from brainkit.errors import BrainkitError
from brainkit.models.readout import Montage
from brainkit.tasks import Task, taught_task

PACK_FORMAT = "brainkit-task-pack"
PACK_VERSION = 1
TENSORS = ("readout.weight", "readout.bias", "answer_prototypes", "caption_embedding")


@dataclass
class TaskPack:
    """A taught task and the weights that decide it.

    Attributes
    ----------
    task : Task
    weight : ndarray, shape (A, F)
        Read-out head: ``features @ weight.T + bias`` are the answer logits.
    bias : ndarray, shape (A,)
    prototypes : ndarray, shape (A, H_lm)
        Answer-anchor vectors (the language model reads ``softmax(logits) @ prototypes``).
    caption_embedding : ndarray, shape (H_lm,)
        Steers the decoder's query router, as a built-in task's caption does.
    base : dict
        ``decoder_shared_sha256`` and ``lm_sha256`` of the model the pack was taught on
        (:func:`base_identity`).
    report : dict
        What teaching measured (cross-validation, learning curve, agreement); may be empty.
    montage : Montage
        What the head also reads of the teaching recordings' own channels
        (:class:`~brainkit.models.readout.Montage`; empty: the regions only, any layout).
    portable : tuple of (ndarray (A, F_regions), ndarray (A,)), optional
        With a montage: the head on the regions alone, for recordings that lack its channels.
    """

    task: Task
    weight: np.ndarray
    bias: np.ndarray
    prototypes: np.ndarray
    caption_embedding: np.ndarray
    base: dict
    report: dict = field(default_factory=dict)
    montage: Montage = field(default_factory=Montage)
    portable: tuple | None = None

    @property
    def channels(self) -> tuple:
        """The montage's channels (empty: the regions only)."""
        return self.montage.channels

    def logits(self, features: np.ndarray) -> np.ndarray:
        """The head's answer logits (N, A) of read-out features (N, F)."""
        return np.asarray(features, dtype=np.float64) @ self.weight.T + self.bias


#: the decoder's modules that hold one entry per built-in task: a pack reads none of them
PER_TASK_MODULES = ("readout_heads", "answer_prototypes", "aux_heads", "spectral_heads")
#: the decoder's settings that shape what every task shares (the rest are per task)
SHARED_SETTINGS = ("latent_dim", "n_sources", "d_model", "n_heads", "n_layers", "n_query_layers",
                   "n_soft_tokens", "pool_size", "bands_hz", "sfreq", "max_patches", "lm_hidden",
                   "answer_anchor", "max_time_tokens")


def base_identity(checkpoint=None, decoder=None) -> dict:
    """The identity of a checkpoint's decoder that packs are bound to: what a taught task reads
    of it (the connector, queries, router and projection into the language model, and the
    settings that shape them), not the built-in tasks' own heads, answer prototypes and
    temperatures, so that refitting a built-in task's head keeps every pack.

    Returns
    -------
    dict
        ``decoder_shared_sha256`` (SHA-256 of the shared tensors, by name, and of
        :data:`SHARED_SETTINGS`) and ``lm_sha256`` (the language model the decoder was trained
        with, from its config; None when it records none).
    """
    from brainkit.models.checkpoint import checkpoint_dir

    if decoder is not None:
        state = {k: v.detach().cpu().numpy() for k, v in decoder.state_dict().items()}
        config = decoder.config.to_dict()
    else:
        from safetensors.numpy import load_file

        folder = checkpoint_dir(checkpoint, "decoder")
        state = load_file(str(folder / "model.safetensors"))
        config = json.loads((folder / "config.json").read_text())
    digest = hashlib.sha256(json.dumps({k: config.get(k) for k in SHARED_SETTINGS}, sort_keys=True).encode())
    for name in sorted(state):
        if name.split(".")[0] in PER_TASK_MODULES:
            continue
        array = np.ascontiguousarray(state[name])
        digest.update(f"{name} {array.dtype} {array.shape}".encode())
        digest.update(array.tobytes())
    return {"decoder_shared_sha256": digest.hexdigest(), "lm_sha256": config.get("lm_sha256")}


def save_pack(pack: TaskPack, out) -> Path:
    """Write a pack folder (``task.json`` + ``model.safetensors``); returns the folder."""
    from safetensors.torch import save_file

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    t = pack.task
    meta = {"format": PACK_FORMAT, "version": PACK_VERSION, "id": t.id, "caption": t.caption,
            "answers": list(t.answers), "window_s": t.window_s, "offset_s": t.offset_s,
            "event_locked": t.event_locked, "n_features": int(pack.weight.shape[1]),
            "channels": list(pack.channels),
            "base": pack.base, "report": pack.report}
    tensors = {"readout.weight": pack.weight, "readout.bias": pack.bias,
               "answer_prototypes": pack.prototypes, "caption_embedding": pack.caption_embedding}
    if pack.channels:
        tensors["readout_portable.weight"], tensors["readout_portable.bias"] = pack.portable
        m = pack.montage
        for name, value in (("spatial_filters", m.filters), ("evoked_filters", m.evoked),
                            ("evoked_times_s", m.evoked_times_s)):
            if value is not None:
                tensors[name] = value
    save_file({k: torch.as_tensor(np.ascontiguousarray(v), dtype=torch.float32) for k, v in tensors.items()},
              str(out / "model.safetensors"), metadata={"format": PACK_FORMAT, "id": t.id})
    (out / "task.json").write_text(json.dumps(meta, indent=2, default=float))
    return out


def load_pack(folder, base: dict | None = None) -> TaskPack:
    """Read a pack folder, checked; refused when ``base`` (:func:`base_identity`) differs.

    Raises
    ------
    BrainkitError
        For a missing or malformed pack, a pickle in it, tensors of the wrong shape, or a pack
        taught on another base checkpoint.
    """
    from safetensors.numpy import load_file

    folder = Path(folder)
    if not (folder / "task.json").is_file() or not (folder / "model.safetensors").is_file():
        raise BrainkitError(f"{folder} is not a task pack (expected task.json and model.safetensors, "
                            "made by brainkit teach)")
    from brainkit.models.checkpoint import PICKLE_SUFFIXES

    pickles = [p.name for p in folder.iterdir() if p.suffix.lower() in PICKLE_SUFFIXES]
    if pickles:
        raise BrainkitError(f"task pack {folder} holds pickle-based files ({', '.join(pickles[:3])}); "
                            "brainkit loads safetensors only and refuses it")
    try:
        meta = json.loads((folder / "task.json").read_text())
        tensors = load_file(str(folder / "model.safetensors"))
    except (ValueError, OSError) as err:
        raise BrainkitError(f"task pack {folder} cannot be read: {err}") from None
    if meta.get("format") != PACK_FORMAT or set(TENSORS) - set(tensors):
        raise BrainkitError(f"{folder} is not a brainkit task pack (format {meta.get('format')!r}, "
                            f"tensors {sorted(tensors)})")
    try:
        task = taught_task(meta["id"], meta["answers"], meta["window_s"], meta.get("caption"),
                           meta.get("event_locked", False), meta.get("offset_s", 0.0))
    except KeyError as err:
        raise BrainkitError(f"task pack {folder}: task.json lacks {err}") from None
    w, b = tensors["readout.weight"], tensors["readout.bias"]
    protos, caption = tensors["answer_prototypes"], tensors["caption_embedding"]
    A = len(task.answers)
    if w.shape[0] != A or b.shape != (A,) or protos.shape[0] != A or protos.shape[1] != caption.shape[0]:
        raise BrainkitError(f"task pack {folder}: tensor shapes {w.shape}, {b.shape}, {protos.shape}, "
                            f"{caption.shape} do not fit {A} answers")
    channels = meta.get("channels") or []
    if not isinstance(channels, list) or not all(isinstance(c, str) and c for c in channels):
        raise BrainkitError(f"task pack {folder}: 'channels' in task.json is not a list of channel names")
    portable = None
    if channels:
        if "readout_portable.weight" not in tensors or "readout_portable.bias" not in tensors:
            raise BrainkitError(f"task pack {folder} names channels but holds no portable head")
        portable = (tensors["readout_portable.weight"].astype(np.float64),
                    tensors["readout_portable.bias"].astype(np.float64))
        if portable[0].shape[0] != A or portable[1].shape != (A,):
            raise BrainkitError(f"task pack {folder}: the portable head's shapes {portable[0].shape}, "
                                f"{portable[1].shape} do not fit {A} answers")
    filters = {name: tensors.get(name) for name in ("spatial_filters", "evoked_filters", "evoked_times_s")}
    if any(v is not None for v in filters.values()) and not channels:
        raise BrainkitError(f"task pack {folder} holds filters but names no channels")
    try:
        montage = Montage(tuple(channels), filters["spatial_filters"], filters["evoked_filters"],
                          filters["evoked_times_s"])
    except ValueError as err:
        raise BrainkitError(f"task pack {folder}: {err}") from None
    pack = TaskPack(task, w.astype(np.float64), b.astype(np.float64), protos, caption,
                    dict(meta.get("base") or {}), dict(meta.get("report") or {}), montage, portable)
    if base is not None:
        check_base(pack, base, folder)
    return pack


def check_base(pack: TaskPack, base: dict, where="") -> None:
    """Refuse a pack taught on another decoder (or with another language model)."""
    mine = pack.base.get("decoder_shared_sha256")
    if mine != base.get("decoder_shared_sha256"):
        raise BrainkitError(f"task pack {where or pack.task.id} was taught on another base checkpoint "
                            f"(decoder {str(mine)[:12]}, this one is {str(base.get('decoder_shared_sha256'))[:12]}): "
                            "teach it again with this checkpoint (brainkit teach --checkpoint ...)")
    if pack.base.get("lm_sha256") != base.get("lm_sha256"):
        raise BrainkitError(f"task pack {where or pack.task.id} was taught with another language model: "
                            "teach it again with this one")


def _linear(weight, bias) -> nn.Linear:
    head = nn.Linear(weight.shape[1], weight.shape[0])
    with torch.no_grad():
        head.weight.copy_(torch.as_tensor(weight, dtype=head.weight.dtype))
        head.bias.copy_(torch.as_tensor(bias, dtype=head.bias.dtype))
    return head.requires_grad_(False)


class MontageHead(nn.Module):
    """A taught task's head: on the regions and its channels where the recording has them
    (``montage``), on the regions alone where it does not (``portable``); chosen by the width of
    the read-out inputs (:func:`brainkit.inference.readout_inputs`)."""

    def __init__(self, montage: nn.Linear, portable: nn.Linear):
        super().__init__()
        self.montage, self.portable = montage, portable

    def for_width(self, width: int) -> nn.Linear:
        """The linear head that reads inputs of ``width`` columns."""
        return self.montage if width == self.montage.in_features else self.portable

    def forward(self, features):
        return self.for_width(features.shape[-1])(features)


def head_for(head, width: int):
    """The linear head of a read-out head for inputs of ``width`` columns (a taught task's
    :class:`MontageHead` holds two; any other head is itself)."""
    return head.for_width(width) if hasattr(head, "for_width") else head


def decoder_with_packs(decoder, packs):
    """A view of ``decoder`` that also decides the tasks of ``packs`` by their read-out.

    Every module and parameter is shared with ``decoder`` (nothing is copied but the config and
    the containers of the per-task heads, prototypes and caption embeddings), and ``decoder``
    itself is not changed. The language model must be attached.

    Raises
    ------
    BrainkitError
        When a pack's features or widths do not fit the decoder, or two packs share an id.
    """
    from brainkit.models import readout

    packs = list(packs)
    if not packs:
        return decoder
    ids = [p.task.id for p in packs]
    if len(set(ids)) != len(ids) or set(ids) & set(decoder.config.task_ids):
        raise BrainkitError(f"task packs with the same id, or an id the model already has: {', '.join(ids)}")
    lm_hidden = decoder.config.lm_hidden
    for p in packs:
        width = readout.N_FEATURES + p.montage.width
        portable_ok = not p.channels or (p.portable is not None and p.portable[0].shape[1] == readout.N_FEATURES)
        if p.weight.shape[1] != width or p.prototypes.shape[1] != lm_hidden or not portable_ok:
            raise BrainkitError(f"task pack {p.task.id} does not fit this decoder ({p.weight.shape[1]} "
                                f"features, width {p.prototypes.shape[1]}; expected "
                                f"{width}, {lm_hidden})")
    config = decoder.config.__class__.from_dict(decoder.config.to_dict())
    config.task_ids = [*decoder.config.task_ids, *ids]
    config.task_answers = {**decoder.config.task_answers, **{p.task.id: list(p.task.answers) for p in packs}}
    config.readout_tasks = [*decoder.config.readout_tasks, *ids]
    view = copy.copy(decoder)  # shares the modules; the containers below are its own
    view._modules, view._parameters, view._buffers = (dict(decoder._modules), dict(decoder._parameters),
                                                      dict(decoder._buffers))
    view.config = config
    view.task_montages = {**getattr(decoder, "task_montages", {}),
                          **{p.task.id: p.montage for p in packs if p.channels}}
    heads = nn.ModuleDict(dict(decoder.readout_heads))
    prototypes = nn.ParameterDict(dict(decoder.answer_prototypes))
    for p in packs:
        head = _linear(p.weight, p.bias)
        heads[p.task.id] = MontageHead(head, _linear(*p.portable)) if p.channels else head
        prototypes[p.task.id] = nn.Parameter(torch.as_tensor(p.prototypes, dtype=torch.float32),
                                             requires_grad=False)
    view._modules["readout_heads"], view._modules["answer_prototypes"] = heads, prototypes
    if "caption_emb" in decoder._buffers:
        dtype = decoder.caption_emb.dtype
        extra = torch.stack([torch.as_tensor(p.caption_embedding, dtype=dtype) for p in packs])
        view._buffers["caption_emb"] = torch.cat([decoder.caption_emb, extra])
    return view
