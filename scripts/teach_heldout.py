"""README's held-out check of a taught task: brainkit's heads and the classical methods fitted on
some runs of a recording session, scored on another run.

    python scripts/teach_heldout.py --train S001R03.edf S001R07.edf --test S001R11.edf \\
        [--map T1=left,T2=right] [--window-s 4]

One window per mapped annotation, as ``brainkit teach --from-annotations`` cuts them (event-locked).
Prints balanced accuracy (%) on the test run of every reading alone, the kept head (no language
model: ``brainkit evaluate --tasks PACK`` scores the language model's answers) and the classical
methods that apply (:func:`brainkit.training.teach.classical_methods`).
"""

import argparse


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--train", nargs="+", required=True, help="recordings to teach on")
    p.add_argument("--test", nargs="+", required=True, help="recordings to score")
    p.add_argument("--map", default="T1=left,T2=right", help="annotation=label,...")
    p.add_argument("--window-s", type=float, default=4.0)
    args = p.parse_args()

    from brainkit.data.labelled import annotation_sets, annotation_task, parse_mapping
    from brainkit.evaluation.baselines import labels_of
    from brainkit.evaluation.metrics import balanced_accuracy
    from brainkit.models.checkpoint import load_preprocess_config
    from brainkit.tasks import taught_tasks
    from brainkit.training import teach as t

    mapping, config = parse_mapping(args.map), load_preprocess_config(None)
    train, test = (annotation_sets(files, mapping, args.window_s, None, config=config)
                   for files in (args.train, args.test))
    task = annotation_task("heldout", mapping, args.window_s)
    families = t.families_for(task, train)
    inputs = t.HeadInputs(t.montage_of(train))
    methods = {f.name: inputs.method(f) for f in (*families, t.kept_family(families))}
    methods.update(t.classical_methods(task, train))
    with taught_tasks([task]):
        y = labels_of(test, task)
        print(f"taught on {len(labels_of(train, task))} windows, scored on {len(y)}")
        for name, fit_predict in methods.items():
            proba = fit_predict(train, test, task.id)
            print(f"  {name:62s} {100 * balanced_accuracy(y, proba.argmax(1)):.1f}")


if __name__ == "__main__":
    main()
