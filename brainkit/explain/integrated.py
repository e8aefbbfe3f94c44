"""Integrated gradients along a path cut into pieces, their completeness, and layer integrated
gradients over code vectors (captum). The path and its cuts are explained in
:mod:`brainkit.explain.attribution`.

Shapes: N windows, then the model's input dimensions.
"""

from __future__ import annotations

import itertools

import numpy as np
import torch

from brainkit.errors import BrainkitError

#: Cuts of the integration path in alpha (baseline at 0, window at 1), see the module docstring.
IG_BOUNDARIES = (0.0, 1e-6, 1e-5, 1e-4, 1e-3, 1e-2, 1e-1, 1.0)


def _captum():
    try:
        import captum.attr
    except ImportError:
        raise BrainkitError("explanations need captum: pip install captum") from None
    return captum.attr


def integrated_gradients(model, x, target, *, baseline=None, n_steps: int = 64,
                         internal_batch_size: int | None = None, boundaries=None):
    """Integrated gradients of ``model(x)[:, target]`` with respect to x.

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
        Model evaluations per window along the path, spread evenly over the pieces (at least the
        model's ``steps_per_piece`` attribute, else one, per piece; :func:`path_quadrature`).
    internal_batch_size : int, optional
        Inputs per forward pass (rounded down to a multiple of N, at least N).
    boundaries : sequence of float, optional
        Cuts of the path in [0, 1] (``(0, 1)``: one plain Gauss-Legendre pass, as captum's). Default: the model's
        ``boundaries`` attribute, else :data:`IG_BOUNDARIES`, from the zero signal; one even piece
        from a given baseline.

    Returns
    -------
    Tensor, shape like x
        Sums to ``model(x) - model(baseline)`` (for the target) up to quadrature error.
    """
    x = torch.as_tensor(x, dtype=torch.float32)
    if boundaries is None:
        boundaries = getattr(model, "boundaries", IG_BOUNDARIES) if baseline is None else (0.0, 1.0)
    baseline = torch.zeros_like(x) if baseline is None else torch.as_tensor(baseline, dtype=x.dtype)
    pieces = len(boundaries) - 1
    alphas, weights = path_quadrature(boundaries, max(n_steps, pieces * getattr(model, "steps_per_piece", 1)))
    N, delta = len(x), x - baseline
    target = torch.as_tensor(target).expand(N)
    per_pass = max(1, (internal_batch_size or len(alphas) * N) // N)  # path points per pass
    total = torch.zeros_like(x)
    for i in range(0, len(alphas), per_pass):
        a = torch.as_tensor(alphas[i:i + per_pass], dtype=x.dtype)
        w = torch.as_tensor(weights[i:i + per_pass], dtype=x.dtype)
        points = (baseline + a[:, None, None, None] * delta).flatten(0, 1).requires_grad_(True)  # (S*N, ...)
        with torch.enable_grad():
            out = model(points)[torch.arange(len(points)), target.repeat(len(a))].sum()
            grad = torch.autograd.grad(out, points)[0].view(len(a), *x.shape)  # alpha-major
        total += (w[:, None, None, None] * grad).sum(0)
    # samples that do not move contribute nothing, even where the gradient is undefined (the
    # read-out's at an all-zero signal)
    return torch.where(delta == 0, torch.zeros_like(total), total * delta).detach()


def path_quadrature(boundaries, n_steps: int) -> tuple[np.ndarray, np.ndarray]:
    """Points alpha (S,) in (0, 1] and weights (S,) with sum(w g(alpha)) ~ integral of g over [0, 1].

    Gauss-Legendre nodes in each piece between consecutive ``boundaries``: uniform in log(alpha)
    for a piece that starts above 0 (where a floor's transition is a sigmoid in log(alpha)),
    linear for the piece from 0; each piece's weights are scaled to add up to its length, so a
    constant gradient is integrated exactly (integrated gradients of a linear model are exact).
    """
    pieces = list(itertools.pairwise(boundaries))
    per = max(1, round(n_steps / len(pieces)))
    nodes, w = np.polynomial.legendre.leggauss(per)  # on [-1, 1]
    alphas, weights = [], []
    for a0, a1 in pieces:
        if a0 > 0:
            u0, u1 = np.log(a0), np.log(a1)
            a = np.exp((u0 + u1) / 2 + (u1 - u0) / 2 * nodes)
            piece = w * a  # d alpha = alpha d u
        else:
            a = (a0 + a1) / 2 + (a1 - a0) / 2 * nodes
            piece = w.copy()
        alphas.append(a)
        weights.append(piece * (a1 - a0) / piece.sum())
    return np.concatenate(alphas), np.concatenate(weights)


def answer_change(model, x, target, baseline=None) -> np.ndarray:
    """``f(x) - f(baseline)`` of the target answer per window, (N,) float64 (baseline default zeros)."""
    baseline = torch.zeros_like(x) if baseline is None else baseline
    target = torch.as_tensor(target).expand(len(x))
    with torch.no_grad():
        fx, fb = model(x), model(baseline)  # (N, A)
    rows = torch.arange(len(x))
    return (fx[rows, target] - fb[rows, target]).double().numpy()


def completeness(model, x, target, attribution, baseline=None, change=None) -> tuple[np.ndarray, np.ndarray]:
    """How far attributions are from adding up to ``f(x) - f(baseline)`` (``change``, computed
    by :func:`answer_change` when not given).

    Returns
    -------
    error : ndarray, shape (N,)
        ``|sum(attribution) - (f(x) - f(baseline))|`` per window.
    relative : ndarray, shape (N,)
        ``error / max(|f(x) - f(baseline)|, 1e-8)``.
    """
    change = answer_change(model, x, target, baseline) if change is None else change
    error = np.abs(attribution.flatten(1).double().sum(1).numpy() - change)
    return error, error / np.maximum(np.abs(change), 1e-8)


#: Integrated gradients are complete when their sum misses the change of the answer by at most
#: this share of it...
COMPLETENESS_TOLERANCE = 0.05
#: ...or by at most this many nats, float32's resolution of a log-probability summed along a
#: path (a window compared with one the model answers alike moves its answer by less).
COMPLETENESS_FLOOR_NATS = 1e-4
#: a change of the answer's log-probability below this (1 % of its probability) leaves little to
#: attribute: the maps are then mostly the integration's error (the Explain page says so)
NEGLIGIBLE_CHANGE_NATS = 0.01


def complete_integrated_gradients(model, x, target, *, baseline=None, n_steps: int = 64,
                                  max_steps: int = 256, internal_batch_size: int | None = None):
    """:func:`integrated_gradients` with the number of steps doubled, from ``n_steps`` up to
    ``max_steps``, until every window's attributions are complete (:data:`COMPLETENESS_TOLERANCE`,
    :data:`COMPLETENESS_FLOOR_NATS`).

    With one window (``x`` of length 1) and several starts (``baseline`` of length K > 1), the
    attributions are the mean of the K paths' (expected gradients over those starts): they add
    up to ``f(x)`` minus the mean of ``f(start)``, and that is what completeness is held to. Only
    the paths that miss more than that tolerance on their own have their steps doubled (all of
    them when none does and their errors still add up past it): a path between two windows the
    model answers alike is smooth, one from an eyes-closed window to an eyes-open one is not.

    The shipped model's answer bends sharply along some paths: from an eyes-open window to an
    eyes-closed one (EEGMMIDB S001), log p(closed) falls over the first sixth of the path, then
    rises steeply and unevenly (the read-out's line length and peaks are kinked); on the sample
    recording 32, 64 and 128 steps miss 6.6, 4.0 and 1.8 % of the change (README, "Where the
    model looks").

    Returns
    -------
    attribution : Tensor, shape like x
    error, relative : ndarray, shape (N,)
        :func:`completeness` of the attributions returned.
    steps : ndarray of int, shape (N,) or (K,)
        The steps each window's (or each start's) path took; ``error`` may still be above
        tolerance where they reached ``max_steps``.
    """
    paths = baseline is not None and len(x) == 1 and len(baseline) > 1
    rows = x.expand(len(baseline), *x.shape[1:]) if paths else x
    targets = torch.as_tensor(target).expand(len(rows))
    change = answer_change(model, rows, targets, baseline)  # (rows,)
    steps = np.full(len(rows), n_steps)
    attr = integrated_gradients(model, rows, targets, baseline=baseline, n_steps=n_steps,
                                internal_batch_size=internal_batch_size)
    while True:
        if paths:  # one window: the mean over its paths is held to the mean change
            missed = np.abs(attr.flatten(1).double().sum(1).numpy() - change)  # per path
            error, relative = completeness(model, x, target, attr.mean(0, keepdim=True), change=change.mean(keepdims=True))
            done = is_complete(error, change.mean())
            redo = missed > max(COMPLETENESS_TOLERANCE * abs(change.mean()), COMPLETENESS_FLOOR_NATS)
            redo = redo if redo.any() else np.ones(len(rows), dtype=bool)
        else:  # every window on its own; a model anchored at several windows takes them together
            error, relative = completeness(model, x, target, attr, change=change)
            done = is_complete(error, change)
            redo = np.ones(len(rows), dtype=bool)
        redo &= 2 * steps <= max_steps
        if done or not redo.any():
            return (attr.mean(0, keepdim=True) if paths else attr), error, relative, steps
        for n in np.unique(steps[redo]):  # paths at the same steps are doubled together
            idx = np.flatnonzero(redo & (steps == n))
            attr[idx] = integrated_gradients(model, rows[idx], targets[idx],
                                             baseline=None if baseline is None else baseline[idx],
                                             n_steps=2 * int(n), internal_batch_size=internal_batch_size)
            steps[idx] = 2 * n


def is_complete(error, change) -> bool:
    """Every window's attributions miss its ``change`` by at most :data:`COMPLETENESS_TOLERANCE`
    of it or :data:`COMPLETENESS_FLOOR_NATS`."""
    return bool(np.all(np.asarray(error) <= np.maximum(COMPLETENESS_TOLERANCE * np.abs(change),
                                                        COMPLETENESS_FLOOR_NATS)))


def token_attributions(model, codes, target, n_steps: int = 32,
                       internal_batch_size: int | None = None):
    """Layer integrated gradients over the code vectors, from the null code to ``codes``
    (``model``: :class:`~brainkit.explain.attribution.TokenAnswerModel`).

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
