"""Labelled windows for the tasks of DESIGN.md, and an unlabelled corpus, from ``../shared/data``.

One adapter per corpus folder turns each recording into :class:`LabelledSet` s (windows, labels,
subject, split, source, device); :func:`load_task` gathers one task over folders,
:func:`summary` counts them (``python -m brainkit datasets``), :func:`unlabelled_corpus` gives
every EEG/MEG recording as unlabelled windows for tokenizer training.

- ``eegmat`` -> workload, the published protocol: last 60 s of each recording, 4-s windows, 2-s
  stride (29 per recording), 50 Hz notch, ``_1`` low / ``_2`` high; Subject00-25 train,
  Subject26-30 val.
- ``eegmmidb`` -> eyes: R01 open / R02 closed, 4-s windows, all train (one subject, one class per
  run); motor_imagery: 4 s from each T1 (left_hand) / T2 (right_hand) cue of R04/R08/R12, split
  by :func:`_subject_split` (one subject: R12 is val, within-subject).
- ``bonn`` -> seizure (E vs A-D normal) and eyes (A open vs B closed): five 4-s windows per
  23.6-s segment at 173.61 Hz; segments 81-100 of every set are val.
- ``dreams`` -> sleep_stage: 30-s epochs labelled by the plurality of their six 5-s codes (ties and
  movement dropped, S3+S4 = N3); excerpts 3 and 6 val (7, the only one with REM, trains).
- ``muse`` -> p300, n170, auditory_oddball (1 s from 0.1 s before each marker) and ssvep (2 s
  from 0.5 s after), split by :func:`_subject_split` over the ``subjectN`` folders.
- ``eeglab_sample`` -> no task: :func:`load_extra` gives 1 s around its 80 ``square`` stimuli.

Splits are by subject wherever the data names subjects. Two cannot be: **Bonn** does not say
which of the five people of a set a segment comes from, so blocks of 20 consecutive segments
stand in for subjects (``bonn-healthy-5`` = segments 81-100 of A and B), an unverified guess;
**single-subject** tasks get a within-subject split (the last run), which :func:`summary` flags.

Everything is cached as ``.npz`` (no pickle) under ``~/.cache/brainkit/datasets`` (or
``$XDG_CACHE_HOME``), one file per folder, keyed by the folder's file names, sizes and times, the
preprocessing config and the source of the modules that shape the windows.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import os
import re
from collections import Counter
from dataclasses import asdict, dataclass, fields, replace
from functools import lru_cache
from importlib import metadata
from pathlib import Path

import numpy as np

from brainkit._logging import logger
from brainkit.errors import BrainkitError
from brainkit.preprocess import DEFAULT, PreprocessConfig, Windows
from brainkit.sensors import SensorArray
from brainkit.tasks import TASKS


@dataclass(frozen=True)
class TaskWindow:
    """How a task's windows are cut (DESIGN.md, "Tasks")."""

    answers: tuple[str, ...]
    window_s: float
    offset_s: float = 0.0  #: window start from the stimulus onset, for event-locked tasks


#: task id -> how its windows are cut, from the task registry (brainkit.tasks)
TASK_WINDOWS = {t.id: TaskWindow(t.answers, t.window_s, t.offset_s) for t in TASKS.values()}
TASK_IDS = tuple(TASK_WINDOWS)  #: the same ids, in the same order, as brainkit.tasks
#: task -> the corpus folders whose adapters label it
TASK_SOURCES = {"workload": ("eegmat",), "eyes": ("eegmmidb", "bonn"), "sleep_stage": ("dreams",),
                "motor_imagery": ("eegmmidb",), "seizure": ("bonn",), "p300": ("muse",),
                "n170": ("muse",), "ssvep": ("muse",), "auditory_oddball": ("muse",)}
SPLITS = ("train", "val")
MIN_VAL_FRACTION = 0.1  #: of a task's windows, held by its validation subjects (subject rule)
_SUBJECT_RULE = (f"subject-wise: the highest-numbered subjects are validation until they hold at "
                 f"least {MIN_VAL_FRACTION:.0%} of the windows; with one subject the last run is "
                 "validation when it holds every class (within-subject), else all is training")
SPLIT_NOTES = {
    "workload": "published protocol: Subject00-25 train, Subject26-30 validation",
    "eyes": "EEGMMIDB S001 R01/R02: training only (one subject, one class per run); Bonn A/B: "
            "segments 81-100 are validation, blocks of 20 segments standing in for the "
            "unnamed volunteers (not verified subject-wise)",
    "sleep_stage": "excerpts 1, 2, 5, 7 train, 3, 6 validation: excerpt 7 is the only one with "
                   "REM and stays in training, so validation has no REM",
    "motor_imagery": "one subject: R04, R08 train, R12 validation (within-subject, optimistic)",
    "seizure": "Bonn segments 81-100 of every set are validation, blocks of 20 segments standing "
               "in for the unnamed patients (not verified subject-wise)",
    **{task: _SUBJECT_RULE for task in ("p300", "n170", "ssvep", "auditory_oddball")},
}

EEGMAT_LAST_S, EEGMAT_STRIDE_S, EEGMAT_NOTCH_HZ, EEGMAT_LAST_TRAIN = 60.0, 2.0, 50.0, 25
EEGMMIDB_EYES = {"R01": "open", "R02": "closed"}
EEGMMIDB_IMAGERY = ("R04", "R08", "R12")
EEGMMIDB_CUES = {"T1": "left_hand", "T2": "right_hand"}
BONN_RATE = 173.61  #: Hz
#: set folder -> (people, eyes label, seizure label)
BONN_SETS = {"A_Z": ("healthy", "open", "normal"), "B_O": ("healthy", "closed", "normal"),
             "C_N": ("patient", None, "normal"), "D_F": ("patient", None, "normal"),
             "E_S": ("patient", None, "seizure")}
BONN_BLOCK, BONN_VAL_BLOCK = 20, 5  #: segments per pseudo-subject; blocks from this one are val
DREAMS_RATES = {1: 100.0, 2: 200.0, 3: 50.0, 5: 200.0, 6: 200.0, 7: 200.0}  #: excerpt -> Hz
DREAMS_CODE_S = 5.0
DREAMS_STAGES = {5: "W", 4: "REM", 3: "N1", 2: "N2", 1: "N3", 0: "N3"}  #: -1 (movement) dropped
DREAMS_VAL = (3, 6)
MUSE_TASKS = {"p300": ("visual/P300", {"2": "target", "1": "nontarget"}),
              "n170": ("visual/N170", {"2": "face", "1": "house"}),
              "ssvep": ("visual/SSVEP", {"2": "20hz", "1": "30hz"}),
              "auditory_oddball": ("auditory/P300", {"2": "deviant", "1": "standard"})}
EXTRA_WINDOW = TaskWindow(("position_1", "position_2"), 1.0, -0.1)
#: (pattern on the path relative to the data folder, device); ``{n}`` = EEG/MEG channel count
DEVICES = ((r"^eegmat/", "10-20 19ch"), (r"^eegmmidb/", "BCI2000 64ch"),
           (r"^bonn/[AB]_", "Bonn scalp 1ch"), (r"^bonn/", "Bonn intracranial 1ch"),
           (r"^(dreams|yasa_snippets)/", "PSG {n}ch"), (r"^muse/", "Muse-4"),
           (r"^eeglab_sample/", "EEGLAB 32ch"), (r"neuromag|elekta", "Neuromag-306"),
           (r"\bctf\d*|\.ds$", "CTF-275"), (r"\bkit\d+|\.sqd$|\.con$", "KIT-157"),
           (r"\.mff$", "EGI-{n}"), (r"tuab.*\.edf$", "TUH 10-20"), (r"\.bdf$", "BioSemi"))
CACHE_FORMAT = 1


@dataclass
class LabelledSet:
    """The labelled windows of one recording for one task.

    Attributes
    ----------
    task : str or None
        A task id of DESIGN.md; None for the extra sets of :func:`load_extra`.
    windows : Windows
        ``x`` (N, C, T) float32 at 256 Hz, T = window_s * 256; ``labels`` (N,) the answers.
    subject : str
        ``<dataset>-<subject>``, unique across datasets (Bonn: a pseudo-subject, see above).
    split : str
        ``train`` or ``val``.
    source : str
        The recording's path relative to the data folder.
    device : str
        Sensor system, e.g. ``Muse-4`` (see :data:`DEVICES`).
    """

    task: str | None
    windows: Windows
    subject: str
    split: str
    source: str
    device: str


@dataclass
class CorpusItem:
    """Unlabelled windows of one recording, for tokenizer training.

    ``n_valid`` (N,) counts the recorded samples of each window; the rest is zero padding (a
    recording shorter than the window gives one padded window). ``split`` is ``val`` for a
    recording that is validation data of some task, so held-out subjects stay held out.
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


# ------------------------------------------------------------------------------- adapters


def _number(text: str) -> int:
    digits = re.findall(r"\d+", text)
    return int(digits[-1]) if digits else -1


def _read(path: Path, config: PreprocessConfig, sfreq: float | None = None):
    """(recording, preprocessed) of one file; EEGMAT gets its protocol's 50 Hz notch."""
    from brainkit.io import read_recording
    from brainkit.preprocess import preprocess

    if "eegmat" in path.parts:
        config = replace(config, notch=EEGMAT_NOTCH_HZ)
    recording = read_recording(path, sfreq=sfreq)
    return recording, preprocess(recording, config)


def _labelled(windows: Windows, label: str) -> Windows:
    return replace(windows, labels=np.full(len(windows), label))


def _subject_split(sets: list[LabelledSet]) -> list[LabelledSet]:
    """Set ``split`` subject-wise (see :data:`_SUBJECT_RULE`), in place; returns ``sets``."""
    subjects = sorted({s.subject for s in sets}, key=lambda name: (_number(name), name))
    for s in sets:
        s.split = "train"
    if len(subjects) > 1:
        total = sum(len(s.windows) for s in sets)
        val, held = set(), 0
        for subject in reversed(subjects[1:]):
            val.add(subject)
            held += sum(len(s.windows) for s in sets if s.subject == subject)
            if held >= MIN_VAL_FRACTION * total:
                break
        for s in sets:
            s.split = "val" if s.subject in val else "train"
    elif len(sets) > 1:
        classes = {c for s in sets for c in s.windows.labels}
        last = max(sets, key=lambda s: s.source)
        if set(last.windows.labels) == classes:
            last.split = "val"
    return sets


def _eegmat(data_dir: Path, config: PreprocessConfig) -> list[LabelledSet]:
    from brainkit.preprocess import sliding_windows

    sets = []
    for path in sorted((data_dir / "eegmat").glob("Subject*_[12].edf")):
        subject, run = path.stem.rsplit("_", 1)
        prep = _read(path, config)[1]
        if prep.duration_s < EEGMAT_LAST_S:
            raise BrainkitError(f"{path.name} lasts {prep.duration_s:.1f} s; the workload protocol "
                                f"needs its last {EEGMAT_LAST_S:g} s")
        w = sliding_windows(prep, TASK_WINDOWS["workload"].window_s, EEGMAT_STRIDE_S,
                            start_s=prep.duration_s - EEGMAT_LAST_S)
        split = "train" if _number(subject) <= EEGMAT_LAST_TRAIN else "val"
        sets.append(LabelledSet("workload", _labelled(w, "low" if run == "1" else "high"),
                                f"eegmat-{subject}", split, _rel(path, data_dir), "10-20 19ch"))
    return sets


def _eegmmidb(data_dir: Path, config: PreprocessConfig) -> list[LabelledSet]:
    from brainkit.preprocess import annotation_windows, sliding_windows

    eyes, imagery = [], []
    for path in sorted((data_dir / "eegmmidb").glob("S*/S*R*.edf")):
        run, subject = path.stem[-3:], f"eegmmidb-{path.stem[:-3]}"
        if run not in EEGMMIDB_EYES and run not in EEGMMIDB_IMAGERY:
            continue  # motor execution runs: no DESIGN task (they stay in the corpus)
        recording, prep = _read(path, config)
        if run in EEGMMIDB_EYES:
            w = _labelled(sliding_windows(prep, TASK_WINDOWS["eyes"].window_s), EEGMMIDB_EYES[run])
            eyes.append(LabelledSet("eyes", w, subject, "train", _rel(path, data_dir),
                                    "BCI2000 64ch"))
        else:
            w = annotation_windows(prep, recording.annotations, EEGMMIDB_CUES,
                                   TASK_WINDOWS["motor_imagery"].window_s)
            imagery.append(LabelledSet("motor_imagery", w, subject, "train", _rel(path, data_dir),
                                       "BCI2000 64ch"))
    return _subject_split(eyes) + _subject_split(imagery)


def _bonn(data_dir: Path, config: PreprocessConfig) -> list[LabelledSet]:
    from brainkit.preprocess import sliding_windows

    sets = []
    for folder, (people, eyes, seizure) in BONN_SETS.items():
        for path in sorted((data_dir / "bonn" / folder).glob("*.[tT][xX][tT]")):
            block = (_number(path.stem) - 1) // BONN_BLOCK + 1
            split = "val" if block >= BONN_VAL_BLOCK else "train"
            w = sliding_windows(_read(path, config, BONN_RATE)[1], TASK_WINDOWS["seizure"].window_s)
            rel = _rel(path, data_dir)
            for task, label in (("seizure", seizure), ("eyes", eyes)):
                if label:
                    sets.append(LabelledSet(task, _labelled(w, label), f"bonn-{people}-{block}",
                                            split, rel, device_name(rel)))
    return sets


def dreams_epochs(path: Path, epoch_s: float = TASK_WINDOWS["sleep_stage"].window_s):
    """Onsets (s) and stages of the 30-s epochs of a DREAMS hypnogram (one code per 5 s).

    An epoch takes the most frequent stage of its six codes; a tie or a movement (-1) plurality
    drops it.
    """
    lines = [line.strip() for line in path.read_text().splitlines()]
    codes = [int(float(line)) for line in lines if line and not line.startswith("[")]
    per = int(round(epoch_s / DREAMS_CODE_S))
    onsets, stages = [], []
    for k in range(len(codes) // per):
        ranked = Counter(DREAMS_STAGES.get(c) for c in codes[k * per:(k + 1) * per]).most_common()
        if ranked[0][0] is None or (len(ranked) > 1 and ranked[1][1] == ranked[0][1]):
            continue
        onsets.append(k * epoch_s)
        stages.append(ranked[0][0])
    return np.array(onsets), np.array(stages, dtype=str)


def _dreams(data_dir: Path, config: PreprocessConfig) -> list[LabelledSet]:
    from brainkit.preprocess import event_windows

    sets = []
    for path in sorted((data_dir / "dreams").glob("excerpt*.txt.gz"),
                       key=lambda p: _number(p.name)):
        n = _number(path.name)
        if n not in DREAMS_RATES:
            raise BrainkitError(f"{path.name}: sampling rate unknown (known: excerpts "
                                f"{sorted(DREAMS_RATES)})")
        onsets, stages = dreams_epochs(data_dir / "dreams" / f"Hypnogram_excerpt{n}.txt")
        w = event_windows(_read(path, config, DREAMS_RATES[n])[1], onsets, stages,
                          TASK_WINDOWS["sleep_stage"].window_s)
        rel = _rel(path, data_dir)
        sets.append(LabelledSet("sleep_stage", w, f"dreams-excerpt{n}",
                                "val" if n in DREAMS_VAL else "train", rel, device_name(rel, n=1)))
    return sets


def _muse(data_dir: Path, config: PreprocessConfig) -> list[LabelledSet]:
    from brainkit.preprocess import annotation_windows

    sets = []
    for task, (folder, mapping) in MUSE_TASKS.items():
        spec, root, task_sets = TASK_WINDOWS[task], data_dir / "muse" / folder, []
        paths = sorted(p for p in root.glob("subject*/**/*.csv*")
                       if p.name.endswith((".csv", ".csv.gz")))
        for path in paths:
            recording, prep = _read(path, config)
            w = annotation_windows(prep, recording.annotations, mapping, spec.window_s,
                                   spec.offset_s)
            subject = path.relative_to(root).parts[0]
            task_sets.append(LabelledSet(task, w, f"muse-{subject}", "train", _rel(path, data_dir),
                                         "Muse-4"))
        sets += _subject_split(task_sets)
    return sets


def _eeglab_sample(data_dir: Path, config: PreprocessConfig) -> list[LabelledSet]:
    """The 80 ``square`` stimuli of EEGLAB's sample, labelled by their ``position`` field."""
    from scipy.io import loadmat

    from brainkit.preprocess import event_windows

    path = data_dir / "eeglab_sample" / "eeglab_data.set"
    if not path.exists():
        return []
    eeg = loadmat(path, squeeze_me=True, struct_as_record=False, appendmat=False)["EEG"]
    squares = [e for e in np.atleast_1d(eeg.event) if e.type == "square"]
    onsets = [(float(e.latency) - 1.0) / float(eeg.srate) for e in squares]  # latency: 1-based
    labels = [f"position_{int(e.position)}" for e in squares]
    w = event_windows(_read(path, config)[1], onsets, labels, EXTRA_WINDOW.window_s,
                      EXTRA_WINDOW.offset_s)
    return [LabelledSet(None, w, "eeglab-sample", "train", _rel(path, data_dir), "EEGLAB 32ch")]


ADAPTERS = {"eegmat": _eegmat, "eegmmidb": _eegmmidb, "bonn": _bonn, "dreams": _dreams,
            "muse": _muse, "eeglab_sample": _eeglab_sample}


# ------------------------------------------------------------------------------- public API


def _rel(path: Path, data_dir: Path) -> str:
    return path.relative_to(data_dir).as_posix()


def _data_dir(data_dir) -> Path:
    if data_dir is None:
        from brainkit.cli import default_data_dir

        data_dir = default_data_dir()
    data_dir = Path(data_dir).resolve()
    if not data_dir.is_dir():
        raise BrainkitError(f"no corpus folder at {data_dir}: pass data_dir (or --data DIR)")
    return data_dir


def _check_task(task: str) -> None:
    if task not in TASK_WINDOWS:
        raise BrainkitError(f"unknown task {task!r}; use one of: {', '.join(TASK_IDS)}")


def device_name(rel: str, recording=None, n: int | None = None) -> str:
    """The sensor system of a recording from its path (:data:`DEVICES`), else ``<format> <n>ch``."""
    if n is None and recording is not None:
        n = len(recording.sensors.model_picks)
    for pattern, name in DEVICES:
        if re.search(pattern, rel, re.IGNORECASE):
            return name.format(n=n)
    return f"{recording.format if recording is not None else 'unknown'} {n}ch"


def _folder_sets(folder: str, data_dir: Path, config, cache_dir, use_cache) -> list[LabelledSet]:
    if not (data_dir / folder).is_dir():
        return []
    files = [p for p in sorted((data_dir / folder).rglob("*")) if p.is_file()]
    return _cached(folder, data_dir, files, {"config": asdict(config)},
                   lambda: ADAPTERS[folder](data_dir, config), LabelledSet, cache_dir, use_cache)


def load_tasks(tasks=None, data_dir=None, split: str | None = None, *,
               config: PreprocessConfig = DEFAULT, cache_dir=None, use_cache: bool = True,
               keep_empty: bool = False) -> dict[str, list[LabelledSet]]:
    """:func:`load_task` for several tasks (all by default), reading each folder once."""
    tasks = list(TASK_IDS if tasks is None else tasks)
    for task in tasks:
        _check_task(task)
    if split is not None and split not in SPLITS:
        raise BrainkitError(f"split must be one of {SPLITS} or None, not {split!r}")
    data_dir = _data_dir(data_dir)
    by_folder = {folder: _folder_sets(folder, data_dir, config, cache_dir, use_cache)
                 for folder in dict.fromkeys(f for t in tasks for f in TASK_SOURCES[t])}
    return {task: [s for folder in TASK_SOURCES[task] for s in by_folder[folder]
                   if s.task == task and (split is None or s.split == split)
                   and (keep_empty or len(s.windows))] for task in tasks}


def load_task(task: str, data_dir=None, split: str | None = None, **kwargs) -> list[LabelledSet]:
    """The labelled windows of one task, one :class:`LabelledSet` per recording.

    Parameters
    ----------
    task : str
        One of :data:`TASK_IDS`.
    data_dir : path or None
        The corpus folder (default ``../shared/data`` beside the project).
    split : ``"train"``, ``"val"`` or None (both)
    **kwargs
        ``config`` (:class:`~brainkit.preprocess.PreprocessConfig`), ``cache_dir``,
        ``use_cache``, ``keep_empty`` (also recordings that gave no window).
    """
    return load_tasks([task], data_dir, split, **kwargs)[task]


def load_extra(data_dir=None, *, config: PreprocessConfig = DEFAULT, cache_dir=None,
               use_cache: bool = True) -> list[LabelledSet]:
    """Labelled windows that answer no DESIGN task (``task`` None), for tokenizer pre-training:
    EEGLAB's sample ERP, 1 s from 0.1 s before each ``square`` stimulus, ``position_1/2``."""
    return _folder_sets("eeglab_sample", _data_dir(data_dir), config, cache_dir, use_cache)


def _count(sets: list[LabelledSet], answers) -> dict:
    classes = Counter(label for s in sets for label in s.windows.labels)
    return {"n_windows": sum(len(s.windows) for s in sets),
            "classes": {a: classes.get(a, 0) for a in answers},
            "n_recordings": len(sets), "n_subjects": len({s.subject for s in sets}),
            "subjects": sorted({s.subject for s in sets})}


def summary(data_dir=None, tasks=None, **kwargs) -> dict:
    """Windows per task, split and class; subjects, recordings, devices, split notes.

    ``subject_disjoint`` is measured (no subject in both splits); ``val_subjects_in_other_train``
    lists validation subjects that another requested task trains on (multi-task leakage);
    ``recordings_without_windows`` the files that gave none (e.g. markers only at the edges).
    """
    kwargs.pop("keep_empty", None)
    loaded = load_tasks(tasks, data_dir, keep_empty=True, **kwargs)
    train_of = {t: {s.subject for s in sets if s.split == "train"} for t, sets in loaded.items()}
    out = {"data_dir": str(_data_dir(data_dir)), "tasks": {}}
    for task, sets in loaded.items():
        kept = [s for s in sets if len(s.windows)]
        spec, val = TASK_WINDOWS[task], {s.subject for s in kept if s.split == "val"}
        others = set().union(*(train_of[t] for t in loaded if t != task))
        out["tasks"][task] = {
            "window_s": spec.window_s, "offset_s": spec.offset_s,
            **{k: v for k, v in _count(kept, spec.answers).items() if k != "subjects"},
            "devices": sorted({s.device for s in kept}),
            "splits": {split: _count([s for s in kept if s.split == split], spec.answers)
                       for split in SPLITS},
            "subject_disjoint": not (val & train_of[task]),
            "val_subjects_in_other_train": sorted(val & others),
            "split_note": SPLIT_NOTES[task],
            "recordings_without_windows": [s.source for s in sets if not len(s.windows)],
        }
    if tasks is None:
        extra = load_extra(data_dir, **kwargs)
        out["extra"] = {"eeglab_sample": _count(extra, EXTRA_WINDOW.answers)} if extra else {}
    return out


# ------------------------------------------------------------------------------- corpus


def corpus_files(data_dir=None) -> list[tuple[Path, float | None]]:
    """Every recording of the data folder: ``(entry point, sampling rate for text exports)``.

    Text files count when their rate is known (Bonn, DREAMS, ``...200Hz.txt``) or, for CSV/TSV,
    when their header starts with a time column; an epoched EEGLAB file beside a continuous one
    and a text export beside an EDF of the same name are the same data and are left out.
    """
    from brainkit.io import FORMATS

    data_dir = _data_dir(data_dir)
    out = []
    for path in sorted(data_dir.rglob("*")):
        rel = _rel(path, data_dir)
        if any(part.lower().endswith((".mff", ".ds")) for part in Path(rel).parts[:-1]):
            continue
        name = path.name.lower()
        base = name[:-3] if name.endswith(".gz") and not name.endswith(".fif.gz") else name
        ext = ".fif.gz" if name.endswith(".fif.gz") else Path(base).suffix
        if ext not in FORMATS or path.is_dir() != (ext in (".mff", ".ds")):
            continue
        sfreq = None
        if ext in (".txt", ".csv", ".tsv"):
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


def _text_rate(rel: str) -> float | None:
    if rel.startswith("bonn/"):
        return BONN_RATE
    if rel.startswith("dreams/excerpt"):
        return DREAMS_RATES.get(_number(Path(rel).name))
    found = re.search(r"(\d+(?:\.\d+)?)\s*hz", Path(rel).name, re.IGNORECASE)
    return float(found.group(1)) if found else None


def _time_header(path: Path) -> bool:
    opener = gzip.open if path.name.lower().endswith(".gz") else open
    with opener(path, "rt", errors="replace") as f:
        return bool(re.match(r"\W*time", f.readline(), re.IGNORECASE))


def unlabelled_corpus(data_dir=None, window_s: float = 4.0, exclude_devices=(), *,
                      max_windows: int = 256, config: PreprocessConfig = DEFAULT, cache_dir=None,
                      use_cache: bool = True) -> list[CorpusItem]:
    """Every EEG/MEG recording of the data folder as unlabelled windows (:func:`corpus_files`).

    Each recording gives at most ``max_windows`` windows of ``window_s`` seconds, spread evenly
    over it (stride ``max(window_s, (duration - window_s) / (max_windows - 1))``). Recordings
    without an EEG/MEG channel (EOG-only files) are skipped with a log line.
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

    items = _cached(f"corpus-{window_s:g}s-{max_windows}", data_dir, files,
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
    from brainkit.io import FORMATS

    rel = rel[:-3] if rel.lower().endswith(".gz") else rel
    suffix = Path(rel).suffix.lower()
    return rel[:-len(suffix)] if suffix in FORMATS else rel


# ------------------------------------------------------------------------------- cache


def default_cache_dir() -> Path:
    """``$XDG_CACHE_HOME/brainkit/datasets``, by default ``~/.cache/brainkit/datasets``."""
    root = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(root) / "brainkit" / "datasets"


@lru_cache(maxsize=1)
def _code_version() -> str:
    """Hash of the modules that shape the windows, and of MNE's version."""
    package, digest = Path(__file__).resolve().parents[1], hashlib.sha256()
    shaping = [*sorted((package / "data").glob("*.py")), *sorted((package / "io").glob("*.py")),
               package / "preprocess.py", package / "sensors.py"]
    for path in shaping:
        digest.update(path.read_bytes())
    digest.update(metadata.version("mne").encode())
    return digest.hexdigest()


def _cached(name, data_dir, files, params, build, cls, cache_dir, use_cache):
    """``build()`` once; later calls load its items from an ``.npz`` keyed by files + params."""
    if not use_cache:
        return build()
    digest = hashlib.sha256(json.dumps({"format": CACHE_FORMAT, "code": _code_version(),
                                        "data": str(data_dir), **params}, sort_keys=True,
                                       default=str).encode())
    for p in files:
        st = p.stat()
        digest.update(f"{_rel(p, data_dir)}\0{st.st_size}\0{st.st_mtime_ns}\n".encode())
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


_META = ("task", "subject", "split", "source", "device")


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
