"""Fit the decoder's read-out heads (``brainkit fit-readout``): closed form, in a minute on a CPU.

The read-out (:mod:`brainkit.models.readout`) decides every task in ``readout_tasks``: its head is
a class-balanced logistic regression of the read-out features of the task's labelled windows,
fitted on every subject of ``../shared/data`` (cross-validation, ``brainkit crossval``, is how
its generalization is estimated; the shipped head uses all the data). The rest of the decoder
(connector, queries, answer prototypes) and the language model are unchanged: the language model
reads the read-out's answer through the answer anchor.
"""

from __future__ import annotations

import numpy as np
import torch

from brainkit._logging import logger
from brainkit.errors import BrainkitError
from brainkit.evaluation.baselines import labels_of
from brainkit.inference import readout_inputs
from brainkit.models.readout import FEATURE_SETS, REGIONS, REGULARISATION, fit_head, set_head
from brainkit.tasks import TASK_IDS, get_task


def task_features(decoder, sets, task: str) -> np.ndarray:
    """Read-out features of every window of labelled sets (each set one recording), (N, F)."""
    return np.concatenate([readout_inputs(decoder, s.windows, task).numpy() for s in sets])


def head_columns(decoder, task: str, width: int) -> np.ndarray:
    """The columns of the task's read-out inputs (``width`` of them) its head reads: every one,
    or those of its feature set (``config.readout_features``) and of its regions
    (``config.readout_regions``) in every context."""
    from brainkit.explain.readout import feature_names

    name, regions = decoder.config.readout_features.get(task), decoder.config.readout_regions.get(task)
    if name is None and regions is None:
        return np.arange(width)
    features = None if name is None else set(FEATURE_SETS[name])
    return np.array([i for i, (region, feature) in enumerate(feature_names(decoder, task, width))
                     if (features is None or feature.split(" (")[0] in features)
                     and (regions is None or region in regions)])


def regularisation(decoder, task: str) -> float:
    """The inverse L2 strength of the task's head (:data:`REGULARISATION`, set for a head on
    every region), times the number of regions over the number it reads: on a one-channel recording,
    whose regions all read that channel, a head on one region is then the same function as the
    head on all nine, whose weights split over nine equal copies."""
    regions = decoder.config.readout_regions.get(task)
    return REGULARISATION.get(task, 1.0) * (len(REGIONS) / len(regions) if regions else 1.0)


def fitted_head(decoder, sets, task: str):
    """The task's read-out head fitted on labelled sets: ``(weight, bias, features, labels)``;
    zero weights outside its feature set and regions."""
    x, y = task_features(decoder, sets, task), labels_of(sets, task)
    columns = head_columns(decoder, task, x.shape[1])
    fitted, bias = fit_head(x[:, columns], y, len(get_task(task).answers), regularisation(decoder, task))
    weight = np.zeros((fitted.shape[0], x.shape[1]))
    weight[:, columns] = fitted
    return weight, bias, x, y


def fit_readout(decoder, sets, task: str) -> float:
    """Fit ``decoder.readout_heads[task]`` on labelled sets; returns the training accuracy."""
    weight, bias, x, y = fitted_head(decoder, sets, task)
    set_head(decoder, task, weight, bias)
    return float(((x @ weight.T + bias).argmax(1) == y).mean())


def with_readout(decoder, tasks=TASK_IDS, entropy_tasks=None, feature_sets=None, regions=None):
    """A copy of ``decoder`` whose config decides ``tasks`` by the read-out, their heads empty
    (to be fitted); every other read-out task keeps its head, and everything else, answer
    prototypes included, is copied.

    Parameters
    ----------
    entropy_tasks : sequence of str, optional
        The tasks whose read-out also reads sample entropy (``config.entropy_tasks``); default:
        the decoder's. A task whose inputs this changes must be among ``tasks``.
    feature_sets : dict, optional
        Task -> the named feature set its head reads (``config.readout_features``; a name of
        :data:`~brainkit.models.readout.FEATURE_SETS`, or ``"all"``); the others as the decoder
        has them. Each task named must be among ``tasks``.
    regions : dict, optional
        Task -> the regions its head reads (``config.readout_regions``; names of
        :data:`~brainkit.models.readout.REGIONS`, or ``["all"]``); the others as the decoder has
        them. Each task named must be among ``tasks``.
    """
    from brainkit.models.decoder import BrainDecoder

    config = decoder.config.__class__.from_dict(decoder.config.to_dict())
    config.readout_tasks = [t for t in TASK_IDS if t in set(tasks) | set(config.readout_tasks)]
    if entropy_tasks is not None:
        changed = set(entropy_tasks) ^ set(config.entropy_tasks)
        if changed - set(tasks):
            raise BrainkitError(f"sample entropy changes the read-out of {', '.join(sorted(changed - set(tasks)))}: "
                                "refit it too (--task)")
        config.entropy_tasks = [t for t in TASK_IDS if t in set(entropy_tasks)]
    for task, name in (feature_sets or {}).items():
        if task not in tasks:
            raise BrainkitError(f"a feature set changes the read-out of {task}: refit it too (--task)")
        if name == "all":
            config.readout_features.pop(task, None)
        else:
            config.readout_features[task] = name
    for task, names in (regions or {}).items():
        if task not in tasks:
            raise BrainkitError(f"a choice of regions changes the read-out of {task}: refit it too (--task)")
        unknown = [r for r in names if r not in REGIONS]
        if list(names) == ["all"]:
            config.readout_regions.pop(task, None)
        elif unknown or not names:
            raise BrainkitError(f"regions of {task}: {', '.join(unknown) or 'none given'}; expected "
                                f"some of {', '.join(REGIONS)}, or all")
        else:
            config.readout_regions[task] = list(names)
    new = BrainDecoder(config)
    refit = tuple(f"readout_heads.{t}." for t in tasks)
    state = {k: v for k, v in decoder.state_dict().items() if not k.startswith(refit)}
    missing, unexpected = new.load_state_dict(state, strict=False)
    assert not unexpected and all(k.startswith(refit) for k in missing), (missing, unexpected)
    return new.eval()


def fit_all(decoder, data_dir=None, tasks=TASK_IDS) -> dict:
    """Fit every task's read-out on all its labelled windows; returns training accuracy per task."""
    from brainkit.data.corpora import load_task

    accuracy = {}
    for task in tasks:
        sets = load_task(task, data_dir)
        with torch.no_grad():
            accuracy[task] = fit_readout(decoder, sets, task)
        logger.info("read-out %s: %d windows, training accuracy %.3f",
                    task, sum(len(s.windows) for s in sets), accuracy[task])
    return accuracy


def readout_method(bk):
    """brainkit as a cross-validation method: ``fit_predict(train_sets, test_sets, task)``.

    The task's read-out head is refitted on the training sets; the test windows are then answered
    by the whole model (:meth:`brainkit.inference.Brainkit.predict`: the language model reads the
    read-out through the answer anchor); the shipped head is put back afterwards.
    """
    def fit_predict(train, test, task):
        head = bk.decoder.readout_heads[task]
        saved = {k: v.clone() for k, v in head.state_dict().items()}
        try:
            with torch.no_grad():
                fit_readout(bk.decoder, train, task)
            return np.concatenate([bk.predict(s.windows, task).probabilities for s in test])
        finally:
            head.load_state_dict(saved)

    return fit_predict


def head_method(decoder):
    """The read-out head alone (no language model) as a cross-validation method."""
    from brainkit.models.readout import softmax_logits

    def fit_predict(train, test, task):
        weight, bias, _, _ = fitted_head(decoder, train, task)
        return softmax_logits(task_features(decoder, test, task) @ weight.T + bias)

    return fit_predict


def agreement(result: dict) -> dict:
    """Per task: how often the language model's answer equals the read-out head's, out of fold,
    and the balanced accuracy of each (from :func:`brainkit.evaluation.crossval.crossval`)."""
    out = {}
    for task, r in result["tasks"].items():
        lm, head = r["methods"].get("brainkit", {}), r["methods"].get("read-out head", {})
        if "out_of_fold" not in lm or "out_of_fold" not in head:
            continue
        a = np.asarray(lm["out_of_fold"]["proba"]).argmax(1)
        b = np.asarray(head["out_of_fold"]["proba"]).argmax(1)
        out[task] = {"agreement": float((a == b).mean()), "n": int(len(a)),
                     "language_model": lm["balanced_accuracy"]["mean"],
                     "read_out_head": head["balanced_accuracy"]["mean"]}
    return out


def temperatures_from(result: dict, current: dict) -> dict:
    """Per task, the temperature that calibrates brainkit's out-of-fold answers.

    The out-of-fold probabilities were made at the ``current`` temperature T0; their logs are
    ``logp / T0`` up to a constant per window, so a temperature T' fitted on them gives T0 * T'.
    """
    from brainkit.training.decoder import fit_temperature

    out = {}
    for task, r in result["tasks"].items():
        oof = r["methods"].get("brainkit", {}).get("out_of_fold")
        if oof is None:
            continue
        logp = np.log(np.clip(np.asarray(oof["proba"], dtype=np.float64), 1e-12, None))
        out[task] = float(current.get(task, 1.0) * fit_temperature(logp, np.asarray(oof["labels"])))
    return out


def tune_reading(bk, data_dir=None, tasks=None, steps: int = 240, batch_size: int = 16,
                 lr: float = 3e-3, sets_per_task: int = 12, windows_per_set: int = 32, seed: int = 0) -> dict:
    """Teach the language model to read the read-out's answer: fit the answer prototypes only.

    The loss is the cross-entropy of the language model's option probabilities against the
    read-out head's (distillation): the language model's answer should follow the read-out, whose
    generalization cross-validation measures, and not fit the training labels on its own.
    Returns the agreement (language model answer == read-out answer) per task on the windows used.
    """
    from brainkit.data.corpora import load_task
    from brainkit.inference import answer_log_probabilities

    decoder, rng = bk.decoder, np.random.default_rng(seed)
    batches = []  # (task, latents, bandpower, scale, sensors, readout) per recording
    for task in tasks or decoder.config.readout_tasks:
        sets = load_task(task, data_dir)
        for i in rng.permutation(len(sets))[:sets_per_task]:
            w = sets[i].windows
            readout = readout_inputs(decoder, w, task)  # the whole recording: sequence tasks need it
            rows = np.sort(rng.permutation(len(w))[:windows_per_set])
            latents, bandpower, scale = bk.features(w.select(rows))
            batches.append((task, latents.clone(), bandpower.clone(), scale, w.sensors, readout[rows]))
    params = list(decoder.answer_prototypes.parameters())
    frozen = {p: p.requires_grad for p in decoder.parameters()}
    for p in decoder.parameters():
        p.requires_grad_(p in set(params))
    optimizer = torch.optim.Adam(params, lr=lr)
    decoder.eval()
    try:
        for step in range(steps):
            task, lat, bp, scale, sensors, ro = batches[rng.integers(len(batches))]
            idx = rng.choice(len(lat), size=min(batch_size, len(lat)), replace=False)
            logprob, conn = answer_log_probabilities(decoder, lat[idx], bp[idx], scale, sensors, task,
                                                     readout=ro[idx])
            target = conn.aux_logits.softmax(-1).detach()
            loss = -(target * logprob).sum(-1).mean()
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            if (step + 1) % 20 == 0:
                logger.info("reading step %d/%d: loss %.4f (%s)", step + 1, steps, float(loss.detach()), task)
    finally:
        for p, flag in frozen.items():
            p.requires_grad_(flag)
    agree: dict[str, list] = {}
    with torch.no_grad():
        for task, lat, bp, scale, sensors, ro in batches:
            logprob, conn = answer_log_probabilities(decoder, lat, bp, scale, sensors, task, readout=ro)
            agree.setdefault(task, []).append((logprob.argmax(1) == conn.aux_logits.argmax(1)).numpy())
    return {t: float(np.concatenate(a).mean()) for t, a in agree.items()}
