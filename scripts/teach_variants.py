"""README's variants of the kept head tried at 10 windows per class and not kept, in teach's folds.

    python scripts/teach_variants.py motor_exec|motor_img|square [--draws 20] [--evoked-filters 4]
        [--data ../shared/data]

Cross-validates (``brainkit.training.teach.cross_validate``, the same folds and draws as
``brainkit teach``) each reading alone, the kept head, the classical methods, and beside them:

- ``evoked + spatial``, ``evoked + channels``: two of the kept head's readings, their logits summed;
- ``xDAWN power``: the log-power of each xDAWN filter's output (shrinkage LDA), alone and added
  to the evoked reading, to the evoked and spatial ones, and to the kept head;
- ``evoked by logistic regression``: the evoked time courses read by logistic regression;
- ``spatial + xDAWN-TS``, ``evoked + spatial + xDAWN-TS``: xDAWN + tangent space's
  log-probabilities added to those readings' logits.

``--evoked-filters 2`` fits two xDAWN filters per class (the shipped reading fits four) for every
reading and variant. ``motor_exec`` / ``motor_img``: EEGMMIDB S001 runs 3, 7, 11 / 4, 8, 12, one
4-s window per cue; ``square``: ``runs/teach/eeglab_square.csv`` (``scripts/teach_demos.py``).
Prints balanced accuracy (%), mean ± std over draws, at each learning-curve point.
"""

import argparse

import numpy as np


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("demo", choices=["motor_exec", "motor_img", "square"])
    p.add_argument("--draws", type=int, default=20)
    p.add_argument("--evoked-filters", type=int, default=4)
    p.add_argument("--data", default="../shared/data")
    args = p.parse_args()

    from brainkit.evaluation.baselines import labels_of, xdawn_tangent
    from brainkit.data.labelled import annotation_sets, manifest_sets, parse_mapping
    from brainkit.models.checkpoint import load_preprocess_config
    from brainkit.models.readout import fit_lda_head, softmax_logits
    from brainkit.tasks import get_task, taught_task
    from brainkit.training import teach as t

    config = load_preprocess_config(None)
    if args.demo == "square":
        _, _, sets = manifest_sets("runs/teach/eeglab_square.csv", config=config)
        task = taught_task("taught", ["position_1", "position_2"], 0.6, event_locked=True)
    else:
        runs = (3, 7, 11) if args.demo == "motor_exec" else (4, 8, 12)
        files = [f"{args.data}/eegmmidb/S001/S001R{r:02d}.edf" for r in runs]
        sets = annotation_sets(files, parse_mapping("T1=left,T2=right"), 4.0, None, config=config)
        task = taught_task("taught", ["left", "right"], 4.0, event_locked=True)

    fit_filters = t.fit_evoked_filters
    t.fit_evoked_filters = lambda x, labels, n=args.evoked_filters: fit_filters(x, labels, n)
    families = t.families_for(task, sets)
    kept = t.kept_family(families)
    by_name = {f.name: f for f in families}
    channels, spatial, evoked = by_name[t.CHANNELS], by_name[t.SPATIAL], by_name[t.EVOKED]
    pairs = (t.Family("evoked + spatial", regions=False, channels=True, filters=True, evoked=True,
                      members=(spatial, evoked)),
             t.Family("evoked + channels", regions=False, channels=True, evoked=True, members=(channels, evoked)),
             t.Family("evoked by logistic regression", regions=False, evoked=True))
    inputs = t.HeadInputs(t.montage_of(sets))

    def xdawn_power(train, test, task_id):
        spec = get_task(task_id)
        band_train, band_test = inputs._band("evoked_band", train), inputs._band("evoked_band", test)
        y = labels_of(train, spec)
        filters = t.fit_evoked_filters(band_train, y)
        power = lambda band: np.log((np.einsum("kc,nct->nkt", filters, band) ** 2).mean(-1) + 1e-20)  # noqa: E731
        weight, bias = fit_lda_head(power(band_train), y, len(spec.answers), "auto")
        return power(band_test) @ weight.T + bias

    def xdawn_ts(train, test, task_id):
        return np.log(np.clip(xdawn_tangent(train, test, task_id), 1e-9, 1))

    def summed(members, others):
        def fit_predict(train, test, task_id):
            z = sum(inputs.logits(m, train, test, get_task(task_id)) for m in members)
            return softmax_logits(z + sum(other(train, test, task_id) for other in others))
        return fit_predict

    variants = {"xDAWN power": summed([], [xdawn_power]),
                "evoked + xDAWN power": summed([evoked], [xdawn_power]),
                "evoked + spatial + xDAWN power": summed([evoked, spatial], [xdawn_power]),
                "kept head + xDAWN power": summed([channels, evoked, spatial], [xdawn_power]),
                "spatial + xDAWN-TS": summed([spatial], [xdawn_ts]),
                "evoked + spatial + xDAWN-TS": summed([evoked, spatial], [xdawn_ts])}
    classical = t.classical_methods
    t.classical_methods = lambda *a, **k: {**classical(*a, **k), **variants}  # scored in the same folds
    t.kept_family = lambda _: kept  # the shipped kept head, whatever else is scored
    cv = t.cross_validate(task, sets, families=families + pairs, draws=args.draws)
    print(f"{args.demo}: {cv['n_windows']} windows, {cv['n_folds']} folds by {cv['unit']}, "
          f"{args.evoked_filters} xDAWN filters per class, {args.draws} draws")
    for name in cv["curve"][next(iter(cv["curve"]))]:
        print(f"{name[:62]:62s}", "  ".join(f"{n}: {100 * cv['curve'][n][name]:.1f} ± {100 * cv['curve_std'][n][name]:.1f}"
                                            for n in cv["curve"]))


if __name__ == "__main__":
    main()
