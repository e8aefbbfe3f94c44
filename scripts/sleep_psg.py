"""Sleep staging of one night read from its polysomnogram: the model card's channel test for sleep.

    python scripts/sleep_psg.py [--data ../shared/data] [--checkpoint DIR]

DREAMS excerpt 3 is in the corpus twice: its central derivation (``excerpt3.txt.gz``, C3-A1, the
one sleep trains on, as every DREAMS night) and the polysomnogram it was cut from
(``excerpt3.edf``: O1-A1, C3-A1 and FP1-A1 EEG, besides EOG, EMG and the rest). A clinic uploads
the polysomnogram. The sleep head is fitted on the five other nights (out of fold, the card's
cross-validation fold for excerpt 3), once on every region and once on the central region only
(the regions of ``config.readout_regions``; the same function on the one-channel nights it is
fitted on), and both are applied to excerpt 3 as text file, as polysomnogram (every EEG lead)
and to each lead alone; then the checkpoint's own model (language model included; in-sample:
it was fitted on excerpt 3 too) to the text file and to the polysomnogram. Balanced accuracy and
accuracy (%) against the hypnogram, and how many epochs are answered each stage. About 20 s.
"""

from __future__ import annotations

import argparse
from dataclasses import replace
from pathlib import Path

import numpy as np


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", default="../shared/data")
    p.add_argument("--checkpoint", default=None)
    args = p.parse_args()

    import torch

    from brainkit.data.corpora import dreams_epochs, load_task
    from brainkit.evaluation.metrics import balanced_accuracy
    from brainkit.inference import Brainkit
    from brainkit.io import read_recording, recording_from_raw
    from brainkit.models.readout import softmax_logits
    from brainkit.preprocess import event_windows, preprocess
    from brainkit.tasks import get_task
    from brainkit.training.readout import fitted_head, task_features, with_readout

    task, answers = "sleep_stage", get_task("sleep_stage").answers
    bk = Brainkit(checkpoint=args.checkpoint)
    nights = load_task(task, args.data)
    others = [s for s in nights if s.subject != "dreams-excerpt3"]
    text = next(s for s in nights if s.subject == "dreams-excerpt3")
    folder = Path(args.data) / "dreams"
    onsets, stages = dreams_epochs(folder / "Hypnogram_excerpt3.txt")
    psg = read_recording(folder / "excerpt3.edf")
    eeg = [psg.sensors.names[i] for i in psg.sensors.model_picks]

    readings = {"text file (C3-A1)": text.windows}
    for picks in (eeg, *([name] for name in eeg)):
        recording = psg if picks is eeg else recording_from_raw(psg.raw.copy().pick(picks), "excerpt3")
        label = f"polysomnogram, {'every EEG lead' if picks is eeg else picks[0]} ({', '.join(picks)})"
        readings[label] = event_windows(preprocess(recording, bk.preprocess_config), onsets, stages,
                                        get_task(task).window_s)

    def report(label: str, windows, answered: np.ndarray) -> None:
        truth = np.array([answers.index(stage) for stage in windows.labels])
        counts = ", ".join(f"{a} {n}" for a, n in zip(answers, np.bincount(answered, minlength=len(answers))))
        print(f"  {label:60s} balanced {100 * balanced_accuracy(truth, answered):5.1f}  "
              f"accuracy {100 * (answered == truth).mean():5.1f}  answered: {counts}", flush=True)

    truth_counts = ", ".join(f"{a} {n}" for a, n in zip(answers, np.bincount(
        [answers.index(s) for s in text.windows.labels], minlength=len(answers))))
    print(f"excerpt 3: {len(text.windows)} epochs of 30 s ({truth_counts}); polysomnogram EEG: {', '.join(eeg)}")
    for name, regions in (("every region", ["all"]), ("the central region", ["central"])):
        decoder = with_readout(bk.decoder, [task], regions={task: regions})
        with torch.no_grad():
            weight, bias, _, _ = fitted_head(decoder, others, task)
        print(f"head on {name}, fitted on the five other nights (out of fold):")
        for label, windows in readings.items():
            with torch.no_grad():
                x = task_features(decoder, [replace(text, windows=windows)], task)
            report(label, windows, softmax_logits(x @ weight.T + bias).argmax(1))
    print("the checkpoint's model, language model included (in-sample: fitted on excerpt 3 too):")
    for label in list(readings)[:2]:
        report(label, readings[label], bk.predict(readings[label], task).probabilities.argmax(1))


if __name__ == "__main__":
    main()
