"""The model the app works with now: the network, its file, whether it is saved, its origin."""

from __future__ import annotations

import enum
from dataclasses import dataclass
from pathlib import Path

from engine.trained_model import TrainedModel
from gui.state.model_facts import arch_name, test_accuracy


class ModelOrigin(enum.Enum):
    FILE = "opened from a file"
    FINISHED_RUN = "trained here"
    STOPPED_RUN = "a stopped run"
    IMPORTED = "imported from another format (ONNX)"


@dataclass(frozen=True)
class CurrentModel:
    """trained: the network; path: its .pkl file (None until saved); saved: nothing would be
    lost by closing; origin: where it came from."""

    trained: TrainedModel
    path: Path | None
    saved: bool
    origin: ModelOrigin

    @property
    def name(self) -> str:
        """The file name, or "unsaved model"."""
        if self.path is not None:
            return self.path.name
        return "unsaved model" if not self.saved else "untitled model"

    def title(self) -> str:
        """"mnist.pkl (lenet5, test accuracy 99.12 %)"."""
        acc = test_accuracy(self.trained)
        acc_text = f", test accuracy {100 * acc:.2f} %" if acc is not None else ""
        return f"{self.name} ({arch_name(self.trained)}{acc_text})"
