"""Data the project reads or makes: one adapter per corpus of ``../shared/data``
(:mod:`~brainkit.data.corpora`), the unlabelled corpus for tokenizer training
(:mod:`~brainkit.data.corpus`), their ``.npz`` cache (:mod:`~brainkit.data.cache`), evaluation
manifests (:mod:`~brainkit.data.manifests`), and the simulated sample recordings
(:mod:`~brainkit.data.simulate`)."""

from pathlib import Path


def default_data_dir() -> Path:
    """``../shared/data`` beside the project, where the corpus lives."""
    return Path(__file__).resolve().parents[3] / "shared" / "data"
