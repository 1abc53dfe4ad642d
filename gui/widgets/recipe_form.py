"""The recipe part of the training settings: momentum, Nesterov, weight decay, warm-up, label
smoothing, summed loss, lookahead, translation, flip, test-time augmentation, gradient
clipping and early stopping (airbench's pieces and the usual regularisers). Choices, ranges
and starting values are the engine's (engine.training.config, engine.tta)."""

from __future__ import annotations

from PySide6.QtCore import Signal
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QFormLayout,
    QGridLayout,
    QSpinBox,
    QWidget,
)

from engine.training.config import FLIPS, MAX_TRANSLATE, TrainingConfig
from engine.tta import TTA_MODES
from gui.widgets.precise_spin_box import TYPING_ROOM, PreciseSpinBox

# The recipe's number boxes: field -> (label, decimals, step, tooltip).
NUMBERS = {
    "momentum": ("Momentum", 4, 0.05,
                 "SGD: how much of the previous steps carries into each step, in [0, 1)."),
    "weight_decay": ("Weight decay", 5, 0.0001,
                     "Pulls the weights towards zero each step, against overfitting. With "
                     "decoupled_sgd it is given per 1024 images, like the learning rate."),
    "warmup_epochs": ("Warm-up epochs", 2, 0.5,
                      "The learning rate climbs from zero over this many epochs first."),
    "label_smoothing": ("Label smoothing", 3, 0.05,
                        "Trains towards a target that gives this weight to all classes evenly "
                        "instead of all of it to the true class, in [0, 1)."),
    "grad_clip": ("Gradient clip", 2, 0.5,
                  "Scales a step down when the gradient's length exceeds this (0 = off)."),
}
CHECKS = {
    "nesterov": ("Nesterov", "Nesterov momentum (SGD): looks one step ahead before stepping."),
    "sum_loss": ("Sum the loss over the batch",
                 "Follows the gradient of the summed loss, not the mean (airbench)."),
    "lookahead": ("Lookahead",
                  "Keeps a slow moving average of the weights (every 5 steps, from epoch 3) "
                  "and ends with it: a steadier final model (airbench)."),
}
FLIP_TIP = ("Mirrors training images left-right. alternating: a random half each epoch and the "
            "other half the next (airbench); random: each image with probability 1/2. Colour "
            "and grey images only: a mirrored digit is another symbol.")
TTA_TIP = ("Test-time augmentation, stored with the model: predictions averaged over the image "
           "and its mirror (mirror), 1-pixel shifts (translate) or both. Mirrors for colour and "
           "grey images only.")


def _number(value: float) -> str:
    return f"{value:.5f}".rstrip("0").rstrip(".")


class RecipeForm(QWidget):
    changed = Signal()

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        default = TrainingConfig()
        self.numbers: dict[str, PreciseSpinBox] = {}
        for key, (_, decimals, step, tip) in NUMBERS.items():
            box = PreciseSpinBox(decimals=decimals, minimum=0.0, maximum=TYPING_ROOM,
                                 singleStep=step, toolTip=tip)
            box.set_precise(getattr(default, key))
            box.valueChanged.connect(self.changed)
            self.numbers[key] = box
        self.numbers["grad_clip"].setSpecialValueText("off")
        self.checks: dict[str, QCheckBox] = {}
        for key, (text, tip) in CHECKS.items():
            check = QCheckBox(text, toolTip=tip, checked=getattr(default, key))
            check.toggled.connect(self.changed)
            self.checks[key] = check
        self.translate = QSpinBox(minimum=0, maximum=TYPING_ROOM, value=default.translate,
                                  toolTip=f"Random shifts of up to this many pixels (0 to "
                                  f"{MAX_TRANSLATE}), reflected at the border; used instead of "
                                  "the augmentation's shifts and crops (airbench: 2).")
        self.translate.setSpecialValueText("off")
        self.flip = QComboBox(toolTip=FLIP_TIP)
        self.flip.addItems(list(FLIPS))
        self.flip.setCurrentText(default.flip)
        self.tta = QComboBox(toolTip=TTA_TIP)
        self.tta.addItems(TTA_MODES)
        self.tta.setCurrentText(default.tta)
        self.early_stopping = QSpinBox(minimum=0, maximum=TYPING_ROOM,
                                       value=default.early_stopping,
                                       toolTip="Stops when the validation loss has not improved "
                                       "for this many epochs (needs a validation split).")
        self.early_stopping.setSpecialValueText("off")
        for box in (self.translate, self.early_stopping):
            box.valueChanged.connect(self.changed)
        for combo in (self.flip, self.tta):
            combo.currentIndexChanged.connect(self.changed)

        left, right = QFormLayout(), QFormLayout()
        for form in (left, right):
            form.setHorizontalSpacing(12)
        for key, (label, *_rest) in NUMBERS.items():
            left.addRow(label, self.numbers[key])
        left.insertRow(1, "", self.checks["nesterov"])
        right.addRow("Translate (px)", self.translate)
        right.addRow("Flip", self.flip)
        right.addRow("Test-time aug.", self.tta)
        right.addRow("Early stopping", self.early_stopping)
        right.addRow(self.checks["sum_loss"])
        right.addRow(self.checks["lookahead"])
        grid = QGridLayout(self)
        grid.setContentsMargins(0, 0, 0, 0)
        grid.setHorizontalSpacing(24)
        grid.addLayout(left, 0, 0)
        grid.addLayout(right, 0, 1)

    def values(self) -> dict:
        return {**{key: box.precise_value() for key, box in self.numbers.items()},
                **{key: check.isChecked() for key, check in self.checks.items()},
                "translate": self.translate.value(), **FLIPS[self.flip.currentText()],
                "tta": self.tta.currentText(), "early_stopping": self.early_stopping.value()}

    def set_values(self, values: dict) -> None:
        """Sets the fields present in ``values``; others are left as they are."""
        for key, box in self.numbers.items():
            if key in values:
                box.set_precise(float(values[key]))
        for key, check in self.checks.items():
            if key in values:
                check.setChecked(bool(values[key]))
        for key, box in (("translate", self.translate), ("early_stopping", self.early_stopping)):
            if key in values:
                box.setValue(int(values[key]))
        if "alternating_flip" in values or "random_flip" in values:
            fields = {key: bool(values.get(key, now)) for key, now in
                      FLIPS[self.flip.currentText()].items()}
            # Both on comes from no TrainingConfig (it refuses that); alternating then.
            self.flip.setCurrentText(next((name for name, flip in FLIPS.items()
                                           if flip == fields), "alternating"))
        if values.get("tta") in TTA_MODES:
            self.tta.setCurrentText(values["tta"])

    def summary(self) -> str:
        """The settings that differ from the engine's defaults, in a few words."""
        default, now = TrainingConfig().to_dict(), self.values()
        words = {"nesterov": "Nesterov", "sum_loss": "summed loss", "lookahead": "lookahead"}
        parts = [f"{NUMBERS[key][0].lower()} {_number(now[key])}" for key in NUMBERS
                 if now[key] != default[key]]
        parts += [words[key] for key in CHECKS if now[key] != default[key]]
        if now["translate"]:
            parts.append(f"translate {now['translate']}")
        if self.flip.currentText() != "none":
            parts.append(f"{self.flip.currentText()} flip")
        if now["tta"] != "none":
            parts.append(f"TTA {now['tta']}")
        if now["early_stopping"]:
            parts.append(f"early stopping {now['early_stopping']}")
        return ", ".join(parts) or "the engine's defaults"
