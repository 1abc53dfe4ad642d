"""Losses: fused softmax cross-entropy against a direct computation, gradients, stability."""

from __future__ import annotations

import math

import numpy as np
import pytest

from engine.gradcheck import check_loss
from engine.losses import binary_cross_entropy, mean_squared_error, softmax_cross_entropy


def _direct_cross_entropy(logits, y, smoothing=0.0):
    """Plain-Python softmax then -sum(q log p), one sample at a time."""
    total = 0.0
    for row, label in zip(logits.tolist(), y.tolist(), strict=True):
        exps = [math.exp(v) for v in row]
        probs = [e / sum(exps) for e in exps]
        k = len(row)
        q = [smoothing / k + (1 - smoothing) * (j == label) for j in range(k)]
        total -= sum(qj * math.log(pj) for qj, pj in zip(q, probs, strict=True))
    return total / len(y)


@pytest.mark.parametrize("smoothing", [0.0, 0.1])
def test_matches_direct_computation(smoothing):
    rng = np.random.default_rng(0)
    logits = rng.standard_normal((5, 4)) * 3
    y = rng.integers(0, 4, 5)
    loss, _ = softmax_cross_entropy(logits, y, label_smoothing=smoothing)
    assert loss == pytest.approx(_direct_cross_entropy(logits, y, smoothing), rel=1e-12)


def test_gradient_is_softmax_minus_target_over_n():
    logits = np.array([[1.0, 2.0, 0.5], [0.0, 0.0, 0.0]])
    y = np.array([1, 2])
    _, d = softmax_cross_entropy(logits, y)
    p = np.exp(logits) / np.exp(logits).sum(1, keepdims=True)
    np.testing.assert_allclose(d, (p - np.eye(3)[y]) / 2)


@pytest.mark.parametrize("smoothing", [0.0, 0.2])
def test_gradient_check(smoothing):
    rng = np.random.default_rng(1)
    logits = rng.standard_normal((3, 5))
    y = rng.integers(0, 5, 3)
    assert check_loss(softmax_cross_entropy, logits, y, label_smoothing=smoothing) < 1e-6


def test_large_logits_are_stable():
    logits = np.array([[1000.0, 0.0, -1000.0], [1000.0, 0.0, -1000.0]], np.float32)
    with np.errstate(over="raise", invalid="raise", divide="raise"):
        loss, d = softmax_cross_entropy(logits, np.array([0, 1]))
    # Sample 0: log(1 + e^-1000 + e^-2000) ~ 0; sample 1: 1000. Mean 500.
    assert loss == pytest.approx(500.0)
    assert np.isfinite(d).all() and d.dtype == np.float32
    np.testing.assert_allclose(d, [[0, 0, 0], [0.5, -0.5, 0]], atol=1e-7)


def test_label_smoothing_of_a_perfect_prediction_is_not_zero():
    logits = np.array([[20.0, 0.0, 0.0, 0.0]])
    assert softmax_cross_entropy(logits, np.array([0]))[0] < 1e-7
    assert softmax_cross_entropy(logits, np.array([0]), 0.1)[0] > 0.4


@pytest.mark.parametrize(
    ("y", "message"),
    [
        (np.array([0, 3]), r"labels must lie in 0..2, got 0..3"),
        (np.array([0.0, 1.0]), "labels must be integers"),
        (np.array([0]), r"labels must be \(2,\) integers"),
    ],
)
def test_bad_labels(y, message):
    with pytest.raises(ValueError, match=message):
        softmax_cross_entropy(np.zeros((2, 3)), y)


def test_binary_cross_entropy():
    rng = np.random.default_rng(2)
    z = rng.standard_normal((4, 3)) * 2
    y = rng.integers(0, 2, (4, 3)).astype(float)
    p = 1 / (1 + np.exp(-z))
    direct = -np.mean(y * np.log(p) + (1 - y) * np.log(1 - p))
    assert binary_cross_entropy(z, y)[0] == pytest.approx(direct, rel=1e-12)
    assert binary_cross_entropy(p, y, from_logits=False)[0] == pytest.approx(direct, rel=1e-9)
    assert check_loss(binary_cross_entropy, z, y) < 1e-6
    assert check_loss(binary_cross_entropy, p, y, from_logits=False) < 1e-6
    with np.errstate(over="raise", invalid="raise", divide="raise"):
        loss, _ = binary_cross_entropy(np.array([1000.0, -1000.0]), np.array([0.0, 1.0]))
    assert loss == pytest.approx(1000.0)


def test_mean_squared_error():
    pred = np.array([[1.0, 2.0], [3.0, 5.0]])
    target = np.array([[1.0, 0.0], [3.0, 2.0]])
    loss, d = mean_squared_error(pred, target)
    assert loss == pytest.approx((4 + 9) / 4)
    np.testing.assert_allclose(d, [[0, 1.0], [0, 1.5]])
    assert check_loss(mean_squared_error, pred + 0.3, target) < 1e-6
    with pytest.raises(ValueError, match="differs from predictions"):
        mean_squared_error(pred, target[:1])
