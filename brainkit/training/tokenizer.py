"""Train a :class:`~brainkit.models.tokenizer.BrainTokenizer` on windowed recordings, and evaluate it.

The corpus is a list of items, each with ``.x`` (N, C, T) float32 windows at the tokenizer's
sampling rate, ``.sensors`` (:class:`~brainkit.sensors.SensorArray` of the C channels; channels of
other kinds than eeg/mag/grad are left out) and ``.device`` (name of the recording device).

One training step:

1. picks a device with probability proportional to the square root of its window count (or
   uniformly), then one of its items with probability proportional to its
   number of windows (so a large MEG set does not drown the small EEG ones), then ``batch_size``
   windows of that item (one C per batch) and a random crop of ``crop_s`` seconds in each;
2. keeps at most ``max_channels`` channels (a random subset, same for the batch) to bound the step
   cost; with probability ``few_channels`` keeps only 1 to 12 of them instead, so that small
   montages (a 4-channel headset, a 2-channel sleep recorder) are trained on from every cap, not
   only from the few devices that are small themselves; then hides a random fraction (up to ``max_drop``, at least one channel stays) of them from
   the encoder, per window; the decoder still rebuilds every kept channel (``rebuild_dropped``),
   so the sources learn to stand for the whole field, not only the visible sensors;
3. AdamW, linear warm-up then cosine decay to a tenth of ``lr``, gradient clipping.

Randomness is a function of ``(seed, rank, step)`` (both numpy and torch are re-seeded every step),
so a resumed run draws exactly the batches an uninterrupted run would have drawn.

Under ``torchrun`` (``WORLD_SIZE`` > 1) the model is wrapped in DistributedDataParallel (backend
``gloo`` on CPU, ``nccl`` on GPU); every rank draws its own batches, codebook statistics are summed
over ranks, and only rank 0 logs and writes.

Files in ``out_dir``: the final model (``config.json`` + ``model.safetensors``) and ``checkpoint/``
(the same two files plus ``train_state.pt``: step, optimizer state and the training arguments, all
tensors and plain values, read back with ``torch.load(weights_only=True)``).
"""

from __future__ import annotations

import time
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.distributed as dist

from brainkit._logging import logger
from brainkit.training.loop import CHECKPOINT_DIR, distributed, load_state, lr_at, save_checkpoint
from brainkit.errors import BrainkitError
from brainkit.preprocess import evenly_spaced
from brainkit.models.tokenizer import (BrainTokenizer, BrainTokenizerConfig, codebook_usage,
                                reconstruction_r, sensor_tensors)



def _model_channels(item):
    """Windows (N, C', T) and SensorArray of the channels the model takes."""
    picks = item.sensors.model_picks
    if len(picks) == 0:
        raise BrainkitError(f"a corpus item of device {item.device!r} has no EEG or MEG channel")
    return item.x[:, picks], item.sensors.pick(picks)


def device_weights(corpus, rule: str = "sqrt") -> tuple[list[str], np.ndarray]:
    """Devices and the probability of drawing each: ``uniform``, or ``sqrt`` of its window count
    (large sets are seen more often, a device with one short file is not seen as often as a
    corpus of hundreds of recordings)."""
    counts: dict[str, int] = {}
    for item in corpus:
        counts[item.device] = counts.get(item.device, 0) + len(item.x)
    devices = sorted(counts)
    if rule == "uniform":
        w = np.ones(len(devices))
    elif rule == "sqrt":
        w = np.sqrt([counts[d] for d in devices])
    else:
        raise BrainkitError(f"device weighting must be 'uniform' or 'sqrt', not {rule!r}")
    return devices, w / w.sum()


def sample_batch(corpus, rng, batch_size, n_times, max_channels=64, max_drop=0.5,
                 weighting: str = "sqrt", few_channels: float = 0.0):
    """Draw one training batch (see the module docstring for the rule).

    Parameters
    ----------
    corpus : list of items with ``.x``, ``.sensors``, ``.device``
    rng : numpy.random.Generator
    batch_size : int
    n_times : int
        Crop length in samples (the whole window when windows are shorter).
    max_channels : int
        Most channels kept in a batch.
    max_drop : float
        Largest fraction of the kept channels hidden from the encoder in a window.
    few_channels : float
        Probability of keeping only a random 1 to 12 channels (when the recording has more than
        4), a small montage cut from a large one.

    Returns
    -------
    x : ndarray, shape (B, C, T), float32
    sensors : SensorArray of the C channels
    visible : ndarray, shape (B, C), bool
        Channels the encoder sees (at least one per window).
    """
    devices, p = device_weights(corpus, weighting)
    device = devices[rng.choice(len(devices), p=p)]
    items = [item for item in corpus if item.device == device]
    sizes = np.array([len(item.x) for item in items], dtype=float)
    item = items[rng.choice(len(items), p=sizes / sizes.sum())]
    x, sensors = _model_channels(item)
    N, C, T = x.shape
    n_keep = min(C, max_channels)
    if C > 4 and rng.random() < few_channels:
        n_keep = int(rng.integers(1, min(C, 12) + 1))
    if n_keep < C:
        keep = np.sort(rng.choice(C, n_keep, replace=False))
        x, sensors, C = x[:, keep], sensors.pick(keep), n_keep
    rows = rng.choice(N, batch_size, replace=N < batch_size)  # (B,)
    n = min(n_times, T)
    starts = rng.integers(0, T - n + 1, size=batch_size)  # (B,)
    batch = np.stack([x[r, :, s:s + n] for r, s in zip(rows, starts)]).astype(np.float32)  # (B, C, n)
    n_hidden = np.floor(rng.random(batch_size) * max_drop * C).astype(int).clip(0, C - 1)  # (B,)
    rank = rng.random((batch_size, C)).argsort(-1).argsort(-1)  # (B, C) random rank of each channel
    visible = rank >= n_hidden[:, None]  # (B, C)
    return batch, sensors, visible


def _settings(config):
    skip = ("_name_or_path", "transformers_version", "architectures", "dtype")
    return {k: v for k, v in config.to_dict().items() if k not in skip}


def train(corpus, out_dir, config: BrainTokenizerConfig | None = None, *, steps=3000, batch_size=16,
          lr=1e-3, seed=0, log_every=50, ckpt_every=500, resume=True, crop_s=4.0, max_channels=64,
          max_drop=0.5, rebuild_dropped=True, weight_decay=0.01, warmup_steps=None, clip=1.0,
          weighting="sqrt", init_from=None, few_channels=0.4):
    """Train (or resume training) a tokenizer.

    Parameters
    ----------
    corpus : list
        Items with ``.x`` (N, C, T) float32, ``.sensors`` (SensorArray) and ``.device`` (str).
    out_dir : str or Path
        Where the final model and ``checkpoint/`` go.
    config : BrainTokenizerConfig, optional
        Model hyper-parameters (default config when None); ignored when resuming (the
        checkpoint's own config is used).
    steps : int
        Total optimizer steps (a resumed run continues up to this number).
    batch_size : int
        Windows per step and per rank.
    lr : float
        Peak learning rate.
    seed : int
        Seeds model initialisation and every batch draw.
    log_every, ckpt_every : int
        Steps between log lines and between checkpoints (also one at the end).
    resume : bool
        Continue from ``out_dir/checkpoint`` when it exists.
    crop_s : float
        Training crop length in seconds.
    max_channels, max_drop, rebuild_dropped, few_channels
        Channel subsampling and dropout, see the module docstring.
    weight_decay, warmup_steps, clip
        AdamW weight decay, warm-up length (default ``min(200, steps // 20)``), gradient-norm clip.

    Returns
    -------
    BrainTokenizer
        The trained model, in eval mode.
    """
    if not corpus:
        raise BrainkitError("the tokenizer corpus is empty: give at least one recording")
    rank, world, device, started = distributed()
    out_dir = Path(out_dir)
    ckpt = out_dir / CHECKPOINT_DIR
    args = {"steps": steps, "batch_size": batch_size, "lr": lr, "seed": seed, "crop_s": crop_s,
            "max_channels": max_channels, "max_drop": max_drop, "rebuild_dropped": rebuild_dropped,
            "weight_decay": weight_decay, "clip": clip, "world_size": world, "weighting": weighting, "few_channels": few_channels}
    start = 0
    state = load_state(out_dir) if resume else None
    if state is not None:
        model = BrainTokenizer.from_pretrained(ckpt)
        start = int(state["step"])
        if rank == 0:
            logger.info("resuming tokenizer training from %s at step %d", ckpt, start)
            if config is not None and _settings(config) != _settings(model.config):
                logger.warning("resuming with the checkpoint's model config; the config passed in differs "
                               "and is ignored (use resume=False or another out_dir to start afresh)")
    elif init_from is not None:  # fine-tune a saved tokenizer (fresh optimizer and schedule)
        model = BrainTokenizer.from_pretrained(init_from, use_safetensors=True)
        if rank == 0:
            logger.info("starting from the tokenizer in %s", init_from)
    else:
        torch.manual_seed(seed)
        model = BrainTokenizer(config or BrainTokenizerConfig())
    model.to(device).train()
    decay = [p for n, p in model.named_parameters() if p.ndim >= 2]
    no_decay = [p for n, p in model.named_parameters() if p.ndim < 2]
    optimizer = torch.optim.AdamW([{"params": decay, "weight_decay": weight_decay},
                                   {"params": no_decay, "weight_decay": 0.0}], lr=lr, betas=(0.9, 0.95))
    if state is not None:
        optimizer.load_state_dict(state["optimizer"])
    net = model
    if world > 1:
        net = torch.nn.parallel.DistributedDataParallel(model, device_ids=[device] if device.type == "cuda" else None)
    cfg = model.config
    n_times = int(round(crop_s * cfg.sfreq))
    warmup = warmup_steps if warmup_steps is not None else max(1, min(200, steps // 20))
    if rank == 0:
        n_params = sum(p.numel() for p in model.parameters())
        logger.info("training tokenizer: %d parameters, %d corpus items, steps %d..%d, batch %d x %d rank(s)",
                    n_params, len(corpus), start, steps, batch_size, world)
    sums, n_logged, tic = defaultdict(float), 0, time.time()
    for step in range(start, steps):
        rng = np.random.default_rng([seed, rank, step])
        torch.manual_seed(seed * 1_000_003 + step * 1009 + rank)
        x, sensors, visible = sample_batch(corpus, rng, batch_size, n_times, max_channels, max_drop,
                                           weighting, few_channels)
        for group in optimizer.param_groups:
            group["lr"] = lr_at(step, steps, lr, warmup)
        x_t = torch.from_numpy(x).to(device)
        target = None if not rebuild_dropped else np.ones_like(visible)
        out = net(x_t, sensor_tensors(sensors, device), channel_mask=torch.from_numpy(visible).to(device),
                  target_mask=None if target is None else torch.from_numpy(target).to(device))
        optimizer.zero_grad(set_to_none=True)
        out.loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), clip)
        optimizer.step()

        if rank == 0:
            sums["loss"] += out.loss.item()
            for k, v in out.losses.items():
                sums[k] += v.item()
            sums["r"] += reconstruction_r(x, out.reconstruction, visible)
            n_logged += 1
            if (step + 1) % log_every == 0 or step + 1 == steps:
                usage = out.usage
                terms = " ".join(f"{k} {sums[k] / n_logged:.4f}" for k in ("mse", "corr", "amp", "phase", "commit"))
                logger.info("step %d/%d | loss %.4f (%s) | r %.3f | codes used %s | perplexity %s | lr %.2e | %.2f steps/s",
                            step + 1, steps, sums["loss"] / n_logged, terms, sums["r"] / n_logged,
                            "/".join(f"{u:.2f}" for u in usage["fraction_used"]),
                            "/".join(f"{p:.0f}" for p in usage["perplexity"]),
                            optimizer.param_groups[0]["lr"], n_logged / (time.time() - tic))
                sums, n_logged, tic = defaultdict(float), 0, time.time()
            if (step + 1) % ckpt_every == 0 or step + 1 == steps:
                save_checkpoint(model, optimizer, step + 1, args, out_dir)
    if rank == 0:
        model.save_pretrained(out_dir)
        logger.info("tokenizer saved to %s", out_dir)
    if world > 1:
        dist.barrier()
    if started:
        dist.destroy_process_group()
    return model.eval()


@torch.inference_mode()
def evaluate(model: BrainTokenizer, corpus, *, batch_size=32, max_windows=256) -> dict:
    """Reconstruction quality and codebook usage per device (eval mode, codebooks untouched).

    Parameters
    ----------
    model : BrainTokenizer
    corpus : list of items with ``.x``, ``.sensors``, ``.device``
    batch_size : int
        Windows per forward pass.
    max_windows : int
        At most this many windows per item (evenly spaced), to bound the time.

    Returns
    -------
    dict
        ``{"devices": {device: {"n_windows", "reconstruction_r", "loss", "losses",
        "codebook_usage"}}, "reconstruction_r": mean over devices, "loss": mean over devices}``.
    """
    was_training = model.training
    model.eval()
    acc = defaultdict(lambda: {"n": 0, "r": 0.0, "r_n": 0, "losses": defaultdict(float), "codes": []})
    for item in corpus:
        x, sensors = _model_channels(item)
        rows = evenly_spaced(len(x), max_windows)
        a = acc[item.device]
        for i in range(0, len(rows), batch_size):
            xb = x[rows[i:i + batch_size]]  # (B, C, T)
            out = model(xb, sensors)
            B, C = xb.shape[:2]
            a["n"] += B
            a["r"] += reconstruction_r(xb, out.reconstruction) * B * C
            a["r_n"] += B * C
            a["losses"]["loss"] += float(out.loss) * B
            for k, v in out.losses.items():
                a["losses"][k] += float(v) * B
            a["codes"].append(out.codes.reshape(-1, out.codes.shape[-1]))
    devices = {}
    for name, a in sorted(acc.items()):
        losses = {k: v / a["n"] for k, v in a["losses"].items()}
        devices[name] = {
            "n_windows": a["n"],
            "reconstruction_r": a["r"] / max(a["r_n"], 1),
            "loss": losses.pop("loss"),
            "losses": losses,
            "codebook_usage": codebook_usage(torch.cat(a["codes"]), model.config.codebook_size),
        }
    model.train(was_training)
    return {"devices": devices,
            "reconstruction_r": float(np.mean([d["reconstruction_r"] for d in devices.values()])),
            "loss": float(np.mean([d["loss"] for d in devices.values()]))}


#: Devices never shown to the shipped tokenizer, to measure zero-shot reconstruction: a 4-channel
#: dry-electrode headset, an MEG system, and two research caps from other labs (the EEGLAB sample's
#: 32-channel cap, a 61-channel BrainVision recording).
HOLDOUT_DEVICES = ("Muse-4", "KIT-157", "EEGLAB 32ch", "BrainVision 61ch")


@dataclass
class SimulatedItem:
    """A simulated recording as a corpus item (``.x``, ``.sensors``, ``.device``, ``.source``)."""

    windows: object
    device: str
    source: str
    split: str = "train"

    @property
    def x(self):
        return self.windows.x

    @property
    def sensors(self):
        return self.windows.sensors


def simulated_corpus(seed: int = 100, window_s: float = 4.0, max_windows: int = 256) -> list:
    """Simulated EEG (19 and 32 channels), sleep and 306-channel MEG recordings, seeds distinct
    from the shipped samples, as tokenizer training items."""
    from brainkit.io import recording_from_raw
    from brainkit.preprocess import make_windows
    from brainkit.data.simulate import simulate_eyes, simulate_meg, simulate_oddball, simulate_sleep

    raws = [("sim 10-20 19ch", simulate_eyes(240.0, seed=seed)),
            ("sim 10-10 32ch", simulate_oddball(240.0, n_channels=32, seed=seed + 1)),
            ("sim PSG 2ch", simulate_sleep(3600.0, seed=seed + 2, eog=False)),
            ("sim Neuromag-306", simulate_meg(120.0, seed=seed + 3))]
    items = []
    for device, raw in raws:
        windows = make_windows(recording_from_raw(raw, device), window_s)
        keep = evenly_spaced(len(windows), max_windows)
        items.append(SimulatedItem(windows.select(keep), device, f"simulated:{device}"))
    return items


def build_corpus(data_dir=None, holdout_devices=HOLDOUT_DEVICES, simulated: bool = True):
    """(train items, evaluation items) for the tokenizer.

    Training: every recording of ``data_dir`` that is no task's validation data and whose device
    is not held out, plus simulated recordings. Evaluation: the held-out devices (zero-shot) and
    the validation recordings of the seen devices.
    """
    from brainkit.data.corpus import unlabelled_corpus

    corpus = unlabelled_corpus(data_dir)
    train_items = [c for c in corpus if c.split == "train" and c.device not in holdout_devices]
    eval_items = [c for c in corpus if c.split != "train" or c.device in holdout_devices]
    if simulated:
        train_items += simulated_corpus()
    return train_items, eval_items
