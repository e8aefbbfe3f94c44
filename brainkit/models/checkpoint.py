"""The checkpoint folder: ``tokenizer/`` and ``decoder/`` (``config.json`` + ``model.safetensors``
each), ``MODEL_CARD.md`` and ``metrics.json``. Weights load from safetensors only: a folder that
holds a pickle-based weight file is refused.

The preprocessing the models were trained with (:class:`~brainkit.preprocess.PreprocessConfig`)
is saved in the tokenizer's ``config.json`` (``preprocess``); loading checks that the tokenizer and
the decoder expect the rate it resamples to, and :func:`load_preprocess_config` hands it to
whoever makes windows for these models.
"""

from __future__ import annotations

from dataclasses import fields
from pathlib import Path

from brainkit._logging import logger
from brainkit.errors import BrainkitError
from brainkit.preprocess import PreprocessConfig

DEFAULT_CHECKPOINT = Path(__file__).resolve().parents[1] / "assets" / "brainkit-base"
#: weight files that unpickle on load; their presence makes a checkpoint untrusted
PICKLE_SUFFIXES = (".bin", ".pt", ".pth", ".pkl", ".pickle", ".ckpt", ".joblib", ".npy")


def checkpoint_dir(path=None, part: str | None = None) -> Path:
    """The checkpoint folder (default: the shipped one), or one of its parts, checked.

    Raises
    ------
    BrainkitError
        When the folder or part is missing, or holds a pickle-based weight file.
    """
    root = Path(path) if path is not None else DEFAULT_CHECKPOINT
    folder = root / part if part else root
    if not (folder / "config.json").exists() and part:
        raise BrainkitError(f"no {part} in checkpoint {root} (expected {folder}/config.json and "
                            "model.safetensors); train one with python -m brainkit train-" + part)
    if not folder.is_dir():
        raise BrainkitError(f"checkpoint folder {folder} does not exist")
    pickles = [p.name for p in folder.rglob("*") if p.suffix.lower() in PICKLE_SUFFIXES]
    if pickles:
        raise BrainkitError(f"checkpoint {folder} holds pickle-based weights ({', '.join(pickles[:3])}); "
                            "brainkit loads safetensors only and refuses it")
    if part and not (folder / "model.safetensors").exists():
        raise BrainkitError(f"{folder} has no model.safetensors")
    return folder


def load_preprocess_config(path=None) -> PreprocessConfig:
    """The preprocessing a checkpoint's models were trained with, checked against their rates.

    Parameters
    ----------
    path : path, optional
        Checkpoint folder (default: the shipped one).

    Returns
    -------
    PreprocessConfig
        From the tokenizer's ``config.json`` (``preprocess``; a config saved before that field
        existed gets :data:`brainkit.preprocess.DEFAULT` at its own rate).

    Raises
    ------
    BrainkitError
        When the tokenizer's or the decoder's ``sfreq`` differs from the preprocessing's rate.
    """
    from brainkit.models.tokenizer import BrainTokenizerConfig

    tokenizer = BrainTokenizerConfig.from_pretrained(checkpoint_dir(path, "tokenizer"))
    decoder = None
    if (checkpoint_dir(path) / "decoder" / "config.json").is_file():
        from brainkit.models.decoder import BrainDecoderConfig

        decoder = BrainDecoderConfig.from_pretrained(checkpoint_dir(path, "decoder"))
    return preprocess_config(tokenizer, decoder, where=checkpoint_dir(path))


def preprocess_config(tokenizer_config, decoder_config=None, where="the model") -> PreprocessConfig:
    """:class:`PreprocessConfig` of a tokenizer config, checked against the models' rates.

    Settings the config holds that :class:`PreprocessConfig` no longer has are ignored (logged).

    Raises
    ------
    BrainkitError
        When ``tokenizer_config.sfreq`` or ``decoder_config.sfreq`` differs from the rate.
    """
    saved = dict(tokenizer_config.preprocess)
    known = {f.name for f in fields(PreprocessConfig)}
    if set(saved) - known:
        logger.info("ignoring preprocessing settings this version does not have: %s",
                    ", ".join(sorted(set(saved) - known)))
    config = PreprocessConfig(**{k: v for k, v in saved.items() if k in known})
    rates = {"tokenizer": tokenizer_config.sfreq}
    if decoder_config is not None:
        rates["decoder"] = decoder_config.sfreq
    wrong = [f"the {part} expects {rate:g} Hz" for part, rate in rates.items()
             if float(rate) != float(config.sfreq)]
    if wrong:
        raise BrainkitError(f"{where}: its preprocessing resamples to {config.sfreq:g} Hz but "
                            f"{' and '.join(wrong)}; the models and their preprocessing must agree "
                            "(retrain, or correct sfreq in config.json)")
    return config


def _load_model(path, part: str, cls):
    """``cls.from_pretrained`` of a checkpoint's ``part`` folder (safetensors only), in eval mode,
    after :func:`load_preprocess_config` has checked the checkpoint's rates."""
    load_preprocess_config(path)
    return cls.from_pretrained(checkpoint_dir(path, part), use_safetensors=True).eval()


def load_tokenizer_model(path=None):
    """The :class:`~brainkit.models.tokenizer.BrainTokenizer` of a checkpoint, in eval mode.

    Raises
    ------
    BrainkitError
        As :func:`load_preprocess_config` when the checkpoint's rates disagree.
    """
    from brainkit.models.tokenizer import BrainTokenizer

    return _load_model(path, "tokenizer", BrainTokenizer)


def load_decoder_model(path=None):
    """The :class:`~brainkit.models.decoder.BrainDecoder` of a checkpoint, in eval mode (no
    language model attached yet: see :meth:`~brainkit.models.decoder.BrainDecoder.attach_lm`).

    Raises
    ------
    BrainkitError
        As :func:`load_preprocess_config` when the checkpoint's rates disagree.
    """
    from brainkit.models.decoder import BrainDecoder

    return _load_model(path, "decoder", BrainDecoder)


def _read_json(path=None, name: str = "") -> dict | None:
    """A JSON file of the checkpoint folder, or None when the folder or the file is missing."""
    import json

    root = Path(path) if path is not None else DEFAULT_CHECKPOINT
    file = root / name
    if not file.is_file():
        return None
    try:
        return json.loads(file.read_text(encoding="utf-8"))
    except ValueError as err:
        raise BrainkitError(f"{file} is not valid JSON ({err}); regenerate it") from err


def load_correlations(path=None) -> dict | None:
    """The task-by-task matrices a checkpoint carries (``correlations.json``, written by
    ``python -m brainkit correlations --out CHECKPOINT/correlations.json``).

    Parameters
    ----------
    path : path, optional
        Checkpoint folder (default: the shipped one).

    Returns
    -------
    dict or None
        ``tasks``, ``order``, ``matrices`` (``routing``, ``attribution``, ``representation``:
        task x task lists of lists, or None for one not computed, its reason in
        ``not_computed``), ``n_windows`` and ``computed_on``; None when the checkpoint carries none.

    Raises
    ------
    BrainkitError
        When the file is not valid JSON or lacks ``tasks`` or ``matrices``.
    """
    out = _read_json(path, "correlations.json")
    if out is not None and not {"tasks", "matrices"} <= set(out):
        raise BrainkitError("correlations.json of the checkpoint lacks 'tasks' or 'matrices'; "
                            "regenerate it with python -m brainkit correlations --out ...")
    return out


def load_metrics(path=None) -> dict | None:
    """The measured metrics of a checkpoint (``metrics.json``: ``tokenizer``, ``decoder`` and,
    once ``brainkit crossval`` has run for it, ``crossval``), or None when it has none."""
    return _read_json(path, "metrics.json")
