"""Seeded, vectorised data augmentation on uint8 batches.

colour: random crop from a zero-padded image (pad 4 for 32x32) and horizontal flip, as used for
    CIFAR-10 since Krizhevsky et al. 2012.
digits: small random affine transforms (shift, rotation, scale), never flips (a flipped 2 is not
    a 2); bilinear sampling, zeros outside.
grey: as digits, plus horizontal flips (a flipped shoe is still a shoe).
airbench (:class:`TranslateFlip`): random translation by up to 2 pixels with reflection
    padding and alternating flip (Jordan 2024); translation alone for digits.
"""

from __future__ import annotations

import numpy as np


def random_crop_flip(batch: np.ndarray, rng: np.random.Generator, pad: int = 4,
                     flip: bool = True) -> np.ndarray:
    """batch (N, H, W, C) -> (N, H, W, C): one gather does both the crop and the flip."""
    n, h, w, _ = batch.shape
    padded = np.pad(batch, ((0, 0), (pad, pad), (pad, pad), (0, 0))) if pad else batch
    top = rng.integers(0, 2 * pad + 1, size=n)
    left = rng.integers(0, 2 * pad + 1, size=n)
    rows = top[:, None] + np.arange(h)
    cols = left[:, None] + np.arange(w)
    if flip:
        flipped = rng.random(n) < 0.5
        cols = np.where(flipped[:, None], cols[:, ::-1], cols)
    return padded[np.arange(n)[:, None, None], rows[:, :, None], cols[:, None, :]]


def random_affine(batch: np.ndarray, rng: np.random.Generator, max_shift: float = 2.0,
                  max_degrees: float = 10.0, scale: tuple[float, float] = (0.9, 1.1),
                  flip: bool = False) -> np.ndarray:
    """batch (N, H, W, C) -> (N, H, W, C) uint8, each image shifted by up to ``max_shift`` px,
    rotated by up to ``max_degrees`` and scaled within ``scale`` about its centre."""
    n, h, w, c = batch.shape
    angle = np.deg2rad(rng.uniform(-max_degrees, max_degrees, size=n))
    factor = rng.uniform(scale[0], scale[1], size=n)
    shift = rng.uniform(-max_shift, max_shift, size=(n, 2))
    mirror = np.where(rng.random(n) < 0.5, -1.0, 1.0) if flip else np.ones(n)
    cos, sin = np.cos(angle) / factor, np.sin(angle) / factor
    cy, cx = (h - 1) / 2.0, (w - 1) / 2.0
    # Inverse map: output pixel -> source coordinate.
    yy, xx = np.meshgrid(np.arange(h) - cy, np.arange(w) - cx, indexing="ij")
    dy = yy[None] - shift[:, 0, None, None]
    dx = (xx[None] - shift[:, 1, None, None]) * mirror[:, None, None]
    src_y = cos[:, None, None] * dy - sin[:, None, None] * dx + cy
    src_x = sin[:, None, None] * dy + cos[:, None, None] * dx + cx
    y0 = np.floor(src_y).astype(np.int64)
    x0 = np.floor(src_x).astype(np.int64)
    fy = (src_y - y0).astype(np.float32)[..., None]
    fx = (src_x - x0).astype(np.float32)[..., None]
    flat = np.pad(batch, ((0, 0), (1, 1), (1, 1), (0, 0))).reshape(-1, c)
    base = (np.arange(n) * (h + 2) * (w + 2))[:, None, None]

    def tap(yi: np.ndarray, xi: np.ndarray) -> np.ndarray:
        inside = (yi >= -1) & (yi <= h) & (xi >= -1) & (xi <= w)
        where = base + (np.clip(yi, -1, h) + 1) * (w + 2) + np.clip(xi, -1, w) + 1
        return np.where(inside[..., None], flat[where], 0).astype(np.float32)

    out = ((1 - fy) * ((1 - fx) * tap(y0, x0) + fx * tap(y0, x0 + 1))
           + fy * ((1 - fx) * tap(y0 + 1, x0) + fx * tap(y0 + 1, x0 + 1)))
    return np.clip(np.round(out), 0, 255).astype(np.uint8).reshape(n, h, w, c)


def random_translate(batch: np.ndarray, rng: np.random.Generator, pad: int = 2) -> np.ndarray:
    """batch (N, H, W, C) -> (N, H, W, C): each image moved by (dy, dx), each drawn uniformly
    from -pad..pad, the border filled by reflection (``np.pad`` "reflect", PyTorch's
    ``F.pad(..., "reflect")``), as airbench's ``batch_crop`` of its reflect-padded images."""
    n, h, w, _ = batch.shape
    if pad == 0:
        return batch.copy()
    padded = np.pad(batch, ((0, 0), (pad, pad), (pad, pad), (0, 0)), mode="reflect")
    shifts = rng.integers(-pad, pad + 1, size=(n, 2))
    rows = (pad + shifts[:, 0])[:, None] + np.arange(h)
    cols = (pad + shifts[:, 1])[:, None] + np.arange(w)
    return padded[np.arange(n)[:, None, None], rows[:, :, None], cols[:, None, :]]


class TranslateFlip:
    """airbench's training augmentation: random translation by up to ``translate`` pixels with
    reflection padding, then, with ``alternating_flip``, a mirror that alternates by epoch, or,
    with ``random_flip``, each image mirrored with probability 1/2 in every batch (the usual
    flip, for comparison).

    Alternating flip: a random half of the training set (each image with probability 1/2,
    drawn once from ``seed``) is mirrored in every even epoch and the other half in every odd
    one, so each image is seen both ways in every pair of epochs (airbench flips a random
    half once, then the whole set on odd epochs: the same images). It needs the epoch and the
    images' indices, which the Trainer passes to :meth:`at`.

    TranslateFlip(50000, seed=0).at(batch, rng, epoch=e, indices=idx)  # (B, H, W, C) uint8
    """

    def __init__(self, num_images: int, seed: int = 0, translate: int = 2,
                 alternating_flip: bool = True, random_flip: bool = False) -> None:
        if isinstance(translate, bool) or not isinstance(translate, int) or translate < 0:
            raise ValueError(f"translate must be a whole number of pixels >= 0, got {translate!r}")
        if alternating_flip and random_flip:
            raise ValueError("choose one flip: alternating or random")
        self.translate = translate
        self.alternating_flip = bool(alternating_flip)
        self.random_flip = bool(random_flip)
        self.first_flip = np.random.default_rng([seed, 2]).random(num_images) < 0.5

    def at(self, batch: np.ndarray, rng: np.random.Generator, *, epoch: int,
           indices: np.ndarray) -> np.ndarray:
        """batch (B, H, W, C), the training images ``indices`` (B,), in ``epoch`` -> same."""
        out = random_translate(batch, rng, self.translate)
        if self.alternating_flip:
            flip = self.first_flip[indices] ^ bool(epoch % 2)
            out[flip] = out[flip, :, ::-1]
        elif self.random_flip:
            flip = rng.random(len(out)) < 0.5
            out[flip] = out[flip, :, ::-1]
        return out

    def __repr__(self) -> str:
        return (f"TranslateFlip(translate={self.translate}, "
                f"alternating_flip={self.alternating_flip}, random_flip={self.random_flip})")


class Augmenter:
    """Augmentation for one dataset kind; ``augment(batch)`` draws from its own seeded generator.

    Augmenter("colour", seed=0).augment(x_uint8)  # (N, H, W, C) -> (N, H, W, C)
    """

    def __init__(self, kind: str, seed: int = 0, *, pad: int = 4, max_shift: float = 2.0,
                 max_degrees: float = 10.0, scale: tuple[float, float] = (0.9, 1.1)) -> None:
        if kind not in ("digits", "grey", "colour"):
            raise ValueError(f"kind must be 'digits', 'grey' or 'colour', got {kind!r}")
        if pad < 0 or max_shift < 0 or max_degrees < 0 or not 0 < scale[0] <= scale[1]:
            raise ValueError(f"invalid augmentation settings: pad={pad}, max_shift={max_shift}, "
                             f"max_degrees={max_degrees}, scale={scale}")
        self.kind = kind
        self.seed = seed
        self.pad = pad
        self.max_shift = max_shift
        self.max_degrees = max_degrees
        self.scale = tuple(scale)
        self.rng = np.random.default_rng(seed)

    def augment(self, batch: np.ndarray, rng: np.random.Generator | None = None) -> np.ndarray:
        batch = np.asarray(batch)
        if batch.ndim != 4:
            raise ValueError(f"augment needs a batch (N, H, W, C), got shape {batch.shape}")
        rng = self.rng if rng is None else rng
        if self.kind == "colour":
            return random_crop_flip(batch, rng, pad=self.pad)
        return random_affine(batch, rng, self.max_shift, self.max_degrees, self.scale,
                             flip=self.kind == "grey")

    __call__ = augment

    def __repr__(self) -> str:
        return f"Augmenter({self.kind!r}, seed={self.seed})"


def augment(batch: np.ndarray, rng: np.random.Generator, kind: str) -> np.ndarray:
    """Functional form: augment ``batch`` of ``kind`` with default settings using ``rng``."""
    return Augmenter(kind).augment(batch, rng)
