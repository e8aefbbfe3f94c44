"""How a model is held while it is explained: eval mode without parameter gradients, the
app's lock, and each window's query selection fixed."""

from __future__ import annotations

import contextlib

from brainkit.errors import BrainkitError


def tile(t, batch: int):
    """Repeat per-window context (N, ...) to a captum batch (batch, ...) laid out alpha-major."""
    if t is None or t.ndim == 0 or t.shape[0] == batch:
        return t
    if batch % t.shape[0]:
        raise BrainkitError(f"batch of {batch} is not a multiple of the {t.shape[0]} windows explained")
    return t.repeat(batch // t.shape[0], *([1] * (t.ndim - 1)))


@contextlib.contextmanager
def fixed_router(decoder, logits):
    """Replace the router's scores by ``logits`` (N, M*Q), so each window keeps its queries."""
    if logits is None:
        yield
        return
    handle = decoder.router.register_forward_hook(lambda mod, args, out: tile(logits, out.shape[0]))
    try:
        yield
    finally:
        handle.remove()


@contextlib.contextmanager
def explaining(*modules):
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


def model_lock(bk):
    """The Brainkit's lock (its prefix cache is shared by app sessions), or a no-op."""
    return getattr(bk, "_lock", None) or contextlib.nullcontext()


def temperature_of(bk, task: str) -> float:
    """The task's calibration temperature (1 for an object without one)."""
    return bk.temperature(task) if hasattr(bk, "temperature") else 1.0
