"""Labelled windows per task from the real corpus, counted here independently of the loaders.

The corpus tests read ``../shared/data`` (skipped when it is absent) through the dataset cache:
the first run builds it (about a minute per part), later runs load it in seconds.
"""

import gzip
import json
import subprocess
import sys
from collections import Counter
from pathlib import Path

import mne
import numpy as np
import pandas as pd
import pytest
from conftest import DESIGN_TASKS

from brainkit.data import cache, corpus
from brainkit.data import corpora as datasets
from brainkit.errors import BrainkitError
from brainkit.preprocess import Windows
from brainkit.sensors import SensorArray
from brainkit.tasks import TASK_IDS, TASKS

ROOT = Path(__file__).resolve().parents[1]
SFREQ = 256.0
DESIGN = DESIGN_TASKS  # defined once, in conftest.py
WITHIN_SUBJECT = {"motor_imagery", "auditory_oddball"}  # one subject: the last run is validation


@pytest.fixture(scope="module")
def loaded(data_dir):
    return datasets.load_tasks(None, data_dir, keep_empty=True)


@pytest.fixture(scope="module")
def report(data_dir):
    return datasets.summary(data_dir)


def _by_source(sets):
    return {s.source: s for s in sets}


def _classes(sets):
    return Counter(label for s in sets for label in s.windows.labels)


# ------------------------------------------------------------------------------- no data needed


def test_task_table_matches_design():
    """The adapters cut windows as the one task registry says, and label every task of it."""
    assert {t: (w.answers, w.window_s, w.offset_s) for t, w in TASKS.items()} == DESIGN
    assert TASK_IDS == tuple(DESIGN) and set(datasets.TASK_SOURCES) == set(TASK_IDS)


def test_corpus_modules_do_not_import_the_command_line():
    """The data layer finds the corpus itself; only the command line imports it, never back."""
    code = ("import sys, brainkit.data.corpora, brainkit.data.corpus, brainkit.data.manifests; "
            "assert 'brainkit.cli' not in sys.modules, 'brainkit.cli imported'")
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
    assert run.returncode == 0, run.stderr


def test_unknown_task_and_split_are_one_line_errors(tmp_path):
    with pytest.raises(BrainkitError, match="unknown task 'sleep'.*sleep_stage"):
        datasets.load_task("sleep", tmp_path)
    with pytest.raises(BrainkitError, match="split must be one of"):
        datasets.load_task("eyes", tmp_path, split="test")
    with pytest.raises(BrainkitError, match="no corpus folder"):
        datasets.load_task("eyes", tmp_path / "missing")
    assert datasets.load_task("eyes", tmp_path) == []  # an empty corpus has no windows


def test_dreams_epochs_plurality_ties_and_movement(tmp_path):
    codes = ([2] * 6 + [2, 2, 2, 3, 3, 5] + [2, 2, 2, 3, 3, 3] + [-1] * 4 + [2, 2]
             + [1, 0, 1, 0, 4, 5] + [5])
    path = tmp_path / "Hypnogram_excerpt9.txt"
    path.write_text("[Hypnogram]\n" + "\n".join(map(str, codes)) + "\n")
    onsets, stages = datasets.dreams_epochs(path)
    # epoch 2 is a 3-3 tie, epoch 3 mostly movement; S3 + S4 = N3; the trailing code is no epoch
    assert onsets.tolist() == [0.0, 30.0, 120.0]
    assert stages.tolist() == ["N2", "N2", "N3"]


def _set(subject, source, labels):
    sensors = SensorArray(["Cz"], ["eeg"], np.zeros((1, 3)), np.zeros((1, 3)), np.ones(1, bool))
    n = len(labels)
    windows = Windows(np.zeros((n, 1, 4), np.float32), SFREQ, np.arange(n, dtype=float), sensors,
                      np.ones(1), np.array(labels))
    return datasets.LabelledSet("p300", windows, subject, "train", source, "test")


def test_subject_split_rule():
    # several subjects: the highest-numbered go to validation until they hold >= 10% of windows
    sets = [_set("muse-subject1", "a", ["target"] * 80),
            _set("muse-subject2", "b", ["target"] * 15),
            _set("muse-subject10", "c", ["target"] * 5),
            _set("muse-subject3", "d", ["target"] * 6)]
    split = {s.subject: s.split for s in datasets._subject_split(sets)}
    assert split == {"muse-subject1": "train", "muse-subject2": "train", "muse-subject3": "val",
                     "muse-subject10": "val"}
    # one subject: the last run is validation when it holds every class, else all is training
    runs = [_set("s1", "r1", ["target", "nontarget"]), _set("s1", "r2", ["nontarget", "target"])]
    assert [s.split for s in datasets._subject_split(runs)] == ["train", "val"]
    runs = [_set("s1", "r1", ["open"]), _set("s1", "r2", ["closed"])]
    assert [s.split for s in datasets._subject_split(runs)] == ["train", "train"]


def test_cache_round_trip_without_pickle(tmp_path):
    sets = [_set("a", "x.csv", ["target", "nontarget"]), _set("b", "y.csv", ["target"])]
    calls = []

    def build():
        calls.append(1)
        return sets

    files = []
    for _ in range(2):
        back = cache.cached("unit", tmp_path, files, {}, build, datasets.LabelledSet,
                            tmp_path, True)
    assert len(calls) == 1 and len(list(tmp_path.glob("unit-*.npz"))) == 1
    for a, b in zip(sets, back):
        assert (a.task, a.subject, a.split, a.source, a.device) == (b.task, b.subject, b.split,
                                                                    b.source, b.device)
        np.testing.assert_array_equal(a.windows.x, b.windows.x)
        np.testing.assert_array_equal(a.windows.labels, b.windows.labels)
        assert a.windows.sensors.names == b.windows.sensors.names
    with np.load(next(tmp_path.glob("unit-*.npz")), allow_pickle=False) as z:
        assert all(z[k].dtype != object for k in z.files)


# ------------------------------------------------------------------------------- real corpus


def test_every_window_has_the_design_shape(loaded):
    for task, sets in loaded.items():
        answers, window_s, _ = DESIGN[task]
        assert sets, task
        for s in sets:
            x = s.windows.x
            assert x.dtype == np.float32 and x.ndim == 3 and x.shape[-1] == int(window_s * SFREQ)
            assert x.shape[1] == len(s.windows.sensors) >= 1
            assert s.windows.sfreq == SFREQ and len(s.windows.labels) == len(x)
            assert set(s.windows.labels) <= set(answers), (task, s.source)
            assert s.split in ("train", "val") and s.task == task and s.device
            assert np.isfinite(x).all()


def test_splits_are_subject_disjoint(loaded, report):
    for task, sets in loaded.items():
        train = {s.subject for s in sets if s.split == "train" and len(s.windows)}
        val = {s.subject for s in sets if s.split == "val" and len(s.windows)}
        assert train, task
        assert report["tasks"][task]["subject_disjoint"] == (not train & val)
        if task in WITHIN_SUBJECT:  # the only subject is in both splits, and summary says so
            assert train == val and "within-subject" in report["tasks"][task]["split_note"]
        else:
            assert val and not train & val, task
        sources = [s.source for s in sets]
        assert len(sources) == len(set(sources)), task


def test_workload_is_the_published_protocol(data_dir, loaded):
    sets = loaded["workload"]
    files = sorted((data_dir / "eegmat").glob("Subject*_[12].edf"))
    assert len(sets) == len(files) == 62
    for s in sets:
        subject, run = Path(s.source).stem.split("_")
        duration = mne.io.read_raw_edf(data_dir / s.source, verbose="error").duration
        starts = s.windows.starts_s
        assert len(s.windows) == 29 and s.windows.x.shape[1] == 19  # 19 EEG; A2-A1 and ECG are not EEG
        np.testing.assert_allclose(np.diff(starts), 2.0)
        np.testing.assert_allclose([starts[0], starts[-1] + 4.0], [duration - 60.0, duration],
                                   atol=1 / SFREQ)
        assert set(s.windows.labels) == {"low" if run == "1" else "high"}
        assert s.split == ("train" if int(subject[7:]) <= 25 else "val")
    assert sum(len(s.windows) for s in sets) == 31 * 2 * 29 == 1798
    assert len({s.subject for s in sets if s.split == "train"}) == 26
    assert len({s.subject for s in sets if s.split == "val"}) == 5
    prep = datasets._read(data_dir / sets[0].source, datasets.DEFAULT)[1]
    assert prep.notch_hz == 50.0


def _sliding_count(duration_s, window_s=4.0):
    """Windows of a resampled recording (256 Hz) cut every window_s seconds."""
    n_times = int(round(duration_s * SFREQ))
    return (n_times - int(window_s * SFREQ)) // int(window_s * SFREQ) + 1


def test_bonn_sets_and_segment_blocks(data_dir, loaded):
    per_segment = _sliding_count(4097 / 173.61)
    assert per_segment == 5  # 23.6 s holds five 4-s windows, not six
    seizure = loaded["seizure"]
    assert len(seizure) == 500 and all(len(s.windows) == 5 for s in seizure)
    assert _classes(seizure) == {"normal": 400 * 5, "seizure": 100 * 5}
    for s in seizure:
        segment = int(Path(s.source).stem[1:])
        assert s.split == ("val" if segment > 80 else "train"), s.source
        assert ("seizure" in s.windows.labels) == s.source.startswith("bonn/E_S/")
    bonn_eyes = [s for s in loaded["eyes"] if s.source.startswith("bonn/")]
    assert {s.source.split("/")[1] for s in bonn_eyes} == {"A_Z", "B_O"}
    assert _classes([s for s in bonn_eyes if s.split == "val"]) == {"open": 100, "closed": 100}


def test_eegmmidb_eyes_and_motor_imagery(data_dir, loaded):
    eyes = [s for s in loaded["eyes"] if s.source.startswith("eegmmidb/")]
    for s in eyes:
        raw = mne.io.read_raw_edf(data_dir / s.source, verbose="error")
        assert len(s.windows) == _sliding_count(raw.n_times / raw.info["sfreq"]) == 15
        assert set(s.windows.labels) == {"open" if s.source.endswith("R01.edf") else "closed"}
        assert s.split == "train"  # one subject and one class per run: no honest validation
    expected, onsets = Counter(), {}
    for run in ("R04", "R08", "R12"):
        source = f"eegmmidb/S001/S001{run}.edf"
        raw = mne.io.read_raw_edf(data_dir / source, verbose="error")
        ann = raw.annotations
        keep = [(o, d) for o, d in zip(ann.onset, ann.description)
                if d in ("T1", "T2") and o + 4.0 <= raw.n_times / raw.info["sfreq"]]
        for _, d in keep:
            expected["left_hand" if d == "T1" else "right_hand"] += 1
        onsets[source] = [o for o, _ in keep]
    sets = _by_source(loaded["motor_imagery"])
    assert set(sets) == set(onsets)
    for source, s in sets.items():
        np.testing.assert_allclose(s.windows.starts_s, onsets[source], atol=1 / SFREQ)
        assert s.split == ("val" if source.endswith("R12.edf") else "train")
    assert _classes(sets.values()) == expected


def _dreams_labels(path):
    codes = [int(line) for line in path.read_text().split()[1:]]
    stage = {5: "W", 4: "REM", 3: "N1", 2: "N2", 1: "N3", 0: "N3"}
    labels = {}
    for k in range(len(codes) // 6):
        votes = Counter(stage.get(c, "drop") for c in codes[6 * k: 6 * k + 6]).most_common()
        if votes[0][0] != "drop" and (len(votes) == 1 or votes[1][1] < votes[0][1]):
            labels[30.0 * k] = votes[0][0]
    return labels


def test_sleep_stages_from_the_hypnograms(data_dir, loaded):
    sets = _by_source(loaded["sleep_stage"])
    excerpts = {1, 2, 3, 5, 6, 7}
    assert set(sets) == {f"dreams/excerpt{n}.txt.gz" for n in excerpts}
    for n in excerpts:
        s = sets[f"dreams/excerpt{n}.txt.gz"]
        expected = _dreams_labels(data_dir / "dreams" / f"Hypnogram_excerpt{n}.txt")
        assert dict(zip(s.windows.starts_s.tolist(), s.windows.labels.tolist())) == expected
        assert s.windows.x.shape[1:] == (1, 30 * 256)
        assert ("REM" in s.windows.labels) == (n == 7)  # README: only excerpt 7 has REM
        assert s.split == ("val" if n in (3, 6) else "train")


def _muse_expected(path, mapping, window_s, offset_s):
    """Markers whose window lies inside the recording, counted from the CSV rows themselves."""
    with gzip.open(path, "rt") as f:
        table = pd.read_csv(f)
    marker = next(c for c in table.columns if c.startswith("Marker"))
    values = table[marker].to_numpy()
    rows = np.flatnonzero(values != 0)
    starts = rows + int(round(offset_s * SFREQ))
    inside = (starts >= 0) & (starts + int(window_s * SFREQ) <= len(table))
    return Counter(mapping[f"{v:g}"] for v in values[rows[inside]]), len(rows) - int(inside.sum())


@pytest.mark.parametrize("task", ["p300", "n170", "ssvep", "auditory_oddball"])
def test_muse_windows_match_the_markers(data_dir, loaded, task):
    folder, mapping = datasets.MUSE_TASKS[task]
    _, window_s, offset_s = DESIGN[task]
    sets = _by_source(loaded[task])
    files = sorted((data_dir / "muse" / folder).rglob("*.csv.gz"))
    assert sorted(sets) == sorted(p.relative_to(data_dir).as_posix() for p in files)
    total, dropped = Counter(), 0
    for path in files:
        expected, lost = _muse_expected(path, mapping, window_s, offset_s)
        s = sets[path.relative_to(data_dir).as_posix()]
        assert Counter(s.windows.labels.tolist()) == expected, s.source
        assert s.subject == "muse-" + path.relative_to(data_dir / "muse" / folder).parts[0]
        total += expected
        dropped += lost
    assert _classes(sets.values()) == total
    assert dropped < 0.05 * (sum(total.values()) + dropped)  # edge drops are rare


def test_summary_counts(report, loaded):
    for task, entry in report["tasks"].items():
        sets = [s for s in loaded[task] if len(s.windows)]
        assert entry["n_windows"] == sum(len(s.windows) for s in sets)
        assert entry["classes"] == {a: _classes(sets).get(a, 0) for a in DESIGN[task][0]}
        splits = entry["splits"]
        assert splits["train"]["n_windows"] + splits["val"]["n_windows"] == entry["n_windows"]
        assert entry["devices"] and entry["split_note"]
    tasks = report["tasks"]
    assert tasks["workload"]["splits"]["val"]["n_subjects"] == 5
    assert tasks["eyes"]["classes"] == {"open": 15 + 500, "closed": 15 + 500}
    assert tasks["eyes"]["devices"] == ["BCI2000 64ch", "Bonn scalp 1ch"]
    # three N170 files of subject10 hold one marker, at their first sample: no window fits
    assert len(tasks["n170"]["recordings_without_windows"]) == 3
    assert report["extra"]["eeglab_sample"]["classes"] == {"position_1": 40, "position_2": 40}


def test_extra_eeglab_erp_is_no_task(data_dir):
    (extra,) = datasets.load_extra(data_dir)
    assert extra.task is None and extra.windows.x.shape == (80, 30, 256)
    # the event table of the .set: 1-based latencies at 128 Hz
    first = np.sort(extra.windows.starts_s)[:2]
    np.testing.assert_allclose(first, np.array([129.00875, 218.00875]) / 128 - 1 / 128 - 0.1,
                               atol=1 / SFREQ)


def test_unlabelled_corpus(data_dir, loaded):
    items = corpus.unlabelled_corpus(data_dir)
    sources = [i.source for i in items]
    assert len(sources) == len(set(sources))
    devices = {i.device for i in items}
    assert {"Muse-4", "10-20 19ch", "Neuromag-306", "CTF-275", "KIT-157", "EGI-257", "BioSemi",
            "Bonn scalp 1ch", "PSG 1ch"} <= devices
    # the Temple University Hospital exports hold no signal (every electrode flat): skipped
    assert "TUH 10-20" not in devices and not any("tuab_train_normal" in s for s in sources)
    for item in items:
        assert item.x.shape[-1] == 4 * 256 and 1 <= len(item.x) <= 256
        assert item.x.shape[1] == len(item.sensors)
        assert ((item.n_valid > 0) & (item.n_valid <= 1024)).all()
    # every labelled recording is in it (DREAMS excerpt 3 as its 20-channel EDF), none twice
    stems = {corpus._stem(s) for s in sources}
    for sets in loaded.values():
        assert {corpus._stem(s.source) for s in sets} <= stems
    assert "dreams/excerpt3.txt.gz" not in sources and "dreams/excerpt3.edf" in sources
    assert not any("epochs" in s for s in sources)
    # validation recordings stay held out from tokenizer training
    split = {corpus._stem(i.source): i.split for i in items}
    for sets in loaded.values():
        for s in sets:
            if s.split == "val":
                assert split[corpus._stem(s.source)] == "val", s.source
    assert split["dreams/excerpt3"] == "val"
    short = next(i for i in items if i.source.startswith("meg/neuromag306"))
    assert len(short.x) == 1 and short.n_valid[0] < 1024  # 1 s of MEG, zero-padded
    kept = corpus.unlabelled_corpus(data_dir, exclude_devices=("Muse-4",))
    assert len(kept) == len(items) - sum(i.device == "Muse-4" for i in items)


def test_command_line_prints_the_summary(data_dir, report):
    def cli(*args):
        return subprocess.run([sys.executable, "-m", "brainkit", "datasets", "--data",
                               str(data_dir), *args], capture_output=True, text=True, cwd=ROOT,
                              timeout=300)

    out = cli()
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout)["tasks"] == json.loads(json.dumps(report["tasks"]))
    assert list(json.loads(cli("--task", "workload").stdout)["tasks"]) == ["workload"]
    bad = cli("--task", "sleep")
    assert bad.returncode == 2 and "unknown task" in bad.stderr and "Traceback" not in bad.stderr
