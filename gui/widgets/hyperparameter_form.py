"""Training settings as a form whose values are every field of the engine's TrainingConfig
(dataset and architecture aside: those are the page's). The common ones (epochs, batch size,
optimizer, learning rate and schedule, augmentation, seed, threads, validation split) are
always shown; the recipe (see recipe_form) folds away under a line that sums it up; the few
left (a cap on training images, the checkpoint cadence) are carried unchanged from the last
``set_values``. Choices, defaults and what is valid are the engine's
(engine.training.config), written nowhere else; a value the engine refuses is a line under
the form."""

from __future__ import annotations

import dataclasses

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QFormLayout,
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QSpinBox,
    QToolButton,
    QWidget,
)

from engine.training.config import OPTIMIZERS, SCHEDULES, TrainingConfig
from gui.widgets.precise_spin_box import TYPING_ROOM, PreciseSpinBox
from gui.widgets.recipe_form import RecipeForm

# What the form accepts beyond the engine's own rules: bounds that catch a slip of the keyboard
# (50 epochs typed as 500). A learning rate above 10 is a typo for SGD and Adam, but
# decoupled_sgd's rate is per 1024 images (airbench: 11.5).
LIMITS = {"epochs": ("Epochs", 1, 500), "batch_size": ("Batch size", 1, 4096),
          "lr": ("Learning rate", 0.00001, 10.0), "val_split": ("Validation split", 0.0, 0.5)}
LR_CEILING = {"decoupled_sgd": 100.0}
COMMON = ("epochs", "batch_size", "optimizer", "lr", "schedule", "augment", "seed", "threads",
          "val_split")
PAGE_FIELDS = ("dataset", "arch")


def _number(value: float) -> str:
    """0.00001 rather than 1e-05; 50 rather than 50.0."""
    return f"{value:.5f}".rstrip("0").rstrip(".")


def _sentence(message: str) -> str:
    """The engine's "momentum must be ..." as a line under the form: "Momentum must be ..."."""
    return message[:1].upper() + message[1:].rstrip(".") + "."


class HyperparameterForm(QWidget):
    changed = Signal()

    def __init__(self, max_threads: int = 8, parent: QWidget | None = None):
        super().__init__(parent)
        default = TrainingConfig()
        self._kind: str | None = None
        self.epochs = QSpinBox(minimum=0, maximum=TYPING_ROOM, value=default.epochs)
        self.batch_size = QSpinBox(minimum=0, maximum=TYPING_ROOM, value=default.batch_size,
                                   singleStep=16)
        self.optimizer = QComboBox()
        self.optimizer.addItems(OPTIMIZERS)
        self.optimizer.setCurrentText(default.optimizer)
        self.optimizer.setToolTip("decoupled_sgd (airbench): learning rate and weight decay "
                                  "are per 1024 images, whatever the batch size.")
        self.lr = PreciseSpinBox(decimals=5, minimum=0.0, maximum=TYPING_ROOM, singleStep=0.0005)
        self.lr.set_precise(default.lr)
        self.schedule = QComboBox()
        self.schedule.addItems(SCHEDULES)
        self.schedule.setCurrentText(default.schedule)
        self.augment = QCheckBox("random shifts / crops")
        self.augment.setChecked(default.augment)
        self.seed = QSpinBox(minimum=0, maximum=2**31 - 1, value=default.seed)
        self.threads = QSpinBox(minimum=0, maximum=max(1, max_threads), value=default.threads)
        self.threads.setSpecialValueText("auto")
        self.val_split = PreciseSpinBox(decimals=2, minimum=0.0, maximum=100.0, singleStep=0.05)
        self.val_split.set_precise(default.val_split)
        self.recipe = RecipeForm()
        self.recipe.setVisible(False)
        self.recipe_button = QToolButton(text="Recipe", checkable=True)
        self.recipe_button.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
        self.recipe_button.setArrowType(Qt.ArrowType.RightArrow)
        self.recipe_button.setAutoRaise(True)
        self.recipe_button.setToolTip("Momentum, weight decay, label smoothing, lookahead, "
                                      "translation, flips, test-time augmentation, ...")
        self.recipe_summary = QLabel()
        self.recipe_summary.setStyleSheet("color: #505050;")
        self.recipe_summary.setWordWrap(True)
        # Settings the form does not show, as the last set_values gave them.
        shown = set(COMMON) | set(self.recipe.values()) | set(PAGE_FIELDS)
        self._carried = {f.name: getattr(default, f.name)
                         for f in dataclasses.fields(TrainingConfig) if f.name not in shown}
        self.error_label = QLabel()
        self.error_label.setObjectName("settingsError")
        self.error_label.setStyleSheet("color: #b00020;")
        self.error_label.setWordWrap(True)
        self.error_label.setVisible(False)

        left, right = QFormLayout(), QFormLayout()
        for form in (left, right):
            form.setHorizontalSpacing(12)
        left.addRow("Epochs", self.epochs)
        left.addRow("Batch size", self.batch_size)
        left.addRow("Optimizer", self.optimizer)
        left.addRow("Learning rate", self.lr)
        left.addRow("LR schedule", self.schedule)
        right.addRow("Augmentation", self.augment)
        right.addRow("Seed", self.seed)
        right.addRow("Threads", self.threads)
        right.addRow("Validation split", self.val_split)
        recipe_row = QHBoxLayout()
        recipe_row.addWidget(self.recipe_button)
        recipe_row.addWidget(self.recipe_summary, 1)
        grid = QGridLayout(self)
        grid.setContentsMargins(0, 0, 0, 0)
        grid.addLayout(left, 0, 0)
        grid.addLayout(right, 0, 1)
        grid.addLayout(recipe_row, 1, 0, 1, 2)
        grid.addWidget(self.recipe, 2, 0, 1, 2)
        grid.addWidget(self.error_label, 3, 0, 1, 2)
        grid.setHorizontalSpacing(24)

        for box in (self.epochs, self.batch_size, self.seed, self.threads):
            box.valueChanged.connect(self.changed)
        for dbox in (self.lr, self.val_split):
            dbox.valueChanged.connect(self.changed)
        self.optimizer.currentIndexChanged.connect(self.changed)
        self.schedule.currentIndexChanged.connect(self.changed)
        self.augment.toggled.connect(self.changed)
        self.recipe.changed.connect(self.changed)
        self.recipe_button.toggled.connect(self.show_recipe)
        self.changed.connect(self._show_problems)
        self._show_problems()

    def show_recipe(self, shown: bool) -> None:
        self.recipe_button.setChecked(shown)
        self.recipe_button.setArrowType(Qt.ArrowType.DownArrow if shown else
                                        Qt.ArrowType.RightArrow)
        self.recipe.setVisible(shown)

    def set_dataset_kind(self, kind: str | None) -> None:
        """The kind of images the run is for ("digits", "grey", "colour"; None = unknown):
        some settings suit only some kinds (no mirrors for digits)."""
        self._kind = kind
        self._show_problems()

    def problems(self) -> list[str]:
        """One line per value outside what the form accepts, then the engine's refusal of the
        whole (empty when all is fine)."""
        found = []
        for key, (label, low, high) in self._limits().items():
            value = getattr(self, key).value()
            if not low <= value <= high:
                found.append(f"{label} {_number(value)} is out of range: use {_number(low)} "
                             f"to {_number(high)}.")
        if found:
            return found
        try:
            TrainingConfig(**self.values()).validate_for_kind(self._kind)
        except ValueError as exc:
            found.append(_sentence(str(exc)))
        return found

    def _limits(self) -> dict:
        label, low, high = LIMITS["lr"]
        return {**LIMITS,
                "lr": (label, low, LR_CEILING.get(self.optimizer.currentText(), high))}

    def _show_problems(self) -> None:
        problems = self.problems()
        self.error_label.setText("\n".join(problems))
        self.error_label.setVisible(bool(problems))
        for key, (label, *_bounds) in LIMITS.items():
            bad = any(p.startswith(label + " ") for p in problems)
            getattr(self, key).setStyleSheet("background: #fde7e9;" if bad else "")
        self.recipe_summary.setText(self.recipe.summary())

    def values(self) -> dict:
        """Every TrainingConfig field but dataset and arch."""
        return {
            "epochs": self.epochs.value(),
            "batch_size": self.batch_size.value(),
            "optimizer": self.optimizer.currentText(),
            "lr": self.lr.precise_value(),
            "schedule": self.schedule.currentText(),
            "augment": self.augment.isChecked(),
            "seed": self.seed.value(),
            "threads": self.threads.value(),
            "val_split": self.val_split.precise_value(),
            **self.recipe.values(),
            **self._carried,
        }

    def set_values(self, values: dict) -> None:
        """Sets the fields present in ``values`` (``TrainingConfig.to_dict()`` sets them all);
        others are left as they are. ``changed`` is emitted once, at the end."""
        self.blockSignals(True)
        try:
            for key, box in (("epochs", self.epochs), ("batch_size", self.batch_size),
                             ("seed", self.seed), ("threads", self.threads)):
                if key in values:
                    box.setValue(int(values[key]))
            for key, combo, choices in (("optimizer", self.optimizer, OPTIMIZERS),
                                        ("schedule", self.schedule, SCHEDULES)):
                if values.get(key) in choices:
                    combo.setCurrentText(values[key])
            for key, precise in (("lr", self.lr), ("val_split", self.val_split)):
                if key in values:
                    precise.set_precise(float(values[key]))
            if "augment" in values:
                self.augment.setChecked(bool(values["augment"]))
            self.recipe.set_values(values)
            self._carried.update({k: v for k, v in values.items() if k in self._carried})
        finally:
            self.blockSignals(False)
        self.changed.emit()
