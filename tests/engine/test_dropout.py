"""Dropout: inverted scaling, expectation, the same mask in backward, identity in eval."""

from __future__ import annotations

import numpy as np
import pytest

from engine.gradcheck import check_layer
from engine.layers import Dropout


def test_expectation_and_rate():
    layer = Dropout(0.3, rng=np.random.default_rng(0))
    x = np.full((200, 500), 2.0, np.float32)
    out = layer.forward(x, training=True)
    assert abs((out == 0).mean() - 0.3) < 0.005
    np.testing.assert_allclose(out[out != 0], 2.0 / 0.7, rtol=1e-6)
    assert abs(out.mean() - 2.0) < 0.02


def test_backward_uses_the_forward_mask():
    layer = Dropout(0.5, rng=np.random.default_rng(1))
    x = np.random.default_rng(2).standard_normal((6, 4, 4, 3)).astype(np.float32)
    out = layer.forward(x, training=True)
    dout = np.random.default_rng(3).standard_normal(x.shape).astype(np.float32)
    dx = layer.backward(dout)
    np.testing.assert_array_equal(dx == 0, out == 0)
    np.testing.assert_allclose(dx, np.where(out == 0, 0, dout * 2.0))


def test_gradient_check_with_fixed_mask():
    # check_layer restores the generator before each forward: the mask stays fixed.
    layer = Dropout(0.4, rng=np.random.default_rng(5))
    errors = check_layer(layer, np.random.default_rng(6).standard_normal((3, 7)))
    assert errors["x"] < 1e-6


def test_eval_is_identity_and_rate_zero_too():
    x = np.random.default_rng(0).standard_normal((4, 5)).astype(np.float32)
    layer = Dropout(0.5)
    assert layer.forward(x, training=False) is x
    assert layer.backward(x) is x
    assert Dropout(0.0).forward(x, training=True) is x


def test_seeded_generator_makes_training_reproducible():
    x = np.ones((10, 10), np.float32)
    a = Dropout(0.5, rng=np.random.default_rng(9)).forward(x)
    b = Dropout(0.5, rng=np.random.default_rng(9)).forward(x)
    layer = Dropout(0.5, rng=np.random.default_rng(9))
    layer.forward(x)
    c = layer.forward(x)  # the next batch gets a fresh mask
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)


@pytest.mark.parametrize("rate", [-0.1, 1.0, "0.5", True])
def test_validation(rate):
    with pytest.raises(ValueError, match="rate must be a number in"):
        Dropout(rate)
    assert repr(Dropout(0.25)) == "Dropout(rate=0.25)"
