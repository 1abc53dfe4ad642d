"""Models and images shared by the ONNX tests: the shipped models, every preset with seeded
random weights, and 1,000 test images (real ones when CNN_STUDIO_DATA has the dataset)."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

import engine
from engine.data.normalize import Normalizer
from engine.data.paths import default_cache_dir
from engine.trained_model import TrainedModel

ASSETS = Path(__file__).resolve().parents[2] / "assets"
# every shipped model file (a model added to assets/ is tested without a change here)
SHIPPED = sorted(path.name for path in ASSETS.glob("*.pkl"))
# Captured at import, before any fixture points the per-user folders elsewhere.
REAL_CACHE_DIR = default_cache_dir()
COUNT = 1000


def preset_input(name: str) -> tuple[tuple[int, int, int], str]:
    """The input shape and dataset a preset is made for (its first listed dataset)."""
    dataset = engine.load_preset(name)["datasets"][0]
    return ((32, 32, 3), "cifar10") if dataset == "cifar10" else ((28, 28, 1), dataset)


def dataset_of(trained: TrainedModel) -> str:
    """The dataset a model was trained on, from its metadata (for the real test images)."""
    name = trained.meta.dataset.get("name") or trained.meta.training.get("dataset")
    return str(name or ("cifar10" if trained.input_shape[2] == 3 else "mnist"))


def trained_from_spec(spec, input_shape: tuple[int, int, int], num_classes: int = 10,
                      seed: int = 0, kind: str = "colour", tta: str = "none") -> TrainedModel:
    """A model with seeded random weights, random BatchNorm statistics (so inference-form
    batch norm is tested, not an identity) and a non-trivial normalisation."""
    model = engine.build_model(spec, input_shape, num_classes, seed=seed)
    rng = np.random.default_rng(seed + 100)
    for layer in model.layers:
        if "running_var" in layer.buffers:
            n = layer.buffers["running_var"].size
            layer.buffers["running_mean"][...] = rng.uniform(-0.5, 0.5, n)
            layer.buffers["running_var"][...] = rng.uniform(0.5, 2.0, n)
            if "gamma" not in layer.frozen:  # a fixed scale stays 1
                layer.params["gamma"][...] = rng.uniform(0.5, 1.5, n)
            layer.params["beta"][...] = rng.uniform(-0.2, 0.2, n)
    channels = input_shape[2]
    normalizer = Normalizer(rng.uniform(0.3, 0.6, channels), rng.uniform(0.2, 0.3, channels))
    return TrainedModel(model, {
        "arch_name": spec if isinstance(spec, str) else "custom",
        "class_names": [f"class {i}" for i in range(num_classes)],
        "input_shape": list(input_shape),
        "preprocessing": {"normalizer": normalizer.to_dict(), "kind": kind, "digit": None},
        "metrics": {"test_accuracy": 0.125},
        "training": {"epochs": 3, "lr": 0.05, "optimizer": "sgd"},
        "tta": tta,
    })


def test_images(shape: tuple[int, int, int], dataset: str, count: int = COUNT) -> np.ndarray:
    """``count`` (N, H, W, C) uint8 images: the dataset's first test images when
    CNN_STUDIO_DATA holds it, else seeded uniform noise."""
    data_dir = os.environ.get("CNN_STUDIO_DATA")
    if data_dir and Path(data_dir, dataset).exists():
        from engine import data

        loaded = data.load(dataset, data_dir=data_dir, cache_dir=REAL_CACHE_DIR)
        if tuple(loaded.x_test.shape[1:]) == tuple(shape):
            return loaded.x_test[:count]
    return np.random.default_rng(7).integers(0, 256, (count, *shape), dtype=np.uint8)


test_images.__test__ = False  # a helper, not a test


def run_onnx(model_bytes: bytes, images: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(logits, probabilities) of an exported model on uint8 images, via ONNX Runtime."""
    import onnxruntime as ort

    session = ort.InferenceSession(model_bytes, providers=["CPUExecutionProvider"])
    logits, probabilities = session.run(["logits", "probabilities"],
                                        {"image": images.astype(np.float32) / 255})
    return logits, probabilities
