"""A choice of head made across the training people, measured in teach's folds (not shipped).

    python scripts/teach_people.py MANIFEST [--draws 5] [--inner 3]

For a teaching manifest whose windows come from several people (README's ``workload_site`` and
``workload_bipolar``: ``runs/teach/eegmat_workload.csv``, ``runs/teach/eegmat_bipolar.csv``,
written by ``scripts/teach_demos.py``), scores beside teach's readings and the classical
methods one more method, "chosen across people": in each training part, the kept head (the
montage's readings combined) and the regions head are each scored in ``--inner`` folds of the
training part's people (balanced accuracy of their pooled out-of-fold answers), and the better
one (the kept head on a tie, or with fewer than three people) answers the test windows. Same
folds and draws as ``brainkit teach`` (``brainkit.training.teach.cross_validate``). Prints
balanced accuracy (%), mean ± std over draws at each learning-curve point, the share of
training parts where the regions head was chosen, and the folds' scores with all windows.
"""

import argparse
import csv

import numpy as np

CHOSEN = "chosen across people"


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("manifest")
    p.add_argument("--draws", type=int, default=5)
    p.add_argument("--inner", type=int, default=3, help="folds of the training people")
    args = p.parse_args()

    from brainkit.data.labelled import manifest_sets
    from brainkit.evaluation.baselines import labels_of
    from brainkit.evaluation.metrics import balanced_accuracy
    from brainkit.models.checkpoint import load_preprocess_config
    from brainkit.models.readout import softmax_logits
    from brainkit.tasks import get_task, taught_task
    from brainkit.training import teach as t

    _, _, sets = manifest_sets(args.manifest, config=load_preprocess_config(None))
    rows = list(csv.DictReader(open(args.manifest)))
    task = taught_task("taught", sorted({r["label"] for r in rows}), float(rows[0]["duration_s"]))
    families = t.families_for(task, sets)
    kept, regions = t.kept_family(families), next(f for f in families if f.portable)
    made, chose_regions = [], []

    class Inputs(t.HeadInputs):  # the one cross_validate makes, kept for the chosen method
        def __init__(self, *a, **k):
            super().__init__(*a, **k)
            made.append(self)

    def chosen(train, test, task_id):
        spec, inputs = get_task(task_id), made[-1]
        people = sorted({s.subject for s in train})
        best = kept
        if len(people) >= 3:
            groups = np.array_split(np.random.default_rng(0).permutation(people), min(args.inner, len(people)))

            def score(family):
                y, answers = [], []
                for group in groups:
                    fit_on = [s for s in train if s.subject not in group]
                    held = [s for s in train if s.subject in group]
                    y.append(labels_of(held, spec))
                    answers.append(inputs.logits(family, fit_on, held, spec).argmax(1))
                return balanced_accuracy(np.concatenate(y), np.concatenate(answers))

            best = regions if score(regions) > score(kept) else kept
        chose_regions.append(best is regions)
        return softmax_logits(inputs.logits(best, train, test, spec))

    t.HeadInputs = Inputs
    classical = t.classical_methods
    t.classical_methods = lambda *a, **k: {**classical(*a, **k), CHOSEN: chosen}  # scored in the same folds
    cv = t.cross_validate(task, sets, families=families, draws=args.draws)
    print(f"{args.manifest}: {cv['n_windows']} windows, {cv['n_folds']} folds by {cv['unit']}, {args.draws} draws; "
          f"the regions head chosen in {100 * np.mean(chose_regions):.0f} % of training parts")
    for name in cv["curve"][next(iter(cv["curve"]))]:
        print(f"{name[:62]:62s}", "  ".join(f"{n}: {100 * cv['curve'][n][name]:.1f} ± {100 * cv['curve_std'][n][name]:.1f}"
                                            for n in cv["curve"]))
    for name in (kept.name, CHOSEN, *classical(task, sets)):
        print(f"all windows, folds: {name[:50]:50s}", " ".join(f"{100 * v:.1f}" for v in cv["methods"][name]["folds"]))


if __name__ == "__main__":
    main()
