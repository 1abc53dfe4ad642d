"""Winograd conv -> [ReLU ->] max-pool runs (engine/fast/conv_pool.py) against the
layer-by-layer path, and their gradients against centred differences."""

from __future__ import annotations

import numpy as np
import pytest

from engine import threads
from engine.fast import fused
from engine.gradcheck import numerical_gradient, rel_error
from engine.losses import softmax_cross_entropy
from tests.engine.fast.fused_helpers import (
    assert_close,
    assert_close_grads,
    model_for,
    train_steps,
    training_loss,
)


@pytest.fixture(autouse=True)
def _threads_and_fusion_restored(restore_threads):
    yield
    fused.set_fusion(True)


VGG_SPEC = [
    {"type": "conv2d", "filters": 8, "kernel_size": 3, "padding": "same"},
    {"type": "relu"},
    {"type": "conv2d", "filters": 6, "kernel_size": 3, "padding": "same"},
    {"type": "relu"},
    {"type": "maxpool2d", "pool_size": 2},
    {"type": "flatten"},
    {"type": "dense", "units": 5},
]


def _conv_pool_spec(relu_before: bool, relu_after: bool) -> list[dict]:
    """conv (3 -> 8), [ReLU,] Winograd conv (8 -> 6), [ReLU,] max-pool, dense."""
    conv1, relu, conv2, _, *rest = VGG_SPEC
    return [conv1, *([relu] if relu_before else []), conv2, *([relu] if relu_after else []),
            *rest]


@pytest.mark.parametrize("tile", [2, 4])
# Whole 4x4 blocks; 2x2 only; neither (9, 15 and 7 like airbench's 31, 15 and 7: the blocks
# overhang the output and the pool drops its last row and column).
@pytest.mark.parametrize("size", [16, 10, 9, 15, 7])
@pytest.mark.parametrize("nthreads", [1, 2])
@pytest.mark.parametrize("input_grad", [True, False])
@pytest.mark.parametrize("relu_before, relu_after", [(True, True), (False, True), (False, False)])
def test_winograd_conv_pool_equals_layer_by_layer(tile, size, nthreads, input_grad,
                                                  relu_before, relu_after, monkeypatch):
    """The Winograd conv's blocks pooled in cache, overhanging blocks cropped, the ReLU
    before the conv applied as it pads its input, and airbench's conv -> pool with no ReLU."""
    from engine.fast import conv_winograd
    from engine.fast.conv_pool import ConvPool

    monkeypatch.setattr(conv_winograd, "TILE", tile)
    monkeypatch.setattr(conv_winograd, "_CHUNK_BYTES", 30000)  # several chunks
    spec = _conv_pool_spec(relu_before, relu_after)
    conv_index = 2 if relu_before else 1
    rng = np.random.default_rng(size)
    x = rng.standard_normal((7, size, size, 3))
    y = rng.integers(0, 5, 7)
    models = [model_for(spec, (size, size, 3), np.float64) for _ in range(2)]
    for model in models:  # biases too (they start at zero)
        model.layers[conv_index].params["b"][:] = np.random.default_rng(1).standard_normal(6)
    plain, model = models
    threads.set_num_threads(1)
    plain.fusion = False
    expected = train_steps(plain, x, y, input_grad=input_grad)
    threads.set_num_threads(nthreads)
    run = model.fused_runs[1]
    assert isinstance(run, ConvPool)
    assert model.layers[conv_index].algorithm_name() == "winograd"
    assert run.relu_in is (model.layers[1] if relu_before else None)
    assert run.relu is (model.layers[conv_index + 1] if relu_after else None)
    assert run.size == 2 + relu_before + relu_after
    model.forward(x, training=True)
    assert model.fused_done == [1]  # the run, not the layers, did the work
    got = train_steps(model, x, y, input_grad=input_grad)
    with pytest.raises(RuntimeError, match="without a training-mode forward"):
        model.fused_runs[1].backward(np.zeros((7, size // 2, size // 2, 6)))
    for e, g in zip(expected[:2], got[:2], strict=True):
        if e is not None:
            assert_close(e, g, 1e-11)
    assert_close_grads(expected[2], got[2], 1e-11)


@pytest.mark.parametrize("relu_after", [True, False])
def test_conv_pool_without_winograd_runs_conv_then_pool(relu_after):
    """A conv forced to im2col in the run: conv, then [ReLU ->] pool, the same results."""
    spec = _conv_pool_spec(False, relu_after)
    rng = np.random.default_rng(3)
    x = rng.standard_normal((4, 9, 9, 3))
    y = rng.integers(0, 5, 4)
    plain, model = (model_for(spec, (9, 9, 3), np.float64) for _ in range(2))
    plain.fusion = False
    model.layers[1].algorithm = "im2col"
    assert not model.fused_runs[1].fits(x)
    model.forward(x, training=True)
    assert model.fused_done == [1]
    expected = train_steps(plain, x, y, input_grad=True)
    got = train_steps(model, x, y, input_grad=True)
    for e, g in zip(expected[:2], got[:2], strict=True):
        assert_close(e, g, 1e-11)
    assert_close_grads(expected[2], got[2], 1e-11)
    assert all(t >= 0 for t in model.fused_runs[1].times)
    assert len(model.fused_runs[1].times) == 2 + relu_after


@pytest.mark.parametrize("relu_before, relu_after, size",
                         [(False, True, 8), (True, True, 8), (False, False, 7)])
def test_centred_difference_gradients_of_the_winograd_conv_pool(relu_before, relu_after, size):
    from engine.fast.conv_pool import ConvPool

    # conv (3 -> 8), [ReLU,] then Winograd conv, [ReLU,] pool: one run from index 1.
    spec = _conv_pool_spec(relu_before, relu_after)
    model = model_for(spec, (size, size, 3), np.float64, seed=4)
    model.layers[2 if relu_before else 1].params["b"][:] = np.linspace(-0.5, 0.5, 6)
    rng = np.random.default_rng(9)
    x = rng.standard_normal((2, size, size, 3))
    y = rng.integers(0, 5, 2)

    loss = training_loss(model, x, y)
    logits = model.forward(x, training=True)
    assert isinstance(model.fused_runs[1], ConvPool) and model.fused_done == [1]
    dx = model.backward(softmax_cross_entropy(logits, y)[1], input_grad=True)
    grads = {name: g.copy() for name, _, g in model.parameters()}
    for name, param, _ in model.parameters():
        numerical = numerical_gradient(loss, param, 1e-5)
        scale = max(np.abs(grads[name]).max(), 1e-12)
        assert rel_error(numerical, grads[name], scale) < 1e-6, name
    numerical = numerical_gradient(loss, x, 1e-5)
    assert np.abs(numerical - dx).max() < 1e-6 * np.abs(dx).max()
