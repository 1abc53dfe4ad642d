"""Training settings (epochs, batch size, optimizer, learning rate and schedule, augmentation,
seed, threads, validation split) as a form whose values are a plain dict. The choices and
the starting values are the engine's (engine.training.config), written nowhere else."""

from __future__ import annotations

from PySide6.QtCore import Signal
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDoubleSpinBox,
    QFormLayout,
    QGridLayout,
    QLabel,
    QSpinBox,
    QWidget,
)

from engine.training.config import OPTIMIZERS, SCHEDULES, TrainingConfig

# What the form accepts. The boxes themselves take far more, so a value typed out of range
# stays as typed and is refused in words (a box's own limit would silently change 50 into 5).
LIMITS = {"epochs": ("Epochs", 1, 500), "batch_size": ("Batch size", 1, 4096),
          "lr": ("Learning rate", 0.00001, 10.0), "val_split": ("Validation split", 0.0, 0.5)}
TYPING_ROOM = 10**6


def _number(value: float) -> str:
    """0.00001 rather than 1e-05; 50 rather than 50.0."""
    return f"{value:.5f}".rstrip("0").rstrip(".")


class HyperparameterForm(QWidget):
    changed = Signal()

    def __init__(self, max_threads: int = 8, parent: QWidget | None = None):
        super().__init__(parent)
        default = TrainingConfig()
        self.epochs = QSpinBox(minimum=0, maximum=TYPING_ROOM, value=default.epochs)
        self.batch_size = QSpinBox(minimum=0, maximum=TYPING_ROOM, value=default.batch_size,
                                   singleStep=16)
        self.optimizer = QComboBox()
        self.optimizer.addItems(OPTIMIZERS)
        self.optimizer.setCurrentText(default.optimizer)
        self.lr = QDoubleSpinBox(decimals=5, minimum=0.0, maximum=TYPING_ROOM, value=default.lr,
                                 singleStep=0.0005)
        self.schedule = QComboBox()
        self.schedule.addItems(SCHEDULES)
        self.schedule.setCurrentText(default.schedule)
        self.augment = QCheckBox("random shifts / crops")
        self.augment.setChecked(default.augment)
        self.seed = QSpinBox(minimum=0, maximum=2**31 - 1, value=default.seed)
        self.threads = QSpinBox(minimum=0, maximum=max(1, max_threads), value=default.threads)
        self.threads.setSpecialValueText("auto")
        self.val_split = QDoubleSpinBox(decimals=2, minimum=0.0, maximum=100.0,
                                        value=default.val_split, singleStep=0.05)
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
        grid = QGridLayout(self)
        grid.setContentsMargins(0, 0, 0, 0)
        grid.addLayout(left, 0, 0)
        grid.addLayout(right, 0, 1)
        grid.addWidget(self.error_label, 1, 0, 1, 2)
        grid.setHorizontalSpacing(24)
        for box in (self.epochs, self.batch_size, self.seed, self.threads):
            box.valueChanged.connect(self.changed)
        for dbox in (self.lr, self.val_split):
            dbox.valueChanged.connect(self.changed)
        self.optimizer.currentIndexChanged.connect(self.changed)
        self.schedule.currentIndexChanged.connect(self.changed)
        self.augment.toggled.connect(self.changed)
        self.changed.connect(self._show_problems)

    def problems(self) -> list[str]:
        """One line per value outside what the form accepts (empty when all are fine)."""
        found = []
        for key, (label, low, high) in LIMITS.items():
            value = getattr(self, key).value()
            if not low <= value <= high:
                found.append(f"{label} {_number(value)} is out of range: use {_number(low)} "
                             f"to {_number(high)}.")
        return found

    def _show_problems(self) -> None:
        problems = self.problems()
        self.error_label.setText("\n".join(problems))
        self.error_label.setVisible(bool(problems))
        for key in LIMITS:
            box = getattr(self, key)
            bad = any(p.startswith(LIMITS[key][0] + " ") for p in problems)
            box.setStyleSheet("background: #fde7e9;" if bad else "")

    def values(self) -> dict:
        return {
            "epochs": self.epochs.value(),
            "batch_size": self.batch_size.value(),
            "optimizer": self.optimizer.currentText(),
            "lr": self.lr.value(),
            "schedule": self.schedule.currentText(),
            "augment": self.augment.isChecked(),
            "seed": self.seed.value(),
            "threads": self.threads.value(),
            "val_split": self.val_split.value(),
        }

    def set_values(self, values: dict) -> None:
        """Sets the fields present in ``values``; others are left as they are."""
        if "epochs" in values:
            self.epochs.setValue(int(values["epochs"]))
        if "batch_size" in values:
            self.batch_size.setValue(int(values["batch_size"]))
        if values.get("optimizer") in OPTIMIZERS:
            self.optimizer.setCurrentText(values["optimizer"])
        if "lr" in values:
            self.lr.setValue(float(values["lr"]))
        if values.get("schedule") in SCHEDULES:
            self.schedule.setCurrentText(values["schedule"])
        if "augment" in values:
            self.augment.setChecked(bool(values["augment"]))
        if "seed" in values:
            self.seed.setValue(int(values["seed"]))
        if "threads" in values:
            self.threads.setValue(int(values["threads"]))
        if "val_split" in values:
            self.val_split.setValue(float(values["val_split"]))
