"""The shape every layer shares: forward stores one cache, backward consumes it."""

from __future__ import annotations

import numpy as np


class Layer:
    """Base class of all layers.

    ``params`` and ``grads`` are dicts with the same keys (e.g. ``"W"``, ``"b"``);
    ``buffers`` holds state that is saved but not trained (BatchNorm running statistics).
    ``frozen`` names the params that training leaves untouched (the optimizer skips them; a
    model keeps the set in its spec, so checkpoints and model files restore it).
    Shapes passed to :meth:`output_shape` are per sample, without the batch axis:
    ``(H, W, C)`` for images, ``(F,)`` for vectors.
    """

    def __init__(self) -> None:
        self.params: dict[str, np.ndarray] = {}
        self.grads: dict[str, np.ndarray] = {}
        self.buffers: dict[str, np.ndarray] = {}
        self.frozen: set[str] = set()

    def forward(self, x: np.ndarray, training: bool = True) -> np.ndarray:
        raise NotImplementedError

    def backward(self, dout: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def output_shape(self, input_shape: tuple[int, ...]) -> tuple[int, ...]:
        """Per-sample output shape; raises ValueError when the input cannot be taken."""
        return tuple(input_shape)

    def zero_grad(self) -> None:
        for g in self.grads.values():
            g.fill(0)

    def astype(self, dtype: np.dtype) -> Layer:
        """Cast parameters, gradients and buffers in place (float64 for gradient checks)."""
        for store in (self.params, self.grads, self.buffers):
            for key, value in store.items():
                store[key] = value.astype(dtype)
        return self

    def num_params(self) -> int:
        return int(sum(p.size for p in self.params.values()))

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"
