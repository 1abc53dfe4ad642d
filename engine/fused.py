"""Fused execution of layer runs in training steps: Conv2D -> BatchNorm -> ReLU ->
MaxPool2D(2) (:class:`engine.conv_bn_relu_pool.ConvBNReLUPool`) and ReLU -> MaxPool2D
(:class:`ReLUMaxPool`).

``Sequential`` finds such runs when it is built and, in training mode, executes each through
its fused class instead of layer by layer. The layers stay what they are (names, params,
grads, buffers, state_dict keys, summary); only the work between them changes. Results equal
the layer-by-layer path up to float rounding (tests/engine/test_fused.py). Evaluation-mode
passes and runs that do not fit (odd sizes) go layer by layer. :func:`set_fusion` turns
fusion off for the whole process, a model's ``fusion`` attribute for one model.
"""

from __future__ import annotations

import time

import numpy as np

from engine.conv_bn_relu_pool import ConvBNReLUPool
from engine.layers.activations import ReLU
from engine.layers.conv import Conv2D
from engine.layers.norm import BatchNorm
from engine.layers.pool import MaxPool2D

_enabled = True


def set_fusion(enabled: bool) -> None:
    """Turn fused execution of conv/BN/ReLU/max-pool runs on or off for the process."""
    global _enabled
    _enabled = bool(enabled)


def get_fusion() -> bool:
    return _enabled


def find_runs(layers: list) -> dict[int, ConvBNReLUPool | ReLUMaxPool]:
    """Fusable runs by index of their first layer: Conv2D, BatchNorm, ReLU, MaxPool2D(2, 2)
    (:class:`ConvBNReLUPool`), else ReLU, MaxPool2D (:class:`ReLUMaxPool`)."""
    runs: dict[int, ConvBNReLUPool | ReLUMaxPool] = {}
    i = 0
    while i + 2 <= len(layers):
        conv, bn, relu, pool = [*layers[i : i + 4], None, None][:4]
        if (
            type(conv) is Conv2D
            and type(bn) is BatchNorm
            and type(relu) is ReLU
            and type(pool) is MaxPool2D
            and bn.num_features == conv.out_channels
            and pool.pool_size == pool.stride == 2
        ):
            runs[i] = ConvBNReLUPool(conv, bn, relu, pool)
            i += 4
        elif type(layers[i]) is ReLU and type(layers[i + 1]) is MaxPool2D:
            runs[i] = ReLUMaxPool(layers[i], layers[i + 1])
            i += 2
        else:
            i += 1
    return runs


class ReLUMaxPool:
    """ReLU then max-pool, executed as max-pool then ReLU (they commute: ReLU is monotone,
    and where a window's maximum is not positive both give 0 and route no gradient), so
    ReLU works on 4x fewer elements (2x2 pool). Shapes as the pool's."""

    size = 2

    def __init__(self, relu: ReLU, pool: MaxPool2D) -> None:
        self.relu, self.pool = relu, pool
        self.times = (0.0, 0.0)  # seconds of the last pass: (relu, pool)

    def applies(self, x: np.ndarray, training: bool) -> bool:
        return training

    def forward(self, x: np.ndarray) -> np.ndarray:
        clock = time.perf_counter
        t0 = clock()
        pooled = self.pool.forward(x, True)
        t1 = clock()
        out = self.relu.forward(pooled, True)
        self.times = (clock() - t1, t1 - t0)
        return out

    def backward(self, dout: np.ndarray) -> np.ndarray:
        clock = time.perf_counter
        t0 = clock()
        d = self.relu.backward(dout)
        t1 = clock()
        dx = self.pool.backward(d)
        self.times = (t1 - t0, clock() - t1)
        return dx
