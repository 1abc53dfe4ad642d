"""One entry point for the three methods by name, as the command line and the app pick them."""

from __future__ import annotations

from typing import Any

import numpy as np

from engine.explain.grad_cam import grad_cam
from engine.explain.gradient import gradient_saliency
from engine.explain.occlusion import occlusion
from engine.explain.saliency_map import SaliencyMap

METHODS = ("gradcam", "gradient", "occlusion")


def explain(model: Any, x: np.ndarray, method: str = "gradcam", class_index: int | None = None,
            layer: str | int | None = None, *, smooth: int = 0, patch: int | None = None,
            stride: int | None = None) -> SaliencyMap:
    """The ``method`` map of one normalised image x (H, W, C) for ``class_index`` (predicted
    when None). ``layer`` is Grad-CAM's only; ``smooth`` the gradient's (SmoothGrad copies);
    ``patch``/``stride`` occlusion's (default: a quarter / an eighth of the input side)."""
    if method not in METHODS:
        raise ValueError(f"unknown method {method!r}; choose from {', '.join(METHODS)}")
    if layer is not None and method != "gradcam":
        raise ValueError("a layer can only be chosen for Grad-CAM")
    if smooth and method != "gradient":
        raise ValueError("smoothing applies to the gradient method only")
    if (patch is not None or stride is not None) and method != "occlusion":
        raise ValueError("patch and stride apply to the occlusion method only")
    if method == "gradcam":
        return grad_cam(model, x, class_index, layer)
    if method == "gradient":
        return gradient_saliency(model, x, class_index, smooth=smooth)
    side = min(np.shape(x)[-3:-1])
    patch = max(1, side // 4) if patch is None else patch
    stride = max(1, patch // 2) if stride is None else stride
    return occlusion(model, x, class_index, patch=patch, stride=stride)
