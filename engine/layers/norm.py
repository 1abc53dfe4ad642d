"""Batch normalisation over the batch (2-D input) or over batch and space (4-D NHWC input)."""

from __future__ import annotations

import numpy as np

from engine.layers.base import Layer


class BatchNorm(Layer):
    """Normalise each feature / channel with batch statistics, then scale and shift.

    Shapes: x (N, F) with num_features = F, or x (N, H, W, C) with num_features = C (the
    statistics are then taken over all N*H*W positions of a channel). ``params``: gamma, beta
    (num_features,). ``buffers``: running_mean, running_var, updated in training as
    ``running = momentum * running + (1 - momentum) * batch`` (the unbiased batch variance)
    and used in evaluation.
    """

    def __init__(self, num_features: int, momentum: float = 0.9, eps: float = 1e-5) -> None:
        super().__init__()
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
        self._cache: tuple | None = None

    def forward(self, x: np.ndarray, training: bool = True) -> np.ndarray:
        """x: (N, F) or (N, H, W, C) -> same shape."""
        if x.ndim not in (2, 4) or x.shape[-1] != self.num_features:
            raise ValueError(
                f"BatchNorm({self.num_features}) needs (N, {self.num_features}) or "
                f"(N, H, W, {self.num_features}) input, got {x.shape}"
            )
        x2 = x.reshape(-1, self.num_features)
        gamma, beta = self.params["gamma"], self.params["beta"]
        if training:
            m = x2.shape[0]
            mean = x2.mean(axis=0)
            centred = x2 - mean
            var = np.einsum("ij,ij->j", centred, centred) / m
            inv_std = 1.0 / np.sqrt(var + self.eps)
            xhat = centred * inv_std
            unbiased = var * (m / max(m - 1, 1))
            mom = self.momentum
            rm, rv = self.buffers["running_mean"], self.buffers["running_var"]
            rm *= mom
            rm += (1 - mom) * mean.astype(rm.dtype)
            rv *= mom
            rv += (1 - mom) * unbiased.astype(rv.dtype)
        else:
            inv_std = 1.0 / np.sqrt(self.buffers["running_var"] + self.eps)
            xhat = (x2 - self.buffers["running_mean"]) * inv_std
        inv_std = inv_std.astype(x.dtype, copy=False)
        xhat = xhat.astype(x.dtype, copy=False)
        self._cache = (xhat, inv_std, training, x.shape)
        return (xhat * gamma + beta).reshape(x.shape)

    def backward(self, dout: np.ndarray) -> np.ndarray:
        """dout: same shape as x -> dx; sets grads["gamma"], grads["beta"]."""
        xhat, inv_std, training, shape = self._cache
        d2 = dout.reshape(-1, self.num_features)
        dbeta = d2.sum(axis=0)
        dgamma = np.einsum("ij,ij->j", d2, xhat)
        self.grads["gamma"] = dgamma
        self.grads["beta"] = dbeta
        scale = self.params["gamma"] * inv_std
        if not training:
            return (d2 * scale).reshape(shape)
        m = d2.shape[0]
        # dx = gamma*inv_std * (dout - mean(dout) - xhat * mean(dout * xhat)), all per channel.
        dx = (d2 - dbeta / m - xhat * (dgamma / m)) * scale
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
        return f"BatchNorm({self.num_features}, momentum={self.momentum}, eps={self.eps})"
