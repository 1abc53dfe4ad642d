"""The training form offers the engine's choices and starts at the engine's defaults."""

from __future__ import annotations

from engine.training.config import OPTIMIZERS, SCHEDULES, TrainingConfig
from gui.widgets.hyperparameter_form import HyperparameterForm


def test_form_choices_and_starting_values_are_the_engines(qtbot):
    form = HyperparameterForm()
    qtbot.addWidget(form)
    offered = {box: [box.itemText(i) for i in range(box.count())]
               for box in (form.optimizer, form.schedule)}
    assert offered[form.optimizer] == list(OPTIMIZERS)
    assert offered[form.schedule] == list(SCHEDULES)
    default = TrainingConfig()
    values = form.values()
    for key in ("epochs", "batch_size", "optimizer", "lr", "schedule", "augment", "seed",
                "threads", "val_split"):
        assert values[key] == getattr(default, key), key
    # Every choice the form offers is one the engine accepts.
    for optimizer in OPTIMIZERS:
        form.set_values({"optimizer": optimizer})
        TrainingConfig(**{**default.to_dict(), **form.values()}).validate()
