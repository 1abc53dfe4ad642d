"""What the app is working on — the dataset, the current model, where it lives — without Qt.

Pages read from and write to one ``Session``; they subscribe to its events to stay in step
(``dataset_changed(dataset)``, ``model_changed(trained)``).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import engine
from engine.trained_model import TrainedModel


class Event:
    """A list of callbacks called in order with the new value."""

    def __init__(self) -> None:
        self._callbacks: list[Callable[[Any], None]] = []

    def connect(self, callback: Callable[[Any], None]) -> None:
        self._callbacks.append(callback)

    def emit(self, value: Any) -> None:
        for callback in list(self._callbacks):
            callback(value)


class Session:
    def __init__(self) -> None:
        self.dataset: Any = None  # engine.data.Dataset
        self.trained: TrainedModel | None = None
        self.model_path: Path | None = None
        self.model_dirty = False  # trained here and not saved yet
        self.dataset_changed = Event()
        self.model_changed = Event()

    def set_dataset(self, dataset: Any) -> None:
        self.dataset = dataset
        self.dataset_changed.emit(dataset)

    def set_model(self, trained: TrainedModel | None, path: Path | None = None,
                  dirty: bool = False) -> None:
        self.trained = trained
        self.model_path = path
        self.model_dirty = dirty
        self.model_changed.emit(trained)

    def model_matches_dataset(self) -> str | None:
        """None when the model can be used on the dataset, else why not."""
        if self.trained is None or self.dataset is None:
            return None
        try:
            self.trained.check_dataset(self.dataset)
        except ValueError as exc:
            return str(exc)
        return None


def clone_trained(trained: TrainedModel) -> TrainedModel:
    """An independent copy (own layer caches) for use on another thread."""
    model = trained.model
    copy = engine.build_model(model.spec, input_shape=tuple(model.input_shape),
                              num_classes=model.num_classes, seed=0)
    copy.load_state_dict(model.state_dict())
    copy.arch_name = getattr(model, "arch_name", "custom")
    return TrainedModel(copy, dict(trained.meta))


def arch_name(trained: TrainedModel) -> str:
    """The preset a model was built from (stored in its file), else "custom"."""
    name = trained.meta.get("arch_name") or getattr(trained.model, "arch_name", None)
    return str(name or "custom")


def model_title(trained: TrainedModel | None, path: Path | None) -> str:
    if trained is None:
        return "no model"
    arch = arch_name(trained)
    name = path.name if path is not None else "unsaved"
    acc = (trained.meta.get("metrics") or {}).get("test_accuracy")
    acc_text = f", test accuracy {100 * acc:.2f} %" if isinstance(acc, float) else ""
    return f"{name} ({arch}{acc_text})"
