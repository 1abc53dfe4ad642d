"""A training backward consumes what its forward kept: nothing stays allocated on the layer
until the next step (a network of 20 layers would otherwise hold every cache at once)."""

from __future__ import annotations

import tracemalloc

import numpy as np
import pytest

from engine import threads
from engine.fast import conv_winograd
from engine.layers import GELU, BatchNorm, MaxPool2D, ReLU
from engine.layers.conv import Conv2D


def _layers():
    return [("gelu", GELU()), ("relu", ReLU()), ("batchnorm", BatchNorm(8)),
            ("maxpool2d", MaxPool2D(2))]


@pytest.mark.parametrize(("name", "layer"), _layers(), ids=[n for n, _ in _layers()])
def test_training_backward_leaves_nothing_allocated(name, layer):
    x = np.random.default_rng(0).standard_normal((16, 12, 12, 8)).astype(np.float32)
    d_out = np.random.default_rng(1).standard_normal(layer.forward(x).shape).astype(np.float32)
    expected = layer.backward(d_out)  # the first pass allocates any lasting state
    tracemalloc.start()
    try:
        out = layer.forward(x)
        held_after_forward = tracemalloc.get_traced_memory()[0] - out.nbytes
        dx = layer.backward(d_out)
        del out
        held_after_backward = tracemalloc.get_traced_memory()[0] - dx.nbytes
    finally:
        tracemalloc.stop()
    np.testing.assert_array_equal(dx, expected)
    assert held_after_forward >= x.nbytes // 8  # what backward needs (the smallest: 1-bit masks)
    assert held_after_backward < 4096, f"{name} still holds {held_after_backward} bytes"
    with pytest.raises(RuntimeError, match="without a"):
        layer.backward(d_out)


def test_gelu_after_an_evaluation_forward_gives_its_gradient_every_time():
    x = np.random.default_rng(2).standard_normal((2, 5, 5, 3))
    d = np.random.default_rng(3).standard_normal(x.shape)
    train, evaluation = GELU(), GELU()
    train.forward(x, True)
    evaluation.forward(x, False)
    expected = train.backward(d)
    np.testing.assert_array_equal(evaluation.backward(d), expected)
    np.testing.assert_array_equal(evaluation.backward(d), expected)


def _winograd_conv():
    layer = Conv2D(8, 16, 3, padding="same", rng=np.random.default_rng(4))
    assert layer.algorithm_name() == "winograd"
    return layer


def test_winograd_conv_keeps_only_chunk_sized_scratch_between_steps(monkeypatch,
                                                                   restore_threads):
    # Its V (36/16 of the padded input) lives in the forward's state, freed by the backward;
    # the layer's own buffers are per chunk and thread, so they do not grow with the batch.
    monkeypatch.setattr(conv_winograd, "_CHUNK_BYTES", 60000)
    monkeypatch.setattr(conv_winograd, "_CHUNK_CEILING", 60000)  # not scaled up by its U
    threads.set_num_threads(1)  # with two, whether the second thread got a chunk would vary
    held = {}
    for n in (36, 72):  # chunks of 3 images either way
        layer = _winograd_conv()
        x = np.random.default_rng(5).standard_normal((n, 8, 8, 8)).astype(np.float32)
        for _ in range(2):
            layer.backward(layer.forward(x))
        held[n] = layer.workspace.nbytes()
    assert held[72] == held[36]

