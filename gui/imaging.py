"""Conversions between NumPy image arrays and Qt images, and tile mosaics for filters and maps.

Arrays are uint8 ``(H, W)``, ``(H, W, 1)`` or ``(H, W, 3)``; Qt images are ``QImage``.
"""

from __future__ import annotations

import math

import numpy as np
from PySide6.QtGui import QImage


def array_to_qimage(array: np.ndarray) -> QImage:
    """array: (H, W), (H, W, 1) or (H, W, 3) uint8 -> a QImage that owns its pixels."""
    a = np.asarray(array)
    if a.dtype != np.uint8:
        raise ValueError(f"expected a uint8 image, got {a.dtype}")
    if a.ndim == 3 and a.shape[2] == 1:
        a = a[..., 0]
    a = np.ascontiguousarray(a)
    if a.ndim == 2:
        h, w = a.shape
        image = QImage(a.data, w, h, w, QImage.Format.Format_Grayscale8)
    elif a.ndim == 3 and a.shape[2] == 3:
        h, w, _ = a.shape
        image = QImage(a.data, w, h, 3 * w, QImage.Format.Format_RGB888)
    else:
        raise ValueError(f"expected (H, W), (H, W, 1) or (H, W, 3), got shape {a.shape}")
    # QImage borrows the buffer; copy so the array may go away.
    return image.copy()


def qimage_to_array(image: QImage, mode: str = "gray") -> np.ndarray:
    """QImage -> (H, W) uint8 for mode "gray" or (H, W, 3) uint8 for mode "rgb"."""
    if mode == "gray":
        converted = image.convertToFormat(QImage.Format.Format_Grayscale8)
        channels = 1
    elif mode == "rgb":
        converted = image.convertToFormat(QImage.Format.Format_RGB888)
        channels = 3
    else:
        raise ValueError(f"mode must be 'gray' or 'rgb', got {mode!r}")
    w, h = converted.width(), converted.height()
    bpl = converted.bytesPerLine()
    buffer = np.frombuffer(converted.constBits(), dtype=np.uint8, count=bpl * h)
    rows = buffer.reshape(h, bpl)[:, : w * channels]
    out = rows.reshape(h, w, channels) if channels == 3 else rows.reshape(h, w)
    return out.copy()


def scale_to_uint8(values: np.ndarray, symmetric: bool = False) -> np.ndarray:
    """Map any real array to 0..255 (min..max, or -m..m around 0 when symmetric)."""
    v = np.asarray(values, dtype=np.float64)
    if v.size == 0:
        return np.zeros(v.shape, dtype=np.uint8)
    if symmetric:
        m = float(np.max(np.abs(v)))
        lo, hi = -m, m
    else:
        lo, hi = float(np.min(v)), float(np.max(v))
    if not np.isfinite(lo) or not np.isfinite(hi) or hi - lo < 1e-12:
        return np.full(v.shape, 128 if symmetric else 0, dtype=np.uint8)
    return np.clip((v - lo) / (hi - lo) * 255.0 + 0.5, 0, 255).astype(np.uint8)


def tile_mosaic(
    tiles: np.ndarray, columns: int | None = None, pad: int = 1, normalise: str = "each"
) -> np.ndarray:
    """Arrange tiles in a grid.

    tiles: (N, h, w) or (N, h, w, 3) real values.
    normalise: "each" scales every tile to its own range, "all" uses one range, "none"
    expects uint8 already.
    Returns (rows*(h+pad)-pad, cols*(w+pad)-pad[, 3]) uint8, padding drawn mid-grey.
    """
    t = np.asarray(tiles)
    if t.ndim not in (3, 4) or t.shape[0] == 0:
        raise ValueError(f"expected (N, h, w) or (N, h, w, 3) tiles, got shape {t.shape}")
    n, h, w = t.shape[:3]
    if normalise == "each":
        t = np.stack([scale_to_uint8(tile) for tile in t])
    elif normalise == "all":
        t = scale_to_uint8(t)
    elif normalise == "none":
        t = t.astype(np.uint8)
    else:
        raise ValueError(f"normalise must be 'each', 'all' or 'none', got {normalise!r}")
    cols = columns or max(1, math.ceil(math.sqrt(n)))
    rows = math.ceil(n / cols)
    shape = (rows * (h + pad) - pad, cols * (w + pad) - pad, *t.shape[3:])
    out = np.full(shape, 96, dtype=np.uint8)
    for i in range(n):
        r, c = divmod(i, cols)
        out[r * (h + pad) : r * (h + pad) + h, c * (w + pad) : c * (w + pad) + w] = t[i]
    return out
