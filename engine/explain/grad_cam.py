"""Grad-CAM (Selvaraju et al., 2017): where in a layer's feature map the evidence for a class
lies, as the layer's channels weighted by how much the class logit grows with each."""

from __future__ import annotations

from typing import Any

import numpy as np

from engine.explain.saliency_map import SaliencyMap
from engine.explain.shadow import ShadowNetwork, as_shadow
from engine.explain.upsample import upsample_bilinear
from engine.layers.activations import softmax
from engine.layers.conv import Conv2D


def default_cam_layer(network: ShadowNetwork) -> int:
    """The last convolution (the layer Grad-CAM is defined on), or else the last layer with
    a spatial (H, W, C) output.

    Other layers can be better for a given model: on 200 MNIST test digits, the shipped
    digit model's maps put a mean of 0.17 (normalised) on the ink and 0.16 off it at its last
    convolution, 0.36 / 0.22 after the pooling and BatchNorm that follow it, 0.28 / 0.14
    after its ReLU (empty for 16 of the 200). Pass ``layer`` to choose.
    """
    convs = [i for i, layer in enumerate(network.layers) if isinstance(layer, Conv2D)]
    if convs:
        return convs[-1]
    spatial = [i for i, shape in enumerate(network.output_shapes) if len(shape) == 3]
    if not spatial:
        raise ValueError("Grad-CAM needs a layer with a spatial map and this model has none; "
                         "use the gradient or occlusion method")
    return spatial[-1]


def grad_cam(model: Any, x: np.ndarray, class_index: int | None = None,
             layer: str | int | None = None) -> SaliencyMap:
    """Grad-CAM of one image.

    model: a Sequential (or a :class:`ShadowNetwork` of it, reused for speed); x: one
    normalised image (H, W, C) (or (1, H, W, C)); class_index: the class to explain (the
    predicted one when None); layer: name or index of a layer with a spatial output (default
    :func:`default_cam_layer`, the last
    convolution). With A (h, w, C) the layer's output and dA the gradient of the
    class logit with respect to it: coarse = ReLU(sum_c mean_hw(dA)[c] * A[..., c]) (h, w),
    upsampled bilinearly to (H, W). The model is not changed.
    """
    network = as_shadow(model)
    index = default_cam_layer(network) if layer is None else network.layer_index(layer)
    shape = network.output_shapes[index]
    if len(shape) != 3:
        raise ValueError(f"Grad-CAM needs a layer with a spatial map; "
                         f"{network.layer_names[index]!r} outputs {len(shape)}-D values")
    batch = network.one_image(x)
    d_act, logits, act, c = network.class_gradient(batch, class_index, down_to=index)
    weights = d_act[0].mean(axis=(0, 1))  # (C,)
    coarse = np.maximum(act[0] @ weights, 0)  # (h, w)
    values = upsample_bilinear(coarse, network.input_shape[:2])
    return SaliencyMap(values=values, class_index=c, method="gradcam",
                       probabilities=softmax(logits[0].astype(np.float64)),
                       layer=network.layer_names[index], coarse=coarse)
