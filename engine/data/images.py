"""Decoding image files with Pillow (imported lazily) into plain uint8 arrays.

Every mode is reduced to either grey ``(H, W)`` or RGB ``(H, W, 3)`` uint8: palette images are
expanded, CMYK/YCbCr/LAB/HSV converted to RGB, 16- and 32-bit grey scaled down to 8 bits, and
transparent images composited over a background that contrasts with their visible pixels (so a
white digit on a transparent canvas stays visible).
"""

from __future__ import annotations

import io
import os
from pathlib import Path

import numpy as np

from engine.data.errors import DatasetError

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp", ".ppm",
                    ".pgm", ".pbm")
_GREY_MODES = {"1", "L", "P;L", "I", "I;16", "I;16B", "I;16L", "I;16N", "F"}


def _pil():  # -> the PIL.Image module
    from PIL import Image  # here, not at the top: only decoding files needs Pillow

    return Image


def is_image_name(name: str) -> bool:
    return name.lower().endswith(IMAGE_EXTENSIONS)


def scale_high_bit_depth(array: np.ndarray) -> np.ndarray:
    """16/32-bit integer or float grey -> uint8 0..255."""
    if array.dtype.kind == "f":
        top = float(np.nanmax(array)) if array.size else 0.0
        scaled = array * 255.0 if top <= 1.0 else array
        return np.clip(np.nan_to_num(scaled), 0, 255).round().astype(np.uint8)
    top = int(array.max()) if array.size else 0
    if top <= 255:
        return array.astype(np.uint8)
    divisor = 257.0 if top <= 65535 else top / 255.0
    return np.clip(array / divisor, 0, 255).round().astype(np.uint8)


def composite(colour: np.ndarray, alpha: np.ndarray) -> np.ndarray:
    """Flatten grey (H, W) or RGB (H, W, 3) pixels with an alpha (H, W) onto a plain background
    that contrasts with the visible pixels: black behind light content, white behind dark."""
    if alpha.min() == 255:
        return np.ascontiguousarray(colour)
    a = alpha.astype(np.float32) * (1.0 / 255.0)
    values = colour.astype(np.float32)
    brightness = values if values.ndim == 2 else values.mean(axis=2)
    total = float(a.sum())
    light = total > 0 and float((brightness * a).sum()) / total > 127
    background = 0.0 if light else 255.0
    if values.ndim == 3:
        a = a[..., None]
    out = values * a + background * (1.0 - a)
    return np.clip(out, 0, 255).round().astype(np.uint8)


def pil_to_array(image) -> np.ndarray:
    """A Pillow image of any mode -> (H, W) grey or (H, W, 3) RGB uint8."""
    mode = image.mode
    if mode == "P":
        image = image.convert("RGBA" if "transparency" in image.info else "RGB")
        mode = image.mode
    if mode in _GREY_MODES:
        if mode == "1":
            return np.asarray(image.convert("L"))
        array = np.asarray(image)
        return array if array.dtype == np.uint8 else scale_high_bit_depth(array)
    if mode in ("LA", "La", "PA"):
        la = np.asarray(image.convert("LA"))
        return composite(la[..., 0], la[..., 1])
    if mode in ("RGBA", "RGBa"):
        rgba = np.asarray(image.convert("RGBA"))
        return composite(rgba[..., :3], rgba[..., 3])
    if mode != "RGB":
        image = image.convert("RGB")
    return np.asarray(image)


def decode_image(data: bytes, name: str, draft: int | None = None) -> np.ndarray:
    """Decode encoded image bytes; ``name`` is used in the error message.

    draft: a JPEG may be decoded at 1/2, 1/4 or 1/8 scale while both sides stay >= draft px
    (much faster for large photos that are shrunk anyway).
    """
    Image = _pil()
    try:
        with Image.open(io.BytesIO(data)) as image:
            if draft and image.format == "JPEG" and min(image.size) > 2 * draft:
                image.draft(image.mode, (draft, draft))
            image.load()
            return pil_to_array(image)
    except Image.DecompressionBombError:
        raise DatasetError(f"{name}: not a readable image (too many pixels to decode safely)"
                           ) from None
    except Image.UnidentifiedImageError:
        raise DatasetError(f"{name}: not a readable image (not a format Pillow decodes)"
                           ) from None
    except (OSError, ValueError) as exc:
        # Pillow's own texts can hold object reprs (a BytesIO address): say only the kind.
        reason = "damaged or truncated" if isinstance(exc, OSError) else "malformed"
        raise DatasetError(f"{name}: not a readable image ({reason})") from None


def read_bytes(path: str | os.PathLike) -> bytes:
    """The bytes of a file; DatasetError naming it when it cannot be read."""
    try:
        return Path(path).read_bytes()
    except OSError as exc:
        raise DatasetError(f"{path}: cannot read file ({exc.strerror or exc})") from exc


def read_image(path: str | os.PathLike) -> np.ndarray:
    """Read an image file -> (H, W) grey or (H, W, 3) RGB uint8; DatasetError on bad files."""
    return decode_image(read_bytes(path), str(path))


def resize(array: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Resize (H, W) or (H, W, C) uint8/float32 to ``size`` = (height, width), antialiased.

    Shrinking averages the covered area (box filter), enlarging interpolates bilinearly.
    """
    Image = _pil()
    height, width = size
    if array.shape[:2] == (height, width):
        return array
    shrinking = height * width < array.shape[0] * array.shape[1]
    method = Image.Resampling.BOX if shrinking else Image.Resampling.BILINEAR
    if array.dtype == np.uint8 and (array.ndim == 2 or array.shape[2] in (3, 4)):
        return np.asarray(Image.fromarray(array).resize((width, height), method))
    channels = [array] if array.ndim == 2 else [array[..., c] for c in range(array.shape[2])]
    out = [np.asarray(Image.fromarray(np.asarray(ch, dtype=np.float32))
                      .resize((width, height), method)) for ch in channels]
    result = out[0] if array.ndim == 2 else np.stack(out, axis=-1)
    if array.dtype == np.uint8:
        return np.clip(result, 0, 255).round().astype(np.uint8)
    return result.astype(array.dtype, copy=False)
