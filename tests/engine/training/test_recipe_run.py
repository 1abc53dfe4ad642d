"""train_model with airbench's settings: every piece reaches the run and the model file."""

from __future__ import annotations

import numpy as np
import pytest

from engine.serialize import load_model, save_model
from engine.training.config import FLIPS, TrainingConfig
from engine.training.run import train_model
from tests.engine.training_toys import toy_dataset

SPEC = [{"type": "whiten", "bias_epochs": 1}, {"type": "gelu"},
        {"type": "conv2d", "filters": 8, "padding": "same", "bias": False, "init": "dirac"},
        {"type": "maxpool2d"},
        {"type": "batchnorm", "momentum": 0.6, "eps": 1e-12, "scale": False}, {"type": "gelu"},
        {"type": "flatten"}, {"type": "dense", "units": "num_classes", "bias": False},
        {"type": "scale", "factor": 1 / 9}]


def test_a_run_with_the_recipe_fits_whitening_freezes_its_bias_and_keeps_tta(tmp_path):
    dataset = toy_dataset(n_train=96, n_test=30, shape=(9, 9, 1))
    config = TrainingConfig(dataset="toy", arch=SPEC, epochs=4, batch_size=16,
                            optimizer="decoupled_sgd", lr=2.0, momentum=0.85,
                            weight_decay=0.0153, schedule="triangle", label_smoothing=0.2,
                            sum_loss=True, lookahead=True, translate=1, tta="translate",
                            val_split=0.0)
    trained = train_model(config, dataset)
    model = trained.model
    W = model.layers[0].params["W"].reshape(4, 8)
    assert not np.allclose(np.abs(W[:, :4]), np.eye(4))  # fitted, no longer the pixel basis
    assert model.spec[0]["frozen"] == ["W", "b"]
    assert trained.meta["tta"] == "translate"
    assert trained.meta["metrics"]["test_accuracy"] > 0.6
    loaded = load_model(save_model(trained, tmp_path / "m.pkl"))
    assert loaded.tta == "translate" and "whiten1.b" in loaded.model.frozen_names()


def test_bad_recipe_settings_are_refused_in_one_line():
    for changes, message in (({"tta": "rotate"}, "unknown test-time augmentation 'rotate'"),
                             ({"translate": 9}, "translate must be a whole number of pixels"),
                             ({"lookahead": "yes"}, "lookahead must be true or false"),
                             ({"momentum": 1.0}, r"momentum must be in \[0, 1\), got 1.0"),
                             ({"weight_decay": -0.1}, "weight decay must be >= 0")):
        with pytest.raises(ValueError, match=message):
            TrainingConfig(**changes)


def test_cifar10_defaults_to_airbench93_with_its_recipe():
    from engine.training.config import config_for, recommended_config

    config = recommended_config("cifar10")
    assert config.arch == "airbench93" and config.epochs == 11
    assert (config.optimizer, config.lr, config.momentum, config.weight_decay) == (
        "decoupled_sgd", 11.5, 0.85, 0.0153)
    assert (config.batch_size, config.schedule, config.label_smoothing) == (1024, "triangle", 0.2)
    assert config.sum_loss and config.lookahead and config.alternating_flip
    assert (config.translate, config.tta, config.val_split) == (2, "mirror_translate", 0.0)
    big = config_for("cifar10", "airbench94")
    assert big.epochs == 12 and big.lookahead and big.tta == "mirror_translate"


def test_digits_refuse_mirrors():
    dataset = toy_dataset(n_train=30, n_test=9)
    for changes in ({"tta": "mirror"}, {"tta": "mirror_translate"}, {"alternating_flip": True}):
        config = TrainingConfig(dataset="toy", arch=SPEC, epochs=1, **changes)
        with pytest.raises(ValueError, match="a mirrored digit is another symbol"):
            train_model(config, dataset)


def test_the_mirror_refusal_is_the_configs_own_for_every_kind():
    mirrored = TrainingConfig(tta="mirror_translate", random_flip=True)
    with pytest.raises(ValueError, match="a mirrored digit is another symbol"):
        mirrored.validate_for_kind("digits")
    for kind in ("grey", "colour", None):
        mirrored.validate_for_kind(kind)
    TrainingConfig(tta="translate").validate_for_kind("digits")
    assert [TrainingConfig(**fields).flip for fields in FLIPS.values()] == list(FLIPS)


def test_the_whitening_is_fitted_on_images_of_every_class_when_the_data_comes_sorted():
    from engine.data.dataset import Dataset
    from engine.data.normalize import Normalizer
    from engine.layers.whitening import FIT_IMAGES, PatchWhitening, fitting_sample

    toy = toy_dataset(n_train=2 * FIT_IMAGES, n_test=30, shape=(5, 5, 1))
    order = np.argsort(toy.y_train, kind="stable")  # an image folder: class by class
    x, y = toy.x_train[order], toy.y_train[order]
    assert len(np.unique(y[:FIT_IMAGES])) < 3  # the first 5,000 miss a class
    assert len(np.unique(y[fitting_sample(len(y), seed=0)])) == 3
    dataset = Dataset("toy", x, y, toy.x_test, toy.y_test, toy.class_names, "digits",
                      source="memory")
    config = TrainingConfig(dataset="toy", arch=[*SPEC[:2], {"type": "flatten"}, SPEC[-2]],
                            epochs=1, batch_size=2000, optimizer="decoupled_sgd", lr=1.0,
                            sum_loss=True, val_split=0.0)
    trained = train_model(config, dataset)
    norm = Normalizer.from_dict(trained.meta["preprocessing"]["normalizer"]).norm
    expected, first = PatchWhitening(1), PatchWhitening(1)
    expected.fit(norm(x[fitting_sample(len(y), seed=0)]))
    first.fit(norm(x[:FIT_IMAGES]))
    fitted = trained.model.layers[0].params["W"]
    np.testing.assert_allclose(fitted, expected.params["W"], rtol=1e-5, atol=1e-6)
    assert not np.allclose(fitted, first.params["W"], rtol=1e-3, atol=1e-4)
