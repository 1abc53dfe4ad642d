"""A constant factor: out = factor * x (airbench scales its logits by 1/9)."""

from __future__ import annotations

import numpy as np

from engine.layers.base import Layer


class Scale(Layer):
    """Multiply by a fixed number; no parameters. Shapes: any -> same.

    A logit scale below 1 keeps the softmax soft for longer: with a fixed scale the network
    must grow its weights to become confident, which weight decay resists.
    """

    def __init__(self, factor: float) -> None:
        super().__init__()
        if isinstance(factor, bool) or not isinstance(factor, int | float) or not (
            np.isfinite(factor) and factor != 0
        ):
            raise ValueError(f"factor must be a finite non-zero number, got {factor!r}")
        self.factor = float(factor)

    def forward(self, x: np.ndarray, training: bool = True) -> np.ndarray:
        return x * x.dtype.type(self.factor)

    def backward(self, dout: np.ndarray) -> np.ndarray:
        return dout * dout.dtype.type(self.factor)

    def __repr__(self) -> str:
        return f"Scale({self.factor:g})"
