"""What an explanation hands back: the map at input resolution and what it explains."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class SaliencyMap:
    """One explanation of one image.

    ``values``: (H, W) at the input's resolution, larger = more important to ``class_index``
    (not normalised; see :meth:`normalized`). ``method``: "gradcam", "gradient" or
    "occlusion". ``layer``: the layer Grad-CAM looked at (None for the other methods).
    ``coarse``: Grad-CAM's map at the layer's own resolution (h, w) before upsampling (None
    otherwise). ``probabilities``: (K,) the model's class probabilities for the image.
    """

    values: np.ndarray
    class_index: int
    method: str
    probabilities: np.ndarray
    layer: str | None = None
    coarse: np.ndarray | None = None

    @property
    def predicted_class(self) -> int:
        return int(np.argmax(self.probabilities))

    def normalized(self) -> np.ndarray:
        """``values`` scaled to [0, 1] (all zeros when the map is flat), float32 (H, W)."""
        v = np.asarray(self.values, dtype=np.float64)
        low, high = float(v.min()), float(v.max())
        if high - low <= 0:
            return np.zeros(v.shape, np.float32)
        return ((v - low) / (high - low)).astype(np.float32)
