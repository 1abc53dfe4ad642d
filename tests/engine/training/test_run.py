"""train_model (the one training function of the CLI and the GUI) and TrainingConfig."""

from __future__ import annotations

import numpy as np
import pytest

from engine.data import Normalizer, stratified_split
from engine.serialize import load_model, save_model
from engine.training.callbacks import LambdaCallback
from engine.training.checkpoint import CheckpointError, load_checkpoint
from engine.training.config import config_for
from engine.training.run import TrainingConfig, dataset_fingerprint, recommended_config, train_model
from engine.training.trainer import TrainingControl
from tests.engine.training_toys import TOY_SPEC, toy_dataset


def toy_config(**changes) -> TrainingConfig:
    base = TrainingConfig(dataset="toy", arch=TOY_SPEC, epochs=2, batch_size=16, lr=0.05,
                          val_split=0.2, seed=3)
    return base.replace(**changes)


def test_trains_evaluates_and_describes_the_model():
    dataset = toy_dataset()
    seen = []
    trained = train_model(toy_config(), dataset,
                          callbacks=[LambdaCallback(on_epoch_end=lambda e, lg: seen.append(e))])
    meta = trained.meta
    assert seen == [0, 1] and meta["completed"]
    assert meta["metrics"]["test_accuracy"] >= 0.9
    assert np.sum(meta["metrics"]["confusion_matrix"]) == len(dataset.y_test)
    assert meta["dataset"]["num_train"] == 96 and meta["dataset"]["num_val"] == 24
    assert meta["dataset"]["fingerprint"] == dataset_fingerprint(dataset)
    assert meta["training"] == toy_config().to_dict()
    assert len(meta["history"]["val_accuracy"]) == 2


def test_normaliser_is_fitted_on_the_training_part_only():
    dataset = toy_dataset()
    # make the validation images very different, so fitting on them would show
    _, val_idx = stratified_split(dataset.y_train, 0.2, seed=3)
    dataset.x_train[val_idx] = 255
    trained = train_model(toy_config(epochs=1), dataset)
    train_idx = np.setdiff1d(np.arange(len(dataset.y_train)), val_idx)
    expected = Normalizer.fit(dataset.x_train[train_idx]).to_dict()
    assert trained.meta["preprocessing"]["normalizer"] == expected


def test_augmentation_changes_training_but_stays_seeded():
    dataset = toy_dataset()
    plain = train_model(toy_config(epochs=1), dataset).model.state_dict()
    augmented = train_model(toy_config(epochs=1, augment=True), dataset).model.state_dict()
    again = train_model(toy_config(epochs=1, augment=True), dataset).model.state_dict()
    assert not np.array_equal(plain["conv1.W"], augmented["conv1.W"])
    assert all(np.array_equal(augmented[k], again[k]) for k in augmented)


def test_stopped_run_reports_where_and_can_skip_the_test(tmp_path):
    control = TrainingControl()
    stop = LambdaCallback(on_batch_end=lambda b, lg: lg["step"] == 3 and control.stop())
    trained = train_model(toy_config(), toy_dataset(), callbacks=[stop], control=control,
                          checkpoint_dir=tmp_path, evaluate_if_stopped=False)
    assert not trained.meta["completed"] and trained.meta["stopped_at"] == [0, 3]
    assert "test_accuracy" not in trained.meta["metrics"]
    assert load_checkpoint(trained.meta["checkpoint"])["step"] == 3


def test_resuming_on_other_data_is_refused(tmp_path):
    train_model(toy_config(epochs=1), toy_dataset(), checkpoint_dir=tmp_path)
    with pytest.raises(CheckpointError, match="other data"):
        train_model(None, toy_dataset(seed=9), resume_from=tmp_path)


def test_max_train_images_takes_a_stratified_subset():
    trained = train_model(toy_config(epochs=1, max_train_images=40), toy_dataset())
    assert trained.meta["dataset"]["num_train"] + trained.meta["dataset"]["num_val"] == 40


def test_config_round_trip_and_validation():
    config = toy_config(optimizer="SGD")
    assert config.optimizer == "sgd"
    assert TrainingConfig.from_dict(config.to_dict()) == config
    with pytest.raises(ValueError, match="unknown training settings: colour"):
        TrainingConfig.from_dict({**config.to_dict(), "colour": 1})
    with pytest.raises(ValueError, match="learning rate must be positive"):
        toy_config(lr=0)
    with pytest.raises(ValueError, match="unknown optimizer 'rmsprop'"):
        toy_config(optimizer="rmsprop")
    with pytest.raises(ValueError, match="validation split"):
        toy_config(val_split=1.0)


@pytest.mark.parametrize("name", ["mnist", "numtadb", "cifar10"])
def test_recommended_config_uses_the_dataset_preset(name):
    from engine.spec import load_preset

    config = recommended_config(name)
    preset = load_preset(config.arch)
    assert name in preset["datasets"]
    block = preset["recommended"]
    settings = {**block, **block.get(name, {})}  # a per-dataset block overrides
    for key, value in settings.items():
        if hasattr(config, key):
            assert getattr(config, key) == value
    assert config_for(name) == config


def test_config_for_an_explicit_preset_takes_its_settings():
    from engine.spec import list_presets, load_preset

    name = list_presets()[0]
    config = config_for("mnist", name)
    assert config.arch == name
    if "epochs" in load_preset(name)["recommended"]:
        assert config.epochs == load_preset(name)["recommended"]["epochs"]


def test_a_trained_model_carries_its_familiarity_threshold_calibrated_on_the_test_split(
        tmp_path):
    from engine.explain import read_ood_calibration
    from engine.layers.activations import softmax

    dataset = toy_dataset()
    trained = train_model(toy_config(epochs=1), dataset)
    calibration = read_ood_calibration(trained.meta)
    assert calibration is not None
    assert (calibration.score, calibration.images) == ("energy", len(dataset.y_test))
    assert (calibration.dataset, calibration.split) == ("toy", "test")
    # The energy score by hand, from the probabilities the evaluation uses: log p_k = z_k -
    # logsumexp(z), so logsumexp(z) = z_top - log p_top.
    x = trained.normalize(dataset.x_test)
    logits = np.asarray(trained.model.forward(x, False), np.float64)
    energy = logits.max(axis=1) - np.log(softmax(logits).max(axis=1))
    flagged = energy < calibration.threshold
    assert 0 < flagged.sum() <= 0.05 * len(energy) + 1
    assert calibration.familiar_rate == pytest.approx(1 - flagged.mean())
    assert np.isclose(energy, calibration.threshold, rtol=0, atol=1e-6).any()
    save_model(trained, tmp_path / "toy.pkl")
    assert read_ood_calibration(load_model(tmp_path / "toy.pkl").meta) == calibration


def test_a_run_stopped_without_a_test_pass_has_no_familiarity_threshold():
    from engine.explain import read_ood_calibration

    control = TrainingControl()
    stop = LambdaCallback(on_batch_end=lambda b, lg: lg["step"] == 2 and control.stop())
    trained = train_model(toy_config(), toy_dataset(), callbacks=[stop], control=control,
                          evaluate_if_stopped=False)
    assert read_ood_calibration(trained.meta) is None
