"""Activations: gradient checks, forward values, stability."""

from __future__ import annotations

import numpy as np
import pytest

from engine.gradcheck import check_layer
from engine.layers import LeakyReLU, ReLU, Sigmoid, Softmax, Tanh


def _away_from_kink(shape, seed):
    x = np.random.default_rng(seed).standard_normal(shape)
    return np.where(np.abs(x) < 0.05, 0.5, x)  # centred differences cannot straddle 0


@pytest.mark.parametrize("layer", [ReLU(), LeakyReLU(0.1), Sigmoid(), Tanh(), Softmax()], ids=repr)
@pytest.mark.parametrize("shape", [(1, 5), (3, 4), (2, 3, 3, 2)])
def test_gradient_check(layer, shape):
    errors = check_layer(layer, _away_from_kink(shape, len(shape)))
    assert errors["x"] < 1e-6, errors


def test_forward_values():
    x = np.array([[-2.0, 0.0, 3.0]], np.float32)
    np.testing.assert_array_equal(ReLU().forward(x), [[0, 0, 3]])
    np.testing.assert_allclose(LeakyReLU(0.1).forward(x), [[-0.2, 0, 3]])
    np.testing.assert_allclose(Sigmoid().forward(x), 1 / (1 + np.exp(-x)), rtol=1e-6)
    np.testing.assert_allclose(Tanh().forward(x), np.tanh(x))
    s = Softmax().forward(x)
    np.testing.assert_allclose(s, np.exp(x) / np.exp(x).sum(), rtol=1e-6)
    for layer in (ReLU(), LeakyReLU(), Sigmoid(), Tanh(), Softmax()):
        assert layer.forward(x).dtype == np.float32


def test_large_inputs_are_stable():
    x = np.array([[1000.0, -1000.0, 0.0]])
    with np.errstate(over="raise", invalid="raise", divide="raise"):
        np.testing.assert_allclose(Sigmoid().forward(x), [[1, 0, 0.5]])
        np.testing.assert_allclose(Softmax().forward(x), [[1, 0, 0]])


@pytest.mark.parametrize("alpha", [-0.1, 1.0, "x"])
def test_leaky_relu_validation(alpha):
    with pytest.raises(ValueError, match="alpha must be a number in"):
        LeakyReLU(alpha)
    assert repr(LeakyReLU(0.2)) == "LeakyReLU(alpha=0.2)"


@pytest.mark.parametrize("nthreads", [1, 2, 3])
def test_relu_split_across_threads_matches_numpy(nthreads, restore_threads):
    """Large enough to be shared among the threads; a non-contiguous input too."""
    from engine import threads

    rng = np.random.default_rng(4)
    x = rng.standard_normal((8, 40, 40, 8)).astype(np.float32)[:, ::2]  # 51,200 values
    x = np.concatenate([x, x])  # 102,400: above the threshold for splitting
    dout = rng.standard_normal(x.shape).astype(np.float32)
    threads.set_num_threads(nthreads)
    layer = ReLU()
    out = layer.forward(x[:, :, ::-1])
    dx = layer.backward(dout)
    np.testing.assert_array_equal(out, np.maximum(x[:, :, ::-1], 0))
    np.testing.assert_array_equal(dx, dout * (x[:, :, ::-1] > 0))
    assert out.dtype == dx.dtype == np.float32
