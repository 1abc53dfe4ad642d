"""Turning any image into a model's input: one module shared by loaders, the canvas and the CLI.

Every function returns uint8 0..255 in the model's per-sample shape; normalisation is a separate,
stored step (:mod:`engine.data.normalize`).

Digits follow MNIST's own recipe (LeCun et al.): grey, light-on-dark, cropped to the ink, the
longer side scaled to 20 px keeping the aspect ratio, pasted into 28x28 so that the centre of
mass falls on the centre (MNIST's mean centre of mass is (14.0, 14.0) in pixel indices).
"""

from __future__ import annotations

import numpy as np

from engine.data.images import composite, pil_to_array, resize, scale_high_bit_depth

# ITU-R 601-2 luma, as Pillow's "L" conversion.
_LUMA = np.array([0.299, 0.587, 0.114], dtype=np.float32)
# Ink below this fraction of the strongest stroke is treated as paper.
_INK_THRESHOLD = 0.3
# An image whose ink is fainter than this (0..255) is blank: the result is all zeros.
_MIN_CONTRAST = 16.0
# Larger images are shrunk to this longest side before looking for the ink (speed only).
_MAX_WORKING_SIZE = 512


def _as_uint8(image) -> np.ndarray:
    """A NumPy array or Pillow image -> uint8 (H, W) or (H, W, C) with C in 2..4 (alpha kept)."""
    if hasattr(image, "mode") and hasattr(image, "size") and not isinstance(image, np.ndarray):
        return pil_to_array(image)
    array = np.asarray(image)
    if array.ndim not in (2, 3) or (array.ndim == 3 and array.shape[2] not in (1, 2, 3, 4)):
        raise ValueError(f"expected an image of shape (H, W) or (H, W, C<=4), got {array.shape}")
    if array.shape[0] == 0 or array.shape[1] == 0:
        raise ValueError(f"the image is empty (shape {array.shape})")
    if array.dtype == np.bool_:
        array = array.astype(np.uint8) * 255
    elif array.dtype != np.uint8:
        array = scale_high_bit_depth(array)
    if array.ndim == 3 and array.shape[2] == 1:
        array = array[..., 0]
    return array


def _as_array(image) -> np.ndarray:
    """Any image -> uint8 (H, W) grey or (H, W, 3) RGB; transparency flattened."""
    array = _as_uint8(image)
    if array.ndim == 3 and array.shape[2] in (2, 4):
        array = composite(array[..., :-1] if array.shape[2] == 4 else array[..., 0],
                           array[..., -1])
    return array


def to_grey(image, max_size: int | None = None) -> np.ndarray:
    """Any image -> (H, W) float32 grey, 0..255.

    max_size: shrink first (keeping the aspect ratio) so the longer side is at most this.
    """
    array = _as_uint8(image)
    longest = max(array.shape[:2])
    if max_size and longest > max_size:
        scale = max_size / longest
        array = resize(array, (max(1, round(array.shape[0] * scale)),
                               max(1, round(array.shape[1] * scale))))
    alpha = None
    if array.ndim == 3 and array.shape[2] in (2, 4):
        array, alpha = array[..., :-1], array[..., -1]
        if array.shape[2] == 1:
            array = array[..., 0]
    grey = array.astype(np.float32) @ _LUMA if array.ndim == 3 else array.astype(np.float32)
    if alpha is not None:
        grey = composite(grey, alpha).astype(np.float32)
    return grey


def to_rgb(image) -> np.ndarray:
    """Any image (grey, RGB, RGBA, palette, CMYK, 16-bit...) -> (H, W, 3) uint8."""
    array = _as_array(image)
    if array.ndim == 2:
        return np.repeat(array[..., None], 3, axis=2)
    return array


def _border_level(grey: np.ndarray) -> float:
    """The paper's brightness: the median of a frame about 8 % of the shorter side wide."""
    ring = max(1, round(0.08 * min(grey.shape)))
    frame = np.concatenate([grey[:ring].ravel(), grey[-ring:].ravel(),
                            grey[:, :ring].ravel(), grey[:, -ring:].ravel()])
    return float(np.median(frame))


def _drop_specks(mask: np.ndarray) -> np.ndarray:
    """Remove isolated ink pixels (scanner noise): keep pixels with an inked 8-neighbour."""
    padded = np.pad(mask, 1).astype(np.uint8)
    h, w = mask.shape
    neighbours = sum(padded[1 + dy:1 + dy + h, 1 + dx:1 + dx + w]
                     for dy in (-1, 0, 1) for dx in (-1, 0, 1) if dy or dx)
    return mask & (neighbours > 0)


def _trim_frame(mask: np.ndarray) -> np.ndarray:
    """Clear the border lines of a scan: runs of rows/columns at an edge that are almost all
    ink *and* are followed by paper. A stroke touching the edge (the bar of a tightly cropped
    7) continues into the digit, so it is kept."""
    mask = mask.copy()
    for axis in (0, 1):
        fraction = mask.mean(axis=1 - axis)
        size = len(fraction)
        limit = max(1, size // 8)
        for order in (range(limit), range(size - 1, size - 1 - limit, -1)):
            run = []
            for index in order:
                if fraction[index] > 0.8:
                    run.append(index)
                    continue
                if run and fraction[index] < 0.05:
                    if axis == 0:
                        mask[run] = False
                    else:
                        mask[:, run] = False
                break
    return mask


def _ink_image(image) -> np.ndarray | None:
    """Grey, light ink on dark, contrast-stretched to 0..255; None when the image is blank."""
    # A big photo: nothing is lost by looking for the ink at a smaller size.
    grey = to_grey(image, max_size=_MAX_WORKING_SIZE)
    background = _border_level(grey)
    if background > 127:
        grey = 255.0 - grey
        background = 255.0 - background
    ink = np.clip(grey - background, 0, None)
    peak = float(ink.max())
    if peak < _MIN_CONTRAST:
        return None
    return np.clip(ink * (255.0 / peak), 0, 255)


def _bbox(mask: np.ndarray) -> tuple[slice, slice] | None:
    rows = np.flatnonzero(mask.any(axis=1))
    cols = np.flatnonzero(mask.any(axis=0))
    if rows.size == 0:
        return None
    return slice(rows[0], rows[-1] + 1), slice(cols[0], cols[-1] + 1)


def _fit_and_place(image, size: tuple[int, int], box: int, centre: str) -> np.ndarray:
    out = np.zeros(size, dtype=np.float32)
    ink = _ink_image(image)
    if ink is None:
        return out
    mask = _trim_frame(_drop_specks(ink > _INK_THRESHOLD * 255))
    found = _bbox(mask)
    if found is None:
        return out
    crop = ink[found]
    longest = max(crop.shape)
    new_h = max(1, min(box, round(crop.shape[0] * box / longest)))
    new_w = max(1, min(box, round(crop.shape[1] * box / longest)))
    glyph = np.clip(resize(crop.astype(np.float32), (new_h, new_w)), 0, 255)
    if centre == "mass" and glyph.sum() > 0:
        total = glyph.sum()
        cy = float((glyph.sum(axis=1) * np.arange(new_h)).sum() / total)
        cx = float((glyph.sum(axis=0) * np.arange(new_w)).sum() / total)
        top, left = round(size[0] / 2 - cy), round(size[1] / 2 - cx)
    else:
        top, left = (size[0] - new_h) // 2, (size[1] - new_w) // 2
    top = min(max(top, 0), size[0] - new_h)
    left = min(max(left, 0), size[1] - new_w)
    out[top:top + new_h, left:left + new_w] = glyph
    return out


def digit_to_mnist(image, size: int | tuple[int, int] = 28, box: int | None = None) -> np.ndarray:
    """A digit in any form (scan, photo, canvas drawing) -> (28, 28, 1) uint8 like MNIST.

    image: (H, W), (H, W, C) array of any dtype, or a Pillow image. Light backgrounds are
    inverted, the ink is cropped, its longer side scaled to ``box`` (20 px for 28x28), and it is
    pasted so that its centre of mass lands on the centre. A blank image gives all zeros.
    """
    size = (size, size) if isinstance(size, int) else tuple(size)
    box = box or max(1, round(min(size) * 20 / 28))
    out = _fit_and_place(image, size, box, "mass")
    return np.round(out).astype(np.uint8)[..., None]


def object_to_grey(image, size: int | tuple[int, int] = 28) -> np.ndarray:
    """An object photo (Fashion-MNIST style) -> (size, size, 1) uint8: light-on-dark, cropped,
    the longer side filling the frame, centred by its bounding box."""
    size = (size, size) if isinstance(size, int) else tuple(size)
    out = _fit_and_place(image, size, min(size), "box")
    return np.round(out).astype(np.uint8)[..., None]


def colour_to_input(image, size: tuple[int, int] = (32, 32)) -> np.ndarray:
    """Any image -> (H, W, 3) uint8 RGB: scaled so it covers ``size``, then centre-cropped."""
    rgb = to_rgb(image)
    height, width = size
    h, w = rgb.shape[:2]
    if (h, w) == (height, width):
        return rgb
    scale = max(height / h, width / w)
    new_h, new_w = max(height, round(h * scale)), max(width, round(w * scale))
    scaled = resize(rgb, (new_h, new_w))
    top, left = (new_h - height) // 2, (new_w - width) // 2
    return np.ascontiguousarray(scaled[top:top + height, left:left + width])


def image_to_input(image, input_shape: tuple[int, int, int], kind: str) -> np.ndarray:
    """Dispatch on the dataset kind -> (H, W, C) uint8 in the model's per-sample shape.

    kind: "digits" (MNIST-style digit), "grey" (object fitted to the frame) or "colour".
    """
    height, width, channels = (int(d) for d in input_shape)
    if kind == "digits":
        out = digit_to_mnist(image, (height, width))
    elif kind == "grey":
        out = object_to_grey(image, (height, width))
    elif kind == "colour":
        out = colour_to_input(image, (height, width))
    else:
        raise ValueError(f"kind must be 'digits', 'grey' or 'colour', got {kind!r}")
    if out.shape[2] == channels:
        return out
    if channels == 3:
        return np.repeat(out, 3, axis=2)
    if channels == 1:
        return np.round(out.astype(np.float32) @ _LUMA).astype(np.uint8)[..., None]
    raise ValueError(f"input_shape must have 1 or 3 channels, got {input_shape}")
