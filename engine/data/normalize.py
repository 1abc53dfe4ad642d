"""Per-channel normalisation fitted on the training split and stored with the model."""

from __future__ import annotations

import numpy as np

_MIN_STD = 1e-3


class Normalizer:
    """x_float = (x_uint8 / 255 - mean[c]) / std[c], per channel c.

    mean, std: (C,) float32 in 0..1 units. Built by :meth:`fit` from the training images and
    stored as plain data with :meth:`to_dict` / :meth:`from_dict`.
    """

    def __init__(self, mean, std) -> None:
        mean = np.asarray(mean, dtype=np.float32).reshape(-1)
        std = np.asarray(std, dtype=np.float32).reshape(-1)
        if mean.shape != std.shape or mean.size == 0:
            raise ValueError(f"mean and std need the same non-empty length, got {mean.shape} "
                             f"and {std.shape}")
        if not np.all(np.isfinite(mean)) or not np.all(std > 0):
            raise ValueError(f"std must be positive and mean finite, got mean={mean}, std={std}")
        self.mean = mean
        self.std = std
        self._scale = (1.0 / (255.0 * std)).astype(np.float32)
        self._shift = (-mean / std).astype(np.float32)

    @classmethod
    def fit(cls, x: np.ndarray) -> Normalizer:
        """Exact per-channel mean and std of uint8 images x (N, H, W, C), via 256-bin counts
        (no float copy of the whole array)."""
        x = np.asarray(x)
        if x.ndim != 4 or x.dtype != np.uint8 or x.shape[0] == 0:
            raise ValueError(f"fit needs non-empty uint8 images (N, H, W, C), got {x.dtype} "
                             f"{x.shape}")
        levels = np.arange(256, dtype=np.float64) / 255.0
        mean, std = [], []
        for c in range(x.shape[3]):
            counts = np.bincount(x[..., c].ravel(), minlength=256).astype(np.float64)
            total = counts.sum()
            m = float(counts @ levels / total)
            var = float(counts @ (levels - m) ** 2 / total)
            mean.append(m)
            std.append(max(var ** 0.5, _MIN_STD))
        return cls(mean, std)

    def __call__(self, x: np.ndarray) -> np.ndarray:
        return self.norm(x)

    def norm(self, x: np.ndarray) -> np.ndarray:
        """uint8 (N, H, W, C) or (H, W, C) -> float32 of the same shape."""
        x = np.asarray(x)
        if x.shape[-1] != self.mean.size:
            raise ValueError(f"expected {self.mean.size} channel(s) in the last axis, got "
                             f"shape {x.shape}")
        out = x.astype(np.float32)
        out *= self._scale
        out += self._shift
        return out

    def denorm(self, x: np.ndarray) -> np.ndarray:
        """Inverse of :meth:`norm`, back to uint8 (for showing images)."""
        values = (np.asarray(x, dtype=np.float32) * self.std + self.mean) * 255.0
        return np.clip(np.round(values), 0, 255).astype(np.uint8)

    def to_dict(self) -> dict:
        return {"type": "per_channel", "scale": 255.0,
                "mean": [float(v) for v in self.mean], "std": [float(v) for v in self.std]}

    @classmethod
    def from_dict(cls, data: dict) -> Normalizer:
        if not isinstance(data, dict) or data.get("type", "per_channel") != "per_channel":
            raise ValueError(f"not a per-channel normaliser description: {data!r}")
        if float(data.get("scale", 255.0)) != 255.0:
            raise ValueError(f"unsupported normaliser scale {data.get('scale')!r}")
        return cls(data["mean"], data["std"])

    def __eq__(self, other: object) -> bool:
        return (isinstance(other, Normalizer) and np.array_equal(self.mean, other.mean)
                and np.array_equal(self.std, other.std))

    def __repr__(self) -> str:
        mean = ", ".join(f"{v:.4f}" for v in self.mean)
        std = ", ".join(f"{v:.4f}" for v in self.std)
        return f"Normalizer(mean=[{mean}], std=[{std}])"
