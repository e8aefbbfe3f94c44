"""How well brainkit generalizes to new people: grouped cross-validation and shift tests.

One number on one validation split rewards fitting that split. ``brainkit crossval`` instead:

1. **Cross-validation grouped by subject** over every labelled window of ``../shared/data``: the
   folds never share a subject (or, where a task has fewer than :data:`MIN_SUBJECTS` subjects,
   a recording), classes are balanced over folds where the groups allow, and brainkit and every
   baseline of :data:`brainkit.evaluation.baselines.BASELINES` are fitted on the same training
   folds and scored on the same test windows. brainkit refits only its read-out (the part of the
   model fitted to labels in closed form: :func:`brainkit.training.readout.fit_readout`) on
   each fold's training windows; the tokenizer and the language model's reading of the answer
   anchor are the shipped ones.
2. **Shift tests** on the validation windows with the shipped model: another amplifier gain,
   another source sampling rate, average reference, channels dropped, a 64-channel cap cut to the
   10-20 system and to a 4-channel headset. Reported: balanced accuracy and the fraction of
   answers that change.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from brainkit._logging import logger
from brainkit.evaluation.baselines import BASELINES, labels_of
from brainkit.evaluation.metrics import balanced_accuracy, classification_metrics, paired_gap
from brainkit.tasks import get_task
from brainkit.viz.card import OURS, method_order

MIN_SUBJECTS = 3  #: below this many subjects a task is grouped by recording instead
LEAVE_ONE_OUT_MAX = 8  #: with at most this many groups every group is a fold of its own


@dataclass
class Split:
    """One fold: indices into the task's list of labelled sets."""

    train: list[int]
    test: list[int]


def grouping(sets) -> tuple[list[str], str]:
    """The group of every set and the unit's name (``subject`` or ``recording``)."""
    subjects = [s.subject for s in sets]
    if len(set(subjects)) >= MIN_SUBJECTS:
        return subjects, "subject"
    return [s.source for s in sets], "recording"


def folds(sets, task: str, k: int = 5, seed: int = 0) -> tuple[list[Split], str]:
    """Folds over the sets of one task that never split a group.

    With at most :data:`LEAVE_ONE_OUT_MAX` groups, one group is left out per fold; otherwise
    ``k`` folds balanced over classes (scikit-learn's ``StratifiedGroupKFold`` on the sets'
    majority answers).
    """
    groups, unit = grouping(sets)
    names = sorted(set(groups))
    if len(names) < 2:
        return [], unit
    if len(names) <= LEAVE_ONE_OUT_MAX:
        out = [Split([i for i, g in enumerate(groups) if g != name],
                     [i for i, g in enumerate(groups) if g == name]) for name in names]
        return out, unit
    from sklearn.model_selection import StratifiedGroupKFold

    answers = get_task(task).answers
    major = [answers.index(max(set(s.windows.labels), key=list(s.windows.labels).count)) for s in sets]
    cv = StratifiedGroupKFold(n_splits=min(k, len(names)), shuffle=True, random_state=seed)
    out = [Split(list(tr), list(te)) for tr, te in cv.split(np.zeros(len(sets)), major, groups)]
    return out, unit


def _summary(per_fold: list[float]) -> dict:
    values = [v for v in per_fold if v is not None]
    return {"mean": float(np.mean(values)) if values else None,
            "std": float(np.std(values)) if values else None, "folds": per_fold}


def _gained(sets, g: float):
    """The sets as another amplifier with gain ``g`` would have recorded them."""
    from dataclasses import replace

    from brainkit.evaluation.shifts import gain

    return [replace(s, windows=gain(s.windows, g)) for s in sets]


def crossval_task(task: str, sets, methods: dict, k: int = 5, seed: int = 0, progress=None,
                  keep=(), splits=None, gains=(), gain_methods=None) -> dict:
    """Balanced accuracy of every method in every fold of one task.

    Parameters
    ----------
    sets : list of LabelledSet
        Every labelled set of the task (all splits).
    methods : dict
        name -> ``fit_predict(train_sets, test_sets, task) -> probabilities (N_test, n_answers)``.
    keep : collection of str
        Methods whose out-of-fold probabilities are returned too (``out_of_fold``).
    splits : (list of Split, str), optional
        Folds and their unit's name to use instead of :func:`folds` (taught tasks).
    gains : sequence of float
        Also score the test windows as recorded with these gains (another amplifier), the method
        fitted on the same training windows: ``gain`` -> ``{"x<g>": {"balanced_accuracy",
        "changed"}}`` per method (``changed``: the fraction of test answers that differ from the
        unshifted ones, pooled over folds).
    gain_methods : collection of str, optional
        The methods scored under ``gains`` (default all).

    Returns
    -------
    dict
        ``unit``, ``n_folds``, ``n_windows``, ``n_groups``, and per method ``balanced_accuracy``
        (mean, std, per fold) and the ``pooled`` metrics over all test windows.
    """
    answers = get_task(task).answers
    splits, unit = splits if splits is not None else folds(sets, task, k, seed)
    result = {"unit": unit, "n_folds": len(splits), "n_windows": int(sum(len(s.windows) for s in sets)),
              "n_groups": len(set(grouping(sets)[0])), "methods": {}}
    for name, fit_predict in methods.items():
        per_fold, probas, labels = [], [], []
        shifted = [g for g in gains if gain_methods is None or name in gain_methods]
        gain_folds, changed = {g: [] for g in shifted}, {g: [] for g in shifted}
        for i, split in enumerate(splits):
            train = [sets[j] for j in split.train]
            test = [sets[j] for j in split.test]
            y_train = labels_of(train, task)
            if len(np.unique(y_train)) < 2:
                per_fold.append(None)
                continue
            proba = np.asarray(fit_predict(train, test, task))
            y = labels_of(test, task)
            probas.append(proba)
            labels.append(y)
            per_fold.append(balanced_accuracy(y, proba.argmax(1)))
            for g in shifted:
                other = np.asarray(fit_predict(train, _gained(test, g), task))
                gain_folds[g].append(balanced_accuracy(y, other.argmax(1)))
                changed[g].append(other.argmax(1) != proba.argmax(1))
            logger.info("crossval %s %s fold %d/%d: balanced accuracy %.3f", task, name, i + 1,
                        len(splits), per_fold[-1])
            if progress is not None:
                progress(task, name, i + 1, len(splits))
        pooled = (classification_metrics(np.concatenate(labels), np.concatenate(probas), answers)
                  if probas else None)
        result["methods"][name] = {"balanced_accuracy": _summary(per_fold), "pooled": pooled}
        if shifted and probas:
            result["methods"][name]["gain"] = {
                f"x{g:g}": {"balanced_accuracy": _summary(gain_folds[g]),
                            "changed": float(np.concatenate(changed[g]).mean())} for g in shifted}
        if name in keep and probas:  # out-of-fold predictions, for calibration and agreement
            result["methods"][name]["out_of_fold"] = {
                "labels": np.concatenate(labels).tolist(),
                "proba": np.round(np.concatenate(probas), 6).tolist()}
    return result


def baseline_methods(task: str, data_dir=None) -> dict:
    """The baselines that apply to a task, as ``fit_predict`` functions."""
    out = {}
    for name, (fn, applies) in BASELINES.items():
        if task in applies:
            out[name] = ((lambda tr, te, t, fn=fn: fn(tr, te, t, data_dir=data_dir))
                         if name == "yasa_staging" else fn)
    return out


def crossval(tasks=None, data_dir=None, k: int = 5, seed: int = 0, brainkit=None, progress=None,
             extra=None, gains=()) -> dict:
    """``brainkit crossval``: every task's folds, brainkit (when given) and the baselines.

    ``brainkit`` is brainkit's ``fit_predict`` (:func:`brainkit.training.readout.readout_method`);
    ``extra`` more named methods (e.g. brainkit's read-out head without the language model).
    Out-of-fold probabilities are kept for those. With ``gains``, every method but ``brainkit``
    (whose answers follow its head's) is also scored on its test windows at those gains
    (:func:`crossval_task`).
    """
    from brainkit.data.corpora import load_task
    from brainkit.tasks import TASK_IDS

    out = {"k": k, "seed": seed, "tasks": {}}
    for task in tasks or TASK_IDS:
        sets = load_task(task, data_dir)
        methods = {"brainkit": brainkit} if brainkit is not None else {}
        methods.update(extra or {})
        methods.update(baseline_methods(task, data_dir))
        out["tasks"][task] = crossval_task(task, sets, methods, k, seed, progress,
                                           keep=["brainkit", *(extra or {})], gains=gains,
                                           gain_methods=[m for m in methods if m != "brainkit"])
    return out


def shift_table(bk, tasks=None, data_dir=None, max_windows: int = 240) -> dict:
    """:func:`brainkit.evaluation.shifts.shift_tests` of the model on every task's validation
    recordings, plus every 64-channel recording of the task (for the cap cuts): recordings evenly
    spread over that list until about ``max_windows`` windows."""
    from brainkit.data.corpora import load_task
    from brainkit.evaluation.shifts import shift_tests
    from brainkit.preprocess import evenly_spaced
    from brainkit.tasks import TASK_IDS

    out = {}
    for task in tasks or TASK_IDS:
        sets = [s for s in load_task(task, data_dir) if s.split == "val" or s.windows.x.shape[1] >= 60]
        per_set = max(1, int(np.mean([len(s.windows) for s in sets])))
        sets = [sets[i] for i in evenly_spaced(len(sets), max(1, max_windows // per_set))]
        out[task] = shift_tests(lambda w, t: bk.predict(w, t).probabilities, sets, task)
    return out


def paired_gaps(result: dict) -> dict:
    """brainkit minus each baseline, paired over the folds both were scored in.

    The same folds make the differences paired: a fold of hard subjects lowers every method, so
    the spread of the per-fold differences is much smaller than either method's spread over folds.

    Parameters
    ----------
    result : dict
        :func:`crossval`'s output (``tasks[task]["methods"][method]["balanced_accuracy"]["folds"]``).

    Returns
    -------
    dict
        ``task -> {"reference": "brainkit" (or "read-out head" where the language model was not
        run), "gaps": {baseline: {"mean", "se"}}}`` (:func:`brainkit.evaluation.metrics.paired_gap`,
        fractions; ``se`` over folds), for the tasks with brainkit and at least one baseline.
    """
    out = {}
    for task, r in result["tasks"].items():
        ours = next((m for m in OURS if m in r["methods"]), None)
        if ours is None:
            continue
        folds_of = {name: m["balanced_accuracy"]["folds"] for name, m in r["methods"].items()}
        gaps = {name: paired_gap(folds_of[ours], f) for name, f in folds_of.items() if name not in OURS}
        if gaps:
            out[task] = {"reference": ours, "gaps": gaps}
    return out


def _cell(summary) -> str:
    if not summary or summary.get("mean") is None:
        return "-"
    return f"{100 * summary['mean']:.1f} ± {100 * summary['std']:.1f}"


def _gap_cell(gap) -> str:
    if not gap or gap.get("mean") is None:
        return "-"
    se = "" if gap["se"] is None else f" ± {100 * gap['se']:.1f}"
    return f"{100 * gap['mean']:+.1f}{se}"


def _pooled_cell(pooled) -> str:
    if not pooled:
        return "-"
    return f"{100 * pooled['balanced_accuracy']:.1f} / {pooled['cohen_kappa']:.2f}"


def markdown(result: dict) -> str:
    """The model card's tables: cross-validation, language model vs read-out head, shifts."""
    names = method_order(result)
    lines = ["| task | unit | folds | windows | " + " | ".join(names) + " |",
             "|---|---|---|---|" + "---|" * len(names)]
    for task, r in result["tasks"].items():
        cells = [_cell(r["methods"].get(n, {}).get("balanced_accuracy")) for n in names]
        lines.append(f"| {task} | {r['unit']} ({r['n_groups']}) | {r['n_folds']} | {r['n_windows']} | "
                     + " | ".join(cells) + " |")
    text = "Balanced accuracy (%), mean ± spread (std) over folds\n\n" + "\n".join(lines) + "\n"
    gaps = paired_gaps(result)
    if gaps:
        baselines = [n for n in names if n not in OURS]
        text += ("\nbrainkit minus each baseline, paired over the same folds: points, ± standard error"
                 " over folds (within about two of zero is not evidence either way)\n\n"
                 "| task | brainkit as | " + " | ".join(baselines) + " |\n|---|---|" + "---|" * len(baselines) + "\n")
        for task, g in gaps.items():
            cells = [_gap_cell(g["gaps"].get(n)) for n in baselines]
            text += f"| {task} | {g['reference']} | " + " | ".join(cells) + " |\n"
    pooled = {task: r for task, r in result["tasks"].items()
              if any(m.get("pooled") for m in r["methods"].values())}
    if pooled:
        text += ("\nEvery test window's answer pooled over the folds: balanced accuracy (%) / Cohen's "
                 "kappa\n\n| task | windows | " + " | ".join(names) + " |\n|---|---|" + "---|" * len(names) + "\n")
        for task, r in pooled.items():
            cells = [_pooled_cell(r["methods"].get(n, {}).get("pooled")) for n in names]
            text += f"| {task} | {r['n_windows']} | " + " | ".join(cells) + " |\n"
    if result.get("agreement"):
        text += ("\nLanguage model vs read-out head, out of fold\n\n| task | agreement | language model |"
                 " read-out head |\n|---|---|---|---|\n")
        for task, a in result["agreement"].items():
            text += (f"| {task} | {100 * a['agreement']:.1f} % of {a['n']} | {100 * a['language_model']:.1f}"
                     f" | {100 * a['read_out_head']:.1f} |\n")
    gained = [(task, name, m["gain"]) for task, r in result["tasks"].items()
              for name, m in r["methods"].items() if m.get("gain")]
    if gained:
        gains = list(gained[0][2])
        text += ("\nAnother amplifier, in the same folds: each method fitted on the training windows, "
                 "its test windows at another gain. Balanced accuracy (%) / answers changed (%)\n\n"
                 "| task | method | as recorded | " + " | ".join(gains) + " |\n|---|---|---|"
                 + "---|" * len(gains) + "\n")
        for task, name, g in gained:
            cells = [f"{_cell(g[x]['balanced_accuracy'])} / {100 * g[x]['changed']:.1f}" for x in gains]
            text += (f"| {task} | {name} | {_cell(result['tasks'][task]['methods'][name]['balanced_accuracy'])} | "
                     + " | ".join(cells) + " |\n")
    if result.get("shifts"):
        shifts = [s for s in next(iter(result["shifts"].values())) if s != "none"]
        text += ("\nShift tests: balanced accuracy (%) / answers changed (%)\n\n| task | none | "
                 + " | ".join(shifts) + " |\n|---|---|" + "---|" * len(shifts) + "\n")
        for task, r in result["shifts"].items():
            cells = ["-" if r.get(s) is None else f"{100 * r[s]['balanced_accuracy']:.1f} / "
                     f"{100 * r[s]['changed']:.1f}" for s in shifts]
            text += f"| {task} | {100 * r['none']['balanced_accuracy']:.1f} | " + " | ".join(cells) + " |\n"
    return text
