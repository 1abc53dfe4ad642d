"""Test-time augmentation: a model's logits averaged over mirrored and shifted views.

airbench's levels (Jordan 2024): ``"mirror"`` averages the image and its mirror;
``"mirror_translate"`` averages that (weight 1/2) with the mirror-averages of the image moved
one pixel up-left and one pixel down-right (1/4 each), with reflection at the border: six
views. ``"translate"`` is the same without mirrors (three views), for digits, where a mirrored
2 is no 2. ``"none"``: the image alone.
"""

from __future__ import annotations

from typing import Any

import numpy as np

TTA_MODES = ("none", "mirror", "translate", "mirror_translate")


def _shifted(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """x (N, H, W, C) moved one pixel down-right and one up-left, reflected at the border."""
    h, w = x.shape[1:3]
    padded = np.pad(x, ((0, 0), (1, 1), (1, 1), (0, 0)), mode="reflect")
    return padded[:, 0:h, 0:w], padded[:, 2:h + 2, 2:w + 2]


def tta_logits(model: Any, x: np.ndarray, mode: str, batch_size: int = 256) -> np.ndarray:
    """Logits (N, K) of ``model`` (evaluation mode) on normalised input x (N, H, W, C),
    averaged over the views of ``mode`` (one of :data:`TTA_MODES`)."""
    if mode not in TTA_MODES:
        raise ValueError(f"test-time augmentation must be one of {', '.join(TTA_MODES)}, "
                         f"got {mode!r}")
    if batch_size < 1:
        raise ValueError(f"batch_size must be positive, got {batch_size!r}")

    def plain(v: np.ndarray) -> np.ndarray:
        return model.forward(v, training=False).astype(np.float64)

    def mirrored(v: np.ndarray) -> np.ndarray:
        return 0.5 * (plain(v) + plain(v[:, :, ::-1]))

    view = mirrored if mode in ("mirror", "mirror_translate") else plain
    parts = []
    for start in range(0, len(x), batch_size):
        xb = x[start:start + batch_size]
        logits = view(xb)
        if mode in ("translate", "mirror_translate"):
            down_right, up_left = _shifted(xb)
            logits = 0.5 * logits + 0.25 * (view(down_right) + view(up_left))
        parts.append(logits)
    if not parts:
        return np.zeros((0, model.num_classes))
    return np.concatenate(parts)
