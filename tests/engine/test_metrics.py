"""Metrics against hand-computed values."""

from __future__ import annotations

import numpy as np
import pytest

from engine.metrics import (
    accuracy,
    classification_report,
    confusion_matrix,
    format_report,
    precision_recall,
    top_k_accuracy,
)

Y_TRUE = np.array([0, 0, 1, 1, 2, 2])
Y_PRED = np.array([0, 1, 1, 1, 0, 2])


def test_accuracy_counts_matches():
    assert accuracy(Y_TRUE, Y_PRED) == pytest.approx(4 / 6)
    assert accuracy(np.array([], dtype=int), np.array([], dtype=int)) == 0.0


def test_accuracy_takes_scores():
    scores = np.eye(3)[Y_PRED] + 0.1
    assert accuracy(Y_TRUE, scores) == pytest.approx(4 / 6)


def test_length_mismatch_is_refused():
    with pytest.raises(ValueError, match="6 labels but 5 predictions"):
        accuracy(Y_TRUE, Y_PRED[:5])


def test_top_k_accuracy_by_hand():
    scores = np.array([[0.5, 0.3, 0.2],    # true 0: rank 1
                       [0.5, 0.3, 0.2],    # true 1: rank 2
                       [0.5, 0.3, 0.2]])   # true 2: rank 3
    y = np.array([0, 1, 2])
    assert top_k_accuracy(y, scores, 1) == pytest.approx(1 / 3)
    assert top_k_accuracy(y, scores, 2) == pytest.approx(2 / 3)
    assert top_k_accuracy(y, scores, 3) == 1.0
    assert top_k_accuracy(y, scores, 10) == 1.0


def test_top_1_equals_accuracy_even_with_ties():
    rng = np.random.default_rng(0)
    scores = rng.integers(0, 3, (50, 4)).astype(float)  # many ties
    y = rng.integers(0, 4, 50)
    assert top_k_accuracy(y, scores, 1) == accuracy(y, scores)


def test_confusion_matrix_rows_are_true_classes():
    cm = confusion_matrix(Y_TRUE, Y_PRED, num_classes=3)
    np.testing.assert_array_equal(cm, [[1, 1, 0], [0, 2, 0], [1, 0, 1]])
    assert cm.sum() == len(Y_TRUE)
    with pytest.raises(ValueError, match=r"0\.\.1"):
        confusion_matrix(Y_TRUE, Y_PRED, num_classes=2)


def test_precision_recall_by_hand_and_without_nan():
    cm = np.array([[1, 1, 0], [0, 2, 0], [1, 0, 0]])
    precision, recall = precision_recall(cm)
    np.testing.assert_allclose(precision, [1 / 2, 2 / 3, 0.0])  # class 2 never predicted
    np.testing.assert_allclose(recall, [1 / 2, 1.0, 0.0])


def test_report_and_its_text():
    scores = np.eye(4)[[0, 1, 1, 3]]
    report = classification_report(np.array([0, 1, 2, 3]), scores, ["a", "b", "c", "d"])
    assert report["accuracy"] == 0.75
    assert report["per_class"][2] == {"class": "c", "precision": 0.0, "recall": 0.0, "support": 1}
    text = format_report(report)
    assert "75.00 %" in text and "confusion matrix" in text
    assert len([line for line in text.splitlines() if line.startswith("d ")]) == 2
