"""A heat map drawn over the image it explains, as RGB pixels (for PNG files and the app)."""

from __future__ import annotations

import numpy as np

# "jet"-like colour ramp: dark blue (unimportant) through cyan, yellow to red (important).
_RAMP_POSITIONS = np.array([0.0, 0.15, 0.4, 0.65, 0.85, 1.0])
_RAMP_COLOURS = np.array([
    [0, 0, 110], [0, 60, 255], [0, 230, 255], [255, 240, 0], [255, 60, 0], [170, 0, 0],
], dtype=np.float64)


def heat_colours(values: np.ndarray) -> np.ndarray:
    """values (H, W) in [0, 1] -> (H, W, 3) uint8 colours of the ramp."""
    v = np.clip(np.asarray(values, dtype=np.float64), 0, 1)
    channels = [np.interp(v, _RAMP_POSITIONS, _RAMP_COLOURS[:, k]) for k in range(3)]
    return np.round(np.stack(channels, axis=-1)).astype(np.uint8)


def heat_overlay(image: np.ndarray, heat: np.ndarray, alpha: float = 0.5, scale: int = 1
                 ) -> np.ndarray:
    """image (H, W, C) uint8 (C 1 or 3) and heat (H, W) in [0, 1] -> (H*scale, W*scale, 3)
    uint8: the image in grey or colour, blended with the heat colours (``alpha`` of heat),
    each pixel a scale x scale block."""
    image = np.asarray(image)
    if image.ndim == 2:
        image = image[..., None]
    if image.shape[:2] != np.shape(heat):
        raise ValueError(f"the map is {np.shape(heat)} but the image {image.shape[:2]}")
    if not 0 <= alpha <= 1:
        raise ValueError(f"alpha must be in [0, 1], got {alpha!r}")
    rgb = np.repeat(image, 3, axis=2) if image.shape[2] == 1 else image[..., :3]
    blend = (1 - alpha) * rgb.astype(np.float64) + alpha * heat_colours(heat)
    out = np.round(blend).astype(np.uint8)
    if scale > 1:
        out = np.repeat(np.repeat(out, scale, axis=0), scale, axis=1)
    return out
