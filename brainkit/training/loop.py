"""What every brainkit training loop shares: learning-rate schedule, torchrun set-up, checkpoints.

A checkpoint is a folder ``out_dir/checkpoint/`` holding the model (``save_pretrained``:
``config.json`` + ``model.safetensors``) and ``train_state.pt`` (step, optimizer state, training
arguments: tensors and plain values only, read back with ``torch.load(weights_only=True)``).
It is written to a temporary folder and renamed, so an interrupted write never leaves a broken one.
"""

from __future__ import annotations

import math
import os
import shutil
from pathlib import Path

import torch
import torch.distributed as dist

CHECKPOINT_DIR = "checkpoint"
STATE_FILE = "train_state.pt"


def lr_at(step: int, steps: int, lr: float, warmup: int) -> float:
    """Linear warm-up over ``warmup`` steps, then cosine decay to a tenth of ``lr``."""
    if step < warmup:
        return lr * (step + 1) / warmup
    progress = (step - warmup) / max(1, steps - warmup)
    return lr * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * min(progress, 1.0))))


def distributed():
    """(rank, world size, torch device, whether this call started the process group).

    Under ``torchrun`` (``WORLD_SIZE`` > 1) joins the process group: ``gloo`` on CPU, ``nccl``
    on GPU.
    """
    world = int(os.environ.get("WORLD_SIZE", "1"))
    local = int(os.environ.get("LOCAL_RANK", "0"))
    device = torch.device(f"cuda:{local}") if torch.cuda.is_available() else torch.device("cpu")
    started = False
    if world > 1 and not dist.is_initialized():
        dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
        started = True
    if device.type == "cuda":
        torch.cuda.set_device(device)
    rank = dist.get_rank() if dist.is_initialized() else 0
    return rank, world, device, started


def save_checkpoint(model, optimizer, step: int, args: dict, out_dir: Path) -> None:
    """Write ``out_dir/checkpoint`` atomically (see the module docstring)."""
    out_dir = Path(out_dir)
    final, tmp = out_dir / CHECKPOINT_DIR, out_dir / (CHECKPOINT_DIR + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    model.save_pretrained(tmp)
    torch.save({"step": step, "optimizer": optimizer.state_dict(), "args": args}, tmp / STATE_FILE)
    shutil.rmtree(final, ignore_errors=True)
    tmp.rename(final)


def load_state(out_dir: Path) -> dict | None:
    """The saved training state with ``path`` (the checkpoint folder), or None if there is none."""
    ckpt = Path(out_dir) / CHECKPOINT_DIR
    if not (ckpt / STATE_FILE).exists():
        return None
    state = torch.load(ckpt / STATE_FILE, weights_only=True)
    state["path"] = ckpt
    return state
