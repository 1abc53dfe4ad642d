"""The training settings carry the whole TrainingConfig: a preset's recipe (airbench93's
momentum, weight decay, label smoothing, summed loss, lookahead, translate, flip, TTA ...)
reaches the run, and an opened model's settings come back in full."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from engine import list_presets, load_preset
from engine.data import Dataset
from engine.training.config import TrainingConfig, config_for, recommended_config
from engine.training.run import train_model
from gui.widgets.hyperparameter_form import HyperparameterForm
from tests.gui.conftest import tiny_config

PAGE_FIELDS = ("dataset", "arch")  # the page's, not the form's


def form_part(config: TrainingConfig) -> dict:
    return {k: v for k, v in config.to_dict().items() if k not in PAGE_FIELDS}


def off_default() -> TrainingConfig:
    """Every setting of TrainingConfig changed from its default (the flip: random)."""
    return TrainingConfig(
        dataset="cifar10", arch="airbench93", epochs=7, batch_size=96, optimizer="sgd",
        lr=0.0375, momentum=0.8, nesterov=True, weight_decay=0.00025, schedule="cosine",
        warmup_epochs=0.5, label_smoothing=0.15, grad_clip=2.5, augment=True, seed=3,
        threads=2, val_split=0.2, early_stopping=4, checkpoint_every=25,
        max_train_images=5000, sum_loss=True, lookahead=True, translate=3,
        alternating_flip=False, random_flip=True, tta="mirror")


def cifar_like() -> Dataset:
    rng = np.random.default_rng(0)
    x = rng.integers(0, 256, (40, 32, 32, 3)).astype(np.uint8)
    y = np.arange(40) % 10
    return Dataset(name="cifar10", x_train=x, y_train=y, x_test=x[:10], y_test=y[:10],
                   class_names=[str(c) for c in range(10)], kind="colour", source="synthetic")


def preset_configs() -> list[TrainingConfig]:
    found = []
    for name in list_presets():
        for dataset in load_preset(name).get("datasets", []):
            found.append(config_for(dataset, name))
    return found


def test_the_off_default_config_really_changes_every_field():
    default, changed = TrainingConfig().to_dict(), off_default().to_dict()
    # The two flip fields are one choice (none / alternating / random): random is on.
    assert [k for k in default if default[k] == changed[k]] == ["alternating_flip"]


@pytest.mark.parametrize("config", [*preset_configs(), off_default()],
                         ids=lambda c: f"{c.arch_label}-{c.dataset}")
def test_every_setting_survives_the_form(qtbot, config):
    form = HyperparameterForm()
    qtbot.addWidget(form)
    form.set_values(config.to_dict())
    assert form.values() == form_part(config)
    assert form.problems() == []


def test_settings_the_form_does_not_show_are_kept_not_reset(qtbot):
    form = HyperparameterForm()
    qtbot.addWidget(form)
    form.set_values(off_default().to_dict())
    form.epochs.setValue(9)
    form.set_values({"batch_size": 32})
    expected = {**form_part(off_default()), "epochs": 9, "batch_size": 32}
    assert form.values() == expected


def test_recommended_on_cifar10_sets_up_airbench93_with_its_whole_recipe(window):
    window.app_model.set_dataset(cifar_like())
    window.data_page.recommended_button.click()
    form = window.data_page.hyper
    assert not form.error_label.isVisibleTo(form), form.error_label.text()
    config = window.data_page.training_config()
    assert config.to_dict() == recommended_config("cifar10").to_dict()
    assert window.app_model.training_setup.config.to_dict() == config.to_dict()
    assert (config.lr, config.momentum, config.lookahead, config.tta) == \
        (11.5, 0.85, True, "mirror_translate")
    # Folded away, the recipe is summed up in a line.
    assert not form.recipe.isVisibleTo(form)
    assert "lookahead" in form.recipe_summary.text()
    assert "TTA mirror_translate" in form.recipe_summary.text()
    form.recipe_button.click()
    assert form.recipe.isVisibleTo(form)
    # 11.5 is a per-1024-images rate of decoupled_sgd; for Adam it is a slip of the keyboard.
    form.optimizer.setCurrentText("adam")
    assert form.error_label.text().startswith("Learning rate 11.5 is out of range")


def test_an_opened_models_settings_show_in_full(window, tiny_dataset):
    trained_with = tiny_config(optimizer="sgd", lr=0.05, momentum=0.8, nesterov=True,
                               weight_decay=0.0005, label_smoothing=0.1, grad_clip=1.5,
                               warmup_epochs=0.5, translate=1, tta="translate", sum_loss=True,
                               epochs=1)
    trained = train_model(trained_with, tiny_dataset)
    window.app_model.set_model(trained)
    assert window.data_page.hyper.values() == form_part(trained_with)
    retrained = window.data_page.training_config()
    assert form_part(retrained) == form_part(trained_with)


def test_mirrors_on_digits_are_refused_in_one_line_under_the_form(window):
    form = window.data_page.hyper  # the tiny dataset is digits
    form.set_values({"tta": "mirror"})
    assert form.error_label.isVisibleTo(form)
    assert "mirrored digit" in form.error_label.text()
    assert len(form.error_label.text().splitlines()) == 1
    assert window.app_model.training_setup.config is None
    form.set_values({"tta": "translate"})
    assert not form.error_label.isVisibleTo(form)
    assert window.app_model.training_setup.config.tta == "translate"


def test_a_value_the_engine_refuses_is_a_line_not_an_exception(window):
    form = window.data_page.hyper
    form.set_values({"momentum": 1.5})
    assert form.error_label.text() == "Momentum must be in [0, 1), got 1.5."
    assert form.error_label.isVisibleTo(form)
    assert window.app_model.training_setup.config is None
    with pytest.raises(ValueError, match="Momentum must be"):
        window.data_page.training_config()


def test_every_field_of_the_engines_config_is_the_forms(qtbot):
    form = HyperparameterForm()
    qtbot.addWidget(form)
    fields = {f.name for f in dataclasses.fields(TrainingConfig)} - set(PAGE_FIELDS)
    assert set(form.values()) == fields


def test_the_train_page_run_line_names_the_recipe():
    from engine.training.config import recommended_config
    from gui.run_text import run_line

    line = run_line("cifar10", recommended_config("cifar10", "colour"))
    assert line.startswith("<b>cifar10</b> · airbench93 · 11 epochs · batch 1024")
    assert line.endswith(" · translate 2 · alternating flip · label smoothing 0.2 · summed loss"
                         " · lookahead · TTA mirror_translate")
    from engine.training.config import TrainingConfig

    assert run_line("mnist", TrainingConfig()).endswith("adam lr 0.001 (constant)")
