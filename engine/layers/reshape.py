"""Reshaping layers."""

from __future__ import annotations

import math

import numpy as np

from engine.layers.base import Layer


class Flatten(Layer):
    """(N, H, W, C) -> (N, H*W*C) in C order (channels fastest, as NHWC stores them)."""

    def __init__(self) -> None:
        super().__init__()
        self._shape: tuple[int, ...] | None = None

    def forward(self, x: np.ndarray, training: bool = True) -> np.ndarray:
        self._shape = x.shape
        return x.reshape(x.shape[0], -1)

    def backward(self, dout: np.ndarray) -> np.ndarray:
        return dout.reshape(self._shape)

    def output_shape(self, input_shape: tuple[int, ...]) -> tuple[int, ...]:
        return (math.prod(input_shape),)
