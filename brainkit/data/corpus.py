"""The unlabelled corpus for tokenizer training: every EEG/MEG recording of the data folder.

:func:`corpus_files` finds each recording once (whatever formats it comes in),
:func:`unlabelled_corpus` cuts it into windows spread evenly over it, tagged with its sensor
system (:func:`~brainkit.data.corpora.device_name`) and with ``val`` when some task holds it out
for validation, so that held-out subjects stay held out. Cached like the labelled sets
(:mod:`brainkit.data.cache`).
"""

from __future__ import annotations

import gzip
import re
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from brainkit._logging import logger
from brainkit.data.cache import cached
from brainkit.data.corpora import _data_dir, _read, _rel, _text_rate, device_name, load_tasks
from brainkit.errors import BrainkitError
from brainkit.io.readers import FOLDER_FORMATS, READERS
from brainkit.preprocess import DEFAULT, PreprocessConfig, Windows
from brainkit.sensors import SensorArray

_TEXT = (".txt", ".csv", ".tsv")


@dataclass
class CorpusItem:
    """Unlabelled windows of one recording, for tokenizer training.

    Attributes
    ----------
    windows : Windows
        ``x`` (N, C, T) float32 at 256 Hz, no labels.
    device : str
        Sensor system (:func:`~brainkit.data.corpora.device_name`).
    source : str
        The recording's path relative to the data folder.
    split : str
        ``val`` for a recording that is validation data of some task, else ``train``.
    n_valid : ndarray, shape (N,)
        Recorded samples in each window; the rest is zero padding (a recording shorter than the
        window gives one padded window).
    """

    windows: Windows
    device: str
    source: str
    split: str
    n_valid: np.ndarray

    @property
    def x(self) -> np.ndarray:
        return self.windows.x

    @property
    def sensors(self) -> SensorArray:
        return self.windows.sensors


def corpus_files(data_dir=None) -> list[tuple[Path, float | None]]:
    """Every recording of the data folder: ``(entry point, sampling rate for text exports)``.

    Text files count when their rate is known (Bonn, DREAMS, ``...200Hz.txt``) or, for CSV/TSV,
    when their header starts with a time column; an epoched EEGLAB file beside a continuous one
    and a text export beside an EDF of the same name are the same data and are left out.
    """
    data_dir = _data_dir(data_dir)
    out = []
    for path in sorted(data_dir.rglob("*")):
        rel = _rel(path, data_dir)
        if any(part.lower().endswith(FOLDER_FORMATS) for part in Path(rel).parts[:-1]):
            continue
        name = path.name.lower()
        base = name[:-3] if name.endswith(".gz") and not name.endswith(".fif.gz") else name
        ext = ".fif.gz" if name.endswith(".fif.gz") else Path(base).suffix
        if ext not in READERS or path.is_dir() != (ext in FOLDER_FORMATS):
            continue
        sfreq = None
        if ext in _TEXT:
            sfreq = _text_rate(rel)
            if sfreq is None and not (ext != ".txt" and _time_header(path)):
                continue
            stem = base[:-len(ext)]
            if any((path.parent / f"{stem}{other}").exists() for other in (".edf", ".fif")):
                continue
        if ext == ".set" and "epoch" in name and any("epoch" not in p.name.lower()
                                                     for p in path.parent.glob("*.set")):
            continue
        out.append((path, sfreq))
    return out


def _time_header(path: Path) -> bool:
    opener = gzip.open if path.name.lower().endswith(".gz") else open
    with opener(path, "rt", errors="replace") as f:
        return bool(re.match(r"\W*time", f.readline(), re.IGNORECASE))


def unlabelled_corpus(data_dir=None, window_s: float = 4.0, exclude_devices=(), *,
                      max_windows: int = 256, config: PreprocessConfig = DEFAULT, cache_dir=None,
                      use_cache: bool = True) -> list[CorpusItem]:
    """Every EEG/MEG recording of the data folder as unlabelled windows (:func:`corpus_files`).

    Parameters
    ----------
    data_dir : path or None
        The corpus folder (default ``../shared/data`` beside the project).
    window_s : float
        Window length in seconds.
    exclude_devices : iterable of str
        Sensor systems to leave out (e.g. to hold a device out of tokenizer training).
    max_windows : int
        Most windows per recording, spread evenly over it (stride
        ``max(window_s, (duration - window_s) / (max_windows - 1))``).
    config : PreprocessConfig
        Preprocessing of every recording.
    cache_dir, use_cache
        See :func:`brainkit.data.cache.cached`.

    Returns
    -------
    list of CorpusItem
        One per recording; recordings without an EEG/MEG channel (EOG-only files) are skipped
        with a log line.
    """
    data_dir = _data_dir(data_dir)
    entries = corpus_files(data_dir)
    files = [p for p in sorted(data_dir.rglob("*")) if p.is_file()]

    def build():  # a validation recording stays held out in every format it comes in
        held = load_tasks(None, data_dir, "val", config=config, cache_dir=cache_dir,
                          use_cache=use_cache)
        val = {_stem(s.source) for sets in held.values() for s in sets}
        items = (_corpus_item(path, sfreq, data_dir, window_s, max_windows, config, val)
                 for path, sfreq in entries)
        return [item for item in items if item is not None]

    items = cached(f"corpus-{window_s:g}s-{max_windows}", data_dir, files,
                   {"config": asdict(config), "window_s": window_s, "max_windows": max_windows},
                   build, CorpusItem, cache_dir, use_cache)
    exclude = set(exclude_devices)
    return [item for item in items if item.device not in exclude]


def _corpus_item(path, sfreq, data_dir, window_s, max_windows, config, val) -> CorpusItem | None:
    from brainkit.preprocess import sliding_windows

    rel = _rel(path, data_dir)
    try:
        recording, prep = _read(path, config, sfreq)
    except BrainkitError as err:
        logger.warning("corpus: skipped %s (%s)", rel, err)
        return None
    span = prep.duration_s - window_s
    stride = max(window_s, span / (max_windows - 1)) if span > 0 and max_windows > 1 else window_s
    w = sliding_windows(prep, window_s, stride)
    w = w.select(np.arange(min(len(w), max_windows)))
    n_valid = np.clip(prep.data.shape[1] - np.round(w.starts_s * prep.sfreq).astype(int), 0,
                      w.x.shape[-1])
    return CorpusItem(w, device_name(rel, recording), rel, "val" if _stem(rel) in val else "train",
                      n_valid)


def _stem(rel: str) -> str:
    """``dreams/excerpt3.txt.gz`` -> ``dreams/excerpt3`` (the same recording in any format)."""
    rel = rel[:-3] if rel.lower().endswith(".gz") else rel
    suffix = Path(rel).suffix.lower()
    return rel[:-len(suffix)] if suffix in READERS else rel
