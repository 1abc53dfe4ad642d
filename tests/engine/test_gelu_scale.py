"""GELU (tanh form) and the constant Scale layer: gradient checks and a torch reference."""

from __future__ import annotations

import math

import numpy as np
import pytest

from engine.gradcheck import check_layer
from engine.layers import GELU, Scale


@pytest.mark.parametrize("shape", [(3, 4), (2, 5, 5, 3)])
def test_gelu_gradient_check(shape):
    x = np.random.default_rng(1).standard_normal(shape) * 2
    errors = check_layer(GELU(), x)
    assert errors["x"] < 1e-7, errors


def test_gelu_matches_its_formula_and_stays_close_to_the_erf_form():
    x = np.linspace(-6, 6, 2001)
    out = GELU().forward(x)
    tanh_form = 0.5 * x * (1 + np.tanh(math.sqrt(2 / math.pi) * (x + 0.044715 * x**3)))
    np.testing.assert_allclose(out, tanh_form, rtol=1e-12, atol=1e-15)
    erf_form = np.array([0.5 * v * (1 + math.erf(v / math.sqrt(2))) for v in x])
    gap = np.abs(out - erf_form).max()
    assert 1e-4 < gap < 4.8e-4  # the documented difference between the two forms


def test_gelu_large_batches_split_over_threads_equal_one_piece():
    x = np.random.default_rng(2).standard_normal((64, 31, 31, 24)).astype(np.float32)
    layer = GELU()
    out = layer.forward(x)
    d = np.random.default_rng(3).standard_normal(x.shape).astype(np.float32)
    dx = layer.backward(d)
    small = GELU()
    for i in (0, 63):
        np.testing.assert_array_equal(small.forward(x[i:i + 1]), out[i:i + 1])
        np.testing.assert_array_equal(small.backward(d[i:i + 1]), dx[i:i + 1])
    assert out.dtype == dx.dtype == np.float32


def test_gelu_equals_torch_tanh_form():
    torch = pytest.importorskip("torch")
    x = np.random.default_rng(4).standard_normal((4, 6, 6, 5)) * 3
    d = np.random.default_rng(5).standard_normal(x.shape)
    layer = GELU()
    out = layer.forward(x)
    dx = layer.backward(d)
    tx = torch.tensor(x, requires_grad=True)
    ty = torch.nn.functional.gelu(tx, approximate="tanh")
    ty.backward(torch.tensor(d))
    np.testing.assert_allclose(out, ty.detach().numpy(), rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(dx, tx.grad.numpy(), rtol=1e-12, atol=1e-14)


def test_scale_multiplies_both_ways_and_checks_its_factor():
    x = np.random.default_rng(6).standard_normal((3, 10))
    layer = Scale(1 / 9)
    np.testing.assert_allclose(layer.forward(x), x / 9, rtol=1e-15)
    assert check_layer(Scale(1 / 9), x)["x"] < 1e-8
    assert layer.params == {}
    for bad in (0, float("nan"), True, "1/9"):
        with pytest.raises(ValueError, match="factor must be a finite non-zero number"):
            Scale(bad)


def test_gelu_backward_after_an_evaluation_pass_equals_training():
    x = np.random.default_rng(7).standard_normal((3, 4, 4, 2))
    d = np.random.default_rng(8).standard_normal(x.shape)
    train, evaluation = GELU(), GELU()
    np.testing.assert_array_equal(train.forward(x, True), evaluation.forward(x, False))
    np.testing.assert_array_equal(train.backward(d), evaluation.backward(d))
