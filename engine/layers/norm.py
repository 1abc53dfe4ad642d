"""Batch normalisation over the batch (2-D input) or over batch and space (4-D NHWC input)."""

from __future__ import annotations

import numpy as np

from engine import threads
from engine.layers.base import Layer

# Rows per chunk: about 1 MB of float32 whatever the channel count, so a chunk's passes run
# in a core's L2 cache (measured on the 2-core Xeon with 2 MB L2 per core: a BatchNorm step
# over 64x32x32x32 took 6.4 ms with 1 MB chunks, 8.2 ms with 256 KB, 15.6 ms with 64 KB).
# Fixed, not derived from the thread count: reductions add chunk sums in the same order
# however many threads run, so results do not depend on the thread count.
_CHUNK_VALUES = 262144


def _over_rows(fn, shape: tuple[int, int]) -> list:
    """Call ``fn(start, stop)`` on fixed row chunks of an (M, C) array, spread over the
    engine's threads (NumPy releases the GIL in these loops); results in chunk order."""
    m, c = shape
    rows = max(64, _CHUNK_VALUES // c)
    chunks = [(a, min(a + rows, m)) for a in range(0, m, rows)]
    groups = threads.split_range(len(chunks), threads.get_num_threads())

    def run(g0: int, g1: int) -> list:
        return [fn(a, b) for a, b in chunks[g0:g1]]

    return [r for part in threads.parallel_map(run, groups) for r in part]


class BatchNorm(Layer):
    """Normalise each feature / channel with batch statistics, then scale and shift.

    Shapes: x (N, F) with num_features = F, or x (N, H, W, C) with num_features = C (the
    statistics are then taken over all N*H*W positions of a channel). ``params``: gamma, beta
    (num_features,). ``buffers``: running_mean, running_var, updated in training as
    ``running = momentum * running + (1 - momentum) * batch`` (the unbiased batch variance)
    and used in evaluation. ``scale=False`` fixes gamma at 1 (listed in ``frozen``; only beta
    trains), as airbench and Keras' ``scale=False`` do. airbench's "momentum 0.6" is 0.6 here
    too: PyTorch's convention weighs the batch by its momentum, airbench passes it 1 - 0.6.
    """

    def __init__(self, num_features: int, momentum: float = 0.9, eps: float = 1e-5,
                 scale: bool = True) -> None:
        super().__init__()
        if not isinstance(scale, bool):
            raise ValueError(f"scale must be true or false, got {scale!r}")
        if (
            isinstance(num_features, bool)
            or not isinstance(num_features, int | np.integer)
            or num_features < 1
        ):
            raise ValueError(f"num_features must be a positive integer, got {num_features!r}")
        if isinstance(momentum, bool) or not isinstance(momentum, int | float):
            raise ValueError(f"momentum must be a number in [0, 1), got {momentum!r}")
        if not 0 <= momentum < 1:
            raise ValueError(f"momentum must be a number in [0, 1), got {momentum!r}")
        if isinstance(eps, bool) or not isinstance(eps, int | float) or eps <= 0:
            raise ValueError(f"eps must be a positive number, got {eps!r}")
        self.num_features = int(num_features)
        self.momentum = float(momentum)
        self.eps = float(eps)
        self.params = {
            "gamma": np.ones(self.num_features, dtype=np.float32),
            "beta": np.zeros(self.num_features, dtype=np.float32),
        }
        self.grads = {k: np.zeros_like(v) for k, v in self.params.items()}
        self.buffers = {
            "running_mean": np.zeros(self.num_features, dtype=np.float32),
            "running_var": np.ones(self.num_features, dtype=np.float32),
        }
        self.scale = scale
        if not scale:
            self.frozen.add("gamma")
        self._cache: tuple | None = None

    def forward(self, x: np.ndarray, training: bool = True) -> np.ndarray:
        """x: (N, F) or (N, H, W, C) -> same shape."""
        if x.ndim not in (2, 4) or x.shape[-1] != self.num_features:
            raise ValueError(
                f"BatchNorm({self.num_features}) needs (N, {self.num_features}) or "
                f"(N, H, W, {self.num_features}) input, got {x.shape}"
            )
        x2 = x.reshape(-1, self.num_features)
        dtype = x.dtype
        gamma, beta = self.params["gamma"], self.params["beta"]
        out = np.empty_like(x2)
        if not training:
            scale = (gamma / np.sqrt(self.buffers["running_var"] + self.eps)).astype(dtype)
            shift = (beta - self.buffers["running_mean"] * scale).astype(dtype)

            def affine(a: int, b: int) -> None:
                np.multiply(x2[a:b], scale, out=out[a:b])
                out[a:b] += shift

            _over_rows(affine, x2.shape)
            self._cache = (x2, scale, False, x.shape)
            return out.reshape(x.shape)

        m = x2.shape[0]
        if m == 0:
            raise ValueError("BatchNorm needs at least one sample in training mode")
        # Pass 1: per chunk, shift by the first row (so E[c^2] - E[c]^2 does not cancel
        # badly), sum and sum of squares; chunk sums are added in a fixed order in float64.
        first = x2[0].copy()
        centred = np.empty_like(x2)

        def moments(a: int, b: int) -> tuple[np.ndarray, np.ndarray]:
            c = np.subtract(x2[a:b], first, out=centred[a:b])
            return np.dot(np.ones(b - a, dtype), c), np.einsum("ij,ij->j", c, c)

        sums = _over_rows(moments, x2.shape)
        shifted_mean = np.sum([s for s, _ in sums], axis=0, dtype=np.float64) / m
        mean_sq = np.sum([q for _, q in sums], axis=0, dtype=np.float64) / m
        var = np.maximum(mean_sq - shifted_mean**2, 0.0)
        mean = first + shifted_mean
        inv_std = (1.0 / np.sqrt(var + self.eps)).astype(dtype)
        k = (gamma * inv_std).astype(dtype)
        offset = shifted_mean.astype(dtype)

        # Pass 2: finish centring (kept for backward) and write the output.
        def normalise(a: int, b: int) -> None:
            c = centred[a:b]
            c -= offset
            np.multiply(c, k, out=out[a:b])
            out[a:b] += beta

        _over_rows(normalise, x2.shape)
        self.update_running(mean, var, m)
        self._cache = (centred, inv_std, True, x.shape)
        return out.reshape(x.shape)

    def update_running(self, mean: np.ndarray, var: np.ndarray, m: int) -> None:
        """Fold a batch's mean and (biased) variance over m values into the running
        statistics, the variance made unbiased as evaluation mode expects."""
        rm, rv = self.buffers["running_mean"], self.buffers["running_var"]
        mom = self.momentum
        rm *= mom
        rm += ((1 - mom) * mean).astype(rm.dtype)
        rv *= mom
        rv += ((1 - mom) * var * (m / max(m - 1, 1))).astype(rv.dtype)

    def backward(self, dout: np.ndarray) -> np.ndarray:
        """dout: same shape as x -> dx; sets grads["gamma"], grads["beta"]."""
        if self._cache is None:
            raise RuntimeError("BatchNorm.backward called without a forward")
        # Consumed: a training step's centred inputs would otherwise stay until the next one.
        (saved, factor, training, shape), self._cache = self._cache, None
        d2 = dout.reshape(-1, self.num_features)
        dtype = d2.dtype
        dx = np.empty_like(d2)
        if not training:
            # Evaluation: the statistics are constants and the layer is x * scale + shift;
            # the cache holds (x2, scale = gamma / sqrt(running_var + eps)).
            x2, scale = saved, factor
            mean = self.buffers["running_mean"].astype(dtype)
            inv_std = (1.0 / np.sqrt(self.buffers["running_var"] + self.eps)).astype(dtype)

            def eval_grads(a: int, b: int) -> tuple[np.ndarray, np.ndarray]:
                np.multiply(d2[a:b], scale, out=dx[a:b])
                da = d2[a:b]
                return np.dot(np.ones(b - a, dtype), da), np.einsum("ij,ij->j", da, x2[a:b] - mean)

            sums = _over_rows(eval_grads, d2.shape)
            self.grads["beta"] = np.sum([s for s, _ in sums], axis=0, dtype=np.float64).astype(
                dtype
            )
            dgamma = np.sum([q for _, q in sums], axis=0, dtype=np.float64)
            self.grads["gamma"] = (dgamma * inv_std).astype(dtype)
            return dx.reshape(shape)

        centred, inv_std = saved, factor
        m = d2.shape[0]

        def reduce(a: int, b: int) -> tuple[np.ndarray, np.ndarray]:
            da = d2[a:b]
            return np.dot(np.ones(b - a, dtype), da), np.einsum("ij,ij->j", da, centred[a:b])

        sums = _over_rows(reduce, d2.shape)
        dbeta = np.sum([s for s, _ in sums], axis=0, dtype=np.float64)
        dgamma = np.sum([q for _, q in sums], axis=0, dtype=np.float64) * inv_std
        self.grads["beta"] = dbeta.astype(dtype)
        self.grads["gamma"] = dgamma.astype(dtype)
        scale = self.params["gamma"] * inv_std
        # dx = gamma*inv_std * (dout - mean(dout) - xhat * mean(dout * xhat)), xhat =
        # centred*inv_std, arranged as dout*scale - centred*coef - const per channel.
        coef = (scale * inv_std * dgamma / m).astype(dtype)
        const = (scale * dbeta / m).astype(dtype)

        def input_grad(a: int, b: int) -> None:
            out = dx[a:b]
            np.multiply(d2[a:b], scale, out=out)
            out -= centred[a:b] * coef
            out -= const

        _over_rows(input_grad, d2.shape)
        return dx.reshape(shape)

    def output_shape(self, input_shape: tuple[int, ...]) -> tuple[int, ...]:
        if len(input_shape) not in (1, 3):
            raise ValueError(f"batchnorm needs (F,) or (H, W, C) input, got {input_shape}")
        if input_shape[-1] != self.num_features:
            raise ValueError(
                f"expects {self.num_features} features/channels, gets {input_shape[-1]}"
            )
        return tuple(input_shape)

    def __repr__(self) -> str:
        options = "" if self.scale else ", scale=False"
        return (f"BatchNorm({self.num_features}, momentum={self.momentum}, eps={self.eps}"
                f"{options})")

    def num_params(self) -> int:
        """beta, plus gamma when it trains (a fixed scale of 1 is no parameter)."""
        return self.num_features * (2 if self.scale else 1)
