"""Conv2D -> BatchNorm -> ReLU -> MaxPool2D(2, 2) executed as one step in training
(found by :func:`engine.fused.find_runs`).

For im2col by batch with columns small enough to keep (first layers: few input channels):

- one pass per chunk of images, while it is in cache: the columns, their Gram matrix
  G = cols.T @ cols (partials added in a fixed order in float64), the conv's product and the
  2x2 max-pool (two boolean masks per window: which column, which row won). BatchNorm's batch
  mean and variance follow from G and [W; b], so they are those of the whole batch whatever
  the thread count; BatchNorm's per-channel map and ReLU then run on the pooled values only
  (max-pool commutes with both); the conv output is never written;
- backward scatters the pooled gradient to the window winners (dz); for a first layer (no
  dx) the conv's weight gradient comes from P = cols.T @ dz and G, BatchNorm's from P; with
  dx, the conv output is recomputed from the kept columns and the usual BatchNorm input
  gradient is formed. Other convs (Winograd, large columns) take the statistics in a pass
  over their output.
"""

from __future__ import annotations

import time

import numpy as np

from engine import threads
from engine.im2col import windows
from engine.layers import conv as conv_module
from engine.layers.activations import ReLU
from engine.layers.conv import Conv2D
from engine.layers.norm import BatchNorm
from engine.layers.pool import MaxPool2D

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
        self._scratch: dict[tuple, np.ndarray] = {}

    def applies(self, x: np.ndarray, training: bool) -> bool:
        """Whether this input is done fused (training, a 2x2 pool covering the conv output)."""
        if not training or x.ndim != 4 or len(x) == 0:
            return False
        ho, wo = self.conv._out_hw(x.shape[1], x.shape[2])
        return ho % 2 == 0 and wo % 2 == 0

    def _buf(self, key: tuple, shape: tuple[int, ...], dtype: np.dtype) -> np.ndarray:
        size = int(np.prod(shape))
        buf = self._scratch.get(key)
        if buf is None or buf.dtype != dtype or buf.size < size:
            buf = self._scratch[key] = np.empty(size, dtype)
        return buf[:size].reshape(shape)

    def _ones(self, rows: int, dtype: np.dtype) -> np.ndarray:
        ones = self._scratch.get(("ones",))
        if ones is None or ones.dtype != dtype or len(ones) < rows:
            ones = self._scratch[("ones",)] = np.ones(rows, dtype)
        return ones[:rows]

    def _weights64(self, shift: np.ndarray | None = None) -> np.ndarray:
        """The conv's [W; b] as (K + 1, C_out) float64; for columns shifted by ``shift`` (K,)
        (cols - shift), the bias row takes b + shift @ W, so the product is unchanged."""
        conv = self.conv
        W = conv.params["W"].reshape(-1, conv.out_channels)
        Wb = np.concatenate([W, conv.params["b"][None]]).astype(np.float64)
        if shift is not None:
            Wb[-1] += shift @ Wb[:-1]
        return Wb

    def _set_bn_grads(self, dgamma: np.ndarray, dbeta: np.ndarray) -> None:
        self.bn.grads["gamma"][...] = dgamma
        self.bn.grads["beta"][...] = dbeta

    def _weight_grad_from_gram(self, P, gram, mean, inv_std, dgamma, dbeta, m,
                               shift=None) -> None:
        """The conv's grads W, b = [dW; db] from P = cols.T @ dz and G = cols.T @ cols (of
        the columns shifted by ``shift``, if given: then dW = dW' + shift * db)."""
        conv, bn = self.conv, self.bn
        W = conv.params["W"]
        Wb = self._weights64(shift)
        colsum = gram[:, -1]
        centred_cols = gram @ Wb - np.outer(colsum, mean)
        inv = inv_std.astype(np.float64)
        scale = bn.params["gamma"].astype(np.float64) * inv
        coef = scale * inv * dgamma / m
        const = scale * dbeta / m
        dWb = scale * P - coef * centred_cols - np.outer(colsum, const)
        if shift is not None:
            dWb[:-1] += np.outer(shift, dWb[-1])
        conv.grads["W"][...] = dWb[:-1].reshape(W.shape)
        conv.grads["b"][...] = dWb[-1]

    # ---------------------------------------------------------------- forward
    def _stats_from_gram(self, gram: np.ndarray, m: int, shift=None) -> tuple[np.ndarray, ...]:
        """Mean and variance of y = cols @ [W; b] over its m rows, from G = cols.T @ cols:
        mean = colmean @ [W; b], var = diag([W; b].T @ Cov(cols) @ [W; b])."""
        Wb = self._weights64(shift)
        col_mean = gram[-1] / m  # the last column of cols is ones
        cov = gram / m - np.outer(col_mean, col_mean)
        return col_mean @ Wb, np.maximum(np.einsum("kc,kl,lc->c", Wb, cov, Wb), 0.0)

    def _pool(self, part: int, z: np.ndarray, i0: int, i1: int, out, left_wins, top_wins):
        """2x2 max-pool of z (i1 - i0, Ho, Wo, C) into out[i0:i1], noting which column, then
        which row won (the first maximum in row-major order, as MaxPool2D picks)."""
        n, ho, wo, c = z.shape
        hp, wp = ho // 2, wo // 2
        b = z.reshape(n, hp, 2, wp, 2, c)
        left, right = b[..., 0, :], b[..., 1, :]
        row_max = self._buf(("row", part), (n, hp, 2, wp, c), z.dtype)
        np.maximum(left, right, out=row_max)
        np.greater_equal(left, right, out=left_wins[i0:i1])
        top, bottom = row_max[:, :, 0], row_max[:, :, 1]
        np.greater_equal(top, bottom, out=top_wins[i0:i1])
        np.maximum(top, bottom, out=out[i0:i1])

    def _folds(self, x: np.ndarray) -> bool:
        """Whether BatchNorm can be folded into the conv's product: im2col by batch with
        the columns kept from forward to backward."""
        conv = self.conv
        if conv.uses_winograd() or threads.get_parallel_mode() != "batch":
            return False
        ho, wo = conv._out_hw(x.shape[1], x.shape[2])
        k1 = conv.kh * conv.kw * conv.in_channels + 1
        size = len(x) * ho * wo * k1 * conv.params["W"].dtype.itemsize
        return size <= conv_module._KEEP_COLS_BYTES

    def _columns_by_window_position(self, xp: np.ndarray, out: np.ndarray) -> None:
        """im2col of xp (n, Hp, Wp, C_in) into out (n * Ho * Wo, K + 1), rows ordered by
        position in the 2x2 pool window first: (row a, column b, image, Ho / 2, Wo / 2).
        The product's quarter blocks are then the four members of every window."""
        conv = self.conv
        win = windows(xp, conv.kh, conv.kw, conv.stride)  # (n, Ho, Wo, kh, kw, C_in)
        n, ho, wo = win.shape[:3]
        split = win.reshape(n, ho // 2, 2, wo // 2, 2, *win.shape[3:])
        k = out.shape[1] - 1
        target = out[:, :k].view()
        target.shape = (2, 2, n, ho // 2, wo // 2, *win.shape[3:])
        np.copyto(target, split.transpose(2, 4, 0, 1, 3, 5, 6, 7))
        out[:, k] = 1

    def _shifted_padded(self, x: np.ndarray):
        """x padded, minus its per-channel batch mean s (borders -s), filled chunk by chunk
        by ``fill(i0, i1)`` so that each chunk's pass writes its own images while they are in
        cache; also s tiled over the kernel offsets (K,) float64. Columns of it keep the Gram
        matrix well conditioned when the input is far from zero mean (G's float32 sums would
        otherwise cancel). Returns (xs, fill, shift)."""
        conv = self.conv
        n, h, w, cin = x.shape
        top, bottom, left, right = conv.pads
        s = (self._ones(n * h * w, x.dtype) @ x.reshape(-1, cin)) / (n * h * w)
        s = s.astype(x.dtype)
        hp, wp = h + top + bottom, w + left + right
        xs = self._buf(("xs",), (n, hp, wp, cin), x.dtype)
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

    def _forward_folded(self, x: np.ndarray) -> np.ndarray:
        """One pass per chunk while it is in cache: columns, their Gram matrix, the conv's
        product and the max-pool; BatchNorm and ReLU then work on the pooled values only.

        Max-pool commutes with BatchNorm's per-channel map z = k (y - mean) + beta when
        k = gamma * inv_std >= 0; a channel with gamma < 0 is pooled with its filter negated
        (z = |k| (-y) + ...), so the pooled maxima and winners are those of z. The product
        leaves out the bias and the columns' shift (constants per channel, which BatchNorm
        removes), keeping its values near zero mean; the statistics come from the Gram
        matrix. The conv's output is never written.
        """
        conv, bn = self.conv, self.bn
        clock = time.perf_counter
        t0 = clock()
        W = conv.params["W"]
        dtype = W.dtype
        x = np.asarray(x)
        if x.dtype != dtype:
            x = x.astype(dtype)
        n = len(x)
        ho, wo = conv._out_hw(x.shape[1], x.shape[2])
        c = conv.out_channels
        k1 = W.size // c + 1
        rows = ho * wo
        hp, wp = ho // 2, wo // 2
        xs, fill, shift = self._shifted_padded(x)
        sign = np.where(bn.params["gamma"] < 0, -1, 1).astype(dtype)
        signed = np.zeros((k1, c), dtype)  # [sign * W; 0]: no bias, no shift
        np.multiply(W.reshape(-1, c), sign, out=signed[:-1])
        chunks = conv._chunks(n, rows * k1 * dtype.itemsize)
        grams: list = [None] * len(chunks)
        pooled = np.empty((n, hp, wp, c), dtype)
        left_q = self._buf(("left q",), (2, n, hp, wp, c), np.dtype(bool))
        top_wins = self._buf(("top",), (n, hp, wp, c), np.dtype(bool))
        pool_share = [0.0, 0.0]  # seconds pooling, seconds in all, summed over the threads

        def chunk_pass(part: int, c_first: int, c_last: int) -> None:
            start = clock()
            for ci in range(c_first, c_last):
                c0, c1 = chunks[ci]
                cols = conv._buffer(("cols kept", ci), ((c1 - c0) * rows, k1), dtype)
                fill(c0, c1)
                self._columns_by_window_position(xs[c0:c1], cols)
                grams[ci] = cols.T @ cols
                z = self._buf(("z", part), (2, 2, c1 - c0, hp, wp, c), dtype)
                np.matmul(cols, signed, out=z.reshape(-1, c))
                t_pool = clock()
                # Contiguous quarter blocks: columns first, then rows (row-major first max).
                row_max = self._buf(("row", part), (2, c1 - c0, hp, wp, c), dtype)
                for a in (0, 1):
                    np.maximum(z[a, 0], z[a, 1], out=row_max[a])
                    np.greater_equal(z[a, 0], z[a, 1], out=left_q[a, c0:c1])
                np.greater_equal(row_max[0], row_max[1], out=top_wins[c0:c1])
                np.maximum(row_max[0], row_max[1], out=pooled[c0:c1])
                pool_share[0] += clock() - t_pool
            pool_share[1] += clock() - start

        conv._run_parts(chunk_pass, len(chunks))
        t1 = clock()
        t_pool = (t1 - t0) * pool_share[0] / max(pool_share[1], 1e-12)
        gram = np.sum(grams, axis=0, dtype=np.float64)
        m = n * rows
        Wb = self._weights64(shift)
        mean, var = self._stats_from_gram(gram, m, shift)
        inv64 = 1.0 / np.sqrt(var + bn.eps)
        inv_std = inv64.astype(dtype)
        k = bn.params["gamma"].astype(np.float64) * inv64
        # z = |k| * pooled + (beta + k * (y - pooled-product offset - mean)): the product
        # lacks the constant Wb[-1] (bias and shift) per channel.
        scale = np.abs(k).astype(dtype)
        offset = (bn.params["beta"] + k * (Wb[-1] - mean)).astype(dtype)
        self.bn.update_running(mean, var, m)
        t2 = clock()

        def epilogue(i0: int, i1: int) -> None:
            part = pooled[i0:i1]
            part *= scale
            part += offset
            np.maximum(part, 0, out=part)  # ReLU after the pool

        threads.parallel_map(epilogue, threads.split_range(n, threads.get_num_threads()))
        conv._cache = None  # a backward with dx sets it up (see backward)
        # conv: the chunk pass's columns, Gram matrix and product, pool: its pooling (the
        # pass's wall time shared out as the threads spent it); bn: statistics; relu:
        # BatchNorm's map and ReLU on the pooled values.
        self.times = (t1 - t0 - t_pool, t2 - t1, clock() - t2, t_pool)
        self._cache = (None, False, pooled, inv_std, mean, gram, (chunks, shift, x))
        return pooled

    def forward(self, x: np.ndarray) -> np.ndarray:
        """x: (N, H, W, C_in) -> (N, Ho / 2, Wo / 2, C_out), training mode."""
        if self._folds(x):
            return self._forward_folded(x)
        bn = self.bn
        clock = time.perf_counter
        t0 = clock()
        conv = self.conv
        grams: dict[int, np.ndarray] = {}

        def chunk_gram(part: int, ci: int, cols: np.ndarray, y2: np.ndarray) -> None:
            grams[ci] = cols.T @ cols  # (K + 1, K + 1), while the chunk's columns are in cache

        conv.chunk_hook = chunk_gram
        try:
            y = conv.forward(x, True)  # (N, Ho, Wo, C)
        finally:
            conv.chunk_hook = None
        n, ho, wo, c = y.shape
        dtype = y.dtype
        per_image = ho * wo * c
        m = n * ho * wo
        if grams:
            # y = cols @ [W; b], so its statistics follow from the columns' Gram matrix G
            # (chunk partials added in a fixed order in float64): mean = colmean @ [W; b],
            # var = diag([W; b].T @ Cov(cols) @ [W; b]), no pass over y.
            gram = np.sum([grams[ci] for ci in sorted(grams)], axis=0, dtype=np.float64)
            mean, var = self._stats_from_gram(gram, m)
        else:  # not the im2col batch path: a pass over y, chunk sums shifted by a row
            gram = None
            ones = self._ones(_CHUNK_VALUES // c + ho * wo, dtype)

            def moments(part: int, i0: int, i1: int) -> tuple:
                y2 = y[i0:i1].reshape(-1, c)
                f = y2[0].copy()
                t = self._buf(("t", part), y2.shape, dtype)
                np.subtract(y2, f, out=t)
                return len(t), f, ones[: len(t)] @ t, np.einsum("ij,ij->j", t, t)

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
        left_wins = self._buf(("left",), (n, hp, 2, wp, c), np.dtype(bool))
        top_wins = self._buf(("top",), (n, hp, wp, c), np.dtype(bool))

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
            z = self._buf(("t", part), yc.shape, dtype)
            np.multiply(yc, k, out=z)
            z += shift
            self._pool(part, z, i0, i1, out, left_wins, top_wins)

        _in_chunks(normalise_pool, n, per_image)
        t3 = clock()
        np.maximum(out, 0, out=out)  # ReLU after the pool
        self.times = (t1 - t0, t2 - t1, clock() - t3, t3 - t2)
        self._cache = (y, centre, out, inv_std, mean, gram, None)
        return out

    def _folded_products(self, dout: np.ndarray, out: np.ndarray, chunks, ho: int,
                         wo: int) -> np.ndarray:
        """P = cols.T @ dz (K + 1, C) in float64 after a folded forward, chunk by chunk while
        each chunk is in cache (partials added in chunk order): the pooled gradient dp =
        dout where the pooled output ``out`` is positive (ReLU after the pool), scattered to
        the window winners (dz) in window-position order. The columns' last column is ones,
        so P[-1] is the sum of dz, which is BatchNorm's dbeta."""
        conv = self.conv
        n, hp, wp, c = out.shape
        dtype = out.dtype
        k1 = conv.params["W"].size // c + 1
        rows = ho * wo
        left_q = self._buf(("left q",), (2, n, hp, wp, c), np.dtype(bool))
        top_wins = self._buf(("top",), (n, hp, wp, c), np.dtype(bool))
        partials = self._buf(("P",), (len(chunks), k1, c), dtype)

        def task(part: int, c_first: int, c_last: int) -> None:
            for ci in range(c_first, c_last):
                c0, c1 = chunks[ci]
                dz = self._buf(("z", part), (2, 2, c1 - c0, hp, wp, c), dtype)
                r = self._buf(("row", part), (2, c1 - c0, hp, wp, c), dtype)
                positive = self._buf(("positive", part), (c1 - c0, hp, wp, c), np.dtype(bool))
                np.greater(out[c0:c1], 0, out=positive)
                dp = self._buf(("dp", part), (c1 - c0, hp, wp, c), dtype)
                np.multiply(dout[c0:c1], positive, out=dp)
                np.multiply(dp, top_wins[c0:c1], out=r[0])
                np.subtract(dp, r[0], out=r[1])
                for a in (0, 1):
                    np.multiply(r[a], left_q[a, c0:c1], out=dz[a, 0])
                    np.subtract(r[a], dz[a, 0], out=dz[a, 1])
                cols = conv._buffer(("cols kept", ci), ((c1 - c0) * rows, k1), dtype)
                np.matmul(cols.T, dz.reshape(-1, c), out=partials[ci])

        conv._run_parts(task, len(chunks))
        return np.sum(partials, axis=0, dtype=np.float64)

    def _recompute_y(self, n: int, ho: int, wo: int, chunks, shift) -> np.ndarray:
        """The conv's output y = cols @ [W; b] (N, Ho, Wo, C) again, from the kept columns
        (after a folded forward, when the backward wants dx)."""
        conv = self.conv
        W = conv.params["W"]
        c = conv.out_channels
        Wb = self._weights64(shift).astype(W.dtype)
        rows = ho * wo
        hp, wp = ho // 2, wo // 2
        y = self._buf(("y",), (n, hp, 2, wp, 2, c), W.dtype)

        def task(part: int, c_first: int, c_last: int) -> None:
            for ci in range(c_first, c_last):
                c0, c1 = chunks[ci]
                cols = conv._buffer(("cols kept", ci), ((c1 - c0) * rows, len(Wb)), W.dtype)
                z = self._buf(("z", part), (2, 2, c1 - c0, hp, wp, c), W.dtype)
                np.matmul(cols, Wb, out=z.reshape(-1, c))
                y[c0:c1] = z.transpose(2, 3, 0, 4, 1, 5)

        conv._run_parts(task, len(chunks))
        return y.reshape(n, ho, wo, c)

    # --------------------------------------------------------------- backward
    def backward(self, dout: np.ndarray) -> np.ndarray | None:
        """dout: (N, Ho / 2, Wo / 2, C_out) -> dx (N, H, W, C_in), or None (first layer)."""
        if self._cache is None:
            raise RuntimeError("fused backward called without a training-mode forward")
        clock = time.perf_counter
        t0 = clock()
        y, centred, out, inv_std, mean, gram, folded_chunks = self._cache
        self._cache = None
        bn, conv = self.bn, self.conv
        n, hp, wp, c = out.shape
        ho, wo = 2 * hp, 2 * wp
        m = n * ho * wo
        dtype = out.dtype
        dout = np.asarray(dout, dtype=dtype)
        left_wins = self._buf(("left",), (n, hp, 2, wp, c), np.dtype(bool))
        top_wins = self._buf(("top",), (n, hp, wp, c), np.dtype(bool))
        from_gram = gram is not None and not conv.needs_input_grad
        shift = None
        if folded_chunks is not None:
            folded_chunks, shift, x = folded_chunks
        if folded_chunks is not None and from_gram:
            # One pass per chunk: ReLU's and the pool's gradients and the products P.
            P = self._folded_products(dout, out, folded_chunks, ho, wo)
            dbeta = P[-1]
            t2 = clock()
            dgamma = (np.einsum("kc,kc->c", P, self._weights64(shift)) - mean * dbeta) * inv_std
            self._set_bn_grads(dgamma, dbeta)
            # pool: ReLU's gradient, the scatter to the window winners and the conv's
            # products P, one pass per chunk; conv: its weight gradient from P and G; bn:
            # dgamma from P.
            t3 = clock()
            self._weight_grad_from_gram(P, gram, mean, inv_std, dgamma, dbeta, m, shift)
            self.times = (clock() - t3, t3 - t2, 0.0, t2 - t0)
            return None
        dp = self._buf(("dp",), out.shape, dtype)
        ones = self._ones(_CHUNK_VALUES // c + hp * wp, dtype)

        def relu_grad(part: int, i0: int, i1: int) -> np.ndarray:
            """dp = dout where the (pooled) output is positive, and its column sums."""
            np.greater(out[i0:i1], 0, out=dp[i0:i1])  # ReLU after the pool
            dp[i0:i1] *= dout[i0:i1]
            d2 = dp[i0:i1].reshape(-1, c)
            return ones[: len(d2)] @ d2

        # Chunk sums added in a fixed order in float64: the same for any thread count.
        dbeta = np.sum(_in_chunks(relu_grad, n, hp * wp * c), axis=0, dtype=np.float64)
        t1 = clock()
        if folded_chunks is not None:
            # The kept columns are shifted and in window-position order: y from them, and
            # the conv's backward gathers its own columns in the usual order.
            y = self._recompute_y(n, ho, wo, folded_chunks, shift)
            conv._cache = (x.shape, ("batch", conv._pad(x, "train"), folded_chunks, False))
            left_q = self._buf(("left q",), (2, n, hp, wp, c), np.dtype(bool))
            for a in (0, 1):
                left_wins[:, :, a] = left_q[a]
        dz = self._buf(("dz",), (n, ho, wo, c), dtype)
        offset = mean.astype(dtype)

        def scatter(part: int, i0: int, i1: int) -> np.ndarray | None:
            """dz of chunk i0:i1 (each window's gradient to its winner), and its part of
            sum(dz * (y - mean)) unless the Gram matrix gives that."""
            dpc = dp[i0:i1]
            rows = self._buf(("row", part), (i1 - i0, hp, 2, wp, c), dtype)
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
            dgamma = (np.einsum("kc,kc->c", P, self._weights64()) - mean * dbeta) * inv_std
            self._set_bn_grads(dgamma, dbeta)
            self._weight_grad_from_gram(P, gram, mean, inv_std, dgamma, dbeta, m)
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
            t = self._buf(("t", part), d.shape, dtype)
            np.multiply(y[i0:i1], coef, out=t)
            t += const
            d -= t

        _in_chunks(input_grad, n, per_image)
        t3 = clock()
        dx = conv.backward(dz)
        self.times = (clock() - t3, t3 - t2, t1 - t0, t2 - t1)
        return dx
