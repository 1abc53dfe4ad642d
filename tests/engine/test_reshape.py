"""Flatten: NHWC order, round trip, gradient."""

from __future__ import annotations

import numpy as np

from engine.gradcheck import check_layer
from engine.layers import Flatten


def test_flatten_order_and_round_trip():
    x = np.arange(2 * 3 * 2 * 4, dtype=np.float32).reshape(2, 3, 2, 4)
    layer = Flatten()
    out = layer.forward(x)
    assert out.shape == (2, 24)
    np.testing.assert_array_equal(out[1, :4], x[1, 0, 0, :])  # channels fastest
    np.testing.assert_array_equal(layer.backward(out), x)
    assert layer.output_shape((3, 2, 4)) == (24,)
    assert layer.num_params() == 0


def test_gradient_check():
    errors = check_layer(Flatten(), np.random.default_rng(0).standard_normal((1, 3, 3, 2)))
    assert errors["x"] < 1e-6
