"""Conv2D: gradient checks, agreement with the loop reference, thread-count invariance."""

from __future__ import annotations

import numpy as np
import pytest

from engine import threads
from engine.fast import conv_winograd
from engine.layers import conv as conv_module
from engine.layers.conv import Conv2D
from tests.engine.reference import check_layer_gradients, conv2d_backward, conv2d_forward


def _layer(cin, cout, k, stride, padding, seed=0, dtype=np.float64):
    rng = np.random.default_rng(seed)
    layer = Conv2D(cin, cout, k, stride, padding, rng=rng).astype(dtype)
    layer.params["b"][:] = rng.standard_normal(cout)
    return layer


@pytest.mark.parametrize("padding", ["valid", "same", 1])
@pytest.mark.parametrize("stride", [1, 2])
@pytest.mark.parametrize("kernel", [1, 3, 5])
def test_gradient_check(kernel, stride, padding):
    layer = _layer(2, 3, kernel, stride, padding, seed=kernel * 10 + stride)
    x = np.random.default_rng(1).standard_normal((1, 7, 5, 2))
    errors = check_layer_gradients(layer, x)
    assert max(errors.values()) < 1e-6, errors


@pytest.mark.parametrize(
    ("kernel", "stride", "padding", "shape"),
    [(3, 1, "same", (2, 7, 9, 3)), (5, 2, "valid", (1, 9, 7, 3)), (1, 2, 0, (3, 5, 5, 3)),
     (3, 2, 2, (2, 6, 5, 3)), (4, 3, "same", (2, 8, 7, 3)), ((3, 1), 1, "same", (1, 5, 6, 3))],
)
def test_matches_loop_reference(kernel, stride, padding, shape):
    layer = _layer(3, 4, kernel, stride, padding)
    rng = np.random.default_rng(2)
    x = rng.standard_normal(shape)
    y = layer.forward(x)
    W, b = layer.params["W"], layer.params["b"]
    np.testing.assert_allclose(y, conv2d_forward(x, W, b, stride, layer.pads), atol=1e-12)
    dout = rng.standard_normal(y.shape)
    dx = layer.backward(dout)
    rdx, rdW, rdb = conv2d_backward(x, W, dout, stride, layer.pads)
    np.testing.assert_allclose(dx, rdx, atol=1e-12)
    np.testing.assert_allclose(layer.grads["W"], rdW, atol=1e-12)
    np.testing.assert_allclose(layer.grads["b"], rdb, atol=1e-12)


@pytest.mark.parametrize(
    ("mode", "algorithm"), [("batch", "im2col"), ("filters", "im2col"), ("batch", "winograd")]
)
@pytest.mark.parametrize("padding", ["same", "valid"])
def test_identical_for_any_thread_count(mode, algorithm, padding, restore_threads, monkeypatch):
    # Small chunks, so that a batch of 7 is cut into several and shared unevenly.
    monkeypatch.setattr(conv_module, "_CHUNK_BYTES", 2000)
    monkeypatch.setattr(conv_winograd, "_CHUNK_BYTES", 20000)
    monkeypatch.setattr(conv_winograd, "_FILTER_BLOCK", 64)  # filter transforms in 5 blocks
    rng = np.random.default_rng(3)
    # 40 filters and 8 * 9 = 72 column rows: several filter groups in the "filters" mode too.
    x = rng.standard_normal((7, 6, 6, 8)).astype(np.float32)
    size = 6 if padding == "same" else 4
    dout = rng.standard_normal((7, size, size, 40)).astype(np.float32)
    results = []
    for n in (1, 2, 3):
        threads.set_num_threads(n)
        threads.set_parallel_mode(mode)
        layer = _layer(8, 40, 3, 1, padding, dtype=np.float32)
        layer.algorithm = algorithm
        y = layer.forward(x)
        dx = layer.backward(dout)
        results.append((y, dx, layer.grads["W"].copy(), layer.grads["b"].copy()))
    for other in results[1:]:
        for a, b in zip(results[0], other, strict=True):
            np.testing.assert_array_equal(a, b)


def test_modes_agree(restore_threads):
    rng = np.random.default_rng(4)
    x = rng.standard_normal((4, 8, 8, 3))
    dout = rng.standard_normal((4, 4, 4, 6))
    out = {}
    threads.set_num_threads(2)
    for mode in ("batch", "filters"):
        threads.set_parallel_mode(mode)
        layer = _layer(3, 6, 3, 2, 1)
        out[mode] = (layer.forward(x), layer.backward(dout), layer.grads["W"].copy())
    for a, b in zip(out["batch"], out["filters"], strict=True):
        np.testing.assert_allclose(a, b, atol=1e-12)


def test_float32_stays_float32_and_matches_float64():
    rng = np.random.default_rng(5)
    x = rng.standard_normal((2, 6, 6, 3))
    layer32 = Conv2D(3, 4, 3, padding="same", rng=np.random.default_rng(0))
    layer64 = Conv2D(3, 4, 3, padding="same", rng=np.random.default_rng(0)).astype(np.float64)
    y32 = layer32.forward(x.astype(np.float32))
    assert y32.dtype == np.float32
    assert layer32.backward(np.ones_like(y32)).dtype == np.float32
    assert layer32.grads["W"].dtype == np.float32
    np.testing.assert_allclose(y32, layer64.forward(x), rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("algorithm", ["im2col", "winograd"])
def test_repeated_batches_reuse_buffers_without_stale_values(algorithm, monkeypatch):
    # Winograd pads chunk by chunk into one buffer per thread: chunks of 1 and 2 images,
    # large values first, so that a border left dirty by one chunk would show in the next.
    monkeypatch.setattr(conv_winograd, "_CHUNK_BYTES", 9000)
    layer = _layer(3, 2, 3, 1, "same")
    layer.algorithm = algorithm
    rng = np.random.default_rng(6)
    for shape in [(8, 5, 5, 3), (7, 5, 5, 3), (2, 5, 5, 3), (3, 7, 4, 3), (8, 5, 5, 3)]:
        x = rng.standard_normal(shape) * 100
        expected = conv2d_forward(x, layer.params["W"], layer.params["b"], 1, layer.pads)
        np.testing.assert_allclose(layer.forward(x), expected, atol=1e-12)
        np.testing.assert_allclose(layer.forward(x, training=False), expected, atol=1e-12)


def test_init_is_he_normal_and_seeded():
    a = Conv2D(16, 64, 3, rng=np.random.default_rng(7))
    b = Conv2D(16, 64, 3, rng=np.random.default_rng(7))
    assert a.params["W"].shape == (3, 3, 16, 64) and a.params["W"].dtype == np.float32
    np.testing.assert_array_equal(a.params["W"], b.params["W"])
    assert abs(a.params["W"].std() - np.sqrt(2 / (3 * 3 * 16))) < 0.01
    assert not a.params["b"].any()
    assert set(a.grads) == {"W", "b"}


def test_shapes_attributes_and_repr():
    layer = Conv2D(3, 8, 5, stride=2, padding="same")
    assert layer.output_shape((32, 31, 3)) == (16, 16, 8)
    assert Conv2D(3, 8, 3).output_shape((7, 7, 3)) == (5, 5, 8)
    assert Conv2D(3, 8, 3, padding=2).output_shape((7, 7, 3)) == (9, 9, 8)
    assert (layer.in_channels, layer.out_channels, layer.kernel_size) == (3, 8, 5)
    assert (layer.stride, layer.padding) == (2, "same")
    assert repr(layer) == "Conv2D(3, 8, kernel_size=5, stride=2, padding='same')"


def test_output_shape_refuses_small_or_wrong_input():
    with pytest.raises(ValueError, match="input 2x2 is smaller than the 3x3 kernel"):
        Conv2D(1, 4, 3).output_shape((2, 2, 1))
    with pytest.raises(ValueError, match="expects 3 input channels, got 1"):
        Conv2D(3, 4, 3).output_shape((8, 8, 1))
    with pytest.raises(ValueError, match="image input"):
        Conv2D(3, 4, 3).output_shape((8,))


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [({"kernel_size": 0}, "kernel_size must be a positive integer, got 0"),
     ({"stride": -1}, "stride must be a positive integer, got -1"),
     ({"padding": "full"}, "got 'full'"),
     ({"padding": -2}, "got -2"),
     ({"in_channels": 0}, "in_channels must be a positive integer, got 0"),
     ({"out_channels": 2.5}, "out_channels must be a positive integer, got 2.5")],
)
def test_init_validation(kwargs, message):
    args = {"in_channels": 3, "out_channels": 4, "kernel_size": 3, **kwargs}
    with pytest.raises(ValueError, match=message):
        Conv2D(**args)


@pytest.mark.parametrize("tile", [2, 4])
@pytest.mark.parametrize(
    ("shape", "padding"),
    [((2, 8, 8, 8), "same"), ((1, 7, 5, 3), "same"), ((3, 6, 9, 9), "valid"), ((2, 5, 5, 2), 2)],
)
def test_winograd_matches_reference_and_im2col(tile, shape, padding, monkeypatch):
    monkeypatch.setattr(conv_module, "_CHUNK_BYTES", 4000)  # several chunks
    monkeypatch.setattr(conv_winograd, "_CHUNK_BYTES", 20000)
    monkeypatch.setattr(conv_winograd, "_FILTER_BLOCK", 4)  # uneven blocks of filter pairs
    monkeypatch.setattr(conv_winograd, "TILE", tile)
    rng = np.random.default_rng(8)
    x = rng.standard_normal(shape)
    out = {}
    for algorithm in ("winograd", "im2col"):
        layer = _layer(shape[3], 5, 3, 1, padding)
        layer.algorithm = algorithm
        assert layer.algorithm_name() == algorithm
        y = layer.forward(x)
        dout = np.random.default_rng(9).standard_normal(y.shape)
        out[algorithm] = (y, layer.backward(dout), layer.grads["W"].copy(), layer.grads["b"].copy())
    W, b = layer.params["W"], layer.params["b"]
    rdx, rdW, rdb = conv2d_backward(x, W, dout, 1, layer.pads)
    reference = (conv2d_forward(x, W, b, 1, layer.pads), rdx, rdW, rdb)
    for fast, general, ref in zip(out["winograd"], out["im2col"], reference, strict=True):
        np.testing.assert_allclose(fast, ref, atol=1e-12)
        np.testing.assert_allclose(fast, general, atol=1e-12)


@pytest.mark.parametrize("tile", [2, 4])
@pytest.mark.parametrize("padding", ["same", 1, "valid"])
def test_winograd_gradient_check(padding, tile, monkeypatch):
    monkeypatch.setattr(conv_winograd, "TILE", tile)
    layer = _layer(3, 2, 3, 1, padding, seed=11)
    layer.algorithm = "winograd"
    x = np.random.default_rng(12).standard_normal((1, 5, 7, 3))
    errors = check_layer_gradients(layer, x)
    assert max(errors.values()) < 1e-6, errors


def test_winograd_is_chosen_for_3x3_stride_1_with_enough_channels():
    assert Conv2D(64, 128, 3, padding="same").algorithm_name() == "winograd"
    assert Conv2D(3, 32, 3, padding="same").algorithm_name() == "im2col"
    assert Conv2D(64, 32, 3, stride=2).algorithm_name() == "im2col"
    assert Conv2D(64, 32, 5).algorithm_name() == "im2col"


def test_winograd_float32_close_to_float64(restore_threads):
    threads.set_num_threads(2)
    rng = np.random.default_rng(13)
    x = rng.standard_normal((4, 8, 8, 32))
    layer32 = Conv2D(32, 16, 3, padding="same")
    layer64 = Conv2D(32, 16, 3, padding="same").astype(np.float64)
    y32, y64 = layer32.forward(x.astype(np.float32)), layer64.forward(x)
    assert layer32.algorithm_name() == "winograd" and y32.dtype == np.float32
    np.testing.assert_allclose(y32, y64, rtol=1e-4, atol=1e-4)
    dout = rng.standard_normal(y64.shape)
    np.testing.assert_allclose(layer32.backward(dout.astype(np.float32)), layer64.backward(dout),
                               rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(layer32.grads["W"], layer64.grads["W"], rtol=1e-4, atol=1e-3)


def test_first_layer_can_skip_the_input_gradient():
    layer = _layer(3, 4, 3, 1, "same")
    x = np.random.default_rng(14).standard_normal((2, 6, 6, 3))
    dout = np.ones((2, 6, 6, 4))
    layer.forward(x)
    assert layer.backward(dout) is not None
    expected = layer.grads["W"].copy()
    layer.needs_input_grad = False
    layer.forward(x)
    assert layer.backward(dout) is None
    np.testing.assert_array_equal(layer.grads["W"], expected)


def test_kept_columns_match_rebuilt_columns(monkeypatch):
    rng = np.random.default_rng(15)
    x = rng.standard_normal((3, 6, 6, 3))
    dout = rng.standard_normal((3, 6, 6, 4))
    out = []
    for keep_bytes in (0, 1 << 30):
        monkeypatch.setattr(conv_module, "_KEEP_COLS_BYTES", keep_bytes)
        layer = _layer(3, 4, 3, 1, "same")
        layer.forward(x)
        out.append((layer.backward(dout), layer.grads["W"].copy()))
    for a, b in zip(*out, strict=True):
        np.testing.assert_array_equal(a, b)


def test_model_training_step_skips_only_the_unused_input_gradient():
    from engine import build_model

    model = build_model("numpy-net1", input_shape=(8, 8, 1), num_classes=3, seed=0)
    x = np.random.default_rng(16).standard_normal((2, 8, 8, 1)).astype(np.float32)
    logits = model.forward(x, training=True)
    assert model.backward(np.ones_like(logits)).shape == x.shape
    grads = {name: g.copy() for name, _, g in model.parameters()}
    model.forward(x, training=True)
    assert model.backward(np.ones_like(logits), input_grad=False) is None
    for name, _, g in model.parameters():
        np.testing.assert_array_equal(g, grads[name])
