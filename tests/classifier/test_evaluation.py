import numpy as np
import pytest

from classifier.ml.evaluation import classification_report, confusion_matrix


def test_confusion_matrix_rows_are_truth():
    m = confusion_matrix(np.array([0, 0, 1, 2]), np.array([0, 1, 1, 1]), 3)
    assert m.tolist() == [[1, 1, 0], [0, 1, 0], [0, 1, 0]]


def test_report_against_hand_computed_values():
    y_true = np.array([0, 0, 0, 1, 1, 2])
    y_pred = np.array([0, 0, 1, 1, 2, 2])
    r = classification_report(y_true, y_pred, ["a", "b", "c"])
    assert r["accuracy"] == pytest.approx(4 / 6)
    # a: P=2/2 R=2/3; b: P=1/2 R=1/2; c: P=1/2 R=1/1
    assert r["per_class"]["a"]["precision"] == pytest.approx(1.0)
    assert r["per_class"]["a"]["recall"] == pytest.approx(2 / 3)
    assert r["per_class"]["c"]["f1"] == pytest.approx(2 * 0.5 * 1 / 1.5)
    f1s = [0.8, 0.5, 2 / 3]
    assert r["macro_f1"] == pytest.approx(sum(f1s) / 3)
    assert r["support"] == 6


def test_absent_class_does_not_divide_by_zero():
    r = classification_report(np.array([0, 0]), np.array([0, 0]), ["a", "b"])
    assert r["per_class"]["b"] == {"precision": 0.0, "recall": 0.0, "f1": 0.0, "support": 0}
    assert r["macro_f1"] == 1.0
