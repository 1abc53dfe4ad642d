"""Where the network's input lies in the original image, so a map made at 28x28 / 32x32 can
be drawn over the picture the user loaded or drew."""

from __future__ import annotations

import numpy as np

from engine.data.preprocess import to_grey

INK_CONTRAST = 0.25 * 255  # a pixel this far from the paper's brightness is ink
DIGIT_BOX = 20 / 28  # the digit's longer side fills this share of the frame (MNIST)


def _background(image: np.ndarray) -> np.ndarray:
    """The median colour of a frame about 8 % of the shorter side wide: (C,)."""
    ring = max(1, round(0.08 * min(image.shape[:2])))
    frame = np.concatenate([image[:ring].reshape(-1, image.shape[2]),
                            image[-ring:].reshape(-1, image.shape[2]),
                            image[:, :ring].reshape(-1, image.shape[2]),
                            image[:, -ring:].reshape(-1, image.shape[2])])
    return np.median(frame, axis=0)


def _colour_box(shape: tuple[int, int], size: tuple[int, int]) -> tuple[float, ...]:
    """The centre crop of "scale to cover, crop the middle" (engine colour_to_input)."""
    h, w = shape
    height, width = size
    scale = max(height / h, width / w)
    new_h, new_w = max(height, round(h * scale)), max(width, round(w * scale))
    top, left = (new_h - height) // 2, (new_w - width) // 2
    return top / scale, left / scale, height / scale, width / scale


def _ink_box(image: np.ndarray, size: tuple[int, int], kind: str) -> tuple[float, ...] | None:
    """The frame the digit / object preprocessing puts around the ink (its longer side
    scaled to 20/28 of the frame for digits, all of it for objects; centred by mass for
    digits, by box for objects). An approximation of engine.data.preprocess: it finds the
    ink by its contrast with the paper. None when there is no ink."""
    grey = to_grey(image).astype(np.float64)
    ink = np.abs(grey - float(np.median(_background(grey[..., None]))))
    mask = ink > INK_CONTRAST
    rows, cols = np.flatnonzero(mask.any(axis=1)), np.flatnonzero(mask.any(axis=0))
    if rows.size == 0:
        return None
    longest = max(rows[-1] + 1 - rows[0], cols[-1] + 1 - cols[0])
    share = DIGIT_BOX if kind == "digits" else 1.0
    side = longest / share  # the frame's shorter side in original pixels
    height, width = side * size[0] / min(size), side * size[1] / min(size)
    if kind == "digits":
        weights = np.where(mask, ink, 0)
        cy = float((weights.sum(axis=1) * np.arange(len(weights))).sum() / weights.sum())
        cx = float((weights.sum(axis=0) * np.arange(weights.shape[1])).sum() / weights.sum())
    else:
        cy, cx = (rows[0] + rows[-1]) / 2, (cols[0] + cols[-1]) / 2
    return cy - height / 2, cx - width / 2, height, width


def input_region(original: np.ndarray, input_shape: tuple[int, int, int], kind: str
                 ) -> tuple[np.ndarray, tuple[int, int, int, int]]:
    """original (H, W[, C]) uint8 -> (the original, padded with its background where the
    input's frame reaches past its edges, (top, left, height, width) of the frame in it)."""
    image = np.asarray(original)
    image = image[..., None] if image.ndim == 2 else image[..., :3]
    size = (int(input_shape[0]), int(input_shape[1]))
    box = None
    if kind in ("digits", "grey"):
        box = _ink_box(image, size, kind)
    if box is None:
        box = _colour_box(image.shape[:2], size)
    top, left, height, width = (round(v) for v in box)
    height, width = max(1, height), max(1, width)
    pad_top, pad_left = max(0, -top), max(0, -left)
    pad_bottom = max(0, top + height - image.shape[0])
    pad_right = max(0, left + width - image.shape[1])
    if pad_top or pad_left or pad_bottom or pad_right:
        fill = np.round(_background(image)).astype(np.uint8)
        padded = np.empty((image.shape[0] + pad_top + pad_bottom,
                           image.shape[1] + pad_left + pad_right, image.shape[2]), np.uint8)
        padded[...] = fill
        padded[pad_top:pad_top + image.shape[0], pad_left:pad_left + image.shape[1]] = image
        image = padded
    return image, (top + pad_top, left + pad_left, height, width)
