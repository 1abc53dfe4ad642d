"""Tiny synthetic datasets and models so the GUI tests run in seconds."""

from __future__ import annotations

import numpy as np
import pytest

from engine.data import Dataset
from engine.training.config import TrainingConfig
from engine.training.run import train_model

TINY_SPEC = [
    {"type": "conv2d", "filters": 2, "kernel_size": 3, "padding": "same"},
    {"type": "relu"},
    {"type": "maxpool2d", "pool_size": 2},
    {"type": "flatten"},
    {"type": "dense", "units": "num_classes"},
]
TINY_SETTINGS = {"epochs": 2, "batch_size": 16, "optimizer": "adam", "lr": 0.01,
                 "schedule": "constant", "augment": False, "seed": 0, "threads": 1,
                 "val_split": 0.2}


def make_dataset(n_train: int = 96, n_test: int = 36, size: int = 8, classes: int = 3,
                 seed: int = 0, name: str = "tiny") -> Dataset:
    """Class c has a bright horizontal band in the c-th third of the image, over noise."""
    rng = np.random.default_rng(seed)

    def split(n: int) -> tuple[np.ndarray, np.ndarray]:
        y = np.arange(n) % classes
        rng.shuffle(y)
        x = rng.integers(0, 60, (n, size, size, 1)).astype(np.uint8)
        band = size // classes
        for i, c in enumerate(y):
            x[i, c * band:(c + 1) * band, :, 0] = rng.integers(180, 256, (band, size))
        return x, y.astype(np.int64)

    x_train, y_train = split(n_train)
    x_test, y_test = split(n_test)
    return Dataset(name=name, x_train=x_train, y_train=y_train, x_test=x_test, y_test=y_test,
                   class_names=[f"class {c}" for c in range(classes)], kind="digits",
                   source="synthetic (tests)")


def tiny_config(**changes) -> TrainingConfig:
    return TrainingConfig(dataset="tiny", arch=TINY_SPEC, **{**TINY_SETTINGS, **changes})


def slow_setup(window, epochs: int = 200) -> None:
    """A run long enough to pause, stop or close in the middle of (4 images a batch)."""
    window.app_model.set_dataset(make_dataset(n_train=200, n_test=20))
    window.data_page.editor.set_spec(tiny_config().arch)
    window.data_page.hyper.set_values({"epochs": epochs, "batch_size": 4})


def colour_model():
    """A 32x32 RGB dataset ("colour" preprocessing) and a tiny model trained on it."""
    grey = make_dataset(n_train=30, n_test=9, size=32)
    colour = type(grey)(name="tinyrgb", x_train=np.repeat(grey.x_train, 3, axis=3),
                        y_train=grey.y_train, x_test=np.repeat(grey.x_test, 3, axis=3),
                        y_test=grey.y_test, class_names=grey.class_names, kind="colour",
                        source="synthetic")
    return colour, train_model(tiny_config(epochs=1), colour)


@pytest.fixture(scope="session")
def tiny_dataset() -> Dataset:
    return make_dataset()


@pytest.fixture(scope="session")
def tiny_model(tiny_dataset):
    return train_model(tiny_config(epochs=1), tiny_dataset)


@pytest.fixture(scope="session")
def digits_dataset() -> Dataset:
    """28x28 like MNIST, so the canvas goes through the real digit preprocessing."""
    return make_dataset(n_train=60, n_test=30, size=28, name="tiny28")


@pytest.fixture(scope="session")
def digits_model(digits_dataset):
    return train_model(tiny_config(epochs=1), digits_dataset)


@pytest.fixture
def settings(tmp_path):
    from gui.settings import Settings

    s = Settings(tmp_path / "settings.ini")
    s.set_checkpoint_dir(tmp_path / "checkpoints")
    return s


@pytest.fixture
def window(qtbot, settings, tiny_dataset, tiny_model):
    """The main window on the tiny dataset and model, set up to train the tiny network."""
    from gui.main_window import MainWindow

    w = MainWindow(settings=settings)
    qtbot.addWidget(w)
    w.app_model.set_dataset(tiny_dataset)
    w.app_model.set_model(tiny_model)
    w.data_page.editor.set_spec(TINY_SPEC)
    w.data_page.hyper.set_values(TINY_SETTINGS)
    w.show()
    yield w
    w.train_page.shutdown()
    w.tasks.wait_all()


@pytest.fixture(autouse=True)
def unattended_questions(monkeypatch):
    """Nobody answers modal questions in the test run: a question a test did not expect (a
    window closed at teardown with an unsaved model) gets Discard, else its default button,
    instead of blocking. Tests that check a question patch QMessageBox.question themselves."""
    from PySide6.QtWidgets import QMessageBox

    asked: list[str] = []

    def answer(parent, title, text, buttons=QMessageBox.StandardButton.Ok,
               default=QMessageBox.StandardButton.NoButton):
        asked.append(title)
        if buttons & QMessageBox.StandardButton.Discard:
            return QMessageBox.StandardButton.Discard
        return default

    monkeypatch.setattr(QMessageBox, "question", staticmethod(answer))
    return asked
