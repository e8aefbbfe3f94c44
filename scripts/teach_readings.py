"""Cross-validate a taught task's heads with the evoked reading's LDA shrinkage as an option:
README's check of the evoked reading's classifier on data it was not chosen on.

    python scripts/teach_readings.py --corpus p300 [--evoked-shrinkage auto] [--data ../shared/data]
    python scripts/teach_readings.py --annotations S001R04.edf S001R08.edf S001R12.edf \\
        --map T1=left,T2=right --window-s 4 [--evoked-shrinkage auto]

``--corpus TASK`` teaches a built-in event-locked task's recordings (``brainkit.data.corpora``,
e.g. the Muse P300 and N170 sets) as a new task, folds by subject; ``--annotations`` cuts one
window per mapped annotation, as ``brainkit teach --from-annotations`` does. The shipped evoked
reading is the nearest class mean (``--evoked-shrinkage 1``); ``auto`` is Ledoit-Wolf. Prints
balanced accuracy (%) with all training windows and at each learning-curve point.
"""

import argparse
from dataclasses import replace


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    source = p.add_mutually_exclusive_group(required=True)
    source.add_argument("--corpus", help="a built-in event-locked task of the shared corpus")
    source.add_argument("--annotations", nargs="+", help="recordings whose annotations label the windows")
    p.add_argument("--map", help="annotation=label,... (with --annotations)")
    p.add_argument("--window-s", type=float, help="window length (with --annotations)")
    p.add_argument("--evoked-shrinkage", default="1", help="1 (nearest class mean, shipped) or auto")
    p.add_argument("--data", default="../shared/data")
    args = p.parse_args()

    from brainkit.data.corpora import load_task
    from brainkit.data.labelled import annotation_sets, parse_mapping
    from brainkit.models.checkpoint import load_preprocess_config
    from brainkit.tasks import get_task, taught_task
    from brainkit.training import teach as t

    if args.corpus:
        spec = get_task(args.corpus)
        sets = load_task(args.corpus, args.data)
        task = taught_task(f"{args.corpus}_taught", list(spec.answers), spec.window_s, event_locked=True)
    else:
        mapping = parse_mapping(args.map)
        sets = annotation_sets(args.annotations, mapping, args.window_s, None, config=load_preprocess_config(None))
        task = annotation_task("taught", mapping, args.window_s)
    shrinkage = "auto" if args.evoked_shrinkage == "auto" else float(args.evoked_shrinkage)
    families = tuple(replace(f, shrinkage=shrinkage) if f.evoked else f for f in t.families_for(task, sets))
    cv = t.cross_validate(task, sets, families=families)
    print(f"{task.id}: {cv['n_windows']} windows, {cv['n_folds']} folds by {cv['unit']}, "
          f"evoked shrinkage {args.evoked_shrinkage}")
    for name, stats in cv["methods"].items():
        curve = "  ".join(f"{n}: {100 * cv['curve'][n][name]:.1f} ± {100 * cv['curve_std'][n][name]:.1f}"
                          for n in cv["curve"])
        print(f"  {name:62s} all {100 * stats['mean']:.1f} ± {100 * stats['std']:.1f} | {curve}")


if __name__ == "__main__":
    main()
