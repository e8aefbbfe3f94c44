"""The command line: ``python -m brainkit COMMAND ...`` (also installed as ``brainkit``).

Every command prints JSON on stdout (or writes the file it is asked to). Bad input gives one
line on stderr and exit code 2; never a traceback (``--verbose`` adds the log).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from brainkit.data import default_data_dir
from brainkit.errors import BrainkitError


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
    if args.out:
        Path(args.out).mkdir(parents=True, exist_ok=True)
        model.save_pretrained(args.out)
        (Path(args.out) / "training_report.json").write_text(json.dumps(report, indent=2, default=float))
    _print_json(report)
    return 0


def _model(args):
    from brainkit.inference import Brainkit

    return Brainkit(args.checkpoint, lm_path=getattr(args, "lm", None))


def cmd_decode(args) -> int:
    from brainkit.export import predictions_csv
    from brainkit.tasks import get_task

    task = get_task(args.task)
    recording = read_complete(args.file, args.sfreq)
    text = predictions_csv(_model(args).decode(recording, task.id, args.window_s, args.stride_s))
    if args.out:
        Path(args.out).write_text(text)
    else:
        sys.stdout.write(text)
    return 0


def cmd_evaluate(args) -> int:
    from brainkit.data.manifests import read_manifest
    from brainkit.evaluation.evaluate import evaluate_manifest

    read_manifest(args.manifest)  # bad manifests fail before the model loads
    result = evaluate_manifest(_model(args), args.manifest, read=read_complete)
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
    if args.out:
        Path(args.out).mkdir(parents=True, exist_ok=True)
        decoder.save_pretrained(args.out)
        (Path(args.out) / "validation.json").write_text(json.dumps(report, indent=2, default=float))
    _print_json(report)
    return 0


def cmd_fit_readout(args) -> int:
    import torch

    from brainkit.tasks import TASK_IDS
    from brainkit.training.readout import fit_all, temperatures_from, tune_reading, with_readout

    if args.threads:
        torch.set_num_threads(args.threads)
    bk = _model(args)
    decoder = with_readout(bk.decoder, args.task or TASK_IDS)
    bk.decoder = decoder.attach_lm(*bk.decoder.lm)
    report = {"training_accuracy": fit_all(decoder, args.data, decoder.config.readout_tasks)}
    if args.reading_steps:
        report["reading_agreement"] = tune_reading(bk, args.data, steps=args.reading_steps)
    if args.temperatures_from:
        result = json.loads(Path(args.temperatures_from).read_text())
        # tasks without out-of-fold answers of the language model go uncalibrated (temperature 1)
        decoder.config.temperatures = temperatures_from(result, decoder.config.temperatures)
        report["temperatures"] = decoder.config.temperatures
    if args.out:
        Path(args.out).mkdir(parents=True, exist_ok=True)
        decoder.save_pretrained(args.out)
    _print_json(report)
    return 0


def cmd_crossval(args) -> int:
    from brainkit.evaluation.crossval import crossval, markdown, shift_table
    from brainkit.training.readout import agreement, head_method, readout_method

    bk = None if args.baselines_only else _model(args)
    extra = {} if bk is None else {"read-out head": head_method(bk.decoder)}
    lm = bk is not None and not args.no_lm
    result = crossval(args.task, args.data, args.folds, args.seed,
                      brainkit=readout_method(bk) if lm else None, extra=extra)
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

    from brainkit.explain.attribution import explain_window
    from brainkit.inference import Brainkit
    from brainkit.preprocess import make_windows
    from brainkit.tasks import get_task

    task = get_task(args.task)
    recording = read_complete(args.file, args.sfreq)
    bk = Brainkit(args.checkpoint, lm_path=args.lm, attn_implementation="eager")
    windows = make_windows(recording, task.window_s, args.stride_s or task.window_s)
    for flag, index in (("--window-index", args.window_index), ("--baseline-window", args.baseline_window)):
        if index is not None and not 0 <= index < len(windows):
            raise BrainkitError(f"{flag} must be in 0..{len(windows) - 1} for this recording")
    result = explain_window(bk, windows, task.id, args.window_index, n_steps=args.steps,
                            baseline_index=args.baseline_window)
    np.savez_compressed(args.out, **result)
    _print_json({"out": args.out, "task": task.id, "window_index": args.window_index,
                 "answer": str(result["answer"]),
                 "probabilities": dict(zip(task.answers, map(float, result["probabilities"])))})
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
        f"task; attribution from integrated gradients ({args.steps} steps) of at most "
        f"{min(args.n_attribution, args.n_per_task)} of them per task")
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

    cfg = bench.default_config(args.quick, checkpoint=args.checkpoint, lm_path=args.lm,
                               int8=args.int8, profile=args.profile, threads=args.threads,
                               **({"repeats": args.repeats} if args.repeats else {}))
    result = bench.run(cfg, progress=lambda msg: print(f"bench: {msg}", file=sys.stderr, flush=True))
    bench.save_json(result, args.out)
    if args.markdown:
        bench_markdown.write_markdown(result, args.markdown)
    sys.stdout.write(bench_markdown.to_markdown(result))
    return 0


def _model_options(p, lm: bool = True) -> None:
    p.add_argument("--checkpoint", help="checkpoint folder (default: the shipped brainkit-base)")
    if lm:
        p.add_argument("--lm", help="a local Hugging Face causal-LM folder instead of SmolLM2")


def _sfreq_option(p) -> None:
    p.add_argument("--sfreq", type=float, help="sampling rate in Hz for exports without one")


def _data_option(p) -> None:
    p.add_argument("--data", default=str(default_data_dir()), help="corpus folder (../shared/data)")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="brainkit", description=__doc__.splitlines()[0])
    parser.add_argument("--verbose", action="store_true", help="log progress to stderr (always on for training)")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("info", help="JSON summary of a recording")
    p.add_argument("file", help="recording (file, folder or .zip)")
    _sfreq_option(p)
    p.set_defaults(func=cmd_info)

    p = sub.add_parser("tokenize", help="neural tokens of a recording and how well they rebuild it")
    p.add_argument("file")
    p.add_argument("--out", help="write codes, window starts and channel names to this .npz")
    _model_options(p, lm=False)
    p.add_argument("--window-s", type=float, default=4.0)
    p.add_argument("--stride-s", type=float, default=None)
    _sfreq_option(p)
    p.set_defaults(func=cmd_tokenize)

    p = sub.add_parser("decode", help="answer a task for every window of a recording (CSV)")
    p.add_argument("file")
    p.add_argument("--task", required=True, help="task id, e.g. sleep_stage, eyes, workload")
    p.add_argument("--window-s", type=float, help="window length (default: the task's)")
    p.add_argument("--stride-s", type=float, help="stride (default: the window length)")
    p.add_argument("--out", help="CSV file (default: standard output)")
    _model_options(p)
    _sfreq_option(p)
    p.set_defaults(func=cmd_decode)

    p = sub.add_parser("evaluate", help="metrics per task over a manifest of labelled windows")
    p.add_argument("--manifest", required=True, help="CSV: path,task,label,start_s,duration_s,subject")
    p.add_argument("--out", help="also write the JSON here")
    _model_options(p)
    p.set_defaults(func=cmd_evaluate)

    p = sub.add_parser("train-tokenizer", help="train the sensor-aware tokenizer on the corpus")
    _data_option(p)
    p.add_argument("--run-dir", default="runs/tokenizer", help="checkpoints and logs (resumable)")
    p.add_argument("--out", help="write the final tokenizer here (e.g. brainkit/assets/brainkit-base/tokenizer)")
    p.add_argument("--steps", type=int, default=8000)
    p.add_argument("--batch-size", type=int, default=16)
    p.add_argument("--lr", type=float, default=2e-3)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--log-every", type=int, default=100)
    p.add_argument("--ckpt-every", type=int, default=500)
    p.add_argument("--threads", type=int, default=0, help="torch CPU threads (0: torch's default)")
    p.add_argument("--weighting", choices=["sqrt", "uniform"], default="sqrt",
                   help="how often each device is drawn: sqrt of its window count, or uniformly")
    p.add_argument("--init-from", help="start from this saved tokenizer (fine-tuning)")
    p.add_argument("--few-channels", type=float, default=0.4,
                   help="probability that a batch keeps only 1-12 channels of its recording")
    p.add_argument("--holdout", nargs="*",
                   help="devices never shown in training, for zero-shot evaluation "
                        "(default: Muse-4, KIT-157, EEGLAB 32ch, BrainVision 61ch)")
    p.set_defaults(func=cmd_train_tokenizer)

    p = sub.add_parser("train-decoder", help="train the multi-task decoder (tokenizer frozen)")
    _data_option(p)
    p.add_argument("--checkpoint", help="checkpoint folder holding tokenizer/ (default: shipped)")
    p.add_argument("--lm", help="a local Hugging Face causal-LM folder instead of SmolLM2")
    p.add_argument("--run-dir", default="runs/decoder", help="checkpoints and logs (resumable)")
    p.add_argument("--out", help="write the final decoder here (e.g. brainkit/assets/brainkit-base/decoder)")
    p.add_argument("--task", action="append", help="train on this task only (repeatable; ablations)")
    p.add_argument("--steps", type=int, default=1000)
    p.add_argument("--aux-steps", type=int, default=0,
                   help="first steps train the connector through its auxiliary heads only (no LM)")
    p.add_argument("--batch-size", type=int, default=16)
    p.add_argument("--lr", type=float, default=3e-4)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--log-every", type=int, default=20)
    p.add_argument("--eval-every", type=int, default=250)
    p.add_argument("--ckpt-every", type=int, default=100)
    p.add_argument("--threads", type=int, default=0, help="torch CPU threads (0: torch's default)")
    p.set_defaults(func=cmd_train_decoder)

    p = sub.add_parser("fit-readout", help="fit the decoder's read-out heads on the whole corpus")
    _data_option(p)
    _model_options(p)
    p.add_argument("--task", action="append", help="only this task (repeatable; default all)")
    p.add_argument("--reading-steps", type=int, default=0,
                   help="then fit the answer prototypes so the language model reads the read-out")
    p.add_argument("--threads", type=int, default=0, help="torch CPU threads (0: torch's default)")
    p.add_argument("--temperatures-from", help="a crossval --out JSON: calibrate on its out-of-fold answers")
    p.add_argument("--out", help="write the decoder here (e.g. brainkit/assets/brainkit-base/decoder)")
    p.set_defaults(func=cmd_fit_readout)

    p = sub.add_parser("crossval", help="subject-grouped cross-validation of brainkit and the "
                                        "baselines in the same folds, and shift tests")
    _data_option(p)
    _model_options(p)
    p.add_argument("--task", action="append", help="only this task (repeatable; default all)")
    p.add_argument("--folds", type=int, default=5, help="folds (tasks with at most 8 groups: one per group)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--shifts", action="store_true", help="also the shift tests on validation windows")
    p.add_argument("--shift-windows", type=int, default=240,
                   help="shift tests on about this many validation windows per task (evenly spread)")
    p.add_argument("--no-lm", action="store_true",
                   help="brainkit's read-out head without the language model (fast; no 'brainkit' column)")
    p.add_argument("--baselines-only", action="store_true", help="no brainkit model (fast)")
    p.add_argument("--out", help="write the whole result (JSON)")
    p.add_argument("--markdown", help="write the tables (Markdown) here")
    p.set_defaults(func=cmd_crossval)

    p = sub.add_parser("explain", help="attention and attributions for one window (.npz)")
    p.add_argument("file")
    p.add_argument("--task", required=True)
    p.add_argument("--window-index", type=int, default=0)
    p.add_argument("--stride-s", type=float, help="stride between windows (default: the window length)")
    p.add_argument("--steps", type=int, default=64, help="integrated-gradients steps")
    p.add_argument("--baseline-window", type=int,
                   help="start integrated gradients from this window (default: the zero signal)")
    p.add_argument("--out", default="explain.npz")
    _model_options(p)
    _sfreq_option(p)
    p.set_defaults(func=cmd_explain)

    p = sub.add_parser("explain-regions", help="physiology check: is 'eyes closed' evidence occipital? "
                                              "(EEGMMIDB eyes-closed windows)")
    _data_option(p)
    p.add_argument("--n-windows", type=int, default=8)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--steps", type=int, default=32, help="integrated-gradients steps")
    p.add_argument("--baseline", choices=("eyes-open", "zeros"), default="eyes-open",
                   help="integrated-gradients start: eyes-open windows of the same subject (default) "
                        "or the all-zero signal")
    p.add_argument("--n-baselines", type=int, default=4, help="eyes-open windows averaged over")
    p.add_argument("--out", help="write the JSON summary here too")
    p.add_argument("--figure", help="write a topomap (PNG) of the mean attribution here")
    _model_options(p)
    p.set_defaults(func=cmd_explain_regions)

    p = sub.add_parser("correlations", help="task x task functional correlation matrices (JSON)")
    _data_option(p)
    p.add_argument("--n-per-task", type=int, default=32, help="reference windows per task")
    p.add_argument("--n-attribution", type=int, default=8,
                   help="windows per task whose integrated gradients make the attribution maps")
    p.add_argument("--steps", type=int, default=14, help="integrated-gradients model evaluations per window")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", help="also write the JSON here (the shipped checkpoint's: "
                                 "brainkit/assets/brainkit-base/correlations.json)")
    _model_options(p)
    p.set_defaults(func=cmd_correlations)

    p = sub.add_parser("baselines", help="classical baselines on the validation splits")
    _data_option(p)
    p.add_argument("--task", action="append", help="only this task (repeatable)")
    p.add_argument("--out", help="also write the JSON here")
    p.set_defaults(func=cmd_baselines)

    p = sub.add_parser("simulate", help="write the simulated sample recordings")
    p.add_argument("--out", default="sample_data", help="output folder")
    p.add_argument("--seed", type=int, default=0)
    p.set_defaults(func=cmd_simulate)

    p = sub.add_parser("bench", help="speed and memory benchmarks on simulated recordings")
    p.add_argument("--quick", action="store_true", help="short recordings, 2 repeats, no accuracy")
    p.add_argument("--out", default="bench.json", help="JSON results (default bench.json)")
    p.add_argument("--markdown", help="put the tables into this Markdown file (e.g. BENCHMARKS.md)")
    p.add_argument("--repeats", type=int, default=0, help="runs per measurement (default 3; 2 with --quick)")
    p.add_argument("--int8", action="store_true", help="also time an int8 (dynamic) language model")
    p.add_argument("--profile", action="store_true", help="also profile the sleep decode")
    p.add_argument("--threads", type=int, default=0, help="torch CPU threads (0: torch's default)")
    _model_options(p)
    p.set_defaults(func=cmd_bench)

    p = sub.add_parser("datasets", help="count labelled windows per task and class in the corpus")
    _data_option(p)
    p.add_argument("--task", action="append", help="only this task (repeatable)")
    p.add_argument("--manifests", metavar="DIR",
                   help="write one evaluation manifest per task (<split>_<task>.csv) to DIR instead")
    p.add_argument("--split", choices=("val", "train"), default="val", help="split of --manifests")
    p.set_defaults(func=cmd_datasets)
    return parser


def main(argv=None) -> int:
    import os

    os.environ.setdefault("HF_HUB_OFFLINE", "1")  # nothing downloads, ever
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command not in ("info", "simulate", "datasets"):
        from transformers.utils import logging as hf_logging

        hf_logging.disable_progress_bar()
    if args.verbose or args.command in ("train-tokenizer", "train-decoder", "fit-readout", "crossval"):
        from brainkit._logging import set_log_level

        set_log_level("INFO")
    try:
        return args.func(args)
    except BrainkitError as err:
        print(f"brainkit {args.command}: {err}", file=sys.stderr)
        return 2
    except BrokenPipeError:
        return 0
    except KeyboardInterrupt:
        print(f"brainkit {args.command}: interrupted", file=sys.stderr)
        return 130
    except Exception as err:  # a bug, not bad input: still one line, the log has the rest
        from brainkit._logging import logger

        logger.debug("unexpected error", exc_info=True)
        print(f"brainkit {args.command}: internal error: {type(err).__name__}: {err}", file=sys.stderr)
        return 1
