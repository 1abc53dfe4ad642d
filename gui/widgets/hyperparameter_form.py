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
    QSpinBox,
    QWidget,
)

from engine.training.config import OPTIMIZERS, SCHEDULES, TrainingConfig


class HyperparameterForm(QWidget):
    changed = Signal()

    def __init__(self, max_threads: int = 8, parent: QWidget | None = None):
        super().__init__(parent)
        default = TrainingConfig()
        self.epochs = QSpinBox(minimum=1, maximum=500, value=default.epochs)
        self.batch_size = QSpinBox(minimum=1, maximum=4096, value=default.batch_size,
                                   singleStep=16)
        self.optimizer = QComboBox()
        self.optimizer.addItems(OPTIMIZERS)
        self.optimizer.setCurrentText(default.optimizer)
        self.lr = QDoubleSpinBox(decimals=5, minimum=0.00001, maximum=10.0, value=default.lr,
                                 singleStep=0.0005)
        self.schedule = QComboBox()
        self.schedule.addItems(SCHEDULES)
        self.schedule.setCurrentText(default.schedule)
        self.augment = QCheckBox("random shifts / crops")
        self.augment.setChecked(default.augment)
        self.seed = QSpinBox(minimum=0, maximum=2**31 - 1, value=default.seed)
        self.threads = QSpinBox(minimum=0, maximum=max(1, max_threads), value=default.threads)
        self.threads.setSpecialValueText("auto")
        self.val_split = QDoubleSpinBox(decimals=2, minimum=0.0, maximum=0.5,
                                        value=default.val_split, singleStep=0.05)
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
        grid.setHorizontalSpacing(24)
        for box in (self.epochs, self.batch_size, self.seed, self.threads):
            box.valueChanged.connect(self.changed)
        for dbox in (self.lr, self.val_split):
            dbox.valueChanged.connect(self.changed)
        self.optimizer.currentIndexChanged.connect(self.changed)
        self.schedule.currentIndexChanged.connect(self.changed)
        self.augment.toggled.connect(self.changed)

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
