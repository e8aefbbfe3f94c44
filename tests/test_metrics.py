"""Metrics of `evaluate` on constructed answers, and the baselines on the real corpus."""

import numpy as np
import pytest

from brainkit.evaluation.metrics import classification_metrics, expected_calibration_error, paired_gap


def test_perfect_and_chance():
    y = np.array([0, 1, 0, 1, 1, 0])
    perfect = classification_metrics(y, np.eye(2)[y], ("a", "b"))
    assert perfect["balanced_accuracy"] == 1.0 and perfect["cohen_kappa"] == 1.0
    assert perfect["auroc"] == 1.0 and perfect["confusion"] == [[3, 0], [0, 3]]
    assert perfect["ece"] == pytest.approx(0.0)
    flat = classification_metrics(y, np.full((6, 2), 0.5), ("a", "b"))
    assert flat["balanced_accuracy"] == 0.5 and flat["auroc"] == 0.5


def test_multiclass_keys_and_missing_class():
    y = np.array([0, 1, 2, 2])
    proba = np.array([[0.8, 0.1, 0.1, 0.0], [0.1, 0.7, 0.2, 0.0], [0.1, 0.1, 0.8, 0.0], [0.6, 0.2, 0.2, 0.0]])
    m = classification_metrics(y, proba, ("W", "N1", "N2", "REM"))
    assert m["auroc"] is None and m["n"] == 4
    assert m["balanced_accuracy"] == pytest.approx((1 + 1 + 0.5) / 3)
    assert np.array(m["confusion"]).shape == (4, 4)
    # predicted [0, 1, 2, 0] for true [0, 1, 2, 2]; confidences 0.8, 0.7, 0.8, 0.6 fall in three
    # bins: ECE = 2/4 * |1 - 0.8| + 1/4 * |1 - 0.7| + 1/4 * |0 - 0.6| = 0.325
    assert m["ece"] == pytest.approx(0.325)
    # kappa from the confusion: observed agreement 3/4, chance agreement sum(row * col) / 16 = 5/16
    assert m["cohen_kappa"] == pytest.approx((3 / 4 - 5 / 16) / (1 - 5 / 16))
    # F1 per class: W 2/3, N1 1, N2 2/3 (REM absent from both: left out of the macro mean)
    assert m["macro_f1"] == pytest.approx((2 / 3 + 1 + 2 / 3) / 3)
    assert m["weighted_f1"] == pytest.approx((2 / 3 + 1 + 2 * 2 / 3) / 4)


def test_ece_of_overconfident_predictions():
    y = np.array([0, 1] * 50)
    proba = np.tile([0.99, 0.01], (100, 1))  # always 99% sure of class 0, right half the time
    assert expected_calibration_error(y, proba) == pytest.approx(0.49, abs=1e-6)


def test_a_paired_gap_leaves_out_a_fold_that_could_not_be_scored():
    assert paired_gap([0.9, None, 0.7], [0.8, 0.5, 0.8]) == pytest.approx({"mean": 0.0, "se": 0.1})
    assert paired_gap([0.9], [0.8]) == pytest.approx({"mean": 0.1, "se": None})
    assert paired_gap([None], [0.8]) == {"mean": None, "se": None}


def test_bandpower_baseline_on_real_data(data_dir):
    from brainkit.evaluation.baselines import run_baselines

    result = run_baselines(data_dir, tasks=["seizure", "workload"])["bandpower_logreg"]
    assert result["seizure"]["n"] == 500 and result["seizure"]["balanced_accuracy"] > 0.9
    assert result["workload"]["n"] == 290 and result["workload"]["balanced_accuracy"] > 0.65


@pytest.mark.filterwarnings("ignore:y_pred contains classes not in y_true")
def test_balanced_accuracy_is_sklearns():
    from sklearn.metrics import balanced_accuracy_score

    from brainkit.evaluation.metrics import balanced_accuracy

    rng = np.random.default_rng(0)
    for n_classes in (2, 3, 5):
        y = rng.integers(0, n_classes, 40)
        pred = np.where(rng.random(40) < 0.6, y, rng.integers(0, n_classes + 1, 40))  # a class not in y too
        assert balanced_accuracy(y, pred) == pytest.approx(balanced_accuracy_score(y, pred), abs=1e-12)
    assert balanced_accuracy([0, 0, 1, 1], [0, 1, 1, 1]) == 0.75
