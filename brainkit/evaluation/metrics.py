"""Classification metrics of ``brainkit evaluate`` (and of every baseline, so they compare)."""

from __future__ import annotations

import numpy as np


def expected_calibration_error(y_true, proba, n_bins: int = 10) -> float:
    """ECE: mean |accuracy - confidence| over equal-width confidence bins, weighted by bin size.

    Parameters
    ----------
    y_true : array, shape (N,), int
        Index of the true class.
    proba : array, shape (N, n_classes)
    """
    proba = np.asarray(proba, dtype=np.float64)
    confidence, predicted = proba.max(1), proba.argmax(1)
    correct = predicted == np.asarray(y_true)
    edges = np.linspace(0.0, 1.0, n_bins + 1)
    bins = np.clip(np.digitize(confidence, edges[1:-1]), 0, n_bins - 1)
    ece = 0.0
    for b in range(n_bins):
        sel = bins == b
        if sel.any():
            ece += sel.mean() * abs(correct[sel].mean() - confidence[sel].mean())
    return float(ece)


def paired_gap(ours, theirs) -> dict:
    """``mean`` and ``se`` (standard error; None from one pair) of ``ours - theirs``, paired (the
    same folds, or the same draws of training windows); a pair with a missing score (a fold that
    could not be scored) is left out."""
    d = np.array([a - b for a, b in zip(ours, theirs) if a is not None and b is not None])
    return {"mean": float(d.mean()) if len(d) else None,
            "se": float(d.std(ddof=1) / np.sqrt(len(d))) if len(d) > 1 else None}


def balanced_accuracy(y_true, y_pred) -> float:
    """Mean recall over the classes present in ``y_true`` (sklearn's ``balanced_accuracy_score``,
    without its input validation: cross-validation scores thousands of folds)."""
    y_true, y_pred = np.asarray(y_true), np.asarray(y_pred)
    return float(np.mean([np.mean(y_pred[y_true == c] == c) for c in np.unique(y_true)]))


def classification_metrics(y_true, proba, answers) -> dict:
    """The per-task block of ``brainkit evaluate``'s JSON.

    Parameters
    ----------
    y_true : array, shape (N,), int
        Index into ``answers`` of each window's true class.
    proba : array, shape (N, len(answers))
        Predicted probabilities (rows sum to 1).
    answers : sequence of str

    Returns
    -------
    dict
        ``n``, ``balanced_accuracy``, ``cohen_kappa``, ``macro_f1``, ``weighted_f1``, ``auroc``
        (binary tasks; None when only one class is present), ``ece``, ``confusion`` (rows: true,
        columns: predicted, in the order of ``answers``) and ``answers``.
    """
    from sklearn.metrics import cohen_kappa_score, confusion_matrix, f1_score, roc_auc_score

    y_true = np.asarray(y_true, dtype=int)
    proba = np.asarray(proba, dtype=np.float64)
    y_pred = proba.argmax(1)
    labels = list(range(len(answers)))
    present = np.unique(y_true)
    out = {
        "n": int(len(y_true)),
        "balanced_accuracy": balanced_accuracy(y_true, y_pred),
        "cohen_kappa": float(cohen_kappa_score(y_true, y_pred, labels=labels))
        if len(np.unique(np.r_[y_true, y_pred])) > 1 else 0.0,
        "macro_f1": float(f1_score(y_true, y_pred, labels=list(present), average="macro", zero_division=0)),
        "weighted_f1": float(f1_score(y_true, y_pred, labels=labels, average="weighted", zero_division=0)),
        "auroc": None,
        "ece": expected_calibration_error(y_true, proba),
        "confusion": confusion_matrix(y_true, y_pred, labels=labels).tolist(),
        "answers": list(answers),
    }
    if len(answers) == 2 and len(present) == 2:
        out["auroc"] = float(roc_auc_score(y_true, proba[:, 1]))
    return out
