"""Pooling over NHWC tensors: max, average and global average.

Windows are visited by kernel offset: for a p x p pool there are p*p strided views of the
input, each (N, Ho, Wo, C), so the work is p*p whole-array operations instead of a loop over
windows. Output sizes use floor mode (rows/columns that do not fill a window are dropped).
"""

from __future__ import annotations

import numpy as np
from numpy.lib.stride_tricks import as_strided

from engine import threads
from engine.layers.base import Layer


def _positive_int(value: object, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < 1:
        raise ValueError(f"{name} must be a positive integer, got {value!r}")
    return int(value)


def _blocks(x: np.ndarray, ho: int, wo: int, p: int) -> np.ndarray:
    """View x (N, H, W, C) as non-overlapping p x p windows (N, Ho, p, Wo, p, C), no copy.

    Rows and columns beyond Ho * p, Wo * p (floor mode) are left out.
    """
    sn, sh, sw, sc = x.strides
    shape = (x.shape[0], ho, p, wo, p, x.shape[3])
    return as_strided(x, shape, (sn, p * sh, sh, p * sw, sw, sc), writeable=x.flags.writeable)


class _Pool2D(Layer):
    """Shared shape logic of the windowed pools."""

    kind = "pool"

    def __init__(self, pool_size: int = 2, stride: int | None = None) -> None:
        super().__init__()
        self.pool_size = _positive_int(pool_size, "pool_size")
        self.stride = self.pool_size if stride is None else _positive_int(stride, "stride")
        self._cache: tuple | None = None

    def _out_hw(self, h: int, w: int) -> tuple[int, int]:
        p, s = self.pool_size, self.stride
        if h < p or w < p:
            raise ValueError(f"input {h}x{w} is smaller than the {p}x{p} pool")
        return (h - p) // s + 1, (w - p) // s + 1

    def output_shape(self, input_shape: tuple[int, ...]) -> tuple[int, ...]:
        """(H, W, C) -> (Ho, Wo, C)."""
        if len(input_shape) != 3:
            raise ValueError(
                f"{self.kind} needs image input (height, width, channels), "
                f"got shape {tuple(input_shape)}"
            )
        h, w, c = input_shape
        return (*self._out_hw(h, w), c)

    def _check(self, x: np.ndarray) -> tuple[int, int]:
        if x.ndim != 4:
            raise ValueError(f"{self.kind} expects input (N, H, W, C), got shape {x.shape}")
        return self._out_hw(x.shape[1], x.shape[2])

    def _offsets(self, x: np.ndarray, ho: int, wo: int):
        """Yield (i, j, view) for each pool offset; view is (N, Ho, Wo, C) into x."""
        s = self.stride
        hs, ws = (ho - 1) * s + 1, (wo - 1) * s + 1
        for i in range(self.pool_size):
            for j in range(self.pool_size):
                yield i, j, x[:, i : i + hs : s, j : j + ws : s, :]

    def __repr__(self) -> str:
        return f"{type(self).__name__}(pool_size={self.pool_size}, stride={self.stride})"


class MaxPool2D(_Pool2D):
    """Max pooling. x: (N, H, W, C) -> (N, Ho, Wo, C), Ho = (H - pool) // stride + 1.

    The gradient of each window goes to exactly one position, its first maximum in row-major
    order (the position ``np.argmax`` over the flattened window picks), also when values tie.
    """

    kind = "maxpool2d"

    def forward(self, x: np.ndarray, training: bool = True) -> np.ndarray:
        x = np.asarray(x)
        ho, wo = self._check(x)
        p, s = self.pool_size, self.stride
        if s == p == 2:
            return self._forward_pairs(x, ho, wo, training)
        # Non-overlapping windows: a max over the two window axes of a strided view.
        y = _blocks(x, ho, wo, p).max(axis=(2, 4)) if s == p else self._max_by_offsets(x, ho, wo)
        self._cache = ("general", x, y) if training else None
        return y

    def _forward_pairs(self, x: np.ndarray, ho: int, wo: int, training: bool) -> np.ndarray:
        """2x2 windows at stride 2 in two pairwise steps, keeping which member won each.

        Columns first (within each row of a window), then rows: the winner is the first
        maximum in row-major order, and backward needs just two selections.
        """
        n, c = x.shape[0], x.shape[3]
        y = np.empty((n, ho, wo, c), x.dtype)
        left_wins = np.empty((n, ho, 2, wo, c), bool) if training else None
        top_wins = np.empty((n, ho, wo, c), bool) if training else None
        b = _blocks(x, ho, wo, 2)  # (N, Ho, 2, Wo, 2, C)

        def part(i0: int, i1: int) -> None:
            left, right = b[i0:i1, :, :, :, 0], b[i0:i1, :, :, :, 1]
            row_max = np.maximum(left, right)  # (n, Ho, 2, Wo, C)
            np.maximum(row_max[:, :, 0], row_max[:, :, 1], out=y[i0:i1])
            if training:
                np.greater_equal(left, right, out=left_wins[i0:i1])
                np.greater_equal(row_max[:, :, 0], row_max[:, :, 1], out=top_wins[i0:i1])

        threads.over_batch(part, x)
        self._cache = ("pairs", x.shape, x.dtype, left_wins, top_wins) if training else None
        return y

    def _max_by_offsets(self, x: np.ndarray, ho: int, wo: int) -> np.ndarray:
        """The general path (any stride): running maximum over the pool offsets."""
        y = None
        for _, _, view in self._offsets(x, ho, wo):
            y = view.copy() if y is None else np.maximum(y, view, out=y)
        return y

    def backward(self, dout: np.ndarray) -> np.ndarray:
        """dout: (N, Ho, Wo, C) -> dx: (N, H, W, C)."""
        if self._cache is None:
            raise RuntimeError("MaxPool2D.backward called without a training-mode forward")
        if self._cache[0] == "pairs":
            return self._backward_pairs(dout)
        _, x, y = self._cache
        self._cache = None
        dout = np.asarray(dout, dtype=x.dtype)
        ho, wo = y.shape[1:3]
        s, p = self.stride, self.pool_size
        overlap = s < p
        covers_all = s == p and ho * p == x.shape[1] and wo * p == x.shape[2]
        dx = np.empty_like(x) if covers_all else np.zeros_like(x)
        pending = np.ones(y.shape, dtype=bool)  # windows whose maximum is not routed yet
        hit = np.empty(y.shape, dtype=bool)
        for view, dview in self._offsets_pair(x, dx, ho, wo):
            np.equal(view, y, out=hit)
            hit &= pending
            pending &= ~hit
            if overlap:
                dview += np.where(hit, dout, 0)
            else:
                np.multiply(dout, hit, out=dview)
        return dx

    def _backward_pairs(self, dout: np.ndarray) -> np.ndarray:
        _, shape, dtype, left_wins, top_wins = self._cache
        self._cache = None
        dout = np.asarray(dout, dtype=dtype)
        ho, wo, c = dout.shape[1:]
        covers_all = shape[1] == 2 * ho and shape[2] == 2 * wo
        dx = np.empty(shape, dtype) if covers_all else np.zeros(shape, dtype)
        b = _blocks(dx, ho, wo, 2)

        def part(i0: int, i1: int) -> None:
            rows = np.empty((i1 - i0, ho, 2, wo, c), dtype)  # gradient reaching each window row
            np.multiply(dout[i0:i1], top_wins[i0:i1], out=rows[:, :, 0])
            np.subtract(dout[i0:i1], rows[:, :, 0], out=rows[:, :, 1])
            np.multiply(rows, left_wins[i0:i1], out=b[i0:i1, :, :, :, 0])
            np.subtract(rows, b[i0:i1, :, :, :, 0], out=b[i0:i1, :, :, :, 1])

        threads.over_batch(part, dx)
        return dx

    def _offsets_pair(self, x: np.ndarray, dx: np.ndarray, ho: int, wo: int):
        s = self.stride
        hs, ws = (ho - 1) * s + 1, (wo - 1) * s + 1
        for i in range(self.pool_size):
            for j in range(self.pool_size):
                sl = (slice(None), slice(i, i + hs, s), slice(j, j + ws, s), slice(None))
                yield x[sl], dx[sl]


class AvgPool2D(_Pool2D):
    """Average pooling. x: (N, H, W, C) -> (N, Ho, Wo, C), Ho = (H - pool) // stride + 1."""

    kind = "avgpool2d"

    def forward(self, x: np.ndarray, training: bool = True) -> np.ndarray:
        x = np.asarray(x)
        ho, wo = self._check(x)
        p, s = self.pool_size, self.stride
        if s == p:
            y = _blocks(x, ho, wo, p).mean(axis=(2, 4), dtype=x.dtype)
        else:
            y = self._mean_by_offsets(x, ho, wo)
        self._cache = (x.shape, x.dtype) if training else None
        return y

    def _mean_by_offsets(self, x: np.ndarray, ho: int, wo: int) -> np.ndarray:
        """The general path (any stride): sum over the pool offsets, then scale."""
        y = None
        for _, _, view in self._offsets(x, ho, wo):
            y = view.copy() if y is None else np.add(y, view, out=y)
        y *= 1.0 / (self.pool_size * self.pool_size)
        return y

    def backward(self, dout: np.ndarray) -> np.ndarray:
        """dout: (N, Ho, Wo, C) -> dx: (N, H, W, C); each window shares its gradient equally."""
        if self._cache is None:
            raise RuntimeError("AvgPool2D.backward called without a training-mode forward")
        shape, dtype = self._cache
        self._cache = None
        ho, wo = dout.shape[1:3]
        p = self.pool_size
        share = np.asarray(dout, dtype=dtype) * dtype.type(1.0 / (p * p))
        dx = np.zeros(shape, dtype)
        for _, _, dview in self._offsets(dx, ho, wo):
            dview += share
        return dx


class GlobalAvgPool2D(Layer):
    """Mean over all positions of each channel. x: (N, H, W, C) -> (N, C)."""

    def __init__(self) -> None:
        super().__init__()
        self._cache: tuple | None = None

    def output_shape(self, input_shape: tuple[int, ...]) -> tuple[int, ...]:
        """(H, W, C) -> (C,)."""
        if len(input_shape) != 3:
            raise ValueError(
                "global_avgpool2d needs image input (height, width, channels), "
                f"got shape {tuple(input_shape)}"
            )
        return (input_shape[2],)

    def forward(self, x: np.ndarray, training: bool = True) -> np.ndarray:
        x = np.asarray(x)
        if x.ndim != 4:
            raise ValueError(f"global_avgpool2d expects input (N, H, W, C), got shape {x.shape}")
        self._cache = (x.shape, x.dtype) if training else None
        return x.mean(axis=(1, 2), dtype=x.dtype)

    def backward(self, dout: np.ndarray) -> np.ndarray:
        """dout: (N, C) -> dx: (N, H, W, C)."""
        if self._cache is None:
            raise RuntimeError("GlobalAvgPool2D.backward called without a training-mode forward")
        (n, h, w, c), dtype = self._cache
        self._cache = None
        share = np.asarray(dout, dtype=dtype) * dtype.type(1.0 / (h * w))
        return np.broadcast_to(share[:, None, None, :], (n, h, w, c)).copy()
