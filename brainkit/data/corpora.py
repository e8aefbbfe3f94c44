"""Labelled windows for the tasks of DESIGN.md, from ``../shared/data``: one adapter per folder.

One adapter per corpus folder turns each recording into :class:`LabelledSet` s (windows, labels,
subject, split, source, device); :func:`load_task` gathers one task over folders,
:func:`summary` counts them (``python -m brainkit datasets``). Windows are cut as the task
registry (:data:`brainkit.tasks.TASKS`) says; the unlabelled corpus for tokenizer training is
:mod:`brainkit.data.corpus`.

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

Everything is cached as ``.npz`` (no pickle), one file per folder (:mod:`brainkit.data.cache`).
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import numpy as np

from brainkit.data import default_data_dir
from brainkit.data.cache import cached
from brainkit.errors import BrainkitError
from brainkit.preprocess import DEFAULT, PreprocessConfig, Windows
from brainkit.tasks import TASK_IDS, get_task

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
#: the EEGLAB sample's windows (no task): answers, length and start from the stimulus (s)
EXTRA_ANSWERS, EXTRA_WINDOW_S, EXTRA_OFFSET_S = ("position_1", "position_2"), 1.0, -0.1
#: (pattern on the path relative to the data folder, device); ``{n}`` = EEG/MEG channel count
DEVICES = ((r"^eegmat/", "10-20 19ch"), (r"^eegmmidb/", "BCI2000 64ch"),
           (r"^bonn/[AB]_", "Bonn scalp 1ch"), (r"^bonn/", "Bonn intracranial 1ch"),
           (r"^(dreams|yasa_snippets)/", "PSG {n}ch"), (r"^muse/", "Muse-4"),
           (r"^eeglab_sample/", "EEGLAB 32ch"), (r"neuromag|elekta", "Neuromag-306"),
           (r"\bctf\d*|\.ds$", "CTF-275"), (r"\bkit\d+|\.sqd$|\.con$", "KIT-157"),
           (r"\.mff$", "EGI-{n}"), (r"tuab.*\.edf$", "TUH 10-20"), (r"\.bdf$", "BioSemi"))


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
        w = sliding_windows(prep, get_task("workload").window_s, EEGMAT_STRIDE_S,
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
            w = _labelled(sliding_windows(prep, get_task("eyes").window_s), EEGMMIDB_EYES[run])
            eyes.append(LabelledSet("eyes", w, subject, "train", _rel(path, data_dir),
                                    "BCI2000 64ch"))
        else:
            w = annotation_windows(prep, recording.annotations, EEGMMIDB_CUES,
                                   get_task("motor_imagery").window_s)
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
            w = sliding_windows(_read(path, config, BONN_RATE)[1], get_task("seizure").window_s)
            rel = _rel(path, data_dir)
            for task, label in (("seizure", seizure), ("eyes", eyes)):
                if label:
                    sets.append(LabelledSet(task, _labelled(w, label), f"bonn-{people}-{block}",
                                            split, rel, device_name(rel)))
    return sets


def dreams_epochs(path: Path, epoch_s: float = get_task("sleep_stage").window_s):
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
                          get_task("sleep_stage").window_s)
        rel = _rel(path, data_dir)
        sets.append(LabelledSet("sleep_stage", w, f"dreams-excerpt{n}",
                                "val" if n in DREAMS_VAL else "train", rel, device_name(rel, n=1)))
    return sets


def _muse(data_dir: Path, config: PreprocessConfig) -> list[LabelledSet]:
    from brainkit.preprocess import annotation_windows

    sets = []
    for task, (folder, mapping) in MUSE_TASKS.items():
        spec, root, task_sets = get_task(task), data_dir / "muse" / folder, []
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
    w = event_windows(_read(path, config)[1], onsets, labels, EXTRA_WINDOW_S, EXTRA_OFFSET_S)
    return [LabelledSet(None, w, "eeglab-sample", "train", _rel(path, data_dir), "EEGLAB 32ch")]


ADAPTERS = {"eegmat": _eegmat, "eegmmidb": _eegmmidb, "bonn": _bonn, "dreams": _dreams,
            "muse": _muse, "eeglab_sample": _eeglab_sample}


# ------------------------------------------------------------------------------- public API


def _rel(path: Path, data_dir: Path) -> str:
    return path.relative_to(data_dir).as_posix()


def _data_dir(data_dir) -> Path:
    data_dir = Path(default_data_dir() if data_dir is None else data_dir).resolve()
    if not data_dir.is_dir():
        raise BrainkitError(f"no corpus folder at {data_dir}: pass data_dir (or --data DIR)")
    return data_dir


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
    return cached(folder, data_dir, files, {"config": asdict(config)},
                  lambda: ADAPTERS[folder](data_dir, config), LabelledSet, cache_dir, use_cache)


def load_tasks(tasks=None, data_dir=None, split: str | None = None, *,
               config: PreprocessConfig = DEFAULT, cache_dir=None, use_cache: bool = True,
               keep_empty: bool = False) -> dict[str, list[LabelledSet]]:
    """:func:`load_task` for several tasks (all by default), reading each folder once."""
    tasks = list(TASK_IDS if tasks is None else tasks)
    for task in tasks:
        get_task(task)  # an unknown id is a one-line error naming the known ones
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
        One of :data:`brainkit.tasks.TASK_IDS`.
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
        spec, val = get_task(task), {s.subject for s in kept if s.split == "val"}
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
        out["extra"] = {"eeglab_sample": _count(extra, EXTRA_ANSWERS)} if extra else {}
    return out


def _text_rate(rel: str) -> float | None:
    """Sampling rate (Hz) of a text export that carries none, from its path; None if unknown."""
    if rel.startswith("bonn/"):
        return BONN_RATE
    if rel.startswith("dreams/excerpt"):
        return DREAMS_RATES.get(_number(Path(rel).name))
    found = re.search(r"(\d+(?:\.\d+)?)\s*hz", Path(rel).name, re.IGNORECASE)
    return float(found.group(1)) if found else None
