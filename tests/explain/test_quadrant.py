"""A model trained here on an image folder whose class is only where a bright square lies:
Grad-CAM and occlusion must point at that square's quadrant."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from engine import data
from engine.data.normalize import Normalizer
from engine.explain import ShadowNetwork, grad_cam, occlusion
from engine.spec import build_model
from engine.training.optimizers import SGD
from engine.training.trainer import Trainer

SIZE = 16
SQUARE = 4
QUADRANT_SPEC = [
    {"type": "conv2d", "filters": 8, "kernel_size": 3, "padding": "same"},
    {"type": "relu"},
    {"type": "conv2d", "filters": 8, "kernel_size": 3, "padding": "same"},
    {"type": "batchnorm"},
    {"type": "relu"},
    {"type": "maxpool2d", "pool_size": 4},
    {"type": "flatten"},
    {"type": "dense", "units": "num_classes"},
]


def square_image(quadrant: int, rng: np.random.Generator) -> np.ndarray:
    """(SIZE, SIZE, 3) uint8 grey noise with a bright square somewhere inside ``quadrant``
    (0 top-left, 1 top-right, 2 bottom-left, 3 bottom-right)."""
    image = rng.integers(0, 140, (SIZE, SIZE)).astype(np.uint8)
    half = SIZE // 2
    top = (quadrant // 2) * half + rng.integers(0, half - SQUARE + 1)
    left = (quadrant % 2) * half + rng.integers(0, half - SQUARE + 1)
    image[top:top + SQUARE, left:left + SQUARE] = rng.integers(200, 256)
    return np.repeat(image[..., None], 3, axis=2)


def write_image_folder(root: Path, per_class: dict[str, int], seed: int) -> None:
    from PIL import Image

    rng = np.random.default_rng(seed)
    for split, count in per_class.items():
        for quadrant in range(4):
            folder = root / split / f"q{quadrant}"
            folder.mkdir(parents=True)
            for i in range(count):
                Image.fromarray(square_image(quadrant, rng)).save(folder / f"{i}.png")


def quadrant_of(values: np.ndarray) -> int:
    row, col = np.unravel_index(int(np.argmax(values)), values.shape)
    return int(row >= SIZE // 2) * 2 + int(col >= SIZE // 2)


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    root = tmp_path_factory.mktemp("quadrants")
    write_image_folder(root, {"train": 100, "test": 25}, seed=0)
    dataset = data.load(root, use_cache=False, kind="colour", input_shape=(SIZE, SIZE, 1))
    assert dataset.class_names == ["q0", "q1", "q2", "q3"]
    normalizer = Normalizer.fit(dataset.x_train)
    model = build_model(QUADRANT_SPEC, (SIZE, SIZE, 1), 4, seed=0)
    Trainer(model, SGD(model, lr=0.05, momentum=0.9), epochs=4, batch_size=16, seed=0,
            transform=normalizer.norm).fit(dataset.x_train, dataset.y_train)
    x_test = normalizer.norm(dataset.x_test)
    accuracy = np.mean(model.predict_proba(x_test).argmax(axis=1) == dataset.y_test)
    assert accuracy >= 0.95, f"the quadrant model learned too little ({accuracy:.0%})"
    return model, x_test, dataset.y_test


def test_grad_cam_and_occlusion_point_at_the_square(trained):
    model, x_test, y_test = trained
    network = ShadowNetwork(model)
    cam_hits = [quadrant_of(grad_cam(network, x, int(y)).values) == y
                for x, y in zip(x_test, y_test, strict=True)]
    occlusion_hits = [quadrant_of(occlusion(network, x, int(y), patch=4, stride=2).values) == y
                      for x, y in zip(x_test, y_test, strict=True)]
    print(f"quadrant hits: Grad-CAM {np.mean(cam_hits):.0%}, "
          f"occlusion {np.mean(occlusion_hits):.0%}")
    assert len(cam_hits) == 100
    assert np.mean(cam_hits) >= 0.95, f"Grad-CAM in the right quadrant: {np.mean(cam_hits):.0%}"
    assert np.mean(occlusion_hits) >= 0.95, (
        f"occlusion in the right quadrant: {np.mean(occlusion_hits):.0%}")
