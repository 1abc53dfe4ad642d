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
        if self._mask is None:
            raise RuntimeError("ReLU.backward called without a forward")
        mask, self._mask = self._mask, None  # consumed: not held until the next step
        dx = np.empty(mask.shape, dout.dtype)
        df, mf, xf = dout.reshape(-1), mask.reshape(-1), dx.reshape(-1)

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


# Elements per slice of GELU's passes (256 KB of float32): its several element-wise passes over
# a slice run while the slice is in cache.
_GELU_SLICE = 65536
# GELU's tanh form: 0.5 x (1 + tanh(sqrt(2 / pi) (x + 0.044715 x^3))).
_GELU_C = float(np.sqrt(2.0 / np.pi))
_GELU_A = 0.044715


class GELU(Layer):
    """Gaussian error linear unit, x * Phi(x), in its tanh form (Hendrycks & Gimpel, 2016):
    ``0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3)))``, PyTorch's ``GELU(approximate="tanh")``.

    NumPy has no vectorised erf; the tanh form differs from the erf form by at most 4.7e-4
    (tests/engine/test_gelu_scale.py measures it) and its derivative is exact for what it
    computes. Shapes: any -> same. In training the forward also writes the derivative, the
    one array kept for backward (the input and the tanh would be two).
    """

    def __init__(self) -> None:
        super().__init__()
        self._slope: np.ndarray | None = None
        self._x: np.ndarray | None = None

    def forward(self, x: np.ndarray, training: bool = True) -> np.ndarray:
        out = np.empty(x.shape, x.dtype)
        slope = np.empty(x.shape, x.dtype) if training else None
        _gelu(x, out, slope)
        self._slope = slope
        # Evaluation keeps only a reference to x, for a backward that may still come (saliency).
        self._x = None if training else x
        return out

    def backward(self, dout: np.ndarray) -> np.ndarray:
        """dout -> dx = dout * GELU'(x). A training forward's slope is consumed: kept past
        its backward, every GELU of a network held one until the next step."""
        if self._slope is not None:
            slope, self._slope = self._slope, None
        elif self._x is not None:
            slope = np.empty(self._x.shape, self._x.dtype)
            _gelu(self._x, np.empty_like(slope), slope)
        else:
            raise RuntimeError("GELU.backward called without a forward")
        dx = np.empty(dout.shape, dout.dtype)
        sf, df, gf = slope.reshape(-1), dout.reshape(-1), dx.reshape(-1)

        def part(i0: int, i1: int) -> None:
            np.multiply(df[i0:i1], sf[i0:i1], out=gf[i0:i1])

        _over_flat(part, gf)
        return dx

    def __repr__(self) -> str:
        return "GELU(approximate='tanh')"


def _gelu(x: np.ndarray, out: np.ndarray, slope: np.ndarray | None) -> None:
    """out = GELU(x) and, unless None, slope = its derivative, all the same shape.

    d/dx = 0.5 (1 + t) + 0.5 x (1 - t^2) sqrt(2/pi) (1 + 3 * 0.044715 x^2), t the tanh.
    """
    dt = x.dtype.type
    xf, of = x.reshape(-1), out.reshape(-1)
    sf = slope.reshape(-1) if slope is not None else None

    def part(i0: int, i1: int) -> None:
        for a in range(i0, i1, _GELU_SLICE):
            b = min(a + _GELU_SLICE, i1)
            xs, os_ = xf[a:b], of[a:b]
            x2 = np.multiply(xs, xs)
            t = np.multiply(x2, dt(_GELU_A))
            t += 1
            t *= xs
            t *= dt(_GELU_C)
            np.tanh(t, out=t)
            np.add(t, 1, out=os_)
            os_ *= xs
            os_ *= dt(0.5)
            if sf is None:
                continue
            ss = sf[a:b]
            x2 *= dt(3 * _GELU_A * _GELU_C)
            x2 += dt(_GELU_C)
            x2 *= xs
            np.multiply(t, t, out=ss)
            np.subtract(1, ss, out=ss)
            ss *= x2
            ss += t
            ss += 1
            ss *= dt(0.5)

    _over_flat(part, of)


def _over_flat(part, flat: np.ndarray) -> None:
    """``part(i0, i1)`` over contiguous shares of a flat array, on the engine's threads."""
    threads.over_batch(part, flat)


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
