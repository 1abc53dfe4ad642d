"""Small float64 networks covering every layer type, with BatchNorm statistics that matter."""

from __future__ import annotations

import numpy as np

from engine.model import Sequential
from engine.spec import build_model

# Conv, BatchNorm, LeakyReLU, max-pool, valid conv, Tanh, avg-pool, Sigmoid, Flatten, Dropout,
# Dense, ReLU: 12x12x2 -> 4 classes.
POOLED_SPEC = [
    {"type": "conv2d", "filters": 4, "kernel_size": 3, "padding": "same"},
    {"type": "batchnorm"},
    {"type": "leaky_relu", "alpha": 0.1},
    {"type": "maxpool2d", "pool_size": 2},
    {"type": "conv2d", "filters": 6, "kernel_size": 3},
    {"type": "batchnorm"},
    {"type": "tanh"},
    {"type": "avgpool2d", "pool_size": 2},
    {"type": "sigmoid"},
    {"type": "flatten"},
    {"type": "dropout", "rate": 0.4},
    {"type": "dense", "units": 8},
    {"type": "batchnorm"},
    {"type": "relu"},
    {"type": "dense", "units": "num_classes"},
]
# Strided conv, integer padding and global average pooling: 9x9x3 -> 3 classes.
GLOBAL_SPEC = [
    {"type": "conv2d", "filters": 5, "kernel_size": 3, "padding": 1},
    {"type": "relu"},
    {"type": "conv2d", "filters": 7, "kernel_size": 3, "stride": 2},
    {"type": "global_avgpool2d"},
    {"type": "dense", "units": "num_classes"},
]
# The airbench pieces: patch whitening, GELU, convolutions and dense without bias, BatchNorm
# without a learned scale, a fixed scale: 10x10x3 -> 3 classes.
AIRBENCH_SPEC = [
    {"type": "whiten", "kernel_size": 2},
    {"type": "gelu"},
    {"type": "conv2d", "filters": 6, "kernel_size": 3, "padding": "same", "bias": False},
    {"type": "batchnorm", "scale": False},
    {"type": "gelu"},
    {"type": "maxpool2d", "pool_size": 3},
    {"type": "flatten"},
    {"type": "dense", "units": "num_classes", "bias": False},
    {"type": "scale", "factor": 0.5},
]
NETS = {
    "pooled": (POOLED_SPEC, (12, 12, 2), 4),
    "global": (GLOBAL_SPEC, (9, 9, 3), 3),
    "airbench": (AIRBENCH_SPEC, (10, 10, 3), 3),
}


def float64_net(name: str, seed: int = 0) -> Sequential:
    """A network of NETS in float64 with random BatchNorm scales, shifts and statistics."""
    spec, shape, classes = NETS[name]
    model = build_model(spec, shape, classes, seed=seed).astype(np.float64)
    rng = np.random.default_rng(seed + 100)
    for layer in model.layers:
        if hasattr(layer, "fit"):  # patch whitening: fitted to some images, as in training
            layer.fit(rng.normal(0, 1, (8, *shape)))
        if "running_var" in layer.buffers:
            n = layer.buffers["running_var"].shape
            layer.buffers["running_mean"][...] = rng.normal(0, 0.3, n)
            layer.buffers["running_var"][...] = rng.uniform(0.5, 2.0, n)
            if "gamma" in layer.params:
                layer.params["gamma"][...] = rng.uniform(0.5, 1.5, n)
            layer.params["beta"][...] = rng.normal(0, 0.3, n)
    return model


def image_for(model: Sequential, seed: int = 1) -> np.ndarray:
    """One random image (H, W, C) in the model's dtype."""
    rng = np.random.default_rng(seed)
    return rng.normal(0, 1, model.input_shape).astype(model.dtype)


def logits_from(model: Sequential, index: int, activation: np.ndarray) -> np.ndarray:
    """Run the layers after ``index`` (evaluation mode) on that layer's output -> logits,
    index -1: the whole network from the input."""
    y = activation
    for layer in model.layers[index + 1:]:
        y = layer.forward(y, training=False)
    return y


def centred_gradient(f, x: np.ndarray, eps: float = 1e-6) -> np.ndarray:
    """d f / d x by centred differences, f: array -> scalar (float64)."""
    grad = np.zeros_like(x, dtype=np.float64)
    flat, gflat = x.reshape(-1), grad.reshape(-1)
    for i in range(flat.size):
        keep = flat[i]
        flat[i] = keep + eps
        up = f(x)
        flat[i] = keep - eps
        down = f(x)
        flat[i] = keep
        gflat[i] = (up - down) / (2 * eps)
    return grad
