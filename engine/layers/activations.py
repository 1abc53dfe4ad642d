"""Element-wise activations and softmax; none has parameters."""

from __future__ import annotations

import numpy as np

from engine import threads
from engine.layers.base import Layer


class ReLU(Layer):
    """max(x, 0). Shapes: any -> same."""

    def __init__(self) -> None:
        super().__init__()
        self._mask: np.ndarray | None = None

    def forward(self, x: np.ndarray, training: bool = True) -> np.ndarray:
        out = np.empty(x.shape, x.dtype)
        self._mask = np.empty(x.shape, bool)
        # Flat views, shared among the engine's threads; both passes while a share is in cache.
        xf, of, mf = x.reshape(-1), out.reshape(-1), self._mask.reshape(-1)

        def part(i0: int, i1: int) -> None:
            np.greater(xf[i0:i1], 0, out=mf[i0:i1])
            np.maximum(xf[i0:i1], 0, out=of[i0:i1])

        threads.over_batch(part, of)
        return out

    def backward(self, dout: np.ndarray) -> np.ndarray:
        dx = np.empty(self._mask.shape, dout.dtype)
        df, mf, xf = dout.reshape(-1), self._mask.reshape(-1), dx.reshape(-1)

        def part(i0: int, i1: int) -> None:
            np.multiply(df[i0:i1], mf[i0:i1], out=xf[i0:i1])

        threads.over_batch(part, xf)
        return dx


class LeakyReLU(Layer):
    """x if x > 0 else alpha * x. Shapes: any -> same."""

    def __init__(self, alpha: float = 0.01) -> None:
        super().__init__()
        if isinstance(alpha, bool) or not isinstance(alpha, int | float) or not 0 <= alpha < 1:
            raise ValueError(f"alpha must be a number in [0, 1), got {alpha!r}")
        self.alpha = float(alpha)
        self._mask: np.ndarray | None = None

    def forward(self, x: np.ndarray, training: bool = True) -> np.ndarray:
        self._mask = x > 0
        return np.where(self._mask, x, x * x.dtype.type(self.alpha))

    def backward(self, dout: np.ndarray) -> np.ndarray:
        return np.where(self._mask, dout, dout * dout.dtype.type(self.alpha))

    def __repr__(self) -> str:
        return f"LeakyReLU(alpha={self.alpha})"


class Sigmoid(Layer):
    """1 / (1 + exp(-x)), computed without overflow. Shapes: any -> same."""

    def __init__(self) -> None:
        super().__init__()
        self._out: np.ndarray | None = None

    def forward(self, x: np.ndarray, training: bool = True) -> np.ndarray:
        # exp of a non-positive number never overflows; tanh form is exact and stable.
        out = 0.5 * (1.0 + np.tanh(0.5 * x))
        self._out = out
        return out

    def backward(self, dout: np.ndarray) -> np.ndarray:
        s = self._out
        return dout * s * (1 - s)


class Tanh(Layer):
    """tanh(x). Shapes: any -> same."""

    def __init__(self) -> None:
        super().__init__()
        self._out: np.ndarray | None = None

    def forward(self, x: np.ndarray, training: bool = True) -> np.ndarray:
        self._out = np.tanh(x)
        return self._out

    def backward(self, dout: np.ndarray) -> np.ndarray:
        return dout * (1 - self._out * self._out)


def softmax(x: np.ndarray, axis: int = -1) -> np.ndarray:
    """Stable softmax along ``axis`` (the maximum is subtracted first)."""
    e = np.exp(x - x.max(axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)


class Softmax(Layer):
    """Softmax over the last axis. Shapes: (N, K) -> (N, K).

    For training, end the network with logits and use the fused, stable
    ``engine.losses.softmax_cross_entropy`` instead of this layer plus a log.
    """

    def __init__(self) -> None:
        super().__init__()
        self._out: np.ndarray | None = None

    def forward(self, x: np.ndarray, training: bool = True) -> np.ndarray:
        self._out = softmax(x)
        return self._out

    def backward(self, dout: np.ndarray) -> np.ndarray:
        s = self._out
        return s * (dout - (dout * s).sum(axis=-1, keepdims=True))
