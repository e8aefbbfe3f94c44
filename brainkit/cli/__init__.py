"""The command line: ``python -m brainkit COMMAND ...`` (also installed as ``brainkit``).

Every command prints JSON on stdout (or writes the file it is asked to). Bad input gives one
line on stderr and exit code 2; never a traceback (``--verbose`` adds the log).
"""

from __future__ import annotations

import argparse
import sys

from brainkit.cli import archive
from brainkit.cli.commands import (
    cmd_baselines,
    cmd_bench,
    cmd_correlations,
    cmd_crossval,
    cmd_datasets,
    cmd_decode,
    cmd_evaluate,
    cmd_explain,
    cmd_explain_regions,
    cmd_fit_readout,
    cmd_info,
    cmd_simulate,
    cmd_tokenize,
    cmd_train_decoder,
    cmd_train_tokenizer,
)
from brainkit.cli.teach import add_tasks_option, add_teach_parser
from brainkit.data import default_data_dir
from brainkit.errors import BrainkitError


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
    add_tasks_option(p)
    _sfreq_option(p)
    p.set_defaults(func=cmd_decode)

    archive.add_parser(sub, _model_options)

    p = sub.add_parser("evaluate", help="metrics per task over a manifest of labelled windows")
    p.add_argument("--manifest", required=True, help="CSV: path,task,label,start_s,duration_s,subject")
    p.add_argument("--out", help="also write the JSON here")
    _model_options(p)
    add_tasks_option(p)
    p.set_defaults(func=cmd_evaluate)

    add_teach_parser(sub, _model_options)

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
    p.add_argument("--task", action="append", help="only this task (repeatable; default all; the "
                                                   "other tasks keep their heads)")
    p.add_argument("--entropy-task", action="append", metavar="TASK",
                   help="TASK's read-out also reads each region's sample entropy (repeatable; "
                        "default: as the checkpoint has it)")
    p.add_argument("--features", action="append", metavar="TASK=SET",
                   help="TASK's head reads only the named feature set (spectral), or all (repeatable; "
                        "default: as the checkpoint has it)")
    p.add_argument("--regions", action="append", metavar="TASK=R1,R2",
                   help="TASK's head reads only these regions (whole, frontal, central, temporal, parietal, "
                        "occipital, posterior, left, right), or all (repeatable; default: as the checkpoint has it)")
    p.add_argument("--reading-steps", type=int, default=0,
                   help="then fit the answer prototypes so the language model reads the read-out")
    p.add_argument("--threads", type=int, default=0, help="torch CPU threads (0: torch's default)")
    p.add_argument("--temperatures-from", help="a crossval --out JSON: calibrate its tasks on their "
                                               "out-of-fold answers (the others keep theirs)")
    p.add_argument("--anchor-temperature", action="append", default=[], metavar="TASK=T",
                   help="temperature of the read-out's probabilities in TASK's answer anchor (repeatable)")
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
    p.add_argument("--fold-gains", type=float, nargs="+", default=[], metavar="G",
                   help="also score every method but the language model on its test windows at these "
                        "gains (another amplifier), e.g. 0.25 4")
    p.add_argument("--out", help="write the whole result (JSON)")
    p.add_argument("--markdown", help="write the tables (Markdown) here")
    p.set_defaults(func=cmd_crossval)

    p = sub.add_parser("explain", help="attention and attributions for one window (.npz)")
    p.add_argument("file")
    p.add_argument("--task", required=True)
    p.add_argument("--window-index", type=int, default=0)
    p.add_argument("--stride-s", type=float, help="stride between windows (default: the window length)")
    p.add_argument("--steps", type=int, default=64,
                   help="integrated-gradients steps (shared by the paths from the recording's windows)")
    p.add_argument("--max-steps", type=int,
                   help="double the steps up to this many until the attributions add up to the "
                        "change of the answer within 5 %% (default: four times --steps)")
    p.add_argument("--baseline", choices=("recording", "silence"), default="recording",
                   help="start integrated gradients from windows spread across the recording, "
                        "averaged (default; the output names them), or from the all-zero signal")
    p.add_argument("--baseline-window", type=int,
                   help="start integrated gradients from this one window instead")
    p.add_argument("--out", default="explain.npz")
    _model_options(p)
    add_tasks_option(p)
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
    p.add_argument("--archive", metavar="DIR", help="instead: decode-archive DIR with 1 and 2 workers "
                                                   "(recordings per minute, speed-up, memory per worker)")
    p.add_argument("--archive-task", action="append", help="task of --archive (repeatable; default eyes)")
    p.add_argument("--archive-workers", type=int, nargs="+", default=[1, 2], help="worker counts of --archive")
    p.add_argument("--only", choices=("simulator",),
                   help="only this section: simulator = the Simulate page's redraw time per change")
    p.add_argument("--teach", action="store_true",
                   help="only time teaching a task from 200 labelled windows (brainkit teach)")
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
    if args.verbose or args.command in ("train-tokenizer", "train-decoder", "fit-readout", "crossval",
                                          "teach"):
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
