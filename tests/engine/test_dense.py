"""Dense: gradients, a hand-computed forward, initialisation and validation."""

from __future__ import annotations

import re

import numpy as np
import pytest

from engine.gradcheck import check_layer
from engine.layers import Dense


@pytest.mark.parametrize(("n", "fin", "fout"), [(1, 3, 2), (4, 5, 7), (3, 6, 6)])
def test_gradient_check(n, fin, fout):
    layer = Dense(fin, fout, rng=np.random.default_rng(n))
    layer.params["b"][:] = np.random.default_rng(7).standard_normal(fout)
    x = np.random.default_rng(fin).standard_normal((n, fin))
    errors = check_layer(layer, x)
    assert max(errors.values()) < 1e-6, errors
    assert set(errors) == {"x", "W", "b"}


def test_forward_by_hand():
    layer = Dense(2, 3)
    layer.params["W"][:] = [[1, 2, 3], [4, 5, 6]]
    layer.params["b"][:] = [0.5, -1, 0]
    out = layer.forward(np.array([[1.0, -1.0]], dtype=np.float32))
    np.testing.assert_allclose(out, [[-2.5, -4.0, -3.0]])
    assert out.dtype == np.float32


def test_params_and_grads_share_keys_and_shapes():
    layer = Dense(4, 3)
    assert layer.params["W"].shape == (4, 3) and layer.params["W"].dtype == np.float32
    layer.forward(np.ones((2, 4), np.float32))
    layer.backward(np.ones((2, 3), np.float32))
    assert {k: v.shape for k, v in layer.grads.items()} == {
        k: v.shape for k, v in layer.params.items()
    }
    assert layer.num_params() == 15


def test_initialisation_is_seeded_and_scaled():
    a = Dense(400, 300, rng=np.random.default_rng(3)).params["W"]
    b = Dense(400, 300, rng=np.random.default_rng(3)).params["W"]
    c = Dense(400, 300, rng=np.random.default_rng(4)).params["W"]
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)
    assert abs(a.std() - np.sqrt(2 / 400)) < 0.005  # He
    g = Dense(400, 300, rng=np.random.default_rng(3), init="glorot").params["W"]
    assert abs(g.std() - np.sqrt(2 / 700)) < 0.005  # Glorot uniform: limit^2 / 3


@pytest.mark.parametrize(
    ("args", "kwargs", "message"),
    [
        ((0, 3), {}, "in_features must be a positive integer, got 0"),
        ((3, 2.5), {}, "out_features must be a positive integer, got 2.5"),
        ((3, 2), {"init": "zeros"}, "init must be one of"),
    ],
)
def test_validation(args, kwargs, message):
    with pytest.raises(ValueError, match=message):
        Dense(*args, **kwargs)


def test_output_shape_and_repr():
    layer = Dense(12, 5)
    assert layer.output_shape((12,)) == (5,)
    with pytest.raises(ValueError, match=re.escape('add {"type": "flatten"}')):
        layer.output_shape((2, 2, 3))
    with pytest.raises(ValueError, match="expects 12 input features, gets 11"):
        layer.output_shape((11,))
    assert repr(layer) == "Dense(12, 5, init='he')"



def test_threaded_blocks_equal_the_single_product_for_any_thread_count(monkeypatch,
                                                                      restore_threads):
    from engine import threads
    from engine.layers import dense as dense_module

    rng = np.random.default_rng(3)
    x = rng.standard_normal((40, 2048)).astype(np.float32)
    dout = rng.standard_normal((40, 64)).astype(np.float32)
    layer = Dense(2048, 64, rng=rng)
    assert layer.splits_over_threads(x)  # 40 * 2048 * 64 products: split into blocks
    results = []
    for n in (1, 2, 3):
        threads.set_num_threads(n)
        y = layer.forward(x)
        results.append((y, layer.backward(dout), layer.grads["W"].copy()))
    for got in results[1:]:  # fixed blocks: the same bits whatever the thread count
        for a, b in zip(results[0], got, strict=True):
            assert np.array_equal(a, b)
    monkeypatch.setattr(dense_module, "_PARALLEL_MIN_MACS", 1 << 60)  # one product each
    assert not layer.splits_over_threads(x)
    y = layer.forward(x)
    expected = (y, layer.backward(dout), layer.grads["W"])
    for a, b in zip(expected, results[0], strict=True):
        np.testing.assert_allclose(b, a, rtol=1e-5, atol=1e-5)


def test_a_few_outputs_stay_on_one_thread():
    x = np.zeros((64, 8192), np.float32)
    assert not Dense(8192, 10).splits_over_threads(x)  # a 10-class head: too thin to split
    assert Dense(8192, 100).splits_over_threads(x)
