"""Tiny seeded datasets and networks for the training, model-file and command-line tests."""

from __future__ import annotations

import numpy as np

from engine.data.dataset import Dataset

# Conv + BN + dropout: every kind of state a checkpoint must carry (params, buffers, an RNG).
TOY_SPEC = [
    {"type": "conv2d", "filters": 4, "kernel_size": 3, "padding": "same"},
    {"type": "batchnorm"},
    {"type": "relu"},
    {"type": "maxpool2d", "pool_size": 2},
    {"type": "flatten"},
    {"type": "dropout", "rate": 0.25},
    {"type": "dense", "units": "num_classes"},
]


def toy_images(n: int, seed: int, shape: tuple[int, int, int] = (8, 8, 1), classes: int = 3
               ) -> tuple[np.ndarray, np.ndarray]:
    """x (n, H, W, C) uint8 where class c is a bright horizontal band at rows 2c..2c+2 on noise;
    y (n,) int64. Easy enough that a few epochs of the toy network learn it."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, classes, n).astype(np.int64)
    x = rng.integers(0, 70, (n, *shape)).astype(np.int64)
    band = shape[0] // classes
    for c in range(classes):
        x[y == c, c * band:c * band + band] += 150
    return np.clip(x, 0, 255).astype(np.uint8), y


def toy_dataset(n_train: int = 120, n_test: int = 45, seed: int = 0,
                shape: tuple[int, int, int] = (8, 8, 1), kind: str = "digits",
                name: str = "toy") -> Dataset:
    x_train, y_train = toy_images(n_train, seed, shape)
    x_test, y_test = toy_images(n_test, seed + 1, shape)
    return Dataset(name, x_train, y_train, x_test, y_test, ["top", "middle", "bottom"], kind,
                   source="memory")
