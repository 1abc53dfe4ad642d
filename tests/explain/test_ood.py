"""The familiarity score, its calibration, and its place in the model file."""

from __future__ import annotations

import numpy as np
import pytest

from engine.data.normalize import Normalizer
from engine.explain import (
    OodCalibration,
    OodCalibrationError,
    calibrate_ood,
    familiarity_scores,
    read_ood_calibration,
    store_ood_calibration,
)
from engine.explain.ood import scores_from_logits
from engine.serialize import load_model, save_model
from engine.trained_model import TrainedModel
from tests.explain.nets import float64_net


def test_scores_from_logits_match_their_definitions():
    logits = np.array([[1.0, 2.0, 3.0], [-500.0, 0.0, 500.0], [0.0, 0.0, 0.0]])
    expected_energy = [np.log(np.e + np.e**2 + np.e**3), 500.0, np.log(3)]
    np.testing.assert_allclose(scores_from_logits(logits, "energy"), expected_energy)
    expected_msp = [np.e**3 / (np.e + np.e**2 + np.e**3), 1.0, 1 / 3]
    np.testing.assert_allclose(scores_from_logits(logits, "max_probability"), expected_msp)
    with pytest.raises(ValueError, match="unknown familiarity score"):
        scores_from_logits(logits, "vibes")


@pytest.mark.parametrize("score", ["energy", "max_probability"])
def test_calibration_keeps_the_chosen_share_of_test_images_familiar(score):
    model = float64_net("pooled")
    x = np.random.default_rng(3).normal(size=(200, *model.input_shape))
    calibration = calibrate_ood(model, x, score=score, familiar_rate=0.9, dataset="noise")
    scores = familiarity_scores(model, x, score)
    assert calibration.images == 200
    assert calibration.familiar_rate == np.mean(scores >= calibration.threshold)
    assert 0.9 <= calibration.familiar_rate <= 0.905
    assert calibration.threshold in scores
    flags = calibration.is_unfamiliar(scores)
    assert flags.sum() == 200 - round(calibration.familiar_rate * 200)
    assert calibration.is_unfamiliar(calibration.threshold - 1e-9) is True
    assert calibration.is_unfamiliar(calibration.threshold) is False


def test_calibration_travels_in_the_model_file(tmp_path):
    model = float64_net("global").astype(np.float32)
    normalizer = Normalizer(np.zeros(3), np.ones(3))
    meta = {"class_names": ["a", "b", "c"], "input_shape": [9, 9, 3],
            "preprocessing": {"kind": "colour", "normalizer": normalizer.to_dict()}}
    calibration = OodCalibration("energy", 1.25, 0.95, 100, "toy", "test")
    trained = TrainedModel(model, meta)
    store_ood_calibration(trained.meta, calibration)
    path = save_model(trained, tmp_path / "m.pkl")
    loaded = load_model(path)
    assert read_ood_calibration(loaded.meta) == calibration
    assert read_ood_calibration({"class_names": ["a"]}) is None


@pytest.mark.parametrize("damaged", [
    "energy", {"score": "energy"}, {"score": "energy", "threshold": "x", "familiar_rate": 0.9,
                                    "images": 3},
    {"score": "guess", "threshold": 1.0, "familiar_rate": 0.9, "images": 3},
    {"score": "energy", "threshold": float("nan"), "familiar_rate": 0.9, "images": 3},
])
def test_a_damaged_calibration_is_refused_with_one_line(damaged):
    with pytest.raises(OodCalibrationError, match=r"^the model file's out-of-distribution "
                       r"calibration is damaged$"):
        read_ood_calibration({"ood": damaged})
