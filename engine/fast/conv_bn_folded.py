"""ConvBNReLUPool's folded path: BatchNorm folded into the conv's product, for im2col by
batch with columns small enough to keep from forward to backward (first layers: few input
channels).

Forward, one pass per chunk of images while it is in cache: the columns (rows in 2x2-window
position order, from the input minus its per-channel mean), their Gram matrix
G = cols.T @ cols (partials added in a fixed order in float64), the conv's product with the
filters' signs adjusted to gamma's, and the 2x2 max-pool (which column, which row won).
BatchNorm's batch mean and variance follow from G and [W; b], so they are those of the whole
batch whatever the thread count; BatchNorm's per-channel map and ReLU then run on the pooled
values only (max-pool commutes with both), which also marks, per window, the member that
gets the gradient. The conv's output is never written.

Backward without dx (a first layer): one pass per chunk puts the pooled gradient on the
marked members (dz, one product) and takes P = cols.T @ dz; the conv's weight gradient
follows from P and G, BatchNorm's from P. With dx, :meth:`FoldedConvBNPool.unfold` gives the
conv's output again from the kept columns and the run's general backward takes over.

The columns, masks and scratch live in this object's own workspace.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

from engine import threads
from engine.fast.bn_from_gram import stats_from_gram, weights64
from engine.layers.conv import Conv2D
from engine.layers.im2col import windows
from engine.layers.norm import BatchNorm
from engine.layers.workspace import Workspace


@dataclass
class FoldedPass:
    """What a folded forward hands the run: the pooled output (N, Ho / 2, Wo / 2, C), BatchNorm's
    inv_std and mean (C,), the columns' Gram matrix (K + 1, K + 1) float64, the columns' shift
    (K,) float64 and seconds per layer (conv, bn, relu, pool)."""

    pooled: np.ndarray
    inv_std: np.ndarray
    mean: np.ndarray
    gram: np.ndarray
    shift: np.ndarray
    times: tuple[float, float, float, float]


def _columns_by_window_position(conv: Conv2D, xp: np.ndarray, out: np.ndarray) -> None:
    """im2col of xp (n, Hp, Wp, C_in) into out (n * Ho * Wo, K + 1), rows ordered by
    position in the 2x2 pool window first: (row a, column b, image, Ho / 2, Wo / 2).
    The product's quarter blocks are then the four members of every window."""
    win = windows(xp, conv.kh, conv.kw, conv.stride)  # (n, Ho, Wo, kh, kw, C_in)
    n, ho, wo = win.shape[:3]
    split = win.reshape(n, ho // 2, 2, wo // 2, 2, *win.shape[3:])
    k = out.shape[1] - 1
    target = out[:, :k].view()
    target.shape = (2, 2, n, ho // 2, wo // 2, *win.shape[3:])
    np.copyto(target, split.transpose(2, 4, 0, 1, 3, 5, 6, 7))
    out[:, k] = 1


def _shifted_padded(conv: Conv2D, work: Workspace, x: np.ndarray):
    """x padded, minus its per-channel batch mean s (borders -s), filled chunk by chunk
    by ``fill(i0, i1)`` so that each chunk's pass writes its own images while they are in
    cache; also s tiled over the kernel offsets (K,) float64. Columns of it keep the Gram
    matrix well conditioned when the input is far from zero mean (G's float32 sums would
    otherwise cancel). Returns (xs, fill, shift)."""
    n, h, w, cin = x.shape
    top, bottom, left, right = conv.pads
    s = (work.ones(n * h * w, x.dtype) @ x.reshape(-1, cin)) / (n * h * w)
    s = s.astype(x.dtype)
    hp, wp = h + top + bottom, w + left + right
    xs = work.array(("xs",), (n, hp, wp, cin), x.dtype)
    # Rows as (W * C_in,) runs: broadcasting s over a short last axis is ~30x slower.
    border, centre = np.tile(-s, wp), np.tile(s, w)
    rows = xs.reshape(n, hp, wp * cin)
    inner = xs[:, top : top + h, left : left + w].view()
    inner.shape = (n, h, w * cin)
    flat_x = x.reshape(n, h, w * cin)

    def fill(i0: int, i1: int) -> None:
        rows[i0:i1] = border
        np.subtract(flat_x[i0:i1], centre, out=inner[i0:i1])

    return xs, fill, np.tile(s.astype(np.float64), conv.kh * conv.kw)


def _in_chunks(task, n_chunks: int) -> None:
    """task(part, ci, ci + 1) for every chunk, the threads taking them as they come free."""
    threads.parallel_chunks(lambda part, ci: task(part, ci, ci + 1), n_chunks)


class FoldedConvBNPool:
    """Conv2D -> BatchNorm -> ReLU -> MaxPool2D(2, 2) in training with BatchNorm folded into
    the conv's product (see the module's docstring). One forward, then either
    :meth:`products` (no dx) or :meth:`unfold` (dx wanted, the run's general backward)."""

    def __init__(self, conv: Conv2D, bn: BatchNorm) -> None:
        self.conv, self.bn = conv, bn
        self.workspace = Workspace()
        self._state: tuple | None = None  # (chunks, x) of the last forward
        self._left_q = self._top_wins = np.empty(0, bool)

    def applies(self, x: np.ndarray) -> bool:
        """Whether BatchNorm can be folded into the conv's product for x (N, H, W, C_in): the
        conv computes it by im2col by batch and keeps its columns from forward to backward."""
        conv = self.conv
        if conv.fast_algorithm() is not None or threads.get_parallel_mode() != "batch":
            return False
        return conv.keeps_columns(x.shape)

    def pool_masks(self) -> tuple[np.ndarray, np.ndarray]:
        """The last forward's pool winners: which column won, (2, N, Ho / 2, Wo / 2, C) by
        row of the window, and which row won, (N, Ho / 2, Wo / 2, C)."""
        return self._left_q, self._top_wins

    def forward(self, x: np.ndarray) -> FoldedPass:
        """One pass per chunk while it is in cache: columns, their Gram matrix, the conv's
        product and the max-pool; BatchNorm and ReLU then work on the pooled values only.

        Max-pool commutes with BatchNorm's per-channel map z = k (y - mean) + beta when
        k = gamma * inv_std >= 0; a channel with gamma < 0 is pooled with its filter negated
        (z = |k| (-y) + ...), so the pooled maxima and winners are those of z. The product
        leaves out the bias and the columns' shift (constants per channel, which BatchNorm
        removes), keeping its values near zero mean; the statistics come from the Gram
        matrix. The conv's output is never written. x: (N, H, W, C_in).
        """
        conv, bn, work = self.conv, self.bn, self.workspace
        clock = time.perf_counter
        t0 = clock()
        W = conv.params["W"]
        dtype = W.dtype
        x = np.asarray(x)
        if x.dtype != dtype:
            x = x.astype(dtype)
        n = len(x)
        ho, wo = conv.output_hw(x.shape[1], x.shape[2])
        c = conv.out_channels
        k1 = W.size // c + 1
        rows = ho * wo
        hp, wp = ho // 2, wo // 2
        xs, fill, shift = _shifted_padded(conv, work, x)
        sign = np.where(bn.params["gamma"] < 0, -1, 1).astype(dtype)
        signed = np.zeros((k1, c), dtype)  # [sign * W; 0]: no bias, no shift
        np.multiply(W.reshape(-1, c), sign, out=signed[:-1])
        chunks = conv.column_chunks(n, ho, wo)
        grams: list = [None] * len(chunks)
        pooled = np.empty((n, hp, wp, c), dtype)
        left_q = self._left_q = work.array(("left q",), (2, n, hp, wp, c), np.dtype(bool))
        top_wins = self._top_wins = work.array(("top",), (n, hp, wp, c), np.dtype(bool))
        # Seconds pooling and seconds in all, per thread (each adds to its own: no lost updates).
        pool_share = np.zeros((threads.get_num_threads(), 2))

        def chunk_pass(part: int, c_first: int, c_last: int) -> None:
            start = clock()
            for ci in range(c_first, c_last):
                c0, c1 = chunks[ci]
                cols = work.array(("cols", ci), ((c1 - c0) * rows, k1), dtype)
                fill(c0, c1)
                _columns_by_window_position(conv, xs[c0:c1], cols)
                grams[ci] = np.dot(cols.T, cols)  # np.dot for small outputs: see engine.threads
                z = work.array(("z", part), (2, 2, c1 - c0, hp, wp, c), dtype)
                np.matmul(cols, signed, out=z.reshape(-1, c))
                t_pool = clock()
                # Contiguous quarter blocks: columns first, then rows (row-major first max).
                row_max = work.array(("row", part), (2, c1 - c0, hp, wp, c), dtype)
                for a in (0, 1):
                    np.maximum(z[a, 0], z[a, 1], out=row_max[a])
                    np.greater_equal(z[a, 0], z[a, 1], out=left_q[a, c0:c1])
                np.greater_equal(row_max[0], row_max[1], out=top_wins[c0:c1])
                np.maximum(row_max[0], row_max[1], out=pooled[c0:c1])
                pool_share[part, 0] += clock() - t_pool
            pool_share[part, 1] += clock() - start

        _in_chunks(chunk_pass, len(chunks))
        t1 = clock()
        pooling, in_all = pool_share.sum(axis=0)
        t_pool = (t1 - t0) * pooling / max(in_all, 1e-12)
        gram = np.sum(grams, axis=0, dtype=np.float64)
        m = n * rows
        Wb = weights64(conv, shift)
        mean, var = stats_from_gram(conv, gram, m, shift)
        inv64 = 1.0 / np.sqrt(var + bn.eps)
        inv_std = inv64.astype(dtype)
        k = bn.params["gamma"].astype(np.float64) * inv64
        # z = |k| * pooled + (beta + k * (y - pooled-product offset - mean)): the product
        # lacks the constant Wb[-1] (bias and shift) per channel.
        scale = np.abs(k).astype(dtype)
        offset = (bn.params["beta"] + k * (Wb[-1] - mean)).astype(dtype)
        bn.update_running(mean, var, m)
        t2 = clock()

        # Which member of each window gets the gradient, [row a, column b, image, ...]: the
        # one that won, if the ReLU let the window through (the backward's routing in one call).
        winners = work.array(("winners",), (2, 2, n, hp, wp, c), np.dtype(bool))

        def epilogue(i0: int, i1: int) -> None:
            part = pooled[i0:i1]
            part *= scale
            part += offset
            np.maximum(part, 0, out=part)  # ReLU after the pool
            rows = work.array(("won rows", i0), (2, i1 - i0, hp, wp, c), np.dtype(bool))
            np.greater(part, 0, out=rows[1])
            np.logical_and(top_wins[i0:i1], rows[1], out=rows[0])  # row 0 won, passed ReLU
            np.greater(rows[1], rows[0], out=rows[1])  # row 1 won, passed ReLU
            np.logical_and(rows, left_q[:, i0:i1], out=winners[:, 0, i0:i1])
            np.greater(rows, left_q[:, i0:i1], out=winners[:, 1, i0:i1])

        threads.parallel_map(epilogue, threads.split_range(n, threads.get_num_threads()))
        # conv: the chunk pass's columns, Gram matrix and product, pool: its pooling (the
        # pass's wall time shared out as the threads spent it); bn: statistics; relu:
        # BatchNorm's map and ReLU on the pooled values.
        self._state = (chunks, x)
        times = (t1 - t0 - t_pool, t2 - t1, clock() - t2, t_pool)
        return FoldedPass(pooled, inv_std, mean, gram, shift, times)

    def products(self, dout: np.ndarray, out: np.ndarray) -> np.ndarray:
        """P = cols.T @ dz (K + 1, C) in float64 after a folded forward, chunk by chunk while
        each chunk is in cache (partials added in chunk order): dz is the pooled gradient dout
        put on the members of each window the forward marked (the winner, where the pooled
        output ``out`` is positive), in window-position order. The columns' last column is
        ones, so P[-1] is the sum of dz, which is BatchNorm's dbeta. Ends the pass (no dx).
        dout, out: (N, Ho / 2, Wo / 2, C)."""
        conv, work = self.conv, self.workspace
        chunks, _ = self._state
        self._state = None
        n, hp, wp, c = out.shape
        ho, wo = 2 * hp, 2 * wp
        dtype = out.dtype
        k1 = conv.params["W"].size // c + 1
        rows = ho * wo
        winners = work.array(("winners",), (2, 2, n, hp, wp, c), np.dtype(bool))
        partials = work.array(("P",), (len(chunks), k1, c), dtype)

        def task(part: int, c_first: int, c_last: int) -> None:
            for ci in range(c_first, c_last):
                c0, c1 = chunks[ci]
                dz = work.array(("z", part), (2, 2, c1 - c0, hp, wp, c), dtype)
                np.multiply(dout[c0:c1], winners[:, :, c0:c1], out=dz)
                cols = work.array(("cols", ci), ((c1 - c0) * rows, k1), dtype)
                np.dot(cols.T, dz.reshape(-1, c), out=partials[ci])

        _in_chunks(task, len(chunks))
        return np.sum(partials, axis=0, dtype=np.float64)

    def unfold(self, shift: np.ndarray) -> np.ndarray:
        """The conv's output y = cols @ [W; b] (N, Ho, Wo, C) again, from the kept columns
        (after a folded forward, when the backward wants dx), the conv made ready for its
        own backward (it gathers its columns again, in its usual order). Ends the pass."""
        conv, work = self.conv, self.workspace
        chunks, x = self._state
        self._state = None
        conv.prepare_backward(x)
        n, (ho, wo) = len(x), conv.output_hw(x.shape[1], x.shape[2])
        W = conv.params["W"]
        c = conv.out_channels
        Wb = weights64(conv, shift).astype(W.dtype)
        rows = ho * wo
        hp, wp = ho // 2, wo // 2
        y = work.array(("y",), (n, hp, 2, wp, 2, c), W.dtype)

        def task(part: int, c_first: int, c_last: int) -> None:
            for ci in range(c_first, c_last):
                c0, c1 = chunks[ci]
                cols = work.array(("cols", ci), ((c1 - c0) * rows, len(Wb)), W.dtype)
                z = work.array(("z", part), (2, 2, c1 - c0, hp, wp, c), W.dtype)
                np.matmul(cols, Wb, out=z.reshape(-1, c))
                y[c0:c1] = z.transpose(2, 3, 0, 4, 1, 5)

        _in_chunks(task, len(chunks))
        return y.reshape(n, ho, wo, c)
