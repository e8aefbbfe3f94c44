"""Teaching a new task (issue 16): task definitions, per-context taught tasks, folds that never
share a sample, task packs (round trip, refusal), the command line, on the tiny checkpoint and
the simulated eyes recording; the real model and data in the slow tests."""

import csv
import json
import shutil
import subprocess
import sys
import threading
from pathlib import Path

import numpy as np
import pytest

from brainkit.data.corpora import LabelledSet
from brainkit.errors import BrainkitError
from brainkit.preprocess import Windows
from brainkit.sensors import SensorArray
from brainkit.tasks import TASK_IDS, get_task, task_ids, taught_task, taught_tasks

ROOT = Path(__file__).resolve().parents[1]


EYES_MAP = {"eyes open": "open", "eyes closed": "closed"}


def _set(starts, labels, source="rec", window_s=4.0, n_channels=2, names=None, seed=None):
    """Windows of zeros (every channel flat), or of white noise with a ``seed``."""
    n = len(starts)
    names = names or [f"C{i}" for i in range(n_channels)]
    n_channels = len(names)
    sensors = SensorArray(list(names), ["eeg"] * n_channels,
                          np.zeros((n_channels, 3)), np.zeros((n_channels, 3)), np.ones(n_channels, bool))
    shape = (n, n_channels, int(window_s * 10))
    x = np.zeros(shape) if seed is None else np.random.default_rng(seed).normal(size=shape)
    w = Windows(x.astype(np.float32), 10.0, np.asarray(starts, float), sensors, np.ones(n_channels),
                np.asarray(labels, dtype=str))
    return LabelledSet(None, w, "user", "train", source, "user")


# ----------------------------------------------------------------------------- task definitions
@pytest.mark.parametrize("task_id, answers, match", [
    ("Eyes-Muse", ["a", "b"], "lower-case"), ("eyes", ["a", "b"], "built-in"),
    ("mine", ["a"], "two or more"), ("mine", ["a", "a"], "two or more"), ("9lives", ["a", "b"], "lower-case")])
def test_bad_task_definitions_are_one_clear_error(task_id, answers, match):
    with pytest.raises(BrainkitError, match=match):
        taught_task(task_id, answers, 4.0)


def test_a_taught_task_is_known_only_inside_its_context_and_thread():
    task = taught_task("eyes_muse", ["open", "closed"], 4.0)
    with pytest.raises(BrainkitError, match="unknown task"):
        get_task("eyes_muse")
    seen = {}
    with taught_tasks([task]):
        assert get_task("eyes_muse") is task and task_ids() == TASK_IDS + ("eyes_muse",)

        def other_user():
            seen["ids"] = task_ids()
        t = threading.Thread(target=other_user)
        t.start()
        t.join()
    assert seen["ids"] == TASK_IDS  # another app session's thread never sees it
    assert task_ids() == TASK_IDS
    with pytest.raises(BrainkitError, match="built-in"):
        with taught_tasks([get_task("eyes")]):
            pass


# ----------------------------------------------------------------------------- folds
def test_contiguous_blocks_never_share_a_sample():
    from brainkit.training.teach import contiguous_blocks

    starts = np.arange(0, 57, 1.0)  # 4-s windows every second: every neighbour overlaps
    blocks, index = contiguous_blocks([_set(starts, ["a"] * len(starts))], 5)
    assert index == [0, 1, 2, 3, 4]
    spans = [(b.windows.starts_s.min(), b.windows.starts_s.max() + 4.0) for b in blocks]
    for (_, end), (start, _) in zip(spans, spans[1:]):
        assert end <= start  # block j ends before block j + 1 begins
    kept = sum(len(b.windows) for b in blocks)
    assert kept == len(starts) - 4 * 3  # three windows dropped before each of the four cuts


def test_one_class_per_recording_is_cross_validated_by_blocks():
    from brainkit.evaluation.baselines import labels_of
    from brainkit.training.teach import teach_splits

    task = taught_task("eyes_muse", ["open", "closed"], 4.0)
    sets = [_set(np.arange(0, 60, 4.0), ["open"] * 15, "R01"), _set(np.arange(0, 60, 4.0), ["closed"] * 15, "R02")]
    blocks, splits, unit = teach_splits(sets, task, k=5)
    assert unit == "contiguous block" and len(splits) == 5
    for sp in splits:
        assert set(labels_of([blocks[i] for i in sp.train], task)) == {0, 1}
        assert set(labels_of([blocks[i] for i in sp.test], task)) == {0, 1}
        assert not set(sp.train) & set(sp.test)


def test_recordings_with_both_classes_are_left_out_one_by_one():
    from brainkit.training.teach import teach_splits

    task = taught_task("motor_exec", ["left", "right"], 4.0)
    sets = [_set(np.arange(0, 40, 4.0), ["left", "right"] * 5, f"R{r}") for r in (3, 7, 11)]
    blocks, splits, unit = teach_splits(sets, task)
    assert unit == "recording" and blocks is sets
    assert sorted(sp.test for sp in splits) == [[0], [1], [2]]


def test_a_draw_keeps_n_windows_per_class_the_same_for_every_method():
    from brainkit.training.teach import Subsample

    seen = []

    def method(train, test, task):
        seen.append(np.concatenate([s.windows.starts_s for s in train]))
        return np.zeros((1, 2))

    sets = [_set(np.arange(0, 120, 4.0), ["left", "right"] * 15, "R3")]
    with taught_tasks([taught_task("motor_exec", ["left", "right"], 4.0)]):
        draw = Subsample(4, 0)
        draw.method(method)(sets, sets, "motor_exec")
        draw.method(method)(sets, sets, "motor_exec")
        Subsample(4, 1).method(method)(sets, sets, "motor_exec")
        Subsample(None, 0).method(method)(sets, sets, "motor_exec")
    labels = {t: lab for t, lab in zip(sets[0].windows.starts_s, sets[0].windows.labels)}
    assert sorted(labels[t] for t in seen[0]) == ["left"] * 4 + ["right"] * 4
    np.testing.assert_array_equal(seen[0], seen[1])  # one draw for every method of a fold
    assert not np.array_equal(seen[0], seen[2]) and len(seen[3]) == 30  # another draw; all windows


# ----------------------------------------------------------------------------- labelled windows
def test_mapping_and_count_messages():
    from brainkit.data.labelled import count_warnings, parse_mapping

    assert parse_mapping("T1=left, T2=right") == {"T1": "left", "T2": "right"}
    for bad in ("T1:left", "T1=left", "=left,T2=right"):
        with pytest.raises(BrainkitError, match="--map"):
            parse_mapping(bad)
    assert count_warnings({"a": 12, "b": 3}) == [
        "class 'b' has only 3 window(s); at least 10 per class are advised"]
    assert "only one class" in count_warnings({"a": 40})[0]


def test_annotation_errors_are_one_line(samples_dir):
    from brainkit.data.labelled import annotation_sets

    path = samples_dir / "eyes_open_closed.edf"
    with pytest.raises(BrainkitError, match="'blink' is in none of the recordings .*eyes closed, eyes open"):
        annotation_sets([path], {"blink": "a", "eyes open": "b"}, 4.0)
    with pytest.raises(BrainkitError, match="longer than the recording"):
        annotation_sets([path], EYES_MAP, 400.0)
    sets = annotation_sets([path], EYES_MAP, 4.0, stride_s=4.0)
    labels = sets[0].windows.labels
    assert len(sets) == 1 and {str(a) for a in labels} == {"open", "closed"}
    assert (labels == "open").sum() == (labels == "closed").sum() == 21  # 3 blocks of 30 s each: 7 windows


def test_annotations_that_share_a_label_teach_one_answer():
    from brainkit.data.labelled import annotation_task

    sleep = annotation_task("deep_sleep", {"S3": "n3", "S4": "n3", "S2": "n2"}, 30.0, stride_s=30.0)
    assert sleep.answers == ("n3", "n2") and not sleep.event_locked  # windows every stride
    onsets = annotation_task("motor", {"T1": "left", "T2": "right"}, 4.0)
    assert onsets.answers == ("left", "right") and onsets.event_locked  # one window per onset
    with pytest.raises(BrainkitError, match="two or more different labels"):
        annotation_task("motor", {"T1": "left", "T2": "left"}, 4.0)


def test_a_teaching_manifest_names_one_task(tmp_path, samples_dir):
    from brainkit.data.labelled import manifest_sets
    from brainkit.data.manifests import read_manifest

    shutil.copy(samples_dir / "eyes_open_closed.edf", tmp_path)
    path = tmp_path / "train.csv"
    rows = [["path", "task", "label", "start_s", "duration_s", "subject"],
            ["eyes_open_closed.edf", "eyes_sim", "open", "0", "4", "s1"],
            ["eyes_open_closed.edf", "eyes_sim", "closed", "40", "4", "s1"]]
    path.write_text("\n".join(",".join(r) for r in rows) + "\n")
    task_id, window_s, sets = manifest_sets(path)
    assert (task_id, window_s, list(sets[0].windows.labels)) == ("eyes_sim", 4.0, ["open", "closed"])
    with pytest.raises(BrainkitError, match="unknown task 'eyes_sim'"):
        read_manifest(path)  # evaluation manifests still need known tasks
    path.write_text(path.read_text() + "eyes_open_closed.edf,other,open,80,4,s1\n")
    with pytest.raises(BrainkitError, match="names one task"):
        manifest_sets(path)
    path.write_text("\n".join(",".join(r) for r in rows[:2]) + "\neyes_open_closed.edf,eyes_sim,closed,178,4,s1\n")
    with pytest.raises(BrainkitError, match="longer than the recording"):
        manifest_sets(path)


# ----------------------------------------------------------------------------- packs, tiny model
@pytest.fixture(scope="module")
def taught(tiny_model, samples_dir):
    """The tiny model and a pack taught on the simulated eyes recording."""
    from brainkit.data.labelled import annotation_sets
    from brainkit.inference import Brainkit
    from brainkit.training.teach import teach

    bk = Brainkit(tiny_model[0], lm_path=tiny_model[1])
    sets = annotation_sets([samples_dir / "eyes_open_closed.edf"], EYES_MAP, 4.0, stride_s=2.0,
                           config=bk.preprocess_config)
    task = taught_task("eyes_sim", ["open", "closed"], 4.0, "Simulated eyes open or closed.")
    return bk, teach(bk, task, sets, reading_steps=3), sets


def test_teaching_reports_cross_validation_beside_the_classical_methods(taught):
    _, pack, _ = taught
    from brainkit.training import teach as t

    cv = pack.report["cross_validation"]
    assert cv["unit"] == "contiguous block" and cv["n_folds"] == 5
    # one montage, two classes, not event-locked: every reading but the evoked one alone, then
    # the kept head, which combines the readings of the channels (fixed before any fold is scored)
    assert list(cv["methods"]) == [t.HEAD, t.CHANNELS, t.SPATIAL, t.COMBINED,
                                   "band power + logistic regression", "CSP + LDA"]
    assert pack.report["head"] == cv["head"] == t.COMBINED
    assert pack.channels == tuple(taught[2][0].windows.sensors.names)
    assert pack.montage.n_filters == 4 and pack.montage.evoked is None
    # the simulated recording's closed eyes raise posterior alpha: the head learns it out of fold
    assert cv["methods"]["brainkit (read-out head)"]["mean"] > 0.9
    assert list(cv["curve"])[:2] == ["10", "20"] and pack.report["class_counts"] == {"open": 42, "closed": 42}
    reading = pack.report["lm_head_agreement"]
    assert 0 <= reading["steps"] <= 3 and reading["n_windows"] == 64
    # the last point trains on every window: one draw, no spread over draws
    assert cv["draws"] == t.CURVE_DRAWS and set(cv["curve_std"][str(cv["train_per_class"])].values()) == {0.0}


def test_a_learning_curve_point_is_the_mean_of_its_draws(taught):
    """With folds that do not depend on the seed (contiguous blocks), the point averaged over three
    draws is the mean of the points of three single draws, and its spread is theirs. The labels are
    shuffled, so that which ten windows per class are drawn changes the scores."""
    from dataclasses import replace

    from brainkit.training import teach as t

    _, pack, sets = taught
    rng = np.random.default_rng(0)
    sets = [replace(s, windows=replace(s.windows, labels=rng.permutation(s.windows.labels))) for s in sets]
    single = [t.cross_validate(pack.task, sets, seed=d, curve=(10,), draws=1)["curve"]["10"] for d in range(3)]
    three = t.cross_validate(pack.task, sets, seed=0, curve=(10,), draws=3)
    assert three["draws"] == 3 and list(three["curve"]) == ["10", str(three["train_per_class"])]
    for name, value in three["curve"]["10"].items():
        values = [s[name] for s in single]
        assert value == pytest.approx(np.mean(values)) and three["curve_std"]["10"][name] == pytest.approx(np.std(values))
    assert all(len({s[name] for s in single}) > 1 for name in single[0])  # the draws differ
    for name in ("band power + logistic regression", "CSP + LDA"):  # the kept head minus each, paired
        gaps = [s[three["head"]] - s[name] for s in single]
        assert three["curve_gap"]["10"][name] == pytest.approx(
            {"mean": np.mean(gaps), "se": np.std(gaps, ddof=1) / np.sqrt(3)})
    last = three["methods"]  # with every training window, the pairs are the folds'
    gaps = np.subtract(last[three["head"]]["folds"], last["CSP + LDA"]["folds"])
    assert three["curve_gap"][str(three["train_per_class"])]["CSP + LDA"] == pytest.approx(
        {"mean": gaps.mean(), "se": gaps.std(ddof=1) / np.sqrt(len(gaps))})


def test_a_drawn_set_reads_its_inputs_from_its_recordings(taught):
    """The inputs of windows drawn for a learning-curve point are the rows of their recording's,
    computed once: the same head as from inputs computed afresh from the drawn windows."""
    from brainkit.training import teach as t

    _, pack, sets = taught
    kept = t.kept_family(t.families_for(pack.task, sets))
    shared, fresh = t.HeadInputs(t.montage_of(sets)), t.HeadInputs(t.montage_of(sets))
    shared.inputs(["regions", "channels"], sets)  # the recordings' inputs, as cross-validation has them
    with taught_tasks([pack.task]):
        drawn = t.Subsample(12, 0, on_draw=shared.drawn)(sets, pack.task.id)
    assert sum(len(s.windows) for s in drawn) == 24 and len(shared._parents) == len(drawn)
    # the weights, not the filters: a filter's sign is arbitrary, its log power is not
    np.testing.assert_allclose(shared.fit(kept, drawn, pack.task)[0], fresh.fit(kept, drawn, pack.task)[0],
                               rtol=1e-3, atol=1e-5)


def test_the_kept_head_sums_the_logits_of_the_readings_it_combines(taught):
    from brainkit.training import teach as t

    _, pack, sets = taught
    families = t.families_for(pack.task, sets)
    kept = t.kept_family(families)
    assert [m.name for m in kept.members] == [t.CHANNELS, t.SPATIAL]
    assert t.kept_family(t.families_for(pack.task, sets, portable=True)).name == t.HEAD
    inputs = t.HeadInputs(t.montage_of(sets))
    weight, bias, montage = inputs.fit(kept, sets, pack.task)
    np.testing.assert_allclose(weight, pack.weight, rtol=1e-5, atol=1e-6)  # what the pack holds
    total = 0.0
    for member in kept.members:
        w, b, m = inputs.fit(member, sets, pack.task)
        total = total + inputs.inputs(member.layout, sets, m) @ w.T + b
    combined = inputs.inputs(kept.layout, sets, montage) @ weight.T + bias
    np.testing.assert_allclose(combined, total, rtol=1e-6, atol=1e-6)
    assert np.abs(total).max() > 1.0  # logits, not a sum of zeros


def _evoked_recording(seed: int = 0, n_events: int = 120, sfreq: float = 128.0, channels=None):
    """Eight scalp channels of white background below 40 Hz (20 µV) with a cue every 1.5 s, each
    followed by a 15-µV positive wave over the parietal channels: 0.3 s after a ``target`` cue,
    0.5 s after a ``standard`` one. Both classes have the same spectrum; only the time course
    tells them apart. ``channels``: the recording keeps only these, in this order."""
    import mne

    from brainkit.io.recording import recording_from_raw

    rng = np.random.default_rng(seed)
    names = ["Fz", "C3", "Cz", "C4", "P3", "Pz", "P4", "Oz"]
    n = int((n_events * 1.5 + 3) * sfreq)
    spectrum = rng.normal(size=(8, n // 2 + 1)) + 1j * rng.normal(size=(8, n // 2 + 1))
    freqs = np.fft.rfftfreq(n, 1 / sfreq)
    data = np.fft.irfft(spectrum * (freqs < 40), n=n)
    data *= 20e-6 / data.std(1, keepdims=True)
    onsets = 1.0 + 1.5 * np.arange(n_events)
    labels = rng.permutation(np.repeat(["target", "standard"], n_events // 2))
    t = np.arange(int(0.8 * sfreq)) / sfreq
    weights = np.array([0.1, 0.3, 0.5, 0.3, 0.8, 1.0, 0.8, 0.5])[:, None]
    for onset, label in zip(onsets, labels):
        peak = 0.3 if label == "target" else 0.5
        i = int(onset * sfreq)
        data[:, i:i + len(t)] += weights * 15e-6 * np.exp(-0.5 * ((t - peak) / 0.06) ** 2)
    raw = mne.io.RawArray(data, mne.create_info(names, sfreq, "eeg"), verbose="error")
    raw.set_montage("standard_1020")
    raw.set_annotations(mne.Annotations(onsets, [0.0] * n_events, labels))
    if channels is not None:
        raw.pick(channels)
    return recording_from_raw(raw, "evoked")


def test_an_evoked_response_is_learned_by_the_evoked_filters(tiny_model, tmp_path):
    import torch

    from brainkit.data.labelled import recording_sets
    from brainkit.inference import Brainkit, readout_inputs
    from brainkit.models.readout import N_FEATURES
    from brainkit.models.taskpack import load_pack, save_pack
    from brainkit.training import teach as t

    bk = Brainkit(tiny_model[0], lm_path=tiny_model[1])
    sets = recording_sets([_evoked_recording()], {"target": "target", "standard": "standard"}, 0.8,
                          config=bk.preprocess_config)
    task = taught_task("oddball", ["standard", "target"], 0.8, event_locked=True)
    pack = t.teach(bk, task, sets, reading_steps=0, curve=())
    methods = pack.report["cross_validation"]["methods"]
    assert methods[t.EVOKED]["mean"] > 0.85  # the time course carries the answer...
    assert methods[t.EVOKED]["mean"] > methods[t.HEAD]["mean"] + 0.1  # ...which spectra do not
    assert pack.report["head"] == t.COMBINED and pack.montage.evoked.shape == (8, 8)
    assert methods[t.COMBINED]["mean"] > 0.85  # the other readings do not drown it in the product
    save_pack(pack, tmp_path / "pack")
    loaded = load_pack(tmp_path / "pack", bk.base)
    np.testing.assert_allclose(loaded.montage.evoked_times_s, pack.montage.evoked_times_s, atol=1e-6)
    view = bk.with_tasks([loaded])
    inputs = readout_inputs(view.decoder, sets[0].windows, "oddball")
    assert inputs.shape[1] == N_FEATURES + loaded.montage.width
    with taught_tasks([task]), torch.no_grad():  # the saved head on the inputs of the inference path
        head = view.decoder.readout_heads["oddball"](inputs.float()).softmax(-1).numpy()
    assert balanced_accuracy(sets[0].windows.labels, head, task.answers) > 0.85  # in sample


def test_recordings_that_differ_in_channels_are_taught_on_the_channels_they_share(tiny_model):
    """One recording lists its channels in another order and lacks Fz (a bad channel removed):
    the channel readings, and the classical methods beside them, read the seven every recording
    has, and the user is told which channel is left out."""
    from brainkit.data.labelled import recording_sets
    from brainkit.inference import Brainkit, readout_inputs
    from brainkit.training import teach as t

    bk = Brainkit(tiny_model[0], lm_path=tiny_model[1])
    shared = ["C3", "Cz", "C4", "P3", "Pz", "P4", "Oz"]
    recordings = [_evoked_recording(0), _evoked_recording(1, channels=shared[::-1])]
    sets = recording_sets(recordings, {"target": "target", "standard": "standard"}, 0.8,
                          config=bk.preprocess_config)
    assert t.montage_of(sets) == tuple(shared)  # the first recording's order
    assert t.montage_of(sets[::-1]) == tuple(shared[::-1])
    assert [len(s.windows.sensors) for s in sets] == [8, 7]
    (warning,) = t.layout_warning(sets)
    assert "the 7 every one has" in warning and "Fz left out" in warning
    task = taught_task("oddball", ["standard", "target"], 0.8, event_locked=True)
    pack = t.teach(bk, task, sets, reading_steps=0, curve=())
    assert pack.report["head"] == t.COMBINED and list(pack.channels) == shared
    assert pack.report["warnings"] == [warning]
    methods = pack.report["cross_validation"]["methods"]
    assert methods[t.COMBINED]["mean"] > 0.85 and methods["xDAWN + tangent space"]["mean"] > 0.85
    picked = t.on_channels(sets[0], shared[::-1])
    assert picked.windows.sensors.names == shared[::-1]
    np.testing.assert_array_equal(picked.windows.x[:, 0], sets[0].windows.x[:, 7])  # Oz
    assert t.on_channels(sets[1], shared[::-1]) is sets[1]
    view = bk.with_tasks([pack])  # a recording's channels are found by name, in any order
    with taught_tasks([task]):
        rows = [readout_inputs(view.decoder, s.windows, "oddball").numpy()
                for s in (sets[1], t.on_channels(sets[1], shared))]
    np.testing.assert_allclose(rows[0], rows[1], rtol=1e-4, atol=1e-5)


def test_a_channel_flat_in_one_recording_counts_as_missing_there():
    """A disconnected lead (zeros) or a dead one (0.01 µV) is left out of the montage, as a
    channel the recording lacks would be, and the user is told where."""
    from dataclasses import replace

    from brainkit.quality import flat_channels
    from brainkit.training import teach as t

    a, b = (_set(np.arange(0, 40, 4.0), ["left", "right"] * 5, f"{name}.edf", n_channels=3, seed=seed)
            for seed, name in enumerate("ab"))
    assert t.montage_of([a, b]) == ("C0", "C1", "C2") and t.layout_warning([a, b]) == []
    b.windows.x[:, 1] = 0.0
    assert list(flat_channels(b.windows)) == [False, True, False]
    assert list(flat_channels(replace(a.windows, scale=np.array([1e-5, 1e-5, 1e-8])))) == [False, False, True]
    assert t.montage_of([a, b]) == ("C0", "C2")
    assert t.layout_warning([a, b]) == [
        "the recordings differ in channels: taught on the 2 every one has; C1 left out of the channel readings",
        "flat, so counted as missing: C1 in b.edf"]


def test_one_electrode_is_one_channel_whatever_each_file_calls_it():
    """A hospital's files name an electrode with a kind prefix and a reference suffix that change
    with the montage (``EEG FP1-REF``, ``EEG FP1-LE``), and older files use the old 10-20 names
    (T3 for T7): the montage and a pack's reading find it in each."""
    from brainkit.models.readout import channel_index
    from brainkit.training import teach as t

    starts, labels = np.arange(0, 40, 4.0), ["left", "right"] * 5
    a = _set(starts, labels, "a.edf", names=["EEG FP1-REF", "EEG T3-REF", "EEG CZ-REF"], seed=0)
    b = _set(starts, labels, "b.edf", names=["T7", "Pz", "eeg fp1-le"], seed=1)
    montage = t.montage_of([a, b])
    assert montage == ("EEG FP1-REF", "EEG T3-REF")
    assert channel_index(b.windows.sensors.names, montage) == [2, 0]
    picked = t.on_channels(b, montage)  # by the montage's names: one layout for the classical methods
    assert picked.windows.sensors.names == list(montage)
    np.testing.assert_array_equal(picked.windows.x, b.windows.x[:, [2, 0]])
    assert t.layout_warning([a, b]) == ["the recordings differ in channels: taught on the 2 every one has; "
                                        "EEG CZ-REF, Pz left out of the channel readings"]
    with pytest.raises(BrainkitError, match="lacks EEG CZ-REF"):
        channel_index(b.windows.sensors.names, ["EEG FP1-REF", "EEG CZ-REF"], "my_task")
    b2 = _set(starts, labels, "b2.edf", names=["T7", "Cz", "eeg fp1-le"], seed=2)
    c = _set(starts, labels, "c.edf", names=["FP1", "T7"], seed=3)
    # Cz, in a and b2 by two names, is left out once, by the first recording's name
    assert t.layout_warning([a, b2, c]) == ["the recordings differ in channels: taught on the 2 every one has; "
                                            "EEG CZ-REF left out of the channel readings"]


def test_recordings_of_other_devices_are_taught_on_the_regions():
    """A 4-channel headset beside an 8-channel cap share two electrodes, half of the headset's and
    a quarter of the cap's: not one montage, so the regions head (any layout) is what is taught,
    and the classical methods pool their band powers over each recording's channels."""
    from brainkit.training import teach as t

    starts, labels = np.arange(0, 40, 4.0), ["left", "right"] * 5
    muse = _set(starts, labels, "muse.edf", names=["TP9", "AF7", "AF8", "TP10"], seed=0)
    cap = _set(starts, labels, "cap.edf", names=["AF7", "AF8", "Fz", "Cz", "Pz", "Oz", "C3", "C4"], seed=1)
    task = taught_task("mixed_devices", ["left", "right"], 4.0)
    assert t.montage_of([muse, cap]) == () and t.montage_of([muse, muse]) == ("TP9", "AF7", "AF8", "TP10")
    assert [f.name for f in t.families_for(task, [muse, cap])] == [t.HEAD]
    assert list(t.classical_methods(task, [muse, cap])) == ["band power + logistic regression"]
    assert t.layout_warning([muse, cap]) == ["the recordings share 2 channels (AF7, AF8), under half of some "
                                             "recording's: only the region features (any layout) are taught"]


def balanced_accuracy(labels, proba, answers) -> float:
    y = np.array([answers.index(a) for a in labels])
    return float(np.mean([(proba.argmax(1)[y == k] == k).mean() for k in range(len(answers))]))


def test_band_limiting_is_the_classical_zero_phase_filter():
    import torch
    from scipy.signal import butter, sosfiltfilt

    from brainkit.models.readout import band_limited

    x = np.random.default_rng(0).normal(size=(3, 2, 500))
    sos = butter(4, [8.0, 30.0], btype="band", fs=125.0, output="sos")
    np.testing.assert_allclose(band_limited(torch.from_numpy(x), 125.0).numpy(), sosfiltfilt(sos, x, axis=-1),
                               atol=1e-9)
    with pytest.raises(ValueError, match="longer than"):
        band_limited(torch.zeros(1, 1, 5000), 256.0)


def test_the_lda_head_is_sklearns_lda_as_one_linear_map():
    from sklearn.discriminant_analysis import LinearDiscriminantAnalysis

    from brainkit.models.readout import fit_lda_head, softmax_logits

    rng = np.random.default_rng(1)
    x = rng.normal(size=(90, 5))
    for y in ((x[:, 0] > 0).astype(int), np.digitize(x[:, 1], [-0.5, 0.5])):
        k = len(np.unique(y))
        w, b = fit_lda_head(x, y, k)
        lda = LinearDiscriminantAnalysis(solver="lsqr", shrinkage="auto", priors=np.full(k, 1 / k)).fit(x, y)
        np.testing.assert_allclose(softmax_logits(x @ w.T + b), lda.predict_proba(x), atol=1e-9)


def test_a_pack_round_trips_with_identical_probabilities(taught, tmp_path):
    from brainkit.models.taskpack import load_pack, save_pack

    bk, pack, sets = taught
    save_pack(pack, tmp_path / "pack")
    assert sorted(p.name for p in (tmp_path / "pack").iterdir()) == ["model.safetensors", "task.json"]
    loaded = load_pack(tmp_path / "pack", bk.base)
    assert loaded.task == pack.task and loaded.report == json.loads(json.dumps(pack.report, default=float))
    windows = sets[0].windows
    a = bk.with_tasks([pack]).predict(windows, "eyes_sim").probabilities
    b = bk.with_tasks([loaded]).predict(windows, "eyes_sim").probabilities
    assert np.array_equal(a, b) and np.allclose(a.sum(1), 1, atol=1e-5)


def test_the_view_decides_the_task_by_the_packs_head(taught):
    import torch

    from brainkit.inference import readout_inputs
    from brainkit.models.readout import softmax_logits

    bk, pack, sets = taught
    view = bk.with_tasks([pack])
    windows = sets[0].windows
    with view.taught():
        features = readout_inputs(view.decoder, windows, "eyes_sim")
        latents, bp, scale = view.features(windows)
        with torch.no_grad():
            conn = view.decoder.connect(latents, bp, scale, windows.sensors, "eyes_sim", readout=features)
    expected = softmax_logits(pack.logits(features.numpy()))
    assert np.allclose(conn.aux_logits.softmax(-1).numpy(), expected, atol=1e-5)
    assert ((expected.argmax(1) == 1) == (windows.labels == "closed")).mean() > 0.9


def _without_first_channel(windows):
    from dataclasses import replace

    keep = np.arange(1, windows.x.shape[1])
    return replace(windows, x=windows.x[:, keep], sensors=windows.sensors.pick(keep),
                   scale=np.asarray(windows.scale)[..., keep])


def test_a_recording_without_the_packs_channels_is_answered_by_its_regions(taught, caplog):
    """The montage head where every taught channel is there; the regions-only head (logged) where
    one is missing; the taught channels are found whatever their case."""
    import torch

    from brainkit.inference import readout_inputs
    from brainkit.models.readout import N_FEATURES, softmax_logits

    bk, pack, sets = taught
    assert len(pack.channels) == len(sets[0].windows.sensors.names) and pack.portable is not None
    view = bk.with_tasks([pack])
    windows = sets[0].windows
    upper = replace_names(windows, [n.upper() for n in windows.sensors.names])
    assert readout_inputs(view.decoder, upper, "eyes_sim").shape[1] == N_FEATURES + pack.montage.width
    fewer = _without_first_channel(windows)
    with view.taught():
        features = readout_inputs(view.decoder, fewer, "eyes_sim")
        assert features.shape[1] == N_FEATURES and "answered from the scalp regions alone" in caplog.text
        latents, bp, scale = view.features(fewer)
        with torch.no_grad():
            conn = view.decoder.connect(latents, bp, scale, fewer.sensors, "eyes_sim", readout=features)
    weight, bias = pack.portable
    expected = softmax_logits(features.numpy().astype(np.float64) @ weight.T + bias)
    assert np.allclose(conn.aux_logits.softmax(-1).numpy(), expected, atol=1e-5)
    assert ((expected.argmax(1) == 1) == (fewer.labels == "closed")).mean() > 0.8
    assert view.predict(fewer, "eyes_sim").probabilities.shape == (len(fewer), 2)


def test_a_recording_where_a_packs_channel_is_flat_is_answered_by_its_regions(taught, caplog):
    """A disconnected lead among the pack's channels is read as a missing one, as teaching counts
    it: the regions-only head answers (logged), and explanations read the window the same way."""
    from dataclasses import replace

    from brainkit.explain.readout import ReadoutPath, RecordingContext
    from brainkit.inference import readout_inputs
    from brainkit.models.readout import N_FEATURES

    bk, pack, sets = taught
    view = bk.with_tasks([pack])
    w = sets[0].windows
    x = w.x.copy()
    x[:, 0] = 0.0
    dead = replace(w, x=x)
    with view.taught():
        assert readout_inputs(view.decoder, w, "eyes_sim").shape[1] == N_FEATURES + pack.montage.width
        assert "flat" not in caplog.text
        assert readout_inputs(view.decoder, dead, "eyes_sim").shape[1] == N_FEATURES
        assert f"{pack.channels[0]} is flat in this recording" in caplog.text
        for windows, width in ((w, pack.montage.width), (dead, 0)):
            path = ReadoutPath(view.decoder, "eyes_sim", windows.sensors, windows.sfreq,
                               context=RecordingContext.of(windows, [0]))
            assert path.montage.width == width


def replace_names(windows, names):
    from dataclasses import replace

    return replace(windows, sensors=replace(windows.sensors, names=list(names)))


def test_a_pack_naming_channels_without_its_portable_head_is_refused(taught, tmp_path):
    import torch
    from safetensors.torch import load_file, save_file

    from brainkit.models.taskpack import load_pack, save_pack

    bk, pack, sets = taught
    save_pack(pack, tmp_path / "pack")
    loaded = load_pack(tmp_path / "pack", bk.base)
    assert loaded.channels == pack.channels
    windows = sets[0].windows
    assert np.array_equal(bk.with_tasks([pack]).predict(windows, "eyes_sim").probabilities,
                          bk.with_tasks([loaded]).predict(windows, "eyes_sim").probabilities)
    weights = tmp_path / "pack" / "model.safetensors"
    state = {k: v for k, v in load_file(str(weights)).items() if not k.startswith("readout_portable")}
    save_file({k: torch.as_tensor(v) for k, v in state.items()}, str(weights))
    with pytest.raises(BrainkitError, match="holds no portable head"):
        load_pack(tmp_path / "pack", bk.base)


def test_the_base_model_is_unchanged_by_a_view(taught):
    bk, pack, sets = taught
    view = bk.with_tasks([pack])
    assert "eyes_sim" in view.task_ids and "eyes_sim" not in bk.task_ids
    assert "eyes_sim" not in bk.decoder.readout_heads and "eyes_sim" not in bk.decoder.config.task_ids
    assert view.decoder.latent_in is bk.decoder.latent_in  # weights shared, not copied
    with pytest.raises(BrainkitError, match="unknown task 'eyes_sim'"):
        bk.predict(sets[0].windows, "eyes_sim")


def test_a_pack_from_another_checkpoint_is_refused(taught, tiny_model, tmp_path):
    import torch
    from safetensors.torch import load_file, save_file

    from brainkit.models.taskpack import base_identity, load_pack, save_pack

    _, pack, _ = taught
    other = tmp_path / "other"
    shutil.copytree(tiny_model[0], other)
    weights = other / "decoder" / "model.safetensors"
    state = load_file(str(weights))
    state["lm_scale"] = state["lm_scale"] + 1.0
    save_file({k: v.contiguous() for k, v in state.items()}, str(weights))
    save_pack(pack, tmp_path / "pack")
    assert load_pack(tmp_path / "pack", base_identity(tiny_model[0])).task.id == "eyes_sim"
    with pytest.raises(BrainkitError, match="another base checkpoint"):
        load_pack(tmp_path / "pack", base_identity(other))
    # a checkpoint whose built-in tasks' own heads, prototypes and temperatures were refitted
    # keeps the pack: it reads none of them
    refitted = tmp_path / "refitted"
    shutil.copytree(tiny_model[0], refitted)
    weights = refitted / "decoder" / "model.safetensors"
    state = load_file(str(weights))
    per_task = [k for k in state if k.split(".")[0] in ("readout_heads", "answer_prototypes", "aux_heads",
                                                          "spectral_heads")]
    assert per_task
    for k in per_task:
        state[k] = state[k] * 0.5 + 0.1
    save_file({k: v.contiguous() for k, v in state.items()}, str(weights))
    config = json.loads((refitted / "decoder" / "config.json").read_text())
    config["temperatures"] = {"eyes": 2.5}
    (refitted / "decoder" / "config.json").write_text(json.dumps(config))
    assert load_pack(tmp_path / "pack", base_identity(refitted)).task.id == "eyes_sim"
    config["pool_size"] += 1  # a setting every task shares
    (refitted / "decoder" / "config.json").write_text(json.dumps(config))
    with pytest.raises(BrainkitError, match="another base checkpoint"):
        load_pack(tmp_path / "pack", base_identity(refitted))
    (tmp_path / "pack" / "model.bin").write_bytes(b"x")
    with pytest.raises(BrainkitError, match="pickle"):
        load_pack(tmp_path / "pack")
    del torch


# ----------------------------------------------------------------------------- command line
def run(*args):
    return subprocess.run([sys.executable, "-m", "brainkit", *map(str, args)], capture_output=True,
                          text=True, cwd=ROOT, timeout=600)


def test_teach_then_decode_from_the_command_line(tiny_model, samples_dir, tmp_path):
    model = ["--checkpoint", tiny_model[0], "--lm", tiny_model[1]]
    rec = samples_dir / "eyes_open_closed.edf"
    res = run("teach", "--from-annotations", rec, "--map", "eyes open=open,eyes closed=closed",
              "--window-s", 4, "--stride-s", 4, "--task", "eyes_sim", "--out", tmp_path / "pack",
              "--reading-steps", 2, *model)
    assert res.returncode == 0, res.stderr
    summary = json.loads(res.stdout)
    assert summary["class_counts"] == {"open": 21, "closed": 21} and summary["folds"] == "5 by contiguous block"
    assert "teach eyes_sim: cross-validating" in res.stderr  # progress
    gap = summary["learning_curve_gap"]  # the kept head minus each classical method, per point
    assert list(gap) == list(summary["learning_curve"])
    assert all(set(g) == {"band power + logistic regression", "CSP + LDA"} for g in gap.values())
    res = run("decode", rec, "--task", "eyes_sim", "--tasks", tmp_path / "pack", *model)
    assert res.returncode == 0, res.stderr
    rows = list(csv.DictReader(res.stdout.splitlines()))
    assert len(rows) == 45 and list(rows[0])[-2:] == ["p_open", "p_closed"]


def test_evaluate_scores_a_taught_task(taught, tiny_model, samples_dir, tmp_path, capsys):
    from brainkit.cli import main
    from brainkit.models.taskpack import save_pack

    _, pack, _ = taught
    save_pack(pack, tmp_path / "pack")
    shutil.copy(samples_dir / "eyes_open_closed.edf", tmp_path)
    (tmp_path / "test.csv").write_text("path,task,label,start_s,duration_s,subject\n"
                                       "eyes_open_closed.edf,eyes_sim,open,4,4,s\n"
                                       "eyes_open_closed.edf,eyes_sim,closed,34,4,s\n")
    model = ["--checkpoint", str(tiny_model[0]), "--lm", str(tiny_model[1])]
    assert main(["evaluate", "--manifest", str(tmp_path / "test.csv"), "--tasks", str(tmp_path / "pack"), *model]) == 0
    assert json.loads(capsys.readouterr().out)["tasks"]["eyes_sim"]["n"] == 2
    assert main(["evaluate", "--manifest", str(tmp_path / "test.csv"), *model]) == 2
    assert "unknown task 'eyes_sim'" in capsys.readouterr().err


@pytest.mark.parametrize("extra, match", [
    (["--map", "eyes open=open", "--window-s", "4", "--task", "x1"], "two or more labels"),
    (["--map", "blink=a,eyes open=b", "--window-s", "4", "--task", "x1"], "'blink' is in none"),
    (["--map", "eyes open=a,eyes closed=b", "--window-s", "400", "--task", "x1"], "longer than the recording"),
    (["--map", "eyes open=a,eyes closed=b", "--window-s", "4", "--task", "eyes"], "built-in"),
    (["--map", "eyes open=a,eyes closed=b", "--task", "x1"], "needs --map, --window-s and --task"),
    (["--map", "eyes open=a,eyes closed=b", "--window-s", "4", "--task", "x1", "--draws", "0"], "1 or more")])
def test_teach_errors_are_one_line(tiny_model, samples_dir, tmp_path, extra, match, capsys):
    from brainkit.cli import main

    code = main(["teach", "--from-annotations", str(samples_dir / "eyes_open_closed.edf"), *extra,
                 "--out", str(tmp_path / "pack"), "--checkpoint", str(tiny_model[0]), "--lm", str(tiny_model[1])])
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if line.startswith("brainkit teach:")]
    assert code == 2 and len(lines) == 1 and match in lines[0] and "Traceback" not in err, err
    assert not (tmp_path / "pack").exists()


def test_a_manifest_of_text_without_its_rate_says_where_to_give_it(tiny_model, tmp_path, capsys):
    from brainkit.cli import main

    np.savetxt(tmp_path / "segment.txt", np.random.default_rng(0).normal(size=1000) * 50, fmt="%d")
    manifest = tmp_path / "train.csv"
    manifest.write_text("path,task,label,start_s,duration_s,subject\n"
                        "segment.txt,spikes,yes,0,2,a\nsegment.txt,spikes,no,2,2,a\n")
    code = main(["teach", "--manifest", str(manifest), "--out", str(tmp_path / "pack"),
                 "--checkpoint", str(tiny_model[0]), "--lm", str(tiny_model[1])])
    lines = [line for line in capsys.readouterr().err.splitlines() if line.startswith("brainkit teach:")]
    assert code == 2 and len(lines) == 1 and "a manifest's sfreq column" in lines[0], lines
    assert not (tmp_path / "pack").exists()


def test_a_pack_for_another_checkpoint_is_refused_by_decode(taught, tmp_path, capsys):
    from brainkit.cli import main
    from brainkit.models.taskpack import save_pack

    _, pack, _ = taught
    save_pack(pack, tmp_path / "pack")
    code = main(["decode", "x.edf", "--task", "eyes_sim", "--tasks", str(tmp_path / "pack")])  # shipped model
    assert code == 2 and "another base checkpoint" in capsys.readouterr().err


# ----------------------------------------------------------------------------- real model, real data
@pytest.mark.slow
def test_teach_eyes_on_a_4_channel_montage_of_real_data(data_dir, tmp_path):
    import mne

    from brainkit.data.labelled import recording_sets
    from brainkit.inference import Brainkit
    from brainkit.io import read_recording
    from brainkit.models.taskpack import load_pack, save_pack
    from brainkit.training.teach import teach

    recordings = []
    for run_id, label in (("R01", "eyes_open"), ("R02", "eyes_closed")):
        rec = read_recording(data_dir / "eegmmidb" / "S001" / f"S001{run_id}.edf")
        picks = [i for i, n in enumerate(rec.sensors.names) if n.strip(".").upper() in ("AF7", "AF8", "T9", "T10")]
        rec.raw.pick(picks)
        rec.sensors = rec.sensors.pick(picks)
        rec.raw.set_annotations(mne.Annotations([0.0], [rec.raw.times[-1]], [label]))
        recordings.append(rec)
    bk = Brainkit()
    sets = recording_sets(recordings, {"eyes_open": "open", "eyes_closed": "closed"}, 4.0, 1.0,
                          config=bk.preprocess_config)
    pack = teach(bk, taught_task("eyes_muse", ["open", "closed"], 4.0), sets)
    cv = pack.report["cross_validation"]
    channels = "brainkit (the recordings' channels)"
    assert cv["methods"][channels]["mean"] > cv["methods"]["brainkit (read-out head)"]["mean"]
    assert pack.channels == tuple(sets[0].windows.sensors.names) and len(pack.channels) == 4
    assert cv["methods"]["brainkit (read-out head)"]["mean"] > 0.8
    # the kept head is at or above the classical method fitted on the same folds
    assert cv["methods"][pack.report["head"]]["mean"] >= cv["methods"]["band power + logistic regression"]["mean"]
    assert pack.report["lm_head_agreement"]["agreement"] >= 0.9
    save_pack(pack, tmp_path / "pack")
    loaded = load_pack(tmp_path / "pack", bk.base)
    a = bk.with_tasks([pack]).predict(sets[1].windows, "eyes_muse").probabilities
    assert np.array_equal(a, bk.with_tasks([loaded]).predict(sets[1].windows, "eyes_muse").probabilities)
    assert (a.argmax(1) == 1).mean() > 0.8  # the closed-eyes run is mostly answered "closed"


def test_bench_teach_times_the_windows_it_says(tiny_model, tmp_path):
    from brainkit.bench.teach import bench_teach, write_teach_markdown

    result = bench_teach(tiny_model[0], tiny_model[1], n_windows=40, repeats=1)
    assert result["n_windows"] == 40 and result["class_counts"] == {"open": 20, "closed": 20}
    assert result["teach"]["repeats"] == 1 and result["meets_target"] == (
        result["teach"]["median_s"] + result["windows"]["median_s"] <= 60.0)
    path = tmp_path / "BENCH.md"
    path.write_text("# Benchmarks\n\n## Teach\n\n<!-- bench:teach:begin -->\nOLD NUMBERS\n<!-- bench:teach:end -->\n\nafter\n")
    write_teach_markdown(result, path)
    text = path.read_text()
    assert "OLD NUMBERS" not in text and "40 labelled 4-s windows (open 20, closed 20)" in text and text.endswith("after\n")


def test_task_correlations_include_a_taught_task(taught):
    from brainkit.explain.correlations import task_correlations

    bk, pack, sets = taught
    view = bk.with_tasks([pack])
    windows = sets[0].windows.select(range(6))
    with view.taught():
        result = task_correlations(view, {"eyes": windows, "eyes_sim": windows}, n_attribution=2, n_steps=2)
    assert result["tasks"] == ["eyes", "eyes_sim"]
    routing = np.asarray(result["matrices"]["routing"])
    assert routing.shape == (2, 2) and np.allclose(np.diag(routing), 1)
    with pytest.raises(BrainkitError, match="unknown task"):
        task_correlations(bk, {"eyes_sim": windows})  # outside the view's context


def test_explain_a_taught_task_from_the_command_line(taught, tiny_model, samples_dir, tmp_path, capsys):
    from brainkit.cli import main
    from brainkit.models.taskpack import save_pack

    _, pack, _ = taught
    save_pack(pack, tmp_path / "pack")
    code = main(["explain", str(samples_dir / "eyes_open_closed.edf"), "--task", "eyes_sim", "--tasks",
                 str(tmp_path / "pack"), "--steps", "2", "--window-index", "8", "--out", str(tmp_path / "ex.npz"),
                 "--checkpoint", str(tiny_model[0]), "--lm", str(tiny_model[1])])
    out = json.loads(capsys.readouterr().out)
    assert code == 0 and out["task"] == "eyes_sim" and set(out["probabilities"]) == {"open", "closed"}
    ex = np.load(tmp_path / "ex.npz")
    assert ex["attribution"].shape[0] == 19 and len(ex["readout_names"]) > 0  # the pack's head, explained
