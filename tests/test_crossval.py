"""Grouped cross-validation and the shift tests, on constructed labelled sets."""

import numpy as np
import pytest

from brainkit.data.corpora import LabelledSet
from brainkit.evaluation import crossval as cv
from brainkit.evaluation import shifts
from brainkit.preprocess import Windows
from brainkit.sensors import SensorArray


def _sensors(names):
    n = len(names)
    return SensorArray(names=list(names), kinds=["eeg"] * n, pos=np.zeros((n, 3)), ori=np.zeros((n, 3)),
                       has_position=np.zeros(n, bool), position_source=["unknown"] * n)


def _set(subject, label, n=4, channels=("Cz",), source=None, rng=None):
    rng = rng or np.random.default_rng(0)
    w = Windows(rng.standard_normal((n, len(channels), 256)).astype(np.float32), 256.0, np.arange(n) * 1.0,
                _sensors(channels), np.full(len(channels), 1e-5), np.array([label] * n))
    return LabelledSet("eyes", w, subject, "train", source or f"{subject}-{label}.edf", "test")


def test_folds_never_split_a_subject():
    sets = [_set(f"s{i}", lab) for i in range(12) for lab in ("open", "closed")]
    splits, unit = cv.folds(sets, "eyes", k=4)
    assert unit == "subject" and len(splits) == 4
    seen = []
    for split in splits:
        train = {sets[i].subject for i in split.train}
        test = {sets[i].subject for i in split.test}
        assert not train & test
        seen += split.test
    assert sorted(seen) == list(range(len(sets)))  # every set tested exactly once


def test_few_subjects_are_grouped_by_recording_and_left_out_one_by_one():
    sets = [_set("s1", "open", source="r1"), _set("s1", "closed", source="r2"), _set("s1", "open", source="r3")]
    splits, unit = cv.folds(sets, "eyes")
    assert unit == "recording" and len(splits) == 3 and all(len(s.test) == 1 for s in splits)


def test_crossval_scores_a_method_in_every_fold():
    rng = np.random.default_rng(1)
    sets = [_set(f"s{i}", lab, rng=rng) for i in range(10) for lab in ("open", "closed")]

    def perfect(train, test, task):
        return np.array([[1.0, 0.0] if lab == "open" else [0.0, 1.0] for s in test for lab in s.windows.labels])

    def constant(train, test, task):
        return np.tile([0.9, 0.1], (sum(len(s.windows) for s in test), 1))

    out = cv.crossval_task("eyes", sets, {"perfect": perfect, "constant": constant}, k=5, keep=["perfect"])
    assert out["methods"]["perfect"]["balanced_accuracy"]["mean"] == 1.0
    assert out["methods"]["constant"]["balanced_accuracy"]["mean"] == 0.5
    assert len(out["methods"]["perfect"]["out_of_fold"]["labels"]) == 80
    text = cv.markdown({"tasks": {"eyes": out}})
    assert "| eyes |" in text
    # pooled over folds: every window answered once; the constant method is right on half (kappa 0)
    assert "| eyes | 80 | 50.0 / 0.00 | 100.0 / 1.00 |" in text  # constant, perfect


def test_brainkit_is_compared_with_each_baseline_fold_by_fold():
    rng = np.random.default_rng(3)
    sets = [_set(f"s{i}", lab, rng=rng) for i in range(10) for lab in ("open", "closed")]

    def perfect(train, test, task):
        return np.array([[1.0, 0.0] if lab == "open" else [0.0, 1.0] for s in test for lab in s.windows.labels])

    def by_subject(train, test, task):  # right on the even subjects, wrong on the odd ones
        even = [int(s.subject[1:]) % 2 == 0 for s in test for _ in s.windows.labels]
        return np.abs(perfect(train, test, task) - (~np.array(even))[:, None])

    out = cv.crossval_task("eyes", sets, {"read-out head": perfect, "half": by_subject}, k=5)
    per_fold = np.subtract(out["methods"]["read-out head"]["balanced_accuracy"]["folds"],
                           out["methods"]["half"]["balanced_accuracy"]["folds"])
    assert per_fold.std() > 0  # the folds differ, so the standard error is not zero by construction
    (gap,) = cv.paired_gaps({"tasks": {"eyes": out}}).values()
    assert gap["reference"] == "read-out head"  # no language model in these folds
    assert gap["gaps"]["half"] == pytest.approx({"mean": per_fold.mean(),
                                                 "se": per_fold.std(ddof=1) / np.sqrt(len(per_fold))})
    text = cv.markdown({"tasks": {"eyes": out}})
    assert (f"| eyes | read-out head | {100 * per_fold.mean():+.1f} ± "
            f"{100 * per_fold.std(ddof=1) / np.sqrt(len(per_fold)):.1f} |") in text
    assert cv.paired_gaps({"tasks": {"eyes": {**out, "methods": {"half": out["methods"]["half"]}}}}) == {}


def test_methods_are_scored_at_other_gains_in_the_same_folds():
    """A method that reads the absolute amplitude fails at another gain; one that does not, does
    not change; the model's own method is left out of the gains (its answers follow its head)."""
    rng = np.random.default_rng(2)
    sets = [_set(f"s{i}", lab, rng=rng) for i in range(10) for lab in ("open", "closed")]
    for s in sets:  # closed eyes recorded louder
        s.windows.scale[:] = 3e-5 if s.windows.labels[0] == "closed" else 1e-5

    def by_amplitude(train, test, task):
        return np.array([[0.0, 1.0] if s.windows.scale[0] > 2e-5 else [1.0, 0.0] for s in test
                         for _ in s.windows.labels])

    def by_label(train, test, task):
        return np.array([[1.0, 0.0] if lab == "open" else [0.0, 1.0] for s in test for lab in s.windows.labels])

    out = cv.crossval_task("eyes", sets, {"amplitude": by_amplitude, "brainkit": by_label}, k=5,
                           gains=(0.25, 4.0), gain_methods=["amplitude"])
    amplitude = out["methods"]["amplitude"]
    assert amplitude["balanced_accuracy"]["mean"] == 1.0
    assert amplitude["gain"]["x4"]["changed"] == 0.5 and amplitude["gain"]["x4"]["balanced_accuracy"]["mean"] == 0.5
    assert amplitude["gain"]["x0.25"]["changed"] == 0.5
    assert "gain" not in out["methods"]["brainkit"]
    text = cv.markdown({"tasks": {"eyes": out}})
    assert "| eyes | amplitude | 100.0 ± 0.0 | 50.0 ± 0.0 / 50.0 | 50.0 ± 0.0 / 50.0 |" in text


def test_fold_gains_must_be_positive(capsys):
    from brainkit.cli import main

    assert main(["crossval", "--baselines-only", "--fold-gains", "0.25", "0"]) == 2
    assert "--fold-gains must be positive" in capsys.readouterr().err


def test_gain_shift_only_scales():
    s = _set("s", "open", channels=("Cz", "Pz"))
    g = shifts.gain(s.windows, 4.0)
    assert np.array_equal(g.x, s.windows.x) and np.allclose(g.scale, 4 * s.windows.scale)


def test_rate_shift_removes_what_the_source_rate_cannot_hold():
    t = np.arange(512) / 256.0
    x = (np.sin(2 * np.pi * 10 * t) + np.sin(2 * np.pi * 90 * t)).astype(np.float32)[None, None]
    w = Windows(x, 256.0, np.zeros(1), _sensors(["Cz"]), np.ones(1))
    low = shifts.rate(w, 128.0).x[0, 0]
    spectrum = np.abs(np.fft.rfft(low))
    assert spectrum[180] < 0.05 * spectrum[20]  # 90 Hz gone (bins of 0.5 Hz), 10 Hz kept


def test_cap_cuts_pick_named_channels_or_decline():
    names = ["Fp1.", "Fp2.", "F7..", "F3..", "Fz..", "F4..", "F8..", "T7..", "C3..", "Cz..", "C4..", "T8..",
             "P7..", "P3..", "Pz..", "P4..", "P8..", "O1..", "O2..", "Tp7.", "Tp8.", "Af7.", "Af8."]
    s = _set("s", "open", channels=names)
    assert shifts.cap_subset(s.windows, shifts.TEN_TWENTY).x.shape[1] == 19
    four = shifts.cap_subset(s.windows, shifts.HEADSET_4)
    assert [n.strip(".").upper() for n in four.sensors.names] == ["TP7", "AF7", "AF8", "TP8"]
    assert shifts.cap_subset(_set("s", "open").windows, shifts.TEN_TWENTY) is None


def test_shift_tests_count_changed_answers():
    sets = [_set("s", "open", channels=("Cz", "Pz", "Oz"))]

    def by_scale(w, task):  # a model that reads the absolute amplitude: every gain changes it
        p = float(np.mean(w.scale) > 2e-5)
        return np.tile([1 - p, p], (len(w.x), 1))

    out = shifts.shift_tests(by_scale, sets, "eyes",
                             {"gain x4": lambda w: shifts.gain(w, 4.0), "gain x0.25": lambda w: shifts.gain(w, 0.25)})
    assert out["gain x4"]["changed"] == 1.0 and out["gain x0.25"]["changed"] == 0.0


def _placed(names):
    from brainkit.sensors import template_position

    pos = np.stack([template_position(n) for n in names])
    n = len(names)
    return SensorArray(names=list(names), kinds=["eeg"] * n, pos=pos, ori=np.zeros((n, 3)),
                       has_position=np.ones(n, bool), position_source=["template"] * n)


@pytest.mark.parametrize("where, expected", [("occipital", 1.0), ("frontal", 0.5)])
def test_posterior_alpha_baseline_reads_the_back_of_the_head(where, expected):
    """Eyes closed = 10-Hz alpha on O1/O2 (or, as a control, on Fp1/Fp2 only): the baseline, which
    reads the read-out's posterior region, separates the first perfectly and not the second."""
    from brainkit.evaluation.baselines import posterior_alpha

    names = ("Fp1", "Fp2", "Cz", "O1", "O2")
    rows = [3, 4] if where == "occipital" else [0, 1]
    rng = np.random.default_rng(3)
    t = np.arange(512) / 256.0

    def labelled(subject, label):
        x = rng.standard_normal((6, 5, 512)).astype(np.float32)
        if label == "closed":
            x[:, rows] += 3.0 * np.sin(2 * np.pi * 10 * t).astype(np.float32)
        w = Windows(x, 256.0, np.arange(6) * 2.0, _placed(names), np.full(5, 1e-5), np.array([label] * 6))
        return LabelledSet("eyes", w, subject, "train", f"{subject}-{label}.edf", "test")

    train = [labelled(f"s{i}", lab) for i in range(4) for lab in ("open", "closed")]
    test = [labelled("t", "open"), labelled("t", "closed")]
    proba = posterior_alpha(train, test, "eyes")
    closed = np.array([0] * 6 + [1] * 6)  # answers are (open, closed)
    accuracy = ((proba.argmax(1) == closed).mean())
    assert abs(accuracy - expected) <= (0.0 if expected == 1.0 else 0.25)
