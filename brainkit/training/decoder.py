"""Train the :class:`~brainkit.models.decoder.BrainDecoder` on all tasks at once, and score it.

The frozen parts are computed once: every window of every task goes through the frozen
tokenizer (codes, from which the latents are looked up) and its band powers are taken, then
training only runs the connector and the frozen language model.

One step picks a task (uniformly: small tasks are not drowned by large ones), a layout group of
that task (recordings with the same channels, weighted by size), a class-balanced batch of its
training windows and one of the task's paraphrased questions, and minimises the negative
log-likelihood of the true answer's tokens plus the auxiliary and load-balancing terms.
Validation scores every allowed answer of every validation window (option scoring) and reports
:func:`~brainkit.evaluation.metrics.classification_metrics`; a temperature per task is then fitted on
validation log-likelihoods.

Resumable (``checkpoint/`` with ``train_state.pt``, read with ``weights_only=True``), logs through
the package logger, and runs under ``torchrun`` (DDP, ``gloo`` on CPU): each rank draws its own
batches, rank 0 logs and writes.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from brainkit._logging import logger
from brainkit.models.decoder import BrainDecoder, BrainDecoderConfig
from brainkit.evaluation.metrics import classification_metrics
from brainkit.inference import answer_log_probabilities, window_features
from brainkit.tasks import get_task
from brainkit.training.loop import distributed, load_state, lr_at, save_checkpoint


@dataclass
class FeatureSet:
    """Precomputed inputs of one task and one channel layout.

    codes (N, K, P, L) int16; bandpower (N, C, B) float32; scale (N, C) robust scale of each
    window's recording (absolute amplitude, which robust scaling removed); labels (N,) answer index;
    subjects (N,) str; sensors of the C channels.
    """

    task: str
    codes: np.ndarray
    bandpower: np.ndarray
    scale: np.ndarray
    labels: np.ndarray
    subjects: np.ndarray
    sensors: object

    def __len__(self) -> int:
        return len(self.labels)


@torch.no_grad()
def encode_sets(tokenizer, sets, bands_hz, batch_size: int = 64) -> list[FeatureSet]:
    """Tokenize labelled sets (``brainkit.data.corpora.LabelledSet``) and group them by layout."""
    groups: dict[tuple, list] = {}
    for s in sets:
        groups.setdefault((s.task, tuple(s.windows.sensors.names)), []).append(s)
    out = []
    for (task, _), members in groups.items():
        answers = get_task(task).answers
        codes, bps, scales, labels, subjects = [], [], [], [], []
        for s in members:
            w = s.windows
            for i in range(0, len(w.x), batch_size):
                x = torch.from_numpy(w.x[i:i + batch_size])
                c, _, bp = window_features(tokenizer, x, w.sensors, w.sfreq, bands_hz)
                codes.append(c.to(torch.int16).numpy())
                bps.append(bp.numpy())
            labels += [answers.index(a) for a in w.labels]
            subjects += [s.subject] * len(w.x)
            scales.append(np.broadcast_to(w.scale, (len(w.x), len(w.scale))))
        out.append(FeatureSet(task, np.concatenate(codes), np.concatenate(bps), np.concatenate(scales),
                              np.asarray(labels), np.asarray(subjects), members[0].windows.sensors))
    return out


def _batch(fs: FeatureSet, rng, batch_size: int) -> np.ndarray:
    """Class-balanced window indices of one feature set."""
    classes = np.unique(fs.labels)
    per = rng.choice(classes, size=batch_size)
    return np.array([rng.choice(np.flatnonzero(fs.labels == c)) for c in per])


def _inputs(fs: FeatureSet, idx, tokenizer, device):
    codes = torch.from_numpy(fs.codes[idx].astype(np.int64)).to(device)
    latents = tokenizer.quantizer.lookup(codes)  # (B, K, P, D)
    return latents, torch.from_numpy(fs.bandpower[idx]).to(device), fs.scale[idx]


@torch.no_grad()
def score(decoder: BrainDecoder, tokenizer, sets: list[FeatureSet], batch_size: int = 32,
          use_lm: bool = True) -> dict:
    """Option log-probabilities (normalised over the answers) and metrics per task, at temperature 1.

    With ``use_lm=False`` the auxiliary head's log-probabilities stand in (a cheap check while the
    first stage trains; reported answers always come from the language model).
    """
    decoder.eval()
    by_task: dict[str, dict] = {}
    for fs in sets:
        logps = []
        for i in range(0, len(fs), batch_size):
            idx = np.arange(i, min(i + batch_size, len(fs)))
            lat, bp, scale = _inputs(fs, idx, tokenizer, decoder.device)
            logp, _ = answer_log_probabilities(decoder, lat, bp, scale, fs.sensors, fs.task,
                                               use_lm=use_lm)  # (B, A), temperature 1
            logps.append(logp.float().cpu().numpy())
        entry = by_task.setdefault(fs.task, {"logp": [], "labels": []})
        entry["logp"].append(np.concatenate(logps))
        entry["labels"].append(fs.labels)
    results = {}
    for task, entry in by_task.items():
        logp, labels = np.concatenate(entry["logp"]), np.concatenate(entry["labels"])
        proba = torch.from_numpy(logp).softmax(-1).numpy()
        results[task] = {"logp": logp, "labels": labels,
                         "metrics": classification_metrics(labels, proba, get_task(task).answers)}
    return results


def fit_temperature(logp: np.ndarray, labels: np.ndarray) -> float:
    """Temperature T minimising the NLL of softmax(logp / T) (LBFGS on log T, clamped to 0.05-100).

    A line search makes the steps: with a fixed step LBFGS stopped far from small optima (a
    true T of 0.05 came back as 0.39).
    """
    logp_t, y = torch.from_numpy(logp).double(), torch.from_numpy(labels).long()
    log_t = torch.zeros(1, dtype=torch.float64, requires_grad=True)
    opt = torch.optim.LBFGS([log_t], lr=1.0, max_iter=100, line_search_fn="strong_wolfe")

    def closure():
        opt.zero_grad()
        loss = torch.nn.functional.cross_entropy(logp_t / log_t.exp(), y)
        loss.backward()
        return loss

    opt.step(closure)
    return float(log_t.detach().exp().clamp(0.05, 100.0))


def train(tokenizer, lm, lm_tokenizer, train_sets: list[FeatureSet], val_sets: list[FeatureSet],
          out_dir, config: BrainDecoderConfig | None = None, *, steps=1000, batch_size=16, lr=3e-4,
          seed=0, log_every=20, eval_every=250, ckpt_every=100, resume=True, weight_decay=0.01,
          warmup_steps=50, clip=1.0, tasks=None, aux_steps=0, prototype_lr=3e-3) -> BrainDecoder:
    """Train (or resume) a decoder on precomputed feature sets; returns the trained decoder.

    ``tasks`` restricts training to some task ids (single-task ablations). The first
    ``aux_steps`` of the ``steps`` skip the language model and train the connector through its
    auxiliary heads only (about 5 times cheaper per step on CPU); the rest train end to end, the
    answer prototypes at ``prototype_lr`` (they live on the language model's embedding scale).
    """
    out_dir = Path(out_dir)
    rank, world, device, started = distributed()
    tokenizer = tokenizer.to(device).eval()
    config = config or BrainDecoderConfig(lm_hidden=lm.config.hidden_size,
                                          latent_dim=tokenizer.config.d_model,
                                          n_sources=tokenizer.config.n_sources)
    decoder = BrainDecoder(config).to(device)
    start = 0
    state = load_state(out_dir) if resume else None
    if state is not None:
        decoder = BrainDecoder.from_pretrained(state["path"], use_safetensors=True).to(device)
        start = int(state["step"])
        logger.info("resuming decoder training at step %d", start)
    decoder.attach_lm(lm.to(device), lm_tokenizer)
    if state is None and decoder.config.spectral_head:
        logger.info("spectral heads from logistic regression, training accuracy %s",
                    {t: round(a, 3) for t, a in init_spectral_heads(decoder, train_sets).items()})
    optimizer = _optimizer(decoder, lr, prototype_lr, weight_decay)
    if state is not None:
        optimizer.load_state_dict(state["optimizer"])
    model = decoder
    if world > 1:
        model = torch.nn.parallel.DistributedDataParallel(decoder, find_unused_parameters=True)
    wanted = set(tasks or {fs.task for fs in train_sets})
    by_task: dict[str, list[FeatureSet]] = {}
    for fs in train_sets:
        if fs.task in wanted:
            by_task.setdefault(fs.task, []).append(fs)
    task_ids = sorted(by_task)
    logger.info("training decoder: %d trainable parameters, tasks %s, steps %d..%d, batch %d x %d",
                sum(p.numel() for p in decoder.parameters() if p.requires_grad), task_ids, start,
                steps, batch_size, world)
    args = {"steps": steps, "batch_size": batch_size, "lr": lr, "seed": seed, "tasks": task_ids,
            "aux_steps": aux_steps}
    running, t0 = {}, time.time()
    for step in range(start, steps):
        rng = np.random.default_rng([seed, rank, step])
        torch.manual_seed(seed * 1_000_003 + rank * 7919 + step)
        task = task_ids[rng.integers(len(task_ids))]
        groups = by_task[task]
        fs = groups[rng.choice(len(groups), p=np.array([len(g) for g in groups]) / sum(map(len, groups)))]
        idx = _batch(fs, rng, batch_size)
        lat, bp, scale = _inputs(fs, idx, tokenizer, device)
        question = int(rng.integers(len(get_task(task).questions)))
        for group in optimizer.param_groups:
            group["lr"] = (lr_at(step, steps, group["base_lr"], warmup_steps) if group["schedule"]
                           else group["base_lr"])
        model.train()
        out = model(lat, bp, scale, fs.sensors, task, labels=fs.labels[idx], question_index=question,
                    use_lm=step >= aux_steps)
        optimizer.zero_grad(set_to_none=True)
        out["loss"].backward()
        torch.nn.utils.clip_grad_norm_(decoder.parameters(), clip)
        optimizer.step()
        for k, v in {"loss": out["loss"], **out["losses"]}.items():
            running[k] = running.get(k, 0.0) + float(torch.as_tensor(v).detach())
        acc = (out["logp"].argmax(1).cpu().numpy() == fs.labels[idx]).mean()
        running["acc"] = running.get("acc", 0.0) + acc
        if rank == 0 and (step + 1) % log_every == 0:
            n = log_every
            logger.info("step %d/%d | %s | lr %.2e | %.2f s/step", step + 1, steps,
                        " ".join(f"{k} {v / n:.3f}" for k, v in running.items()),
                        lr_at(step, steps, lr, warmup_steps), (time.time() - t0) / n)
            running, t0 = {}, time.time()
        if rank == 0 and (step + 1) % ckpt_every == 0:
            save_checkpoint(decoder, optimizer, step + 1, args, out_dir)
        if rank == 0 and val_sets and (step + 1) % eval_every == 0:
            _log_scores(score(decoder, tokenizer, [v for v in val_sets if v.task in wanted],
                              use_lm=step >= aux_steps), "" if step >= aux_steps else " (aux head)")
    if rank == 0:
        save_checkpoint(decoder, optimizer, steps, args, out_dir)
    if started:
        torch.distributed.destroy_process_group()
    return decoder


def spectral_statistics(fs: FeatureSet) -> np.ndarray:
    """What the decoder's spectral head reads (:func:`brainkit.models.spectral.spectral_statistics`) for
    every window of a feature set: log band powers and log robust scale (+5) per channel."""
    from brainkit.models.spectral import channel_features, spectral_statistics as stats
    from brainkit.models.tokenizer import sensor_tensors

    feat = channel_features(torch.from_numpy(fs.bandpower).float(), fs.scale)
    return stats(feat, sensor_tensors(fs.sensors).pos).numpy()


def init_spectral_heads(decoder: BrainDecoder, train_sets: list[FeatureSet], C: float = 1.0) -> dict:
    """Start each task's spectral head at the logistic regression of its training windows.

    A linear read-out learns slowly by gradient steps shared among nine tasks; fitted in closed
    form (scikit-learn, class-balanced, standardised features folded back into the weights) it
    starts where the classical band-power baseline is, and training refines it with the rest.
    Returns the training accuracy of each fit.
    """
    from sklearn.linear_model import LogisticRegression

    fitted = {}
    for task in decoder.config.task_ids:
        sets = [fs for fs in train_sets if fs.task == task]
        if not sets or task not in decoder.spectral_heads:
            continue
        x = np.concatenate([spectral_statistics(fs) for fs in sets])
        y = np.concatenate([fs.labels for fs in sets])
        if len(np.unique(y)) < 2:
            continue
        mu, sd = x.mean(0), x.std(0) + 1e-6
        model = LogisticRegression(C=C, max_iter=2000, class_weight="balanced").fit((x - mu) / sd, y)
        coef, bias = model.coef_, model.intercept_
        if len(model.classes_) == 2:  # one logit -> two: [0, z]
            coef, bias = np.vstack([np.zeros_like(coef), coef]), np.array([0.0, bias[0]])
        head = decoder.spectral_heads[task]
        weight = np.zeros(tuple(head.weight.shape))
        offset = np.full(head.weight.shape[0], -10.0)  # classes absent from training: unlikely
        weight[model.classes_] = coef / sd
        offset[model.classes_] = bias - (coef * mu / sd).sum(1)
        with torch.no_grad():
            head.weight.copy_(torch.from_numpy(weight))
            head.bias.copy_(torch.from_numpy(offset))
        fitted[task] = float(model.score((x - mu) / sd, y))
    return fitted


def _optimizer(decoder, lr, prototype_lr, weight_decay, linear_lr_factor: float = 1.0):
    """AdamW in three groups: the connector; the linear band-power heads at ``linear_lr_factor``
    times its rate; the answer prototypes at a constant ``prototype_lr`` without decay (they only learn once
    the language-model stage starts, late in the connector's schedule)."""
    groups = {"answer_prototypes.": [], "spectral_heads.": [], "": []}
    for name, p in decoder.named_parameters():
        if p.requires_grad:
            groups[next(k for k in groups if name.startswith(k))].append(p)
    return torch.optim.AdamW([
        {"params": groups[""], "base_lr": lr, "lr": lr, "schedule": True},
        {"params": groups["spectral_heads."], "base_lr": lr * linear_lr_factor,
         "lr": lr * linear_lr_factor, "schedule": True},
        {"params": groups["answer_prototypes."], "base_lr": prototype_lr, "lr": prototype_lr,
         "weight_decay": 0.0, "schedule": False},
    ], lr=lr, weight_decay=weight_decay)


def _log_scores(results: dict, note: str = "") -> None:
    for task, r in sorted(results.items()):
        m = r["metrics"]
        logger.info("val %s%s: n %d balanced accuracy %.3f kappa %.3f", task, note, m["n"],
                    m["balanced_accuracy"], m["cohen_kappa"])


def prepare(tokenizer, data_dir=None, tasks=None, bands_hz=None):
    """(train feature sets, val feature sets) of every task, from ``brainkit.data.corpora``."""
    from brainkit.data.corpora import load_tasks

    bands_hz = bands_hz or BrainDecoderConfig().bands_hz
    loaded = load_tasks(tasks, data_dir)
    train_sets = [s for sets in loaded.values() for s in sets if s.split == "train"]
    val_sets = [s for sets in loaded.values() for s in sets if s.split == "val"]
    return encode_sets(tokenizer, train_sets, bands_hz), encode_sets(tokenizer, val_sets, bands_hz)


def calibrate(decoder, tokenizer, val_sets) -> dict:
    """Fit a temperature per task on validation log-likelihoods; store them in the config.

    Returns the validation results (metrics at temperature 1; accuracy does not depend on it),
    each with its ``temperature`` and ``ece_calibrated``.
    """
    from brainkit.evaluation.metrics import expected_calibration_error

    results = score(decoder, tokenizer, val_sets)
    temperatures = {}
    for task, r in results.items():
        t = fit_temperature(r["logp"], r["labels"])
        temperatures[task] = t
        proba = torch.from_numpy(r["logp"] / t).softmax(-1).numpy()
        r["temperature"] = t
        r["ece_calibrated"] = expected_calibration_error(r["labels"], proba)
        r["metrics"]["ece"] = r["ece_calibrated"]
    decoder.config.temperatures = temperatures
    return results
