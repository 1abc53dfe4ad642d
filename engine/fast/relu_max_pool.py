"""ReLU -> MaxPool2D executed as max-pool -> ReLU in training (found by
:func:`engine.fast.fused.find_runs`)."""

from __future__ import annotations

import time

import numpy as np

from engine.layers.activations import ReLU
from engine.layers.pool import MaxPool2D


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
