"""Why a network says what it says: Grad-CAM, gradient saliency, occlusion, and a score for
inputs unlike the training data. NumPy only; none of it changes the model it explains."""

from __future__ import annotations

from engine.explain.grad_cam import default_cam_layer, grad_cam
from engine.explain.gradient import gradient_saliency, input_gradient
from engine.explain.methods import METHODS, explain
from engine.explain.occlusion import occlusion
from engine.explain.ood import (
    OodCalibration,
    OodCalibrationError,
    calibrate_ood,
    familiarity_scores,
    read_ood_calibration,
    store_ood_calibration,
)
from engine.explain.overlay import heat_colours, heat_overlay
from engine.explain.png import encode_png
from engine.explain.saliency_map import SaliencyMap
from engine.explain.shadow import ShadowNetwork
from engine.explain.upsample import upsample_bilinear

__all__ = [
    "METHODS",
    "OodCalibration",
    "OodCalibrationError",
    "SaliencyMap",
    "ShadowNetwork",
    "calibrate_ood",
    "default_cam_layer",
    "encode_png",
    "explain",
    "familiarity_scores",
    "grad_cam",
    "gradient_saliency",
    "heat_colours",
    "heat_overlay",
    "input_gradient",
    "occlusion",
    "read_ood_calibration",
    "store_ood_calibration",
    "upsample_bilinear",
]
