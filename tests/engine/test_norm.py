"""BatchNorm: gradients on 2-D and 4-D input, statistics over N*H*W, train vs eval."""

from __future__ import annotations

import numpy as np
import pytest

from engine import threads
from engine.gradcheck import check_layer
from engine.layers import BatchNorm


def _bn(c, seed=0):
    rng = np.random.default_rng(seed)
    layer = BatchNorm(c)
    layer.params["gamma"][:] = rng.uniform(0.5, 1.5, c) * rng.choice([-1, 1], c)
    layer.params["beta"][:] = rng.standard_normal(c)
    layer.buffers["running_mean"][:] = rng.standard_normal(c)
    layer.buffers["running_var"][:] = rng.uniform(0.5, 2, c)
    return layer


@pytest.mark.parametrize("training", [True, False])
@pytest.mark.parametrize("shape", [(6, 3), (1, 3, 5, 4), (2, 5, 3, 3)])
def test_gradient_check(shape, training):
    x = np.random.default_rng(1).standard_normal(shape) * 2 + 1
    errors = check_layer(_bn(shape[-1]), x, training=training)
    assert max(errors.values()) < 1e-6, errors


def test_4d_statistics_are_per_channel_over_n_h_w():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((4, 5, 6, 3)) * [1.0, 3.0, 0.2] + [0.0, 5.0, -2.0]
    layer = BatchNorm(3).astype(np.float64)
    out = layer.forward(x, training=True)
    np.testing.assert_allclose(out.mean(axis=(0, 1, 2)), 0, atol=1e-12)
    # Divided by N*H*W: unit variance per channel (up to eps).
    expected = x.var(axis=(0, 1, 2)) / (x.var(axis=(0, 1, 2)) + 1e-5)
    np.testing.assert_allclose(out.var(axis=(0, 1, 2)), expected, rtol=1e-10)
    # Not per position: a single pixel across the batch is not normalised.
    assert abs(out[:, 0, 0, 1].mean()) > 1e-3


def test_2d_forward_matches_formula():
    x = np.random.default_rng(2).standard_normal((8, 4))
    layer = _bn(4).astype(np.float64)
    gamma, beta = layer.params["gamma"], layer.params["beta"]
    out = layer.forward(x, training=True)
    expected = gamma * (x - x.mean(0)) / np.sqrt(x.var(0) + 1e-5) + beta
    np.testing.assert_allclose(out, expected, rtol=1e-12)


def test_running_statistics_update_and_eval_uses_them():
    x = np.random.default_rng(3).standard_normal((10, 2, 2, 2)) * 2 + 3
    layer = BatchNorm(2, momentum=0.8).astype(np.float64)
    layer.forward(x, training=True)
    flat = x.reshape(-1, 2)
    np.testing.assert_allclose(layer.buffers["running_mean"], 0.2 * flat.mean(0))
    np.testing.assert_allclose(layer.buffers["running_var"], 0.8 + 0.2 * flat.var(0, ddof=1))
    rm, rv = layer.buffers["running_mean"].copy(), layer.buffers["running_var"].copy()
    out = layer.forward(x, training=False)
    np.testing.assert_allclose(out, (x - rm) / np.sqrt(rv + 1e-5))
    # Evaluation leaves the statistics alone and does not depend on the batch.
    np.testing.assert_array_equal(layer.buffers["running_mean"], rm)
    np.testing.assert_allclose(layer.forward(x[:1], training=False), out[:1])


def test_train_and_eval_differ_then_converge():
    rng = np.random.default_rng(4)
    layer = BatchNorm(3)
    x = (rng.standard_normal((64, 3)) * 4 + 10).astype(np.float32)
    train_out = layer.forward(x, training=True)
    eval_out = layer.forward(x, training=False)
    assert np.abs(train_out - eval_out).max() > 1.0
    for _ in range(200):
        layer.forward(x, training=True)
    np.testing.assert_allclose(layer.forward(x, training=False), train_out, atol=0.05)


def test_float32_stays_float32():
    layer = BatchNorm(3)
    x = np.ones((2, 4, 4, 3), np.float32)
    assert layer.forward(x).dtype == np.float32
    assert layer.backward(x).dtype == np.float32


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"num_features": 0}, "num_features must be a positive integer"),
        ({"num_features": 3, "momentum": 1.0}, "momentum must be a number in"),
        ({"num_features": 3, "eps": 0}, "eps must be a positive number"),
    ],
)
def test_validation(kwargs, message):
    with pytest.raises(ValueError, match=message):
        BatchNorm(**kwargs)


def test_wrong_input_is_refused():
    layer = BatchNorm(3)
    with pytest.raises(ValueError, match="expects 3 features/channels, gets 4"):
        layer.output_shape((5, 5, 4))
    with pytest.raises(ValueError, match=r"needs \(N, 3\)"):
        layer.forward(np.ones((2, 4), np.float32))
    assert repr(layer) == "BatchNorm(3, momentum=0.9, eps=1e-05)"


def test_results_do_not_depend_on_thread_count(restore_threads):
    x = (np.random.default_rng(5).standard_normal((16, 20, 20, 8)) * 3 + 2).astype(np.float32)
    d = np.random.default_rng(6).standard_normal(x.shape).astype(np.float32)
    results = []
    for n in (1, 2, 3):
        threads.set_num_threads(n)
        layer = BatchNorm(8)
        out = layer.forward(x, training=True)
        dx = layer.backward(d)
        results.append((out, dx, layer.grads["gamma"], layer.buffers["running_var"]))
    for other in results[1:]:
        for a, b in zip(results[0], other, strict=True):
            np.testing.assert_array_equal(a, b)


def test_float32_statistics_are_accurate():
    x = (np.random.default_rng(7).standard_normal((64, 16, 16, 4)) * 0.5 + 20).astype(np.float32)
    out = BatchNorm(4).forward(x, training=True)
    x64 = x.astype(np.float64)
    expected = (x64 - x64.mean((0, 1, 2))) / np.sqrt(x64.var((0, 1, 2)) + 1e-5)
    np.testing.assert_allclose(out, expected, atol=1e-4)
