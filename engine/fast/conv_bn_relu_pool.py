"""Conv2D -> BatchNorm -> ReLU -> MaxPool2D(2, 2) executed as one step in training
(found by :func:`engine.fast.fused.find_runs`).

For im2col by batch with columns small enough to keep (first layers: few input channels),
BatchNorm is folded into the conv's product (:mod:`engine.fast.conv_bn_folded`): one pass per chunk
of images, the conv's output never written. Otherwise the conv runs as it is, its batch
statistics taken from the Gram matrix of its im2col columns (chunk by chunk, while they are in
cache) or, for Winograd, in a pass over its output; then BatchNorm's map and the pool, one
pass per chunk, and ReLU on the pooled values only (max-pool commutes with both). Backward
scatters the pooled gradient to the window winners and forms BatchNorm's input gradient, or,
with no dx wanted and the Gram matrix at hand, the conv's weight gradient straight from it.
"""

from __future__ import annotations

import time

import numpy as np

from engine import threads
from engine.fast.bn_from_gram import stats_from_gram, weight_grad_from_gram, weights64
from engine.fast.conv_bn_folded import FoldedConvBNPool
from engine.layers.activations import ReLU
from engine.layers.conv import Conv2D
from engine.layers.norm import BatchNorm
from engine.layers.pool import MaxPool2D
from engine.layers.workspace import Workspace

# Values per chunk (about 1 MB of float32): a chunk's passes run in a core's L2 cache.
_CHUNK_VALUES = 262144


def _in_chunks(fn, n: int, per_image: int) -> list:
    """Call ``fn(part, i0, i1)`` on fixed chunks of images (independent of the thread count),
    taken by the engine's threads as they come free (``part`` numbers the thread, for scratch
    buffers); results in chunk order."""
    per_chunk = max(1, _CHUNK_VALUES // max(per_image, 1))
    chunks = [(a, min(a + per_chunk, n)) for a in range(0, n, per_chunk)]
    results: list = [None] * len(chunks)

    def run(part: int, i: int) -> None:
        results[i] = fn(part, *chunks[i])

    threads.parallel_chunks(run, len(chunks))
    return results


class ConvBNReLUPool:
    """Executes conv -> batchnorm -> relu -> maxpool(2, 2) as one step (training mode).

    Shapes: x (N, H, W, C_in) -> (N, Ho / 2, Wo / 2, C_out), Ho, Wo the conv's output size
    (even). Backward: dout (N, Ho / 2, Wo / 2, C_out) -> dx (N, H, W, C_in) or None.
    """

    size = 4

    def __init__(self, conv: Conv2D, bn: BatchNorm, relu: ReLU, pool: MaxPool2D) -> None:
        self.conv, self.bn, self.relu, self.pool = conv, bn, relu, pool
        self._cache: tuple | None = None
        # Seconds of the last forward or backward per layer (conv, bn, relu, pool): the
        # conv's own work (with the chunk sums for BatchNorm's statistics, taken inside the
        # conv's pass when it runs im2col by batch); combining the statistics (forward) or
        # BatchNorm's input gradient (backward; without dx, the weight-gradient correction);
        # ReLU on the pooled values; the normalise-and-pool pass (forward) or the scatter
        # to the window winners with BatchNorm's reductions (backward).
        self.times = (0.0, 0.0, 0.0, 0.0)
        self.workspace = Workspace()
        self._folded = FoldedConvBNPool(conv, bn)

    def applies(self, x: np.ndarray, training: bool) -> bool:
        """Whether this input is done fused (training, a 2x2 pool covering the conv output)."""
        if not training or x.ndim != 4 or len(x) == 0:
            return False
        ho, wo = self.conv.output_hw(x.shape[1], x.shape[2])
        return ho % 2 == 0 and wo % 2 == 0

    def _set_bn_grads(self, dgamma: np.ndarray, dbeta: np.ndarray) -> None:
        self.bn.grads["gamma"][...] = dgamma
        self.bn.grads["beta"][...] = dbeta

    # ---------------------------------------------------------------- forward
    def _pool(self, part: int, z: np.ndarray, i0: int, i1: int, out, left_wins, top_wins):
        """2x2 max-pool of z (i1 - i0, Ho, Wo, C) into out[i0:i1], noting which column, then
        which row won (the first maximum in row-major order, as MaxPool2D picks)."""
        n, ho, wo, c = z.shape
        hp, wp = ho // 2, wo // 2
        b = z.reshape(n, hp, 2, wp, 2, c)
        left, right = b[..., 0, :], b[..., 1, :]
        row_max = self.workspace.array(("row", part), (n, hp, 2, wp, c), z.dtype)
        np.maximum(left, right, out=row_max)
        np.greater_equal(left, right, out=left_wins[i0:i1])
        top, bottom = row_max[:, :, 0], row_max[:, :, 1]
        np.greater_equal(top, bottom, out=top_wins[i0:i1])
        np.maximum(top, bottom, out=out[i0:i1])

    def forward(self, x: np.ndarray) -> np.ndarray:
        """x: (N, H, W, C_in) -> (N, Ho / 2, Wo / 2, C_out), training mode."""
        if self._folded.applies(x):
            folded = self._folded.forward(x)
            self.times = folded.times
            self._cache = (None, False, folded.pooled, folded.inv_std, folded.mean, folded.gram,
                           folded.shift)
            return folded.pooled
        bn = self.bn
        clock = time.perf_counter
        t0 = clock()
        conv = self.conv
        grams: dict[int, np.ndarray] = {}

        def chunk_gram(part: int, ci: int, cols: np.ndarray, y2: np.ndarray) -> None:
            # (K + 1, K + 1), while the chunk's columns are in cache (np.dot: see engine.threads)
            grams[ci] = np.dot(cols.T, cols)

        y = conv.forward(x, True, chunk_hook=chunk_gram)  # (N, Ho, Wo, C)
        n, ho, wo, c = y.shape
        dtype = y.dtype
        per_image = ho * wo * c
        m = n * ho * wo
        if grams:
            # y = cols @ [W; b], so its statistics follow from the columns' Gram matrix G
            # (chunk partials added in a fixed order in float64): mean = colmean @ [W; b],
            # var = diag([W; b].T @ Cov(cols) @ [W; b]), no pass over y.
            gram = np.sum([grams[ci] for ci in sorted(grams)], axis=0, dtype=np.float64)
            mean, var = stats_from_gram(conv, gram, m)
        else:  # not the im2col batch path: a pass over y, chunk sums shifted by a row
            gram = None
            ones = self.workspace.ones(_CHUNK_VALUES // c + ho * wo, dtype)

            def moments(part: int, i0: int, i1: int) -> tuple:
                y2 = y[i0:i1].reshape(-1, c)
                f = y2[0].copy()
                t = self.workspace.array(("t", part), y2.shape, dtype)
                np.subtract(y2, f, out=t)
                return len(t), f, np.dot(ones[: len(t)], t), np.einsum("ij,ij->j", t, t)

            sums = _in_chunks(moments, n, per_image)
            # Combined in a fixed order in float64 (Chan et al.'s pairwise update).
            counts = np.array([p[0] for p in sums], np.float64)[:, None]
            shifted = np.array([p[2] for p in sums], np.float64)
            chunk_means = np.array([p[1] for p in sums], np.float64) + shifted / counts
            mean = (chunk_means * counts).sum(axis=0) / m
            m2 = np.array([p[3] for p in sums], np.float64) - shifted**2 / counts
            var = np.maximum((m2 + counts * (chunk_means - mean) ** 2).sum(axis=0) / m, 0.0)
        t1 = clock()
        inv_std = (1.0 / np.sqrt(var + bn.eps)).astype(dtype)
        k = (bn.params["gamma"] * inv_std).astype(dtype)
        offset = mean.astype(dtype)
        beta = bn.params["beta"]

        self.bn.update_running(mean, var, m)
        t2 = clock()

        hp, wp = ho // 2, wo // 2
        out = np.empty((n, hp, wp, c), dtype)
        left_wins = self.workspace.array(("left",), (n, hp, 2, wp, c), np.dtype(bool))
        top_wins = self.workspace.array(("top",), (n, hp, wp, c), np.dtype(bool))

        # With the Gram matrix, a backward without dx never reads y again, and one with dx
        # centres it then; without, y is centred now, in place, for BatchNorm's backward.
        # (Not decided by needs_input_grad: forward results must not depend on the last
        # backward, or a resumed run would differ from an uninterrupted one.)
        centre = gram is None
        shift = beta if centre else (beta - mean * k).astype(dtype)

        def normalise_pool(part: int, i0: int, i1: int) -> None:
            yc = y[i0:i1]
            if centre:
                yc -= offset
            z = self.workspace.array(("t", part), yc.shape, dtype)
            np.multiply(yc, k, out=z)
            z += shift
            self._pool(part, z, i0, i1, out, left_wins, top_wins)

        _in_chunks(normalise_pool, n, per_image)
        t3 = clock()
        np.maximum(out, 0, out=out)  # ReLU after the pool
        self.times = (t1 - t0, t2 - t1, clock() - t3, t3 - t2)
        self._cache = (y, centre, out, inv_std, mean, gram, None)
        return out

    # --------------------------------------------------------------- backward
    def backward(self, dout: np.ndarray) -> np.ndarray | None:
        """dout: (N, Ho / 2, Wo / 2, C_out) -> dx (N, H, W, C_in), or None (first layer)."""
        if self._cache is None:
            raise RuntimeError("fused backward called without a training-mode forward")
        clock = time.perf_counter
        t0 = clock()
        # folded_shift: the columns' shift after a folded forward, else None
        y, centred, out, inv_std, mean, gram, folded_shift = self._cache
        self._cache = None
        bn, conv = self.bn, self.conv
        n, hp, wp, c = out.shape
        ho, wo = 2 * hp, 2 * wp
        m = n * ho * wo
        dtype = out.dtype
        dout = np.asarray(dout, dtype=dtype)
        from_gram = gram is not None and not conv.needs_input_grad
        shift = folded_shift
        if shift is not None and from_gram:
            # One pass per chunk: ReLU's and the pool's gradients and the products P.
            P = self._folded.products(dout, out)
            dbeta = P[-1]
            t2 = clock()
            dgamma = (np.einsum("kc,kc->c", P, weights64(conv, shift)) - mean * dbeta) * inv_std
            self._set_bn_grads(dgamma, dbeta)
            # pool: ReLU's gradient, the scatter to the window winners and the conv's
            # products P, one pass per chunk; conv: its weight gradient from P and G; bn:
            # dgamma from P.
            t3 = clock()
            weight_grad_from_gram(conv, bn, P, gram, mean, inv_std, dgamma, dbeta, m, shift)
            self.times = (clock() - t3, t3 - t2, 0.0, t2 - t0)
            return None
        dp = self.workspace.array(("dp",), out.shape, dtype)
        ones = self.workspace.ones(_CHUNK_VALUES // c + hp * wp, dtype)

        def relu_grad(part: int, i0: int, i1: int) -> np.ndarray:
            """dp = dout where the (pooled) output is positive, and its column sums."""
            np.greater(out[i0:i1], 0, out=dp[i0:i1])  # ReLU after the pool
            dp[i0:i1] *= dout[i0:i1]
            d2 = dp[i0:i1].reshape(-1, c)
            return np.dot(ones[: len(d2)], d2)

        # Chunk sums added in a fixed order in float64: the same for any thread count.
        dbeta = np.sum(_in_chunks(relu_grad, n, hp * wp * c), axis=0, dtype=np.float64)
        t1 = clock()
        left_wins = self.workspace.array(("left",), (n, hp, 2, wp, c), np.dtype(bool))
        if shift is None:
            top_wins = self.workspace.array(("top",), (n, hp, wp, c), np.dtype(bool))
        else:
            # The kept columns are shifted and in window-position order: y from them, and
            # the conv's backward gathers its own columns in the usual order.
            y = self._folded.unfold(shift)
            left_q, top_wins = self._folded.pool_masks()
            for a in (0, 1):
                left_wins[:, :, a] = left_q[a]
        dz = self.workspace.array(("dz",), (n, ho, wo, c), dtype)
        offset = mean.astype(dtype)

        def scatter(part: int, i0: int, i1: int) -> np.ndarray | None:
            """dz of chunk i0:i1 (each window's gradient to its winner), and its part of
            sum(dz * (y - mean)) unless the Gram matrix gives that."""
            dpc = dp[i0:i1]
            rows = self.workspace.array(("row", part), (i1 - i0, hp, 2, wp, c), dtype)
            np.multiply(dpc, top_wins[i0:i1], out=rows[:, :, 0])
            np.subtract(dpc, rows[:, :, 0], out=rows[:, :, 1])
            b = dz[i0:i1].reshape(i1 - i0, hp, 2, wp, 2, c)
            np.multiply(rows, left_wins[i0:i1], out=b[..., 0, :])
            np.subtract(rows, b[..., 0, :], out=b[..., 1, :])
            if from_gram:
                return None
            yc = y[i0:i1]
            if not centred:
                yc -= offset
            return np.einsum("ij,ij->j", dz[i0:i1].reshape(-1, c), yc.reshape(-1, c))

        per_image = ho * wo * c
        sums = _in_chunks(scatter, n, per_image)
        t2 = clock()
        if from_gram:
            # No dx wanted: the conv's output gradient dy = dz*scale - centred*coef - const
            # is never formed. dW = cols.T @ dy is linear in it: P = cols.T @ dz (the conv's
            # own product) and G = cols.T @ cols from forward give everything,
            # sum(dz * centred) = sum_k P[k] [W; b][k] - mean * sum(dz) included.
            conv.backward(dz)
            t3 = clock()
            P = np.concatenate([conv.grads["W"].reshape(-1, c), conv.grads["b"][None]])
            P = P.astype(np.float64)
            dgamma = (np.einsum("kc,kc->c", P, weights64(conv)) - mean * dbeta) * inv_std
            self._set_bn_grads(dgamma, dbeta)
            weight_grad_from_gram(conv, bn, P, gram, mean, inv_std, dgamma, dbeta, m)
            self.times = (t3 - t2, clock() - t3, t1 - t0, t2 - t1)
            return None
        dgamma = np.sum(sums, axis=0, dtype=np.float64) * inv_std
        self._set_bn_grads(dgamma, dbeta)
        scale = (bn.params["gamma"] * inv_std).astype(dtype)
        coef = (scale * inv_std * dgamma / m).astype(dtype)
        const = (scale * dbeta / m).astype(dtype)

        def input_grad(part: int, i0: int, i1: int) -> None:
            d = dz[i0:i1]
            d *= scale
            t = self.workspace.array(("t", part), d.shape, dtype)
            np.multiply(y[i0:i1], coef, out=t)
            t += const
            d -= t

        _in_chunks(input_grad, n, per_image)
        t3 = clock()
        dx = conv.backward(dz)
        self.times = (clock() - t3, t3 - t2, t1 - t0, t2 - t1)
        return dx
