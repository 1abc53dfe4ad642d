"""Conv2D (Winograd) -> [ReLU] -> MaxPool2D(2, 2) executed as one step in training (found by
:func:`engine.fast.fused.find_runs`), with a ReLU before the conv too when there is one.

Each chunk's Winograd output blocks Y (m, m, n, Ty, Tx, C) are pooled while in cache: the
2x2 windows lie inside the m x m blocks, so every window is four whole planes of Y. The
bias is added and the ReLU (if any) applied after the pool (max-pool commutes with both),
and the conv's output is never written. Backward routes the pooled gradient to the window
winners straight into the blocks the Winograd backward transforms (no full-size output
gradient either). A ReLU before the conv is applied as the conv pads its input (the same
pass), and its mask as the conv's input gradient is cropped out of the padded tiles: the
ReLU's own passes over the full-size activations, forward and backward, are saved.

Outputs that are not whole blocks (airbench's 31, 15 and 7) are pooled the same way: the
blocks overhang the output, the pool (floor mode) drops the windows that reach into the
overhang, so the pooled blocks are cropped and those windows get no gradient.
Convs that do not compute with Winograd take conv, then [ReLU ->] max-pool.
"""

from __future__ import annotations

import time

import numpy as np

from engine import threads
from engine.fast import conv_winograd
from engine.fast.relu_max_pool import ReLUMaxPool
from engine.layers.activations import ReLU
from engine.layers.conv import Conv2D
from engine.layers.im2col import column_sums
from engine.layers.pool import MaxPool2D
from engine.layers.workspace import Workspace


class ConvPool:
    """Shapes: x (N, H, W, C_in) -> (N, Ho // 2, Wo // 2, C_out); backward: dout of that shape
    -> dx (N, H, W, C_in), or None when the conv needs no input gradient. ``relu``: the ReLU
    between conv and pool, or None (airbench: conv -> pool -> BatchNorm). ``relu_in``: a
    ReLU layer before the conv, part of the run. The run is conv, pool and each ReLU given."""

    def __init__(self, conv: Conv2D, relu: ReLU | None, pool: MaxPool2D,
                 relu_in: ReLU | None = None) -> None:
        self.conv, self.relu, self.pool, self.relu_in = conv, relu, pool, relu_in
        self.size = 2 + (relu is not None) + (relu_in is not None)
        # ReLU -> pool after the conv, for convs that do not compute with Winograd.
        self._plain = ReLUMaxPool(relu, pool) if relu is not None else None
        self.workspace = Workspace()  # its own scratch, apart from the conv's
        self._cache: tuple | None = None
        # Seconds of the last pass, one per layer of the run.
        self.times = (0.0,) * self.size

    def _times(self, conv: float, relu: float, pool: float, relu_in: float = 0.0) -> tuple:
        """Seconds per layer of the run, in its order: [relu_in,] conv, [relu,] pool."""
        own = (conv, relu, pool) if self.relu is not None else (conv, pool)
        return own if self.relu_in is None else (relu_in, *own)

    def applies(self, x: np.ndarray, training: bool) -> bool:
        return training and x.ndim == 4 and len(x) > 0

    def fits(self, x: np.ndarray) -> bool:
        """Whether the conv computes with Winograd, whose output blocks are then pooled."""
        return conv_winograd.computes(self.conv)

    def forward(self, x: np.ndarray) -> np.ndarray:
        conv = self.conv
        clock = time.perf_counter
        t0 = clock()
        if not self.fits(x):
            if self.relu_in is not None:
                x = self.relu_in.forward(x, True)
            t_in = clock()
            y = conv.forward(x, True)
            t1 = clock()
            if self._plain is None:
                out = self.pool.forward(y, True)
                after = (0.0, clock() - t1)
            else:
                out = self._plain.forward(y)
                after = self._plain.times
            self._cache = ("plain",)
            self.times = self._times(t1 - t_in, *after, t_in - t0)
            return out
        W, b = conv.params["W"], conv.params["b"]
        x = np.asarray(x, W.dtype)
        n, c = len(x), conv.out_channels
        work = self.workspace.array
        ho, wo = conv.output_hw(x.shape[1], x.shape[2])
        m = conv_winograd.TILE
        half = m // 2  # pool windows per block along each axis
        ty, tx = -(-ho // m), -(-wo // m)
        hp, wp = ho // 2, wo // 2
        cropped = (hp, wp) != (half * ty, half * tx)  # the blocks overhang the output
        relu = self.relu is not None
        out = np.empty((n, hp, wp, c), W.dtype)
        # Per window (p, q) of a block: which column won in each of its rows, which row won.
        left_wins = work(("left wins",), (half, half, 2, n, ty, tx, c), np.dtype(bool))
        top_wins = work(("top wins",), (half, half, n, ty, tx, c), np.dtype(bool))
        pool_seconds = [0.0] * threads.get_num_threads()  # pooling, per thread

        def pool_blocks(part: int, c0: int, c1: int, Y: np.ndarray) -> None:
            start = clock()
            # Y[2p + r, 2q + s] is row r, column s of window (p, q): all windows in each
            # pass (few large NumPy calls: small ones on two threads lose to the GIL).
            windows = Y.reshape(half, 2, half, 2, c1 - c0, ty, tx, c)
            rows = work(("pool rows", part), (2, half, half, c1 - c0, ty, tx, c),
                        W.dtype)
            for r in (0, 1):  # columns first, then rows: row-major first maximum
                left, right = windows[:, r, :, 0], windows[:, r, :, 1]
                np.maximum(left, right, out=rows[r])
                np.greater_equal(left, right, out=left_wins[:, :, r, c0:c1])
            np.greater_equal(rows[0], rows[1], out=top_wins[:, :, c0:c1])
            chunk = out[c0:c1]
            pooled = (work(("pooled", part), (c1 - c0, half * ty, half * tx, c), W.dtype)
                      if cropped else chunk)
            pooled6 = pooled.reshape(c1 - c0, ty, half, tx, half, c)
            np.maximum(rows[0], rows[1], out=pooled6.transpose(2, 4, 0, 1, 3, 5))
            if cropped:  # the windows that reach into the overhang are dropped
                np.add(pooled[:, :hp, :wp], b, out=chunk)
            else:
                chunk += b
            if relu:
                np.maximum(chunk, 0, out=chunk)  # ReLU after the pool
            pool_seconds[part] += clock() - start

        state = conv_winograd.forward(conv, x, None, "train", pool_blocks,
                                      input_relu=self.relu_in is not None)
        t1 = clock()
        # Kept for backward only where a ReLU needs it for its mask: x for the ReLU before
        # the conv, out for the one after the pool (airbench94 at batch 1024: 324 MiB).
        kept_x = x if self.relu_in is not None else None
        kept_out = out if self.relu is not None else None
        self._cache = ("fused", state, x.shape, out.shape, kept_x, kept_out)
        # The pass's wall time, its pooling share as the threads spent it (ReLU included).
        parts = min(threads.get_num_threads(), len(state[1]))
        pooled = min(sum(pool_seconds) / parts, t1 - t0)
        self.times = self._times(t1 - t0 - pooled, 0.0, pooled)
        return out

    def backward(self, dout: np.ndarray) -> np.ndarray | None:
        if self._cache is None:
            raise RuntimeError("fused backward called without a training-mode forward")
        cache, self._cache = self._cache, None
        conv = self.conv
        clock = time.perf_counter
        t0 = clock()
        if cache[0] == "plain":
            d = (self._plain or self.pool).backward(dout)
            t1 = clock()
            after = (0.0, t1 - t0) if self._plain is None else self._plain.times
            dx = conv.backward(d)
            t2 = clock()
            if self.relu_in is not None:
                dx = self.relu_in.backward(dx)
            self.times = self._times(t2 - t1, *after, clock() - t2)
            return dx
        _, state, x_shape, out_shape, relu_input, out = cache
        work = self.workspace.array
        dtype = state[2].dtype  # the filters' transform U
        dout = np.asarray(dout, dtype)
        n, hp, wp, c = out_shape
        m = conv_winograd.TILE
        half = m // 2
        ho, wo = state[3]  # the conv's output size
        ty, tx = -(-ho // m), -(-wo // m)
        cropped = (hp, wp) != (half * ty, half * tx)
        left_wins = work(("left wins",), (half, half, 2, n, ty, tx, c), np.dtype(bool))
        top_wins = work(("top wins",), (half, half, n, ty, tx, c), np.dtype(bool))
        chunks = state[1]
        bias_partials = work(("db",), (len(chunks), c), dtype)

        routing = [0.0] * threads.get_num_threads()  # seconds routing to the winners, per thread

        def grad_blocks(part: int, ci: int, c0: int, c1: int, dYt: np.ndarray) -> None:
            start = clock()
            # The pooled gradient over whole blocks: zero for the windows that were dropped.
            dp = work(("dp", part), (c1 - c0, half * ty, half * tx, c), dtype)
            if cropped:
                dp.fill(0)
            kept = dp[:, :hp, :wp]
            if self.relu is not None:
                np.greater(out[c0:c1], 0, out=kept)  # ReLU after the pool
                kept *= dout[c0:c1]
            else:
                kept[...] = dout[c0:c1]
            column_sums(dp.reshape(-1, c), bias_partials[ci])
            # (p, q, image, Ty, Tx, C) views, all windows per call as in the forward pass.
            dp_windows = dp.reshape(c1 - c0, ty, half, tx, half, c).transpose(2, 4, 0, 1, 3, 5)
            blocks = dYt.reshape(half, 2, half, 2, c1 - c0, ty, tx, c)
            rows = work(("pool rows", part), (2, half, half, c1 - c0, ty, tx, c), dtype)
            np.multiply(dp_windows, top_wins[:, :, c0:c1], out=rows[0])
            np.subtract(dp_windows, rows[0], out=rows[1])
            for r in (0, 1):
                won = blocks[:, r, :, 0]
                np.multiply(rows[r], left_wins[:, :, r, c0:c1], out=won)
                np.subtract(rows[r], won, out=blocks[:, r, :, 1])
            routing[part] += clock() - start

        dx = np.empty(x_shape, dtype) if conv.needs_input_grad else None
        conv_winograd.backward(conv, state, None, dx, bias_partials, grad_blocks, relu_input)
        np.sum(bias_partials, axis=0, out=conv.grads["b"])
        seconds = clock() - t0
        routed = min(sum(routing) / min(threads.get_num_threads(), len(chunks)), seconds)
        self.times = self._times(seconds - routed, 0.0, routed)
        return dx
