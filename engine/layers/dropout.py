"""Inverted dropout: scale at training time so evaluation is the identity."""

from __future__ import annotations

import numpy as np

from engine.layers.base import Layer


class Dropout(Layer):
    """Zero each activation with probability ``rate`` in training, scale the rest by 1/(1-rate).

    Shapes: any -> same. The mask is drawn from ``self.rng`` (a ``np.random.Generator``,
    settable, seeded by the model builder so training is reproducible) and the same mask is
    used by :meth:`backward`. In evaluation (``training=False``) the layer is the identity.
    """

    def __init__(self, rate: float = 0.5, *, rng: np.random.Generator | None = None) -> None:
        super().__init__()
        if isinstance(rate, bool) or not isinstance(rate, int | float) or not 0 <= rate < 1:
            raise ValueError(f"rate must be a number in [0, 1), got {rate!r}")
        self.rate = float(rate)
        self.rng = np.random.default_rng(0) if rng is None else rng
        self._mask: np.ndarray | None = None

    def forward(self, x: np.ndarray, training: bool = True) -> np.ndarray:
        if not training or self.rate == 0:
            self._mask = None
            return x
        keep = self.rng.random(x.shape, dtype=np.float32) >= self.rate
        self._mask = keep * x.dtype.type(1.0 / (1.0 - self.rate))
        return x * self._mask

    def backward(self, dout: np.ndarray) -> np.ndarray:
        if self._mask is None:
            return dout
        return dout * self._mask

    def __repr__(self) -> str:
        return f"Dropout(rate={self.rate})"
