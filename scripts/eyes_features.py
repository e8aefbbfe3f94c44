"""The model card's eyes ablation: which read-out features the eyes head reads, judged in the
cross-validation folds and on two recordings of other labs.

    python scripts/eyes_features.py [--data ../shared/data]

For each set of read-out features (every feature; the spectral set the shipped head reads; the
relative band powers alone, with their ratios, with their ratios and the alpha peak; every
feature but the amplitude and recording power; the spectrum with Hjorth's mobility and
complexity; six alpha-centred features), the read-out head (a class-balanced logistic regression,
the shipped regularisation) is refitted in each fold of ``brainkit crossval``'s eyes folds
(balanced accuracy, mean ± std over folds), then fitted on every eyes window and applied to the
LEMON resting recording (eyes closed) and YASA's resting eyes-open snippet: the share of their
windows it answers right, their mean, and the simulated sample's windows answered right. The
read-out head alone (no language model). About 2 minutes.
"""

from __future__ import annotations

import argparse

import numpy as np


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", default="../shared/data")
    args = p.parse_args()

    from pathlib import Path

    import torch

    from brainkit.data.corpora import load_task
    from brainkit.evaluation.baselines import labels_of
    from brainkit.evaluation.crossval import folds
    from brainkit.evaluation.metrics import balanced_accuracy
    from brainkit.inference import Brainkit, readout_inputs
    from brainkit.io import read_recording
    from brainkit.models.readout import FEATURE_NAMES, FEATURE_SETS, REGIONS, fit_head, softmax_logits
    from brainkit.preprocess import annotation_windows, preprocess, sliding_windows
    from brainkit.tasks import get_task

    task, answers = "eyes", get_task("eyes").answers
    bk = Brainkit()
    sets = load_task(task, args.data)
    splits, unit = folds(sets, task)
    with torch.no_grad():
        features = [readout_inputs(bk.decoder, s.windows, task).numpy() for s in sets]
    external = {}  # name -> (features, the answer index every window should get)
    for name, rel, state in (("LEMON", "formats/tuab_lemon/lemon_sub-032301/sub-032301.vhdr", "closed"),
                             ("YASA", "yasa_snippets/data_resting_EO_200Hz_raw.fif", "open")):
        w = sliding_windows(preprocess(read_recording(Path(args.data) / rel), bk.preprocess_config), 4.0)
        with torch.no_grad():
            external[name] = (readout_inputs(bk.decoder, w, task).numpy(), answers.index(state))
    sample = read_recording(Path(__file__).resolve().parents[1] / "sample_data" / "eyes_open_closed.edf")
    sw = annotation_windows(preprocess(sample, bk.preprocess_config), sample.annotations,
                            {"eyes open": "open", "eyes closed": "closed"}, 4.0, stride_s=4.0)
    with torch.no_grad():
        sample_x = readout_inputs(bk.decoder, sw, task).numpy()
    sample_y = np.array([answers.index(label) for label in sw.labels])

    names = [f for _ in REGIONS for f in FEATURE_NAMES]
    spectral = list(FEATURE_SETS["spectral"])
    subsets = {
        "every feature": FEATURE_NAMES,
        "spectral (shipped)": spectral,
        "relative band powers": spectral[:7],
        "band powers and ratios": spectral[:10],
        "band powers, ratios, alpha peak and prominence": spectral[:10] + ["alpha_peak_hz", "alpha_prominence"],
        "all but amplitude and recording power": [f for f in FEATURE_NAMES
                                                  if f not in ("relative_amplitude", "recording_power")],
        "spectral and Hjorth": spectral + ["hjorth_mobility", "hjorth_complexity"],
        "spectral and relative amplitude": spectral + ["relative_amplitude"],
        "alpha-centred six": ["rel_alpha", "log_alpha/theta", "alpha_prominence", "rel_theta", "rel_beta",
                              "rel_delta"],
    }
    print(f"eyes: {len(sets)} recordings, {len(splits)} folds by {unit}")
    for label, kept in subsets.items():
        cols = [i for i, f in enumerate(names) if f in kept]
        scores = []
        for split in splits:
            weight, bias = fit_head(np.concatenate([features[j][:, cols] for j in split.train]),
                                    labels_of([sets[j] for j in split.train], task), len(answers))
            logits = np.concatenate([features[j][:, cols] for j in split.test]) @ weight.T + bias
            scores.append(balanced_accuracy(labels_of([sets[j] for j in split.test], task),
                                            softmax_logits(logits).argmax(1)))
        scores = 100 * np.array(scores)
        weight, bias = fit_head(np.concatenate([f[:, cols] for f in features]), labels_of(sets, task), len(answers))
        right = {name: float(((x[:, cols] @ weight.T + bias).argmax(1) == y).mean()) for name, (x, y) in external.items()}
        on_sample = float(((sample_x[:, cols] @ weight.T + bias).argmax(1) == sample_y).mean())
        print(f"{label:48s} folds {scores.mean():.1f} ± {scores.std():.1f} | right: "
              + ", ".join(f"{n} {100 * v:.0f} %" for n, v in right.items())
              + f", mean {100 * np.mean(list(right.values())):.1f} % | sample {100 * on_sample:.0f} %", flush=True)


if __name__ == "__main__":
    main()
