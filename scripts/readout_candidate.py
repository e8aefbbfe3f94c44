"""A candidate read-out feature tried on every task before it is shipped: sample entropy.

    python scripts/readout_candidate.py [--task T ...] [--data ../shared/data]

In the folds of ``brainkit crossval`` (grouped by subject, recording or excerpt), the read-out
head as shipped (the decoder's read-out inputs, its regularisation, refitted in each fold: the
card's "read-out head" column) is compared with the same head given, beside its inputs, the
sample entropy of every channel (``scripts/seizure_features.py``: m = 2, r = 0.2 standard
deviations, the signal averaged over pairs of samples, 128 Hz from the preprocessed 256 Hz)
averaged over the read-out's scalp regions after its common average reference. A sequence task
(sleep) reads the entropies as it reads its other features: over the night and with their
neighbours. Prints balanced accuracy (%, mean ± std over folds) of both and their paired
difference (± its standard error), with the seconds the entropies took. Nothing here is shipped.
"""

from __future__ import annotations

import argparse
import time

import numpy as np


def region_entropy(windows) -> np.ndarray:
    """Sample entropy of every channel of ``windows`` pooled over the read-out's regions, (N, R)."""
    from seizure_features import sample_entropy

    from brainkit.models.readout import MIN_AVERAGE_REFERENCE_CHANNELS, region_weights

    x = windows.x.astype(np.float64)
    if x.shape[1] >= MIN_AVERAGE_REFERENCE_CHANNELS:  # the read-out's common average, in volts
        volts = x * np.asarray(windows.scale, dtype=np.float64)[..., None]
        x = volts - volts.mean(1, keepdims=True)
    z = (x - x.mean(-1, keepdims=True)) / (x.std(-1, keepdims=True) + 1e-30)
    n, c, t = z.shape
    halved = z.reshape(n * c, t)[:, :t // 2 * 2].reshape(n * c, -1, 2).mean(-1)
    entropy = sample_entropy(halved).reshape(n, c)
    return entropy @ region_weights(windows.sensors.pos, windows.sensors.has_position).T


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--task", action="append",
                   help="default: workload, eyes, seizure, sleep_stage, motor_imagery")
    p.add_argument("--data", default=None)
    args = p.parse_args()

    import torch

    from brainkit.data.corpora import load_task
    from brainkit.evaluation.baselines import labels_of
    from brainkit.evaluation.crossval import folds
    from brainkit.evaluation.metrics import balanced_accuracy
    from brainkit.inference import Brainkit, readout_inputs
    from brainkit.models.readout import REGULARISATION, fit_head, sequence_features, softmax_logits
    from brainkit.tasks import get_task

    decoder = Brainkit().decoder
    for task in args.task or ["workload", "eyes", "seizure", "sleep_stage", "motor_imagery"]:
        sets = load_task(task, args.data)
        splits, unit = folds(sets, task)
        with torch.no_grad():
            shipped = [readout_inputs(decoder, s.windows, task).numpy() for s in sets]
        start = time.perf_counter()
        entropy = [region_entropy(s.windows) for s in sets]
        seconds = time.perf_counter() - start
        if task in decoder.config.sequence_tasks:
            entropy = [sequence_features(torch.from_numpy(e), s.windows.starts_s).numpy()
                       for e, s in zip(entropy, sets)]
        with_entropy = [np.concatenate([a, e], 1) for a, e in zip(shipped, entropy)]
        n_answers, C = len(get_task(task).answers), REGULARISATION.get(task, 1.0)

        def cross_validate(features) -> np.ndarray:
            scores = []
            for split in splits:
                train, test = [sets[j] for j in split.train], [sets[j] for j in split.test]
                weight, bias = fit_head(np.concatenate([features[j] for j in split.train]),
                                        labels_of(train, task), n_answers, C)
                logits = np.concatenate([features[j] for j in split.test]) @ weight.T + bias
                scores.append(balanced_accuracy(labels_of(test, task), softmax_logits(logits).argmax(1)))
            return 100 * np.array(scores)

        head, candidate = cross_validate(shipped), cross_validate(with_entropy)
        gap = candidate - head
        print(f"{task} ({len(splits)} folds by {unit}): read-out head {head.mean():.1f} ± {head.std():.1f}; "
              f"+ sample entropy {candidate.mean():.1f} ± {candidate.std():.1f}; paired "
              f"{gap.mean():+.1f} ± {gap.std(ddof=1) / np.sqrt(len(gap)):.1f}; entropies {seconds:.0f} s",
              flush=True)


if __name__ == "__main__":
    main()
