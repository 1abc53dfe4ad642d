"""2-D convolution over NHWC tensors, as matrix products on the engine's thread pool.

Two algorithms, checked against each other and a loop reference in the tests:

im2col (any kernel, stride, padding), for weights W (kh, kw, C_in, C_out) as
Wm (kh*kw*C_in, C_out):

    cols = im2col(pad(x))            (N*Ho*Wo, kh*kw*C_in)
    y    = cols @ Wm + b             (N*Ho*Wo, C_out) -> (N, Ho, Wo, C_out)
    dW   = cols.T @ dy               dx = col2im(dy @ W per kernel offset), cropped
    db   = sum of dy over (N, Ho, Wo)

Faster algorithms for some layers live in the fast path and register themselves in
``engine.layers.conv_algorithm``: Winograd F(4x4, 3x3) for 3x3 stride-1 layers with enough
input channels, 4x fewer multiplications (``engine.fast.conv_winograd``). This module does
not import them; without them every layer computes by im2col.

Work is split across the engine's thread pool (``engine.threads``), either by batch (each
thread its own chunks of images; the default, measured faster) or, for im2col, by batches of
filters (``engine.layers.conv_by_filters``). The batch is always cut into the same fixed
chunks whatever the thread count, and per-chunk weight gradients are summed in chunk order,
so results are bit-for-bit identical for any number of threads. Large work arrays persist in
the layer's ``workspace`` between batches. A first layer may skip its input gradient
(``needs_input_grad = False``; ``Sequential.backward`` sets it during training steps).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from engine import threads
from engine.layers import conv_by_filters as by_filters
from engine.layers.base import Layer
from engine.layers.conv_algorithm import ConvAlgorithm, algorithm_for
from engine.layers.im2col import col2im_cropped, column_sums, im2col, output_size, same_padding
from engine.layers.workspace import Workspace

# Columns of one chunk of images should stay in the per-core L2 cache between their
# im2col copy and the matrix product that reads them.
_CHUNK_BYTES = 2 << 20
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
        # "auto" picks a registered algorithm that prefers this layer, else im2col; "im2col"
        # or a registered algorithm's name ("winograd") forces one where it applies.
        self.algorithm = "auto"
        # False skips computing dx (set for a network's first layer; backward returns None).
        self.needs_input_grad = True
        self.workspace = Workspace()
        self._cache: tuple | None = None

    # ----------------------------------------------------------------- shapes
    def output_hw(self, h: int, w: int) -> tuple[int, int]:
        """(Ho, Wo) for an H x W input; ValueError when the kernel does not fit."""
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
        return (*self.output_hw(h, w), self.out_channels)

    # --------------------------------------------------------------- buffers
    def _buffer(self, key: tuple, shape: tuple[int, ...], dtype: np.dtype) -> np.ndarray:
        return self.workspace.array(("conv", *key), shape, dtype)

    def _pad(self, x: np.ndarray, role: str) -> np.ndarray:
        """x zero-padded, in a persistent buffer whose borders stay zero between batches.

        x: (N, H, W, C) -> (N, H + top + bottom, W + left + right, C).
        """
        xp, fill = self.padded_input(x, role)
        fill(0, len(x))
        return xp

    def padded_input(self, x: np.ndarray, role: str
                     ) -> tuple[np.ndarray, Callable[[int, int], None]]:
        """The buffer of :meth:`_pad` with its borders zero, and ``fill(i0, i1)`` copying
        images i0:i1 of x into it: chunk passes fill their own images, on their own thread,
        right before they read them. Returns x itself (and a no-op) when there is no padding.
        """
        top, bottom, left, right = self.pads
        n, h, w, c = x.shape
        if not any(self.pads):
            return x, lambda i0, i1: None
        shape = (n, h + top + bottom, w + left + right, c)
        buf = self.workspace.zero_bordered(("conv", "pad", role), shape, x.dtype)
        inner = buf[:, top : top + h, left : left + w, :]

        def fill(i0: int, i1: int) -> None:
            inner[i0:i1] = x[i0:i1]

        return buf, fill

    def column_chunks(self, n: int, ho: int, wo: int) -> list[tuple[int, int]]:
        """The fixed (start, stop) chunks of a batch of n images (output Ho x Wo) that im2col
        by batch works in: about ``_CHUNK_BYTES`` of columns each (threads.fixed_chunks)."""
        per_image = ho * wo * (self.kh * self.kw * self.in_channels + 1)
        return threads.fixed_chunks(n, per_image * self.params["W"].dtype.itemsize, _CHUNK_BYTES)

    def keeps_columns(self, input_shape: tuple[int, ...]) -> bool:
        """Whether im2col by batch keeps this input's columns from forward to backward
        (small column matrices: first layers, few input channels). input_shape: (N, H, W, C_in)."""
        n, h, w = input_shape[:3]
        ho, wo = self.output_hw(h, w)
        k1 = self.kh * self.kw * self.in_channels + 1
        return n * ho * wo * k1 * self.params["W"].dtype.itemsize <= _KEEP_COLS_BYTES

    def fast_algorithm(self) -> ConvAlgorithm | None:
        """The registered algorithm this layer computes with, or None (im2col)."""
        return algorithm_for(self, self.algorithm)

    def algorithm_name(self) -> str:
        """The name of the algorithm this layer computes with: "im2col" or a registered one."""
        algorithm = self.fast_algorithm()
        return "im2col" if algorithm is None else algorithm.name

    # ---------------------------------------------------------------- forward
    def forward(self, x: np.ndarray, training: bool = True, *,
                chunk_hook: Callable | None = None) -> np.ndarray:
        """x: (N, H, W, C_in) -> (N, Ho, Wo, C_out), in the dtype of the parameters.

        ``chunk_hook(part, chunk_index, cols, y_rows)``, in training by im2col by batch, is
        called after each chunk's product while both are in cache (a fused run takes
        BatchNorm statistics there); cols (rows, K + 1) end with the column of ones.
        """
        W = self.params["W"]
        x = np.asarray(x)
        if x.ndim != 4 or x.shape[3] != self.in_channels:
            raise ValueError(
                f"conv2d expects input (N, H, W, {self.in_channels}), got shape {x.shape}"
            )
        if x.dtype != W.dtype:
            x = x.astype(W.dtype)
        n, h, w, _ = x.shape
        ho, wo = self.output_hw(h, w)
        y = np.empty((n, ho, wo, self.out_channels), W.dtype)
        role = "train" if training else "eval"
        algorithm = self.fast_algorithm()
        if algorithm is not None:
            state = algorithm.forward(self, x, y, role)
        elif threads.get_parallel_mode() == "filters":
            xp = self._pad(x, role)
            by_filters.forward(self, xp, y)
            state = ("filters", xp)
        else:
            state = self._forward_batch(*self.padded_input(x, role), y, training, chunk_hook)
        self._cache = (x.shape, algorithm, state) if training else None
        return y

    def prepare_backward(self, x: np.ndarray) -> None:
        """Make :meth:`backward` ready as after a training forward of x by im2col by batch,
        its columns rebuilt chunk by chunk: for a fused run that computed the output itself.
        x: (N, H, W, C_in) in the parameters' dtype."""
        chunks = self.column_chunks(len(x), *self.output_hw(*x.shape[1:3]))
        self._cache = (x.shape, None, ("batch", self._pad(x, "train"), chunks, False))

    def _forward_batch(self, xp: np.ndarray, fill, y: np.ndarray, training: bool,
                       hook: Callable | None) -> tuple:
        """im2col path, each thread its own chunks of images (``fill(i0, i1)`` pads them into
        xp first, see :meth:`padded_input`).

        The columns carry a column of ones and the weights the bias as their last row, so the
        one product adds the bias (and, in backward, yields its gradient).
        """
        W, b = self.params["W"], self.params["b"]
        Wb = np.concatenate([W.reshape(-1, self.out_channels), b[None]])  # (K + 1, C_out)
        y2 = y.reshape(-1, self.out_channels)
        rows = y.shape[1] * y.shape[2]
        chunks = self.column_chunks(*y.shape[:3])
        # Small column matrices (first layers: few input channels) are kept for backward
        # instead of being gathered again; large ones are rebuilt chunk by chunk in cache.
        keep = training and y2.shape[0] * Wb.shape[0] * W.dtype.itemsize <= _KEEP_COLS_BYTES
        hook = hook if training else None

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

        threads.parallel_chunks(lambda part, ci: task(part, ci, ci + 1), len(chunks))
        return ("batch", xp, chunks, keep)

    # --------------------------------------------------------------- backward
    def backward(self, dout: np.ndarray) -> np.ndarray | None:
        """dout: (N, Ho, Wo, C_out) -> dx: (N, H, W, C_in); sets grads["W"], grads["b"].

        Returns None, skipping the input-gradient work, when ``needs_input_grad`` is False
        (the first layer of a network: nothing upstream uses it).
        """
        if self._cache is None:
            raise RuntimeError("Conv2D.backward called without a training-mode forward")
        x_shape, algorithm, state = self._cache
        self._cache = None
        dtype = self.params["W"].dtype
        dout = np.ascontiguousarray(dout, dtype=dtype)
        dx = np.empty(x_shape, dtype) if self.needs_input_grad else None
        if algorithm is not None:
            algorithm.backward(self, state, dout, dx)
        elif state[0] == "filters":
            by_filters.backward(self, state[1], dout, dx)
            column_sums(dout.reshape(-1, self.out_channels), self.grads["b"])
        else:
            self._backward_batch(state, dout, dx)
        return dx

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
                    scratch = (self._buffer(("dxp", part), (c1 - c0, *xp.shape[1:]), dtype)
                               if any(self.pads) else None)
                    col2im_cropped(dslabs, self.kh, self.kw, self.stride, self.pads,
                                   dx[c0:c1], scratch)

        threads.parallel_chunks(lambda part, ci: task(part, ci, ci + 1), len(chunks))
        total = partials.sum(axis=0)
        self.grads["W"][...] = total[:K].reshape(W.shape)
        self.grads["b"][...] = total[K]

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
