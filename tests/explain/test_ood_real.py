"""The shipped models' stored familiarity thresholds, and how well the digit model's tells
digits from scribbles and from CIFAR-10 photos in grey. The figures in the README come from

    CNN_STUDIO_DATA=/path/to/datasets python -m pytest tests/explain/test_ood_real.py -s
"""

from __future__ import annotations

import numpy as np
import pytest

from engine import data
from engine.data.preprocess import image_to_input
from engine.explain import familiarity_scores, read_ood_calibration
from engine.serialize import load_model
from tests.conftest import ROOT
from tests.explain.scribbles import scribble_inputs

ASSETS = ("mnist", "numtadb", "cifar10")


@pytest.mark.parametrize("name", ASSETS)
def test_every_shipped_model_carries_its_calibration(name):
    trained = load_model(ROOT / "assets" / f"{name}.pkl")
    calibration = read_ood_calibration(trained.meta)
    assert calibration is not None
    assert calibration.score == "energy" and calibration.dataset == name
    assert calibration.images == 10000 and 0.95 <= calibration.familiar_rate < 0.951


def test_the_digit_model_flags_scribbles_and_grey_photos(shared_data_dir):
    trained = load_model(ROOT / "assets" / "mnist.pkl")
    calibration = read_ood_calibration(trained.meta)
    mnist = data.load("mnist", shared_data_dir)
    cifar = data.load("cifar10", shared_data_dir)
    # Every 10th CIFAR-10 test photo (all ten classes), grey and preprocessed as the app
    # preprocesses anything loaded for a digit model.
    photos = np.stack([image_to_input(image, (28, 28, 1), "digits")
                       for image in cifar.x_test[::10]])
    sets = {"MNIST test digits": mnist.x_test, "scribbles": scribble_inputs(1000, seed=0),
            "CIFAR-10 test photos in grey": photos}
    flagged = {}
    for label, images in sets.items():
        scores = familiarity_scores(trained.model, trained.normalize(images))
        flagged[label] = float(np.mean(calibration.is_unfamiliar(scores)))
        print(f"{label}: {len(images)} images, {flagged[label]:.1%} flagged as unlike the "
              f"training data (threshold {calibration.threshold:.3f})")
    # The stored threshold is the one the model's own test set gives.
    assert flagged["MNIST test digits"] == pytest.approx(1 - calibration.familiar_rate)
    assert flagged["scribbles"] >= 0.8
    assert flagged["CIFAR-10 test photos in grey"] >= 0.95
