"""The checkpoint folder: ``tokenizer/`` and ``decoder/`` (``config.json`` + ``model.safetensors``
each), ``MODEL_CARD.md`` and ``metrics.json``. Weights load from safetensors only: a folder that
holds a pickle-based weight file is refused."""

from __future__ import annotations

from pathlib import Path

from brainkit.errors import BrainkitError

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


def load_tokenizer_model(path=None):
    """The :class:`~brainkit.models.tokenizer.BrainTokenizer` of a checkpoint, in eval mode."""
    from brainkit.models.tokenizer import BrainTokenizer

    folder = checkpoint_dir(path, "tokenizer")
    return BrainTokenizer.from_pretrained(folder, use_safetensors=True).eval()
