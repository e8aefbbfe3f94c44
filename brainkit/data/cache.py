"""The ``.npz`` cache of windows cut from the corpus (no pickle).

:func:`cached` builds a list of items (:class:`~brainkit.data.corpora.LabelledSet` or
:class:`~brainkit.data.corpus.CorpusItem`) once and stores them under
``$XDG_CACHE_HOME/brainkit/datasets`` (``~/.cache/brainkit/datasets``), one file per name, keyed by
the source files' names, sizes and times, the parameters (preprocessing config, window length),
:data:`CACHE_FORMAT` and the source of every module that shapes the windows (:func:`code_version`).
Windows of one sensor layout are stored as one array; strings as fixed-width unicode.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from collections import Counter
from dataclasses import fields
from functools import lru_cache
from importlib import metadata
from pathlib import Path

import numpy as np

from brainkit._logging import logger
from brainkit.preprocess import Windows
from brainkit.sensors import SensorArray

CACHE_FORMAT = 1
#: item fields stored as strings beside the windows
_META = ("task", "subject", "split", "source", "device")


def default_cache_dir() -> Path:
    """``$XDG_CACHE_HOME/brainkit/datasets``, by default ``~/.cache/brainkit/datasets``."""
    root = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(root) / "brainkit" / "datasets"


@lru_cache(maxsize=1)
def code_version() -> str:
    """Hash of the modules that shape the windows (corpus adapters, readers, preprocessing,
    sensors, the task registry's windows) and of MNE's version."""
    package, digest = Path(__file__).resolve().parents[1], hashlib.sha256()
    shaping = [*sorted((package / "data").glob("*.py")), *sorted((package / "io").glob("*.py")),
               package / "preprocess.py", package / "sensors.py", package / "tasks.py"]
    for path in shaping:
        digest.update(path.read_bytes())
    digest.update(metadata.version("mne").encode())
    return digest.hexdigest()


def cached(name: str, data_dir: Path, files, params: dict, build, cls, cache_dir=None,
           use_cache: bool = True) -> list:
    """``build()`` once; later calls load its items from an ``.npz`` keyed by files + params.

    Parameters
    ----------
    name : str
        Cache file prefix (a corpus folder, or ``corpus-4s-256``).
    data_dir : Path
        The corpus folder; ``files`` are keyed relative to it.
    files : list of Path
        The files the items are read from (names, sizes and modification times key the cache).
    params : dict
        Everything else the items depend on (JSON-serialisable).
    build : callable
        ``build() -> list`` of ``cls`` items, each with ``windows`` and the :data:`_META` fields
        it has.
    cls : type
        The dataclass of the items.
    cache_dir : path or None
        Cache folder (default :func:`default_cache_dir`).
    use_cache : bool
        False builds without reading or writing the cache.

    Returns
    -------
    list of ``cls``
        The items; loaded ones hold views of one array per sensor layout.
    """
    if not use_cache:
        return build()
    digest = hashlib.sha256(json.dumps({"format": CACHE_FORMAT, "code": code_version(),
                                        "data": str(data_dir), **params}, sort_keys=True,
                                       default=str).encode())
    for p in files:
        st = p.stat()
        digest.update(f"{p.relative_to(data_dir).as_posix()}\0{st.st_size}\0{st.st_mtime_ns}\n"
                      .encode())
    folder = Path(cache_dir) if cache_dir is not None else default_cache_dir()
    path = folder / f"{name}-{digest.hexdigest()[:20]}.npz"
    if path.exists():
        try:
            return _load(path, cls)
        except (OSError, ValueError, KeyError) as err:
            logger.warning("dataset cache %s is unreadable (%s); rebuilding", path, err)
    logger.info("building %s windows (cached in %s)", name, folder)
    items = build()
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with open(tmp, "wb") as f:
            np.savez(f, **_arrays(items))
        os.replace(tmp, path)
    except OSError as err:  # a read-only or full disk costs speed, never the data
        logger.warning("could not write the dataset cache %s (%s)", path, err)
        tmp.unlink(missing_ok=True)
        return items
    for old in folder.glob(f"{name}-*.npz"):
        if old != path and re.fullmatch(rf"{re.escape(name)}-[0-9a-f]{{20}}\.npz", old.name):
            old.unlink(missing_ok=True)
    return items


def _arrays(items) -> dict[str, np.ndarray]:
    """Items as plain arrays: windows grouped by sensor layout, strings as fixed-width unicode."""
    layouts: dict[tuple, int] = {}
    groups: list[list] = []
    index = []
    for item in items:
        w, s = item.windows, item.windows.sensors
        key = (tuple(s.names), tuple(s.kinds), s.pos.tobytes(), s.ori.tobytes(), w.x.shape[1:])
        if key not in layouts:
            layouts[key] = len(groups)
            groups.append([])
        groups[layouts[key]].append(item)
        index.append(layouts[key])
    out = {f"meta_{m}": np.array([getattr(i, m, None) or "" for i in items], str) for m in _META}
    out["meta_layout"] = np.array(index, np.int64)
    out["meta_count"] = np.array([len(i.windows) for i in items], np.int64)
    out["meta_labelled"] = np.array([i.windows.labels is not None for i in items], bool)
    for k, group in enumerate(groups):
        ws = [g.windows for g in group]
        s, n_times = ws[0].sensors, ws[0].x.shape[-1]
        out[f"L{k}_x"] = np.concatenate([w.x for w in ws]).astype(np.float32)  # (sum N, C, T)
        out[f"L{k}_starts"] = np.concatenate([w.starts_s for w in ws]).astype(np.float64)
        out[f"L{k}_labels"] = np.array([str(v) for w in ws for v in (
            w.labels if w.labels is not None else [""] * len(w))], str)
        out[f"L{k}_n_valid"] = np.concatenate([
            g.n_valid if hasattr(g, "n_valid") else np.full(len(g.windows), n_times)
            for g in group]).astype(np.int64)
        out[f"L{k}_scale"] = np.stack([w.scale for w in ws]).astype(np.float64)  # (S, C)
        out[f"L{k}_sfreq"] = np.float64(ws[0].sfreq)
        out[f"L{k}_names"], out[f"L{k}_kinds"] = np.array(s.names, str), np.array(s.kinds, str)
        out[f"L{k}_pos"], out[f"L{k}_ori"], out[f"L{k}_has"] = s.pos, s.ori, s.has_position
        out[f"L{k}_source"] = np.array(s.position_source, str)
    return out


def _load(path: Path, cls) -> list:
    """The items of :func:`_arrays` back, as ``cls`` (windows are views of one array per layout)."""
    with np.load(path, allow_pickle=False) as z:
        a = {k: z[k] for k in z.files}
    fields_of = {f.name for f in fields(cls)}
    sensors, offsets, rows, items = {}, Counter(), Counter(), []
    for i, k in enumerate(a["meta_layout"].tolist()):
        if k not in sensors:
            sensors[k] = SensorArray(a[f"L{k}_names"].tolist(), a[f"L{k}_kinds"].tolist(),
                                     a[f"L{k}_pos"], a[f"L{k}_ori"], a[f"L{k}_has"],
                                     a[f"L{k}_source"].tolist())
        o, n = offsets[k], int(a["meta_count"][i])
        labels = a[f"L{k}_labels"][o:o + n] if a["meta_labelled"][i] else None
        windows = Windows(a[f"L{k}_x"][o:o + n], float(a[f"L{k}_sfreq"]),
                          a[f"L{k}_starts"][o:o + n], sensors[k], a[f"L{k}_scale"][rows[k]], labels)
        offsets[k], rows[k] = o + n, rows[k] + 1
        meta = {m: str(a[f"meta_{m}"][i]) for m in _META if m in fields_of}
        if "task" in meta:
            meta["task"] = meta["task"] or None
        if "n_valid" in fields_of:
            meta["n_valid"] = a[f"L{k}_n_valid"][o:o + n]
        items.append(cls(windows=windows, **meta))
    return items
