"""Bilinear resizing of a 2-D map (half-pixel centres, edges clamped: what
``torch.nn.functional.interpolate(mode="bilinear", align_corners=False)`` and most image
libraries do), as two small interpolation matrices."""

from __future__ import annotations

import numpy as np


def interpolation_matrix(source: int, target: int) -> np.ndarray:
    """(target, source) weights: row i mixes the source samples around target pixel i."""
    if source < 1 or target < 1:
        raise ValueError(f"sizes must be positive, got {source} -> {target}")
    centres = (np.arange(target) + 0.5) * (source / target) - 0.5
    centres = np.clip(centres, 0, source - 1)
    low = np.floor(centres).astype(int)
    high = np.minimum(low + 1, source - 1)
    frac = centres - low
    matrix = np.zeros((target, source))
    rows = np.arange(target)
    np.add.at(matrix, (rows, low), 1 - frac)
    np.add.at(matrix, (rows, high), frac)
    return matrix


def upsample_bilinear(values: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """values: (h, w) -> (H, W) = ``size``, in the dtype of ``values``."""
    values = np.asarray(values)
    if values.ndim != 2:
        raise ValueError(f"expected a 2-D map, got shape {values.shape}")
    rows = interpolation_matrix(values.shape[0], size[0])
    cols = interpolation_matrix(values.shape[1], size[1])
    return (rows @ values.astype(np.float64) @ cols.T).astype(values.dtype)
