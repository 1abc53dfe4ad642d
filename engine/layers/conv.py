"""2-D convolution over NHWC tensors, as matrix products on the engine's thread pool.

Two algorithms, checked against each other and a loop reference in the tests:

im2col (any kernel, stride, padding), for weights W (kh, kw, C_in, C_out) as
Wm (kh*kw*C_in, C_out):

    cols = im2col(pad(x))            (N*Ho*Wo, kh*kw*C_in)
    y    = cols @ Wm + b             (N*Ho*Wo, C_out) -> (N, Ho, Wo, C_out)
    dW   = cols.T @ dy               dx = col2im(dy @ W per kernel offset), cropped
    db   = sum of dy over (N, Ho, Wo)

Winograd F(4x4, 3x3) (3x3, stride 1, at least ``_WINOGRAD_MIN_CHANNELS`` input channels):
4x fewer multiplications, in ``engine.fast.conv_winograd`` (the math: ``engine.fast.winograd``).

Work is split across the engine's thread pool (``engine.threads``), either by batch (each
thread its own chunks of images; the default, measured faster) or, for im2col, by batches of
filters. The batch is always cut into the same fixed chunks whatever the thread count, and
per-chunk weight gradients are summed in chunk order, so results are bit-for-bit identical
for any number of threads. Large work arrays persist on the layer between batches. A first
layer may skip its input gradient (``needs_input_grad = False``; ``Sequential.backward``
sets it during training steps).
"""

from __future__ import annotations

import math

import numpy as np

from engine import threads
from engine.fast import conv_winograd
from engine.layers.base import Layer
from engine.layers.im2col import col2im_slabs, column_sums, im2col, output_size, same_padding

# Columns of one chunk of images should stay in the per-core L2 cache between their
# im2col copy and the matrix product that reads them.
_CHUNK_BYTES = 2 << 20
# Filters per matrix product in the "filters" parallel mode (fixed, so results do not depend
# on the thread count).
_FILTER_GROUP = 16
# Winograd pays off once its per-tile products are big enough; below this many input
# channels im2col is faster (3-channel first layers; measured with python -m engine.fast.bench).
_WINOGRAD_MIN_CHANNELS = 8
# im2col columns up to this size are kept from forward to backward rather than rebuilt.
_KEEP_COLS_BYTES = 16 << 20


CONV_INITS = ("he", "uniform", "dirac")


def initial_kernel(shape: tuple[int, int, int, int], init: str,
                   rng: np.random.Generator) -> np.ndarray:
    """Initial weights (kh, kw, C_in, C_out), float64, for one of :data:`CONV_INITS`."""
    kh, kw, c_in, c_out = shape
    fan_in = kh * kw * c_in
    if init == "he":
        return rng.standard_normal(shape) * np.sqrt(2.0 / fan_in)
    bound = 1.0 / np.sqrt(fan_in)
    W = rng.uniform(-bound, bound, shape)
    if init == "dirac":
        m = min(c_in, c_out)
        W[..., :m] = 0.0
        W[kh // 2, kw // 2, np.arange(m), np.arange(m)] = 1.0
    return W


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
        rng: generator for the weight initialisation (default: seed 0).
        bias: False keeps ``b`` a frozen array of zeros (listed in ``frozen``): a convolution
            without bias, while the fast runs, which all read ``b``, need no second case.
        init: ``"he"`` (normal, std sqrt(2 / fan_in)), ``"uniform"`` (PyTorch's default,
            U(-1/sqrt(fan_in), 1/sqrt(fan_in))) or ``"dirac"`` (that uniform draw, then the
            first min(C_in, C_out) filters replaced by identities: filter i passes channel i
            through its centre tap, as ``torch.nn.init.dirac_`` and airbench do).

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
        bias: bool = True,
        init: str = "he",
    ) -> None:
        super().__init__()
        if init not in CONV_INITS:
            raise ValueError(f"init must be one of {CONV_INITS}, got {init!r}")
        if not isinstance(bias, bool):
            raise ValueError(f"bias must be true or false, got {bias!r}")
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

        self.bias = bias
        self.init = init
        W = initial_kernel((kh, kw, in_channels, out_channels), init, rng)
        self.params = {"W": W.astype(np.float32), "b": np.zeros(out_channels, np.float32)}
        self.grads = {k: np.zeros_like(v) for k, v in self.params.items()}
        if not bias:
            self.frozen.add("b")
        # "auto" picks Winograd for 3x3 stride-1 layers with enough input channels.
        self.algorithm = "auto"
        # False skips computing dx (set for a network's first layer; backward returns None).
        self.needs_input_grad = True
        # Called as chunk_hook(part, chunk_index, cols, y_rows) after each chunk's product in the
        # im2col "batch" path, while both are in cache (engine.fast.fused takes BatchNorm
        # statistics there); cols (rows, K + 1) end with the column of ones.
        self.chunk_hook = None
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
        size = math.prod(shape)
        buf = self._buffers.get(key)
        if buf is None or buf.dtype != dtype or buf.size < size:
            buf = np.zeros(size, dtype) if zero else np.empty(size, dtype)
            self._buffers[key] = buf
        return buf[:size].reshape(shape)

    def _pad(self, x: np.ndarray, role: str, shape: tuple[int, ...] | None = None) -> np.ndarray:
        """x zero-padded, in a persistent buffer whose borders stay zero between batches.

        x: (N, H, W, C) -> (N, H + top + bottom, W + left + right, C), or ``shape`` when given
        (larger, for Winograd tiles: the extra rows and columns are zeros too).
        """
        xp, fill = self._padded(x, role, shape)
        fill(0, len(x))
        return xp

    def _padded(self, x: np.ndarray, role: str, shape: tuple[int, ...] | None = None,
                relu: bool = False):
        """The buffer of :meth:`_pad` with its borders zero, and ``fill(i0, i1)`` copying
        images i0:i1 of x into it: chunk passes fill their own images, on their own thread,
        right before they read them. Returns x itself (and a no-op) when there is no padding.
        ``relu`` fills max(x, 0) instead (a ReLU before the conv, done in the same pass).
        """
        top, bottom, left, right = self.pads
        n, h, w, c = x.shape
        if shape is None:
            if not any(self.pads) and not relu:
                return x, lambda i0, i1: None
            shape = (n, h + top + bottom, w + left + right, c)
        key = ("pad", role)
        buf = self._buffers.get(key)
        if buf is None or buf.shape != shape or buf.dtype != x.dtype:
            buf = np.zeros(shape, x.dtype)
            self._buffers[key] = buf
        inner = buf[:, top : top + h, left : left + w, :]

        def fill(i0: int, i1: int) -> None:
            if relu:
                np.maximum(x[i0:i1], 0, out=inner[i0:i1])
            else:
                inner[i0:i1] = x[i0:i1]

        return buf, fill

    def _chunks(self, n: int, per_image: int, target: int | None = None) -> list[tuple[int, int]]:
        """Fixed (start, stop) chunks of the batch, independent of the thread count.

        About ``target`` (default ``_CHUNK_BYTES``) bytes of work arrays each; their number
        is rounded up to a multiple of 6 so that 1, 2 or 3 threads get equal shares.
        """
        target = _CHUNK_BYTES if target is None else target
        count = -(-n // max(1, target // max(per_image, 1)))
        if count > 1:
            count = min(n, -(-count // 6) * 6)
        return threads.split_range(n, count)

    def uses_winograd(self) -> bool:
        """Whether this layer computes with Winograd F(4x4, 3x3) (3x3, stride 1)."""
        if self.algorithm == "im2col" or (self.kh, self.kw, self.stride) != (3, 3, 1):
            return False
        return self.algorithm == "winograd" or self.in_channels >= _WINOGRAD_MIN_CHANNELS

    def _run_parts(self, task, n_chunks: int) -> None:
        """Run task(part, chunk, chunk + 1) for every chunk, the threads taking the chunks
        as they come free (threads.parallel_chunks)."""
        threads.parallel_chunks(lambda part, ci: task(part, ci, ci + 1), n_chunks)

    # ---------------------------------------------------------------- forward
    def forward(self, x: np.ndarray, training: bool = True) -> np.ndarray:
        """x: (N, H, W, C_in) -> (N, Ho, Wo, C_out), in the dtype of the parameters."""
        W = self.params["W"]
        x = np.asarray(x)
        if x.ndim != 4 or x.shape[3] != self.in_channels:
            raise ValueError(
                f"conv2d expects input (N, H, W, {self.in_channels}), got shape {x.shape}"
            )
        if x.dtype != W.dtype:
            x = x.astype(W.dtype)
        n, h, w, _ = x.shape
        ho, wo = self._out_hw(h, w)
        y = np.empty((n, ho, wo, self.out_channels), W.dtype)
        role = "train" if training else "eval"
        if self.uses_winograd():
            state = conv_winograd.forward(self, x, y, role)
        elif threads.get_parallel_mode() == "filters":
            state = self._forward_filters(self._pad(x, role), y)
        else:
            state = self._forward_batch(*self._padded(x, role), y, training)
        self._cache = (x.shape, state) if training else None
        return y

    def _forward_batch(self, xp: np.ndarray, fill, y: np.ndarray, training: bool) -> tuple:
        """im2col path, each thread its own chunks of images (``fill(i0, i1)`` pads them into
        xp first, see :meth:`_padded`).

        The columns carry a column of ones and the weights the bias as their last row, so the
        one product adds the bias (and, in backward, yields its gradient).
        """
        W, b = self.params["W"], self.params["b"]
        Wb = np.concatenate([W.reshape(-1, self.out_channels), b[None]])  # (K + 1, C_out)
        y2 = y.reshape(-1, self.out_channels)
        rows = y.shape[1] * y.shape[2]
        chunks = self._chunks(len(y), rows * Wb.shape[0] * W.dtype.itemsize)
        # Small column matrices (first layers: few input channels) are kept for backward
        # instead of being gathered again; large ones are rebuilt chunk by chunk in cache.
        keep = training and y2.shape[0] * Wb.shape[0] * W.dtype.itemsize <= _KEEP_COLS_BYTES
        hook = self.chunk_hook if training else None

        def task(part: int, c_first: int, c_last: int) -> None:
            for ci in range(c_first, c_last):
                c0, c1 = chunks[ci]
                key = ("cols kept", ci) if keep else ("cols", training, part)
                buf = self._buffer(key, ((c1 - c0) * rows, Wb.shape[0]), W.dtype)
                fill(c0, c1)
                cols = im2col(xp[c0:c1], self.kh, self.kw, self.stride, out=buf,
                              bias_column=True)
                np.matmul(cols, Wb, out=y2[c0 * rows : c1 * rows])
                if hook is not None:
                    hook(part, ci, cols, y2[c0 * rows : c1 * rows])

        self._run_parts(task, len(chunks))
        return ("batch", xp, chunks, keep)

    def _forward_filters(self, xp: np.ndarray, y: np.ndarray) -> tuple:
        """im2col path, the filters split into fixed groups shared among the threads."""
        W, b = self.params["W"], self.params["b"]
        Wm = W.reshape(-1, self.out_channels)
        y2 = y.reshape(-1, self.out_channels)
        shape = (len(y2), Wm.shape[0])
        cols = im2col(xp, self.kh, self.kw, self.stride,
                      out=self._buffer(("cols",), shape, W.dtype))
        groups = _groups(self.out_channels, _FILTER_GROUP)

        def task(g_first: int, g_last: int) -> None:
            for f0, f1 in groups[g_first:g_last]:
                y2[:, f0:f1] = cols @ Wm[:, f0:f1]
                y2[:, f0:f1] += b[f0:f1]

        threads.parallel_map(task, threads.split_range(len(groups), threads.get_num_threads()))
        return ("filters", xp)

    # --------------------------------------------------------------- backward
    def backward(self, dout: np.ndarray) -> np.ndarray | None:
        """dout: (N, Ho, Wo, C_out) -> dx: (N, H, W, C_in); sets grads["W"], grads["b"].

        Returns None, skipping the input-gradient work, when ``needs_input_grad`` is False
        (the first layer of a network: nothing upstream uses it).
        """
        if self._cache is None:
            raise RuntimeError("Conv2D.backward called without a training-mode forward")
        x_shape, state = self._cache
        self._cache = None
        dtype = self.params["W"].dtype
        dout = np.ascontiguousarray(dout, dtype=dtype)
        dx = np.empty(x_shape, dtype) if self.needs_input_grad else None
        kind = state[0]
        if kind == "filters":
            self._backward_filters(state, dout, dx)
            column_sums(dout.reshape(-1, self.out_channels), self.grads["b"])
            return dx
        if kind == "batch":
            self._backward_batch(state, dout, dx)
            return dx
        # Per-chunk bias-gradient sums, taken while each chunk of dout is in cache.
        bias_partials = self._buffer(("db",), (len(state[1]), self.out_channels), dtype)
        conv_winograd.backward(self, state, dout, dx, bias_partials)
        np.sum(bias_partials, axis=0, out=self.grads["b"])
        return dx

    def _col2im_chunk(self, part, c0: int, c1: int, dslabs: np.ndarray, xp_shape, dx) -> None:
        """col2im of one chunk's column gradients (kh*kw, rows, C_in), cropped into dx[c0:c1]."""
        top, _, left, _ = self.pads
        _, hp, wp, c = xp_shape
        h, w = dx.shape[1:3]
        if any(self.pads):
            dxp = self._buffer(("dxp", part), (c1 - c0, hp, wp, c), dx.dtype)
            col2im_slabs(dslabs, dxp.shape, self.kh, self.kw, self.stride, out=dxp)
            dx[c0:c1] = dxp[:, top : top + h, left : left + w, :]
        else:
            col2im_slabs(dslabs, (c1 - c0, hp, wp, c), self.kh, self.kw, self.stride,
                         out=dx[c0:c1])

    def _backward_batch(self, state: tuple, dout: np.ndarray, dx: np.ndarray | None) -> None:
        _, xp, chunks, kept = state
        W = self.params["W"]
        cout, dtype = self.out_channels, W.dtype
        K = W.size // cout
        # W as (kh*kw, C_out, C_in): one product per kernel offset gives contiguous slabs.
        W_slabs = W.reshape(self.kh * self.kw, self.in_channels, cout).transpose(0, 2, 1)
        rows = dout.shape[1] * dout.shape[2]
        d2 = dout.reshape(-1, cout)
        # Per chunk [dW; db] (the columns end with a column of ones).
        partials = self._buffer(("dW",), (len(chunks), K + 1, cout), dtype)

        def task(part: int, c_first: int, c_last: int) -> None:
            for ci in range(c_first, c_last):
                c0, c1 = chunks[ci]
                r = (c1 - c0) * rows
                if kept:
                    cols = self._buffer(("cols kept", ci), (r, K + 1), dtype)
                else:
                    cols = im2col(xp[c0:c1], self.kh, self.kw, self.stride, bias_column=True,
                                  out=self._buffer(("cols", True, part), (r, K + 1), dtype))
                dchunk = d2[c0 * rows : c1 * rows]
                np.dot(cols.T, dchunk, out=partials[ci])  # small output: see engine.threads
                if dx is not None:
                    dslabs = self._buffer(("dcols", part), (len(W_slabs), r, self.in_channels),
                                          dtype)
                    np.matmul(dchunk, W_slabs, out=dslabs)
                    self._col2im_chunk(part, c0, c1, dslabs, xp.shape, dx)

        self._run_parts(task, len(chunks))
        total = partials.sum(axis=0)
        self.grads["W"][...] = total[:K].reshape(W.shape)
        self.grads["b"][...] = total[K]

    def _backward_filters(self, state: tuple, dout: np.ndarray, dx: np.ndarray | None) -> None:
        _, xp = state
        W = self.params["W"]
        cout, dtype = self.out_channels, W.dtype
        K = W.size // cout
        d2 = dout.reshape(-1, cout)
        n_rows = len(d2)
        cols = im2col(xp, self.kh, self.kw, self.stride,
                      out=self._buffer(("cols",), (n_rows, K), dtype))
        n_slabs = self.kh * self.kw
        dslabs = self._buffer(("dcols",), (n_slabs, n_rows, self.in_channels), dtype)
        W_slabs = W.reshape(n_slabs, self.in_channels, cout).transpose(0, 2, 1)
        dW = self.grads["W"].reshape(K, cout)
        fgroups = _groups(cout, _FILTER_GROUP)
        offsets = range(n_slabs) if dx is not None else range(0)
        nthreads = threads.get_num_threads()

        def task(part: int) -> None:
            # Fixed groups, dealt round-robin: the same products whatever the thread count.
            for f0, f1 in fgroups[part::nthreads]:
                dW[:, f0:f1] = np.dot(cols.T, d2[:, f0:f1])  # see engine.threads
            for k in offsets[part::nthreads]:
                np.matmul(d2, W_slabs[k], out=dslabs[k])

        threads.parallel_map(task, [(k,) for k in range(nthreads)])
        if dx is not None:
            self._col2im_chunk("all", 0, len(dx), dslabs, xp.shape, dx)

    def num_params(self) -> int:
        """Weights, plus the bias when the layer has one (a disabled bias is no parameter)."""
        return int(self.params["W"].size + (self.out_channels if self.bias else 0))

    def __repr__(self) -> str:
        k = self.kernel_size
        options = "" if self.bias else ", bias=False"
        options += "" if self.init == "he" else f", init={self.init!r}"
        return (
            f"{type(self).__name__}({self.in_channels}, {self.out_channels}, kernel_size={k!r}, "
            f"stride={self.stride}, padding={self.padding!r}{options})"
        )
