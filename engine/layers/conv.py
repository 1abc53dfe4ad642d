"""2-D convolution over NHWC tensors: im2col + one BLAS matrix product per chunk of images.

Forward, for weights W of shape (kh, kw, C_in, C_out) reshaped to Wm (kh*kw*C_in, C_out):

    cols = im2col(pad(x))            (N*Ho*Wo, kh*kw*C_in)
    y    = cols @ Wm + b             (N*Ho*Wo, C_out) -> (N, Ho, Wo, C_out)

Backward:

    dW    = cols.T @ dy              dx = col2im(dy @ Wm.T), cropped to the unpadded input
    db    = sum of dy over (N, Ho, Wo)

Work is split across the engine's thread pool (``engine.threads``), either by batch (each
thread its own images; the default, faster here) or by filter batches. The batch is always
cut into the same fixed chunks whatever the thread count, and per-chunk weight gradients are
summed in chunk order, so results are bit-for-bit identical for any number of threads.
"""

from __future__ import annotations

import numpy as np

from engine import threads
from engine.im2col import col2im, im2col, output_size, same_padding
from engine.layers.base import Layer

# Columns of one chunk of images should stay in the per-core L2 cache between their
# im2col copy and the matrix product that reads them.
_CHUNK_BYTES = 1 << 20
# Filters per matrix product in the "filters" parallel mode (fixed, so results do not depend
# on the thread count).
_FILTER_GROUP = 16


def _groups(n: int, width: int) -> list[tuple[int, int]]:
    return [(a, min(a + width, n)) for a in range(0, n, width)]


def _as_pair(value: int | tuple[int, int], name: str) -> tuple[int, int]:
    pair = (value, value) if isinstance(value, int | np.integer) else tuple(value)
    if (
        len(pair) != 2
        or any(isinstance(v, bool) or not isinstance(v, int | np.integer) for v in pair)
        or any(v < 1 for v in pair)
    ):
        raise ValueError(f"{name} must be a positive integer, got {value!r}")
    return int(pair[0]), int(pair[1])


class Conv2D(Layer):
    """2-D convolution, NHWC.

    Args:
        in_channels: C_in, channels of the input.
        out_channels: C_out, number of filters.
        kernel_size: k (square k x k kernel) or (kh, kw).
        stride: step between windows, the same along both axes.
        padding: zeros added on each border: an int, ``"valid"`` (0) or ``"same"``
            (``(k - 1) // 2`` before and the rest after, so the output is ceil(size / stride)).
        rng: generator for the He-normal weight initialisation (default: seed 0).

    Shape:
        x: (N, H, W, C_in) -> y: (N, Ho, Wo, C_out),
        Ho = (H + pad_top + pad_bottom - kh) // stride + 1, likewise Wo.
    Parameters: ``W`` (kh, kw, C_in, C_out), ``b`` (C_out,).
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int | tuple[int, int],
        stride: int = 1,
        padding: int | str = 0,
        *,
        rng: np.random.Generator | None = None,
    ) -> None:
        super().__init__()
        for name, value in (("in_channels", in_channels), ("out_channels", out_channels)):
            if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < 1:
                raise ValueError(f"{name} must be a positive integer, got {value!r}")
        kh, kw = _as_pair(kernel_size, "kernel_size")
        if isinstance(stride, bool) or not isinstance(stride, int | np.integer) or stride < 1:
            raise ValueError(f"stride must be a positive integer, got {stride!r}")
        if isinstance(padding, str):
            if padding not in ("same", "valid"):
                raise ValueError(f'padding must be an int, "same" or "valid", got {padding!r}')
        elif isinstance(padding, bool) or not isinstance(padding, int | np.integer) or padding < 0:
            raise ValueError(
                f'padding must be a non-negative int, "same" or "valid", got {padding!r}'
            )
        if rng is None:
            rng = np.random.default_rng(0)
        elif not isinstance(rng, np.random.Generator):
            raise ValueError(f"rng must be a numpy.random.Generator, got {rng!r}")

        self.in_channels = int(in_channels)
        self.out_channels = int(out_channels)
        self.kernel_size = kernel_size if isinstance(kernel_size, int) else (kh, kw)
        self.stride = int(stride)
        self.padding = padding if isinstance(padding, str) else int(padding)
        self.kh, self.kw = kh, kw
        if padding == "same":
            self.pads = (*same_padding(kh), *same_padding(kw))
        else:
            p = 0 if padding == "valid" else int(padding)
            self.pads = (p, p, p, p)  # (top, bottom, left, right)

        fan_in = kh * kw * in_channels
        std = np.sqrt(2.0 / fan_in)
        W = rng.standard_normal((kh, kw, in_channels, out_channels)) * std
        self.params = {"W": W.astype(np.float32), "b": np.zeros(out_channels, np.float32)}
        self.grads = {k: np.zeros_like(v) for k, v in self.params.items()}
        self._cache: tuple | None = None
        self._buffers: dict[tuple, np.ndarray] = {}

    # ----------------------------------------------------------------- shapes
    def _out_hw(self, h: int, w: int) -> tuple[int, int]:
        top, bottom, left, right = self.pads
        ho = output_size(h, self.kh, self.stride, top, bottom)
        wo = output_size(w, self.kw, self.stride, left, right)
        if ho < 1 or wo < 1:
            hp, wp = h + top + bottom, w + left + right
            padded = f" (padded to {hp}x{wp})" if (hp, wp) != (h, w) else ""
            raise ValueError(
                f"input {h}x{w}{padded} is smaller than the {self.kh}x{self.kw} kernel"
            )
        return ho, wo

    def output_shape(self, input_shape: tuple[int, ...]) -> tuple[int, ...]:
        """(H, W, C_in) -> (Ho, Wo, C_out)."""
        if len(input_shape) != 3:
            raise ValueError(
                "conv2d needs image input (height, width, channels), "
                f"got shape {tuple(input_shape)}"
            )
        h, w, c = input_shape
        if c != self.in_channels:
            raise ValueError(f"expects {self.in_channels} input channels, got {c}")
        return (*self._out_hw(h, w), self.out_channels)

    # --------------------------------------------------------------- buffers
    def _buffer(self, key: tuple, shape: tuple[int, ...], dtype: np.dtype, zero: bool = False):
        """A persistent work array (reused across batches; reallocated only when it must grow)."""
        size = int(np.prod(shape))
        buf = self._buffers.get(key)
        if buf is None or buf.dtype != dtype or buf.size < size:
            buf = np.zeros(size, dtype) if zero else np.empty(size, dtype)
            self._buffers[key] = buf
        return buf[:size].reshape(shape)

    def _pad(self, x: np.ndarray, role: str) -> np.ndarray:
        """x zero-padded, in a persistent buffer whose borders stay zero between batches."""
        top, bottom, left, right = self.pads
        if not any(self.pads):
            return x
        n, h, w, c = x.shape
        shape = (n, h + top + bottom, w + left + right, c)
        key = ("pad", role)
        buf = self._buffers.get(key)
        if buf is None or buf.shape != shape or buf.dtype != x.dtype:
            buf = np.zeros(shape, x.dtype)
            self._buffers[key] = buf
        buf[:, top : top + h, left : left + w, :] = x
        return buf

    def _chunks(self, n: int, hp: int, wp: int, ho: int, wo: int, itemsize: int) -> list:
        """Fixed (start, stop) chunks of the batch, independent of the thread count."""
        per_image = ho * wo * self.kh * self.kw * self.in_channels * itemsize
        size = max(1, _CHUNK_BYTES // max(per_image, 1))
        return [(a, min(a + size, n)) for a in range(0, n, size)]

    # ---------------------------------------------------------------- forward
    def forward(self, x: np.ndarray, training: bool = True) -> np.ndarray:
        """x: (N, H, W, C_in) -> (N, Ho, Wo, C_out), in the dtype of the parameters."""
        W, b = self.params["W"], self.params["b"]
        x = np.asarray(x)
        if x.ndim != 4 or x.shape[3] != self.in_channels:
            raise ValueError(
                f"conv2d expects input (N, H, W, {self.in_channels}), got shape {x.shape}"
            )
        if x.dtype != W.dtype:
            x = x.astype(W.dtype)
        n, h, w, _ = x.shape
        ho, wo = self._out_hw(h, w)
        xp = self._pad(x, "train" if training else "eval")
        y = np.empty((n, ho, wo, self.out_channels), W.dtype)
        Wm = W.reshape(-1, self.out_channels)
        y2 = y.reshape(-1, self.out_channels)
        rows = ho * wo
        chunks = self._chunks(n, *xp.shape[1:3], ho, wo, W.dtype.itemsize)
        nthreads = threads.get_num_threads()

        if threads.get_parallel_mode() == "filters":
            cols = im2col(xp, self.kh, self.kw, self.stride, out=self._buffer(
                ("cols", "all"), (n * rows, Wm.shape[0]), W.dtype))
            groups = _groups(self.out_channels, _FILTER_GROUP)

            def filter_task(g_first: int, g_last: int) -> None:
                for f0, f1 in groups[g_first:g_last]:
                    y2[:, f0:f1] = cols @ Wm[:, f0:f1]
                    y2[:, f0:f1] += b[f0:f1]

            threads.parallel_map(filter_task, threads.split_range(len(groups), nthreads))
        else:
            def batch_task(part: int, c_first: int, c_last: int) -> None:
                for c0, c1 in chunks[c_first:c_last]:
                    buf = self._buffer(("cols", part), ((c1 - c0) * rows, Wm.shape[0]), W.dtype)
                    cols = im2col(xp[c0:c1], self.kh, self.kw, self.stride, out=buf)
                    out = y2[c0 * rows : c1 * rows]
                    np.matmul(cols, Wm, out=out)
                    out += b

            parts = threads.split_range(len(chunks), nthreads)
            threads.parallel_map(batch_task, [(k, a, z) for k, (a, z) in enumerate(parts)])

        self._cache = (x.shape, xp, chunks) if training else None
        return y

    # --------------------------------------------------------------- backward
    def backward(self, dout: np.ndarray) -> np.ndarray:
        """dout: (N, Ho, Wo, C_out) -> dx: (N, H, W, C_in); sets grads["W"], grads["b"]."""
        if self._cache is None:
            raise RuntimeError("Conv2D.backward called without a training-mode forward")
        x_shape, xp, chunks = self._cache
        self._cache = None
        W = self.params["W"]
        dtype = W.dtype
        dout = np.ascontiguousarray(dout, dtype=dtype)
        n, h, w, c = x_shape
        _, ho, wo, cout = dout.shape
        rows = ho * wo
        K = self.kh * self.kw * c
        Wm = W.reshape(K, cout)
        d2 = dout.reshape(-1, cout)
        top, _, left, _ = self.pads
        padded = any(self.pads)
        hp, wp = xp.shape[1:3]
        dx = np.empty(x_shape, dtype)
        nthreads = threads.get_num_threads()

        def input_grad(part, c0: int, c1: int, dcols: np.ndarray) -> None:
            """col2im of one chunk's column gradients, cropped into dx."""
            if padded:
                dxp = self._buffer(("dxp", part), (c1 - c0, hp, wp, c), dtype)
                col2im(dcols, dxp.shape, self.kh, self.kw, self.stride, out=dxp)
                dx[c0:c1] = dxp[:, top : top + h, left : left + w, :]
            else:
                col2im(dcols, (c1 - c0, hp, wp, c), self.kh, self.kw, self.stride, out=dx[c0:c1])

        if threads.get_parallel_mode() == "filters":
            cols = im2col(xp, self.kh, self.kw, self.stride, out=self._buffer(
                ("cols", "all"), (n * rows, K), dtype))
            dcols = self._buffer(("dcols", "all"), (n * rows, K), dtype)
            dW = self.grads["W"].reshape(K, cout)
            fgroups = _groups(cout, _FILTER_GROUP)
            kgroups = _groups(K, _FILTER_GROUP * 4)

            def filter_task(part: int) -> None:
                # Fixed groups, dealt round-robin: the same products whatever the thread count.
                for f0, f1 in fgroups[part::nthreads]:
                    dW[:, f0:f1] = cols.T @ d2[:, f0:f1]
                for k0, k1 in kgroups[part::nthreads]:
                    dcols[:, k0:k1] = d2 @ Wm[k0:k1].T

            threads.parallel_map(filter_task, [(k,) for k in range(nthreads)])
            for c0, c1 in chunks:
                input_grad("all", c0, c1, dcols[c0 * rows : c1 * rows])
        else:
            partials = self._buffer(("dW",), (len(chunks), K, cout), dtype)

            def batch_task(part: int, c_first: int, c_last: int) -> None:
                for ci in range(c_first, c_last):
                    c0, c1 = chunks[ci]
                    r = (c1 - c0) * rows
                    cols = im2col(xp[c0:c1], self.kh, self.kw, self.stride,
                                  out=self._buffer(("cols", part), (r, K), dtype))
                    dchunk = d2[c0 * rows : c1 * rows]
                    np.matmul(cols.T, dchunk, out=partials[ci])
                    dcols = self._buffer(("dcols", part), (r, K), dtype)
                    np.matmul(dchunk, Wm.T, out=dcols)
                    input_grad(part, c0, c1, dcols)

            parts = threads.split_range(len(chunks), nthreads)
            threads.parallel_map(batch_task, [(k, a, z) for k, (a, z) in enumerate(parts)])
            np.sum(partials, axis=0, out=self.grads["W"].reshape(K, cout))
        np.sum(d2, axis=0, out=self.grads["b"])
        return dx

    def __repr__(self) -> str:
        k = self.kernel_size
        return (
            f"Conv2D({self.in_channels}, {self.out_channels}, kernel_size={k!r}, "
            f"stride={self.stride}, padding={self.padding!r})"
        )
