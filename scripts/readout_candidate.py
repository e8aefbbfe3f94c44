"""Sample entropy tried on every task's read-out (shipped for seizure only: MODEL_CARD.md).

    python scripts/readout_candidate.py [--task T ...] [--data ../shared/data]

In the folds of ``brainkit crossval`` (grouped by subject, recording or excerpt), the read-out
head on the regions' features (the decoder's read-out inputs without sample entropy, its
regularisation, refitted in each fold) is compared with the same head given, beside them, the
sample entropy of every region (:func:`brainkit.models.readout.regularity_features`: m = 2,
r = 0.2 standard deviations, the signal averaged down to 128 Hz, after the read-out's common
average), whether or not the checkpoint ships it for the task. Entropies are read per window, as
``readout_inputs`` appends them. Prints balanced accuracy (%, mean ± std over folds) of both and
their paired difference (± its standard error), with the seconds the entropies took.
"""

from __future__ import annotations

import argparse
import time

import numpy as np


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
    from brainkit.inference import Brainkit, readout_inputs, window_regularity
    from brainkit.models.readout import REGIONS, REGULARISATION, fit_head, softmax_logits
    from brainkit.tasks import get_task

    decoder = Brainkit().decoder
    for task in args.task or ["workload", "eyes", "seizure", "sleep_stage", "motor_imagery"]:
        sets = load_task(task, args.data)
        splits, unit = folds(sets, task)
        with torch.no_grad():
            shipped = [readout_inputs(decoder, s.windows, task).numpy() for s in sets]
            if task in decoder.config.entropy_tasks:
                shipped = [f[:, :-len(REGIONS)] for f in shipped]
            start = time.perf_counter()
            entropy = [window_regularity(s.windows).numpy() for s in sets]
            seconds = time.perf_counter() - start
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
