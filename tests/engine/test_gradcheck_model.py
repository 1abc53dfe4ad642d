"""Whole-model gradient checks in float64, and proof that the check catches a wrong gradient."""

from __future__ import annotations

import numpy as np
import pytest

import engine
from engine.gradcheck import check_model, numerical_gradient, rel_error
from engine.layers.activations import ReLU

SMALL = [
    {"type": "conv2d", "filters": 3, "kernel_size": 3, "padding": "same"},
    {"type": "batchnorm"},
    {"type": "relu"},
    {"type": "maxpool2d", "pool_size": 2},
    {"type": "conv2d", "filters": 4, "kernel_size": 3, "stride": 2, "padding": 1},
    {"type": "leaky_relu", "alpha": 0.1},
    {"type": "avgpool2d", "pool_size": 2, "stride": 1},
    {"type": "flatten"},
    {"type": "dropout", "rate": 0.3},
    {"type": "dense", "units": 8},
    {"type": "batchnorm"},
    {"type": "tanh"},
    {"type": "dense", "units": 6},
    {"type": "sigmoid"},
    {"type": "dense", "units": "num_classes"},
]


def test_small_model_with_every_kind_of_layer():
    errors = check_model(SMALL, (9, 9, 2), 3, batch_size=3, samples=20)
    assert list(errors) == engine.build_model(SMALL, (9, 9, 2), 3).layer_names
    assert max(errors.values()) < 1e-6, errors


def test_global_pool_model():
    spec = [
        {"type": "conv2d", "filters": 4, "kernel_size": 3, "padding": "same"},
        {"type": "relu"},
        {"type": "global_avgpool2d"},
        {"type": "dense", "units": "num_classes"},
    ]
    errors = check_model(spec, (5, 5, 3), 4, batch_size=2)
    assert max(errors.values()) < 1e-6, errors


def test_dropout_mask_is_fixed_during_the_check():
    spec = [{"type": "dropout", "rate": 0.5}, {"type": "dense", "units": "num_classes"}]
    errors = check_model(spec, (6,), 3, samples=6)
    assert errors["dropout1"] < 1e-6


def test_a_wrong_backward_is_caught(monkeypatch):
    right = ReLU.backward

    def doubled(self, dout):
        return 2 * right(self, dout)

    monkeypatch.setattr(ReLU, "backward", doubled)
    errors = check_model([*SMALL[:4], {"type": "flatten"}, SMALL[-1]], (4, 4, 1), 3)
    assert errors["relu1"] > 0.1
    assert max(errors.values()) > 1e-6


def test_numerical_gradient_and_rel_error():
    x = np.array([[1.0, 2.0], [3.0, -1.0]])
    grad = numerical_gradient(lambda: float(np.sum(x**3)), x)
    np.testing.assert_allclose(grad, 3 * x**2, rtol=1e-8)
    assert rel_error(np.array([1.0, 2.0]), np.array([1.0, 2.0 + 1e-9])) < 1e-9
    assert rel_error(np.array([1.0]), np.array([2.0])) == pytest.approx(0.5)
