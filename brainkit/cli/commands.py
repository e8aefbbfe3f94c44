"""What each command of ``python -m brainkit`` does: read its arguments, call the library, print.

Heavy modules are imported inside each command, so ``brainkit --help`` stays fast.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from brainkit.errors import BrainkitError  # noqa: F401  (commands raise it)


def _save(model, out, report_name: str, report: dict) -> None:
    """Write a trained model (``save_pretrained``) and its report into ``out`` when it is given."""
    if out:
        Path(out).mkdir(parents=True, exist_ok=True)
        model.save_pretrained(out)
        (Path(out) / report_name).write_text(json.dumps(report, indent=2, default=float))


def _print_json(obj) -> None:
    json.dump(obj, sys.stdout, indent=2, default=float)
    sys.stdout.write("\n")


def read_complete(path, sfreq=None):
    """Read a recording for a command: a truncated file is an error here (the app only warns)."""
    from brainkit.io import read_recording

    recording = read_recording(path, sfreq=sfreq)
    if recording.truncated:
        raise BrainkitError(next(w for w in recording.warnings if w.startswith("file is truncated")))
    return recording


def cmd_info(args) -> int:
    _print_json(read_complete(args.file, args.sfreq).summary())
    return 0


def cmd_tokenize(args) -> int:
    recording = read_complete(args.file, args.sfreq)  # a bad file fails before torch loads
    import numpy as np

    from brainkit.models.checkpoint import load_tokenizer_model
    from brainkit.preprocess import make_windows
    from brainkit.models.tokenizer import codebook_usage, tokenize_windows

    model = load_tokenizer_model(args.checkpoint)
    windows = make_windows(recording, args.window_s, args.stride_s)
    codes, recon, r = tokenize_windows(model, windows)
    if args.out:
        np.savez_compressed(args.out, codes=codes.astype(np.int16), starts_s=windows.starts_s,
                            ch_names=np.array(windows.sensors.names, dtype=str),
                            sfreq=windows.sfreq, window_s=windows.window_s)
    usage = codebook_usage(codes, model.config.codebook_size)
    _print_json({"n_windows": len(windows), "n_channels": len(windows.sensors),
                 "codes_shape": list(codes.shape), "reconstruction_r": r,
                 "codebook_usage": usage, "out": args.out,
                 "warnings": [*recording.warnings, *windows.warnings]})
    return 0


def cmd_train_tokenizer(args) -> int:
    import torch

    from brainkit.training import tokenizer as tt
    from brainkit.models.tokenizer import BrainTokenizerConfig

    if args.threads:
        torch.set_num_threads(args.threads)
    holdout = tt.HOLDOUT_DEVICES if args.holdout is None else tuple(args.holdout)
    train_items, eval_items = tt.build_corpus(args.data, holdout)
    model = tt.train(train_items, args.run_dir, BrainTokenizerConfig(), steps=args.steps,
                     batch_size=args.batch_size, lr=args.lr, seed=args.seed,
                     log_every=args.log_every, ckpt_every=args.ckpt_every,
                     weighting=args.weighting, init_from=args.init_from,
                     few_channels=args.few_channels)
    report = {"train": tt.evaluate(model, train_items, max_windows=64),
              "heldout": tt.evaluate(model, eval_items, max_windows=256),
              "holdout_devices": list(holdout), "steps": args.steps}
    _save(model, args.out, "training_report.json", report)
    _print_json(report)
    return 0


def _model(args, packs=(), **kwargs):
    """The model of a command, with the task packs of ``--tasks`` (:mod:`brainkit.cli.teach`)."""
    from brainkit.inference import Brainkit

    bk = Brainkit(args.checkpoint, lm_path=getattr(args, "lm", None), **kwargs)
    return bk.with_tasks(packs) if packs else bk


def cmd_decode(args) -> int:
    from brainkit.cli.teach import packs_of, taught_context
    from brainkit.export import predictions_csv
    from brainkit.tasks import get_task

    packs = packs_of(args)
    with taught_context(packs):
        task = get_task(args.task)
    recording = read_complete(args.file, args.sfreq)
    text = predictions_csv(_model(args, packs).decode(recording, task.id, args.window_s, args.stride_s))
    if args.out:
        Path(args.out).write_text(text)
    else:
        sys.stdout.write(text)
    return 0


def cmd_evaluate(args) -> int:
    from brainkit.cli.teach import packs_of, taught_context
    from brainkit.data.manifests import read_manifest
    from brainkit.evaluation.evaluate import evaluate_manifest

    packs = packs_of(args)
    with taught_context(packs):
        read_manifest(args.manifest)  # bad manifests fail before the model loads
        result = evaluate_manifest(_model(args, packs), args.manifest, read=read_complete)
    if args.out:
        Path(args.out).write_text(json.dumps(result, indent=2, default=float))
    _print_json(result)
    return 0


def cmd_train_decoder(args) -> int:
    import torch

    from brainkit.training import decoder as td
    from brainkit.models.checkpoint import load_tokenizer_model
    from brainkit.models.llm import load_language_model

    if args.threads:
        torch.set_num_threads(args.threads)
    tokenizer = load_tokenizer_model(args.checkpoint)
    lm, lm_tok = load_language_model(args.lm)
    train_sets, val_sets = td.prepare(tokenizer, args.data, args.task)
    decoder = td.train(tokenizer, lm, lm_tok, train_sets, val_sets, args.run_dir, steps=args.steps,
                       batch_size=args.batch_size, lr=args.lr, seed=args.seed,
                       log_every=args.log_every, eval_every=args.eval_every,
                       ckpt_every=args.ckpt_every, tasks=args.task, aux_steps=args.aux_steps)
    results = td.calibrate(decoder, tokenizer, val_sets)
    report = {task: r["metrics"] | {"temperature": r["temperature"]} for task, r in results.items()}
    _save(decoder, args.out, "validation.json", report)
    _print_json(report)
    return 0


def cmd_fit_readout(args) -> int:
    import torch

    from brainkit.models.readout import FEATURE_SETS
    from brainkit.tasks import TASK_IDS
    from brainkit.training.readout import fit_all, temperatures_from, tune_reading, with_readout

    if args.threads:
        torch.set_num_threads(args.threads)
    anchors = {}
    for item in args.anchor_temperature:
        task, _, value = item.partition("=")
        try:
            anchors[task] = float(value)
        except ValueError:
            raise BrainkitError(f"--anchor-temperature {item!r}: expected TASK=T, e.g. sleep_stage=0.03") from None
        if task not in TASK_IDS or not anchors[task] > 0:
            raise BrainkitError(f"--anchor-temperature {item!r}: TASK must be a task id and T above 0")
    unknown = [t for t in args.entropy_task or [] if t not in TASK_IDS]
    if unknown:
        raise BrainkitError(f"--entropy-task {unknown[0]}: not a task id ({', '.join(TASK_IDS)})")
    feature_sets = {}
    for item in args.features or []:
        task, _, name = item.partition("=")
        if task not in TASK_IDS or name not in (*FEATURE_SETS, "all"):
            raise BrainkitError(f"--features {item!r}: expected TASK=SET, a task id and one of "
                                f"{', '.join((*FEATURE_SETS, 'all'))}")
        feature_sets[task] = name
    regions = {}
    for item in args.regions or []:
        task, _, names = item.partition("=")
        if task not in TASK_IDS or not names:
            raise BrainkitError(f"--regions {item!r}: expected TASK=R1,R2 (a task id and regions), or TASK=all")
        regions[task] = [n.strip() for n in names.split(",") if n.strip()]
    bk, tasks = _model(args), args.task or TASK_IDS
    decoder = with_readout(bk.decoder, tasks, args.entropy_task, feature_sets, regions)
    bk.decoder = decoder.attach_lm(*bk.decoder.lm)
    decoder.config.anchor_temperatures = {**decoder.config.anchor_temperatures, **anchors}
    report = {"training_accuracy": fit_all(decoder, args.data, tasks)}
    if args.reading_steps:
        report["reading_agreement"] = tune_reading(bk, args.data, tasks, steps=args.reading_steps)
    if args.temperatures_from:
        result = json.loads(Path(args.temperatures_from).read_text())
        # the tasks with out-of-fold answers of the language model are recalibrated, the others
        # keep their temperature
        decoder.config.temperatures = {**decoder.config.temperatures,
                                       **temperatures_from(result, decoder.config.temperatures)}
        report["temperatures"] = decoder.config.temperatures
    report["anchor_temperatures"] = decoder.config.anchor_temperatures
    if args.out:
        Path(args.out).mkdir(parents=True, exist_ok=True)
        decoder.save_pretrained(args.out)
    _print_json(report)
    return 0


def cmd_crossval(args) -> int:
    from brainkit.evaluation.crossval import crossval, markdown, shift_table
    from brainkit.training.readout import agreement, head_method, readout_method

    if any(not g > 0 for g in args.fold_gains):
        raise BrainkitError(f"--fold-gains must be positive, not {' '.join(f'{g:g}' for g in args.fold_gains)}")
    bk = None if args.baselines_only else _model(args)
    extra = {} if bk is None else {"read-out head": head_method(bk.decoder)}
    lm = bk is not None and not args.no_lm
    result = crossval(args.task, args.data, args.folds, args.seed,
                      brainkit=readout_method(bk) if lm else None, extra=extra, gains=args.fold_gains)
    if bk is not None:
        result["agreement"] = agreement(result)
        if args.shifts:
            result["shifts"] = shift_table(bk, args.task, args.data, args.shift_windows)
    if args.out:
        Path(args.out).write_text(json.dumps(result, default=float))
    if args.markdown:
        Path(args.markdown).write_text(markdown(result))
    sys.stdout.write(markdown(result))
    return 0


def cmd_baselines(args) -> int:
    import mne

    from brainkit.evaluation.baselines import run_baselines

    mne.set_log_level("ERROR")
    result = run_baselines(args.data, args.task)
    if args.out:
        Path(args.out).write_text(json.dumps(result, indent=2, default=float))
    _print_json(result)
    return 0


def cmd_explain(args) -> int:
    import numpy as np

    from brainkit.cli.teach import packs_of, taught_context
    from brainkit.explain.attribution import explain_window
    from brainkit.preprocess import make_windows
    from brainkit.tasks import get_task

    if args.steps < 1 or (args.max_steps is not None and args.max_steps < args.steps):
        raise BrainkitError("--steps must be at least 1 and --max-steps at least --steps")
    packs = packs_of(args)
    with taught_context(packs):
        task = get_task(args.task)
        recording = read_complete(args.file, args.sfreq)
        bk = _model(args, packs, attn_implementation="eager")
        windows = make_windows(recording, task.window_s, args.stride_s or task.window_s)
        for flag, index in (("--window-index", args.window_index), ("--baseline-window", args.baseline_window)):
            if index is not None and not 0 <= index < len(windows):
                raise BrainkitError(f"{flag} must be in 0..{len(windows) - 1} for this recording")
        baseline = args.baseline if args.baseline_window is None else args.baseline_window
        result = explain_window(bk, windows, task.id, args.window_index, n_steps=args.steps,
                                baseline=baseline, max_steps=args.max_steps)
    np.savez_compressed(args.out, **result)
    _print_json({"out": args.out, "task": task.id, "window_index": args.window_index,
                 "answer": str(result["answer"]),
                 "probabilities": dict(zip(task.answers, map(float, result["probabilities"]))),
                 "completeness_relative": float(result["completeness_relative"]),
                 "complete": bool(result["complete"]), "integration_steps": int(result["n_steps"]),
                 "baseline": str(result["baseline"]), "baseline_windows": result["baseline_windows"].tolist(),
                 "paths": int(result["n_paths"])})
    return 0


def cmd_explain_regions(args) -> int:
    from brainkit.data.reference import eegmmidb_eyes
    from brainkit.explain.regions import eyes_closed_regions, summarise
    from brainkit.inference import Brainkit

    windows = eegmmidb_eyes(Path(args.data), args.n_windows, args.seed)
    baselines = (eegmmidb_eyes(Path(args.data), args.n_baselines, args.seed, label="open")
                 if args.baseline == "eyes-open" else None)
    bk = Brainkit(args.checkpoint, lm_path=args.lm)
    result = eyes_closed_regions(bk, windows, baselines, n_steps=args.steps)
    summary = summarise(result) | {"command": "python -m brainkit " + " ".join(sys.argv[1:])}
    if args.figure:
        from brainkit.viz.topomap import topomap_png

        topomap_png(windows[0].sensors, result["channel_evidence"].mean(0), args.figure,
                    title=f"IG toward 'closed' from {result['baseline']} (signed, mean)")
    if args.out:
        Path(args.out).write_text(json.dumps(summary, indent=2))
    _print_json(summary)
    return 0


def cmd_correlations(args) -> int:
    import hashlib

    import numpy as np

    from brainkit.data.reference import reference_windows
    from brainkit.explain.correlations import task_correlations
    from brainkit.inference import Brainkit
    from brainkit.models.checkpoint import checkpoint_dir
    from brainkit.viz.topomap import topography

    bk = Brainkit(args.checkpoint, lm_path=args.lm)
    reference = reference_windows(args.data, n_per_task=args.n_per_task, seed=args.seed)
    result = task_correlations(bk, reference, seed=args.seed, n_attribution=args.n_attribution,
                               n_steps=args.steps)
    result["computed_on"] = (
        f"validation windows of the shared corpus ({Path(args.data).name}/, subjects held out of "
        f"training): at most {args.n_per_task} per task (seed {args.seed}), one sensor layout per "
        f"task; attribution from integrated gradients of at most "
        f"{min(args.n_attribution, args.n_per_task)} of them per task, each from the task's other windows")
    # a task without a topography (fewer than two placed channels) has an unknown attribution
    # correlation: null, not 0
    tasks = result["tasks"]
    blind = [t for t in tasks if topography(reference[t].sensors, np.ones(len(reference[t].sensors))) is None]
    result["matrices"]["attribution"] = [[None if {a, b} & set(blind) else v for b, v in zip(tasks, row)]
                                         for a, row in zip(tasks, result["matrices"]["attribution"])]
    result["attribution_unknown"] = {"tasks": blind, "why": "fewer than two channels with a scalp "
                                     "position in their validation windows: no topography to compare"}
    result["command"] = "python -m brainkit " + " ".join(sys.argv[1:])
    weights = checkpoint_dir(args.checkpoint, "decoder") / "model.safetensors"
    result["decoder_sha256"] = hashlib.sha256(weights.read_bytes()).hexdigest()  # the model they describe
    if args.out:
        Path(args.out).write_text(json.dumps(result, indent=2))
    _print_json(result)
    return 0


def cmd_simulate(args) -> int:
    from brainkit.data.simulate import write_samples

    paths = write_samples(Path(args.out), seed=args.seed)
    _print_json({"written": [str(p) for p in paths]})
    return 0


def cmd_datasets(args) -> int:
    from brainkit.data.corpora import summary

    if args.manifests:
        from brainkit.data.manifests import write_manifests

        written = write_manifests(args.manifests, Path(args.data), tasks=args.task, split=args.split)
        _print_json({task: str(path) for task, path in written.items()})
        return 0
    _print_json(summary(Path(args.data), tasks=args.task))
    return 0


def cmd_bench(args) -> int:
    from brainkit.bench import harness as bench
    from brainkit.bench import tables as bench_markdown

    if args.archive:
        from brainkit.bench.archive import archive_markdown, bench_archive

        meta = bench.machine_info()  # the load average before the run
        result = bench_archive(args.archive, args.archive_task or ["eyes"], args.archive_workers,
                               args.checkpoint, args.lm, threads=args.threads or 1,
                               progress=lambda msg: print(f"bench: {msg}", file=sys.stderr, flush=True))
        result["meta"] = meta
        bench.save_json(result, args.out)
        sys.stdout.write(archive_markdown(result))
        return 0

    if args.teach:
        from brainkit.bench.teach import bench_teach, teach_markdown, write_teach_markdown

        result = bench_teach(args.checkpoint, args.lm, repeats=args.repeats or (2 if args.quick else 3),
                             threads=args.threads)
        bench.save_json(result, args.out)
        if args.markdown:
            write_teach_markdown(result, args.markdown)
        sys.stdout.write(teach_markdown(result))
        return 0
    cfg = bench.default_config(args.quick, checkpoint=args.checkpoint, lm_path=args.lm,
                               int8=args.int8, profile=args.profile, threads=args.threads,
                               only=getattr(args, "only", None),
                               **({"repeats": args.repeats} if args.repeats else {}))
    result = bench.run(cfg, progress=lambda msg: print(f"bench: {msg}", file=sys.stderr, flush=True))
    bench.save_json(result, args.out)
    if cfg.only == "simulator":
        from brainkit.bench.simulator import BEGIN, END, simulator_markdown

        if args.markdown:
            bench_markdown.write_block(args.markdown, BEGIN, END, simulator_markdown(result))
        sys.stdout.write(simulator_markdown(result))
        return 0
    if args.markdown:
        bench_markdown.write_markdown(result, args.markdown)
    sys.stdout.write(bench_markdown.to_markdown(result))
    return 0
