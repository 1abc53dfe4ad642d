"""Pooling layers: gradient checks, loop reference, tie routing, fast path vs general path."""

from __future__ import annotations

import numpy as np
import pytest

from engine.layers.pool import AvgPool2D, GlobalAvgPool2D, MaxPool2D
from tests.engine.reference import check_layer_gradients, pool2d_backward, pool2d_forward

POOLS = [(2, None), (3, None), (2, 1), (3, 2), (2, 3)]


def _distinct(shape, seed):
    """Inputs whose values differ by far more than the finite-difference step (no kinks)."""
    rng = np.random.default_rng(seed)
    return rng.permutation(int(np.prod(shape))).reshape(shape) * 0.01 + 0.3


@pytest.mark.parametrize(("pool", "stride"), POOLS)
@pytest.mark.parametrize("cls", [MaxPool2D, AvgPool2D])
def test_gradient_check(cls, pool, stride):
    x = _distinct((1, 7, 5, 2), seed=pool)
    errors = check_layer_gradients(cls(pool, stride), x)
    assert errors["x"] < 1e-6, errors


def test_global_avgpool_gradient_check():
    x = np.random.default_rng(0).standard_normal((2, 5, 3, 4))
    errors = check_layer_gradients(GlobalAvgPool2D(), x)
    assert errors["x"] < 1e-6, errors


@pytest.mark.parametrize(("pool", "stride"), POOLS)
@pytest.mark.parametrize(("cls", "mode"), [(MaxPool2D, "max"), (AvgPool2D, "avg")])
def test_matches_loop_reference(cls, mode, pool, stride):
    rng = np.random.default_rng(1)
    # Rounded values make ties common, like the zeros a ReLU leaves before a max-pool.
    x = np.round(rng.standard_normal((2, 7, 8, 3)), 1)
    x[x < 0] = 0
    layer = cls(pool, stride)
    y = layer.forward(x)
    s = layer.stride
    np.testing.assert_allclose(y, pool2d_forward(x, pool, s, mode), atol=1e-12)
    dout = rng.standard_normal(y.shape)
    np.testing.assert_allclose(layer.backward(dout), pool2d_backward(x, dout, pool, s, mode),
                               atol=1e-12)


def test_maxpool_tie_sends_gradient_to_one_position():
    x = np.zeros((1, 4, 4, 1))
    layer = MaxPool2D(2)
    y = layer.forward(x)
    dx = layer.backward(np.ones_like(y))
    assert dx.sum() == 4  # one position per window, not four
    np.testing.assert_array_equal(dx[0, ::2, ::2, 0], np.ones((2, 2)))  # the first, row-major


def test_maxpool_overlapping_windows_accumulate():
    x = np.zeros((1, 3, 3, 1))
    x[0, 1, 1, 0] = 5.0  # the maximum of all four 2x2 windows at stride 1
    layer = MaxPool2D(2, stride=1)
    dx = layer.backward(np.ones_like(layer.forward(x)))
    assert dx[0, 1, 1, 0] == 4 and dx.sum() == 4


@pytest.mark.parametrize("shape", [(2, 8, 6, 3), (1, 7, 9, 2)])
def test_reshape_fast_path_equals_general_path(shape):
    x = np.random.default_rng(2).standard_normal(shape).astype(np.float32)
    for layer, general in [(MaxPool2D(2), "_max_by_offsets"), (AvgPool2D(2), "_mean_by_offsets")]:
        y = layer.forward(x)
        expected = getattr(layer, general)(x, *y.shape[1:3])
        np.testing.assert_allclose(y, expected, rtol=1e-6)
        assert y.dtype == np.float32


def test_global_avgpool_forward_backward():
    x = np.random.default_rng(3).standard_normal((2, 3, 5, 4))
    layer = GlobalAvgPool2D()
    np.testing.assert_allclose(layer.forward(x), x.mean(axis=(1, 2)))
    dx = layer.backward(np.ones((2, 4)))
    np.testing.assert_allclose(dx, np.full(x.shape, 1 / 15))
    assert layer.output_shape((3, 5, 4)) == (4,)


@pytest.mark.parametrize("cls", [MaxPool2D, AvgPool2D])
def test_output_shape_and_errors(cls):
    assert cls(2).output_shape((32, 31, 8)) == (16, 15, 8)
    assert cls(3, 2).output_shape((7, 7, 1)) == (3, 3, 1)
    with pytest.raises(ValueError, match="input 3x3 is smaller than the 4x4 pool"):
        cls(4).output_shape((3, 3, 16))
    with pytest.raises(ValueError, match="image input"):
        cls(2).output_shape((10,))
    with pytest.raises(ValueError, match="pool_size must be a positive integer, got 0"):
        cls(0)
    with pytest.raises(ValueError, match="stride must be a positive integer, got -1"):
        cls(2, -1)
    assert repr(cls(3, 2)) == f"{cls.__name__}(pool_size=3, stride=2)"
    assert cls().stride == 2 and cls().pool_size == 2


def test_maxpool_identical_for_any_thread_count(restore_threads):
    from engine import threads

    rng = np.random.default_rng(4)
    x = np.maximum(np.round(rng.standard_normal((5, 32, 34, 16)), 1), 0)  # big enough to split
    dout = rng.standard_normal((5, 16, 17, 16))
    results = []
    for n in (1, 2, 3):
        threads.set_num_threads(n)
        layer = MaxPool2D(2)
        results.append((layer.forward(x), layer.backward(dout)))
    expected = pool2d_backward(x, dout, 2, 2, "max")
    for y, dx in results:
        np.testing.assert_array_equal(y, results[0][0])
        np.testing.assert_array_equal(dx, expected)
