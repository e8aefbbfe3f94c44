"""Evaluation manifests: the repository's ``manifests/`` are what ``brainkit.data.corpora`` yields."""

import csv
from pathlib import Path

import pytest

from brainkit.errors import BrainkitError
from brainkit.data.manifests import COLUMNS, REQUIRED_COLUMNS, manifest_rows, read_manifest
from brainkit.tasks import TASK_IDS

ROOT = Path(__file__).resolve().parents[1]
MANIFESTS = ROOT / "manifests"


def test_every_task_has_a_validation_manifest_with_the_contract_columns():
    for task in TASK_IDS:
        path = MANIFESTS / f"val_{task}.csv"
        with open(path, newline="") as f:
            header = next(csv.reader(f))
        assert tuple(header[:len(REQUIRED_COLUMNS)]) == REQUIRED_COLUMNS and tuple(header) == COLUMNS


@pytest.mark.parametrize("task", TASK_IDS)
def test_shipped_manifests_are_the_validation_windows_of_the_corpus(data_dir, task):
    path = MANIFESTS / f"val_{task}.csv"
    with open(path, newline="") as f:
        shipped = list(csv.DictReader(f))
    expected = manifest_rows(task, data_dir, "val", relative_to=MANIFESTS)
    assert shipped == expected
    rows = read_manifest(path)  # every recording it names exists
    assert all(r["file"].exists() for r in rows)
    assert {r["label"] for r in rows} >= {"low", "high"} if task == "workload" else len(rows) > 0


def test_manifest_naming_a_missing_recording_is_refused_before_any_model_loads(tmp_path):
    path = tmp_path / "m.csv"
    path.write_text("path,task,label,start_s,duration_s,subject\ngone.edf,eyes,open,0,4,s1\n")
    with pytest.raises(BrainkitError, match="line 2: gone.edf does not exist"):
        read_manifest(path)


def test_optional_sfreq_column(tmp_path):
    (tmp_path / "a.txt").write_text("1\n2\n")
    (tmp_path / "b.edf").write_bytes(b"")
    path = tmp_path / "m.csv"
    path.write_text("path,task,label,start_s,duration_s,subject,sfreq\n"
                    "a.txt,seizure,normal,0,4,s1,173.61\nb.edf,seizure,normal,0,4,s1,\n")
    a, b = read_manifest(path)
    assert a["sfreq"] == pytest.approx(173.61) and b["sfreq"] is None
    path.write_text("path,task,label,start_s,duration_s,subject,sfreq\na.txt,seizure,normal,0,4,s1,fast\n")
    with pytest.raises(BrainkitError, match="sfreq"):
        read_manifest(path)
