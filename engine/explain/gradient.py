"""Gradient saliency (Simonyan et al., 2014) and SmoothGrad (Smilkov et al., 2017): how
strongly each input pixel moves the class logit."""

from __future__ import annotations

from typing import Any

import numpy as np

from engine.explain.saliency_map import SaliencyMap
from engine.explain.shadow import as_shadow
from engine.layers.activations import softmax

SMOOTHGRAD_NOISE = 0.15  # noise std as a fraction of the image's value range (the paper's 10-20 %)


def input_gradient(model: Any, x: np.ndarray, class_index: int | None = None
                   ) -> tuple[np.ndarray, int, np.ndarray]:
    """d logit_c / d x for one image x (H, W, C) -> (gradient (H, W, C), class explained,
    logits (K,)). The model is not changed."""
    network = as_shadow(model)
    grad, logits, _, c = network.class_gradient(network.one_image(x), class_index)
    return grad[0], c, logits[0]


def gradient_saliency(model: Any, x: np.ndarray, class_index: int | None = None,
                      smooth: int = 0, seed: int = 0, batch_size: int = 32) -> SaliencyMap:
    """|d logit_c / d x|, the largest over the channels, for one image x (H, W, C) -> (H, W).

    ``smooth`` > 0: SmoothGrad, the mean of |gradient| over that many copies of x with
    Gaussian noise (std ``SMOOTHGRAD_NOISE`` of x's value range, drawn from ``seed``), the
    copies run as batches. The class (predicted for the clean image when None) is the same
    for every copy.
    """
    if isinstance(smooth, bool) or not isinstance(smooth, int) or smooth < 0:
        raise ValueError(f"smooth must be a whole number of noisy copies >= 0, got {smooth!r}")
    network = as_shadow(model)
    image = network.one_image(x)
    grad, logits, _, c = network.class_gradient(image, class_index)
    magnitude = np.abs(grad[0])
    if smooth:
        rng = np.random.default_rng(seed)
        sigma = SMOOTHGRAD_NOISE * float(image.max() - image.min())
        total = np.zeros(image.shape[1:], np.float64)
        for start in range(0, smooth, batch_size):
            count = min(batch_size, smooth - start)
            noise = rng.normal(0.0, sigma, (count, *image.shape[1:]))
            noisy = (image + noise).astype(network.dtype)
            batch_logits, _ = network.forward(noisy)
            dlogits = np.zeros_like(batch_logits)
            dlogits[:, c] = 1  # samples are independent in evaluation mode
            total += np.abs(network.backward(dlogits)).sum(axis=0)
        magnitude = (total / smooth).astype(network.dtype)
    return SaliencyMap(values=magnitude.max(axis=-1), class_index=c,
                       method="smoothgrad" if smooth else "gradient",
                       probabilities=softmax(logits[0].astype(np.float64)))
