"""The pretrained defaults in assets/: they load, carry their figures, and predict real digits."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from engine.data.preprocess import digit_to_mnist
from engine.serialize import load_model
from engine.training.run import evaluate_model

ASSETS = Path(__file__).resolve().parents[2] / "assets"
# model file -> the test accuracy its README entry claims, at least
DEFAULTS = {"mnist.pkl": 0.993, "numtadb.pkl": 0.99, "cifar10.pkl": 0.90}
# Digit models stay small; the CIFAR-10 default is airbench94 (1.97 million float32 weights).
MAX_BYTES = {"mnist.pkl": 5_000_000, "numtadb.pkl": 5_000_000, "cifar10.pkl": 9_000_000}


@pytest.fixture(scope="module", params=sorted(DEFAULTS))
def default_model(request):
    return request.param, load_model(ASSETS / request.param)


def test_defaults_load_with_their_metadata(default_model):
    name, trained = default_model
    meta = trained.meta
    assert meta["metrics"]["test_accuracy"] >= DEFAULTS[name]
    assert meta["completed"] and trained.num_classes == 10
    if name != "cifar10.pkl":
        assert meta["preprocessing"]["kind"] == "digits" and trained.input_shape == (28, 28, 1)
    assert (ASSETS / name).stat().st_size < MAX_BYTES[name]
    assert meta["training"]["dataset"] in name
    assert meta["format_version"] == 2  # converted by scripts/convert_models_v2.py


def test_the_mnist_default_reads_a_drawn_one():
    """What the canvas does at start-up: a dark vertical stroke on white, MNIST-style."""
    trained = load_model(ASSETS / "mnist.pkl")
    canvas = np.full((200, 200), 255, np.uint8)
    canvas[40:160, 95:107] = 0
    probs = trained.predict_proba(digit_to_mnist(canvas)[None])[0]
    assert int(np.argmax(probs)) == 1


@pytest.mark.shared_data
def test_defaults_reach_their_accuracy_on_real_test_images(default_model, shared_data_dir):
    from engine import data

    name, trained = default_model
    dataset = data.load(name.removesuffix(".pkl"), data_dir=shared_data_dir)
    trained.check_dataset(dataset)
    report = evaluate_model(trained, dataset.x_test[:2000], dataset.y_test[:2000])
    assert report["accuracy"] >= DEFAULTS[name] - 0.01


def test_the_readme_quotes_each_file_and_its_measured_accuracy(default_model):
    name, trained = default_model
    readme = (ASSETS / "README.md").read_text(encoding="utf-8")
    section = readme.split(f"## {name}")[1].split("\n## ")[0]
    assert f"--out assets/{name}" in section
    assert f"**{trained.meta['metrics']['test_accuracy'] * 100:.2f} %**" in section
