"""Occlusion (Zeiler & Fergus, 2014): how much the class probability drops when a patch of
the image is covered."""

from __future__ import annotations

from typing import Any

import numpy as np

from engine.explain.saliency_map import SaliencyMap
from engine.explain.shadow import as_shadow


def patch_starts(size: int, patch: int, stride: int) -> list[int]:
    """Patch positions along one axis: every ``stride``, plus one flush with the far edge so
    every pixel is covered by at least one patch."""
    starts = list(range(0, size - patch + 1, stride))
    if starts[-1] != size - patch:
        starts.append(size - patch)
    return starts


def occlusion(model: Any, x: np.ndarray, class_index: int | None = None, patch: int = 4,
              stride: int = 2, fill: float | None = None, batch_size: int = 64) -> SaliencyMap:
    """The drop in the class probability when each patch x patch square is covered with
    ``fill``, for one image x (H, W, C) -> (H, W): each pixel gets the mean drop over the
    patches that cover it.

    ``fill``: the value a covered pixel takes (in the network's input space); None uses the
    image's mean per channel, so a patch hides detail without adding any. The covered copies
    run through the model ``batch_size`` at a time. The model is not changed.
    """
    network = as_shadow(model)
    image = network.one_image(x)
    h, w = network.input_shape[:2]
    for name, value, limit in (("patch", patch, min(h, w)), ("stride", stride, None)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"{name} must be a positive whole number, got {value!r}")
        if limit is not None and value > limit:
            raise ValueError(f"patch {value} is larger than the {h}x{w} input")
    cover = image[0].mean(axis=(0, 1)) if fill is None else fill
    probabilities = network.probabilities(image)[0]
    c = network.check_class(class_index, probabilities)
    positions = [(i, j) for i in patch_starts(h, patch, stride)
                 for j in patch_starts(w, patch, stride)]
    drops = np.empty(len(positions))
    for start in range(0, len(positions), batch_size):
        chunk = positions[start:start + batch_size]
        covered = np.repeat(image, len(chunk), axis=0)
        for k, (i, j) in enumerate(chunk):
            covered[k, i:i + patch, j:j + patch, :] = cover
        drops[start:start + len(chunk)] = probabilities[c] - network.probabilities(covered)[:, c]
    total = np.zeros((h, w))
    counts = np.zeros((h, w))
    for drop, (i, j) in zip(drops, positions, strict=True):
        total[i:i + patch, j:j + patch] += drop
        counts[i:i + patch, j:j + patch] += 1
    return SaliencyMap(values=(total / counts).astype(network.dtype), class_index=c,
                       method="occlusion", probabilities=probabilities)
