"""A copy of the model in training, made on the training thread for the GUI to use."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

import engine
from engine.trained_model import TrainedModel


@dataclass(frozen=True)
class TrainingSnapshot:
    """The parameters of the model in training after ``batch`` batches of epoch ``epoch``
    (0-based), with what is needed to rebuild a usable model: spec, input shape (H, W, C),
    class count, the Normalizer (as a dict) and the preprocessing kind."""

    spec: list[dict]
    input_shape: tuple[int, int, int]
    num_classes: int
    state: dict[str, np.ndarray]
    normalizer: dict | None
    kind: str
    epoch: int
    batch: int

    def describe(self) -> str:
        return f"the model being trained (epoch {self.epoch + 1}, batch {self.batch})"

    def to_trained(self, class_names: list[str], ascii_names: list[str] | None = None,
                   reuse: TrainedModel | None = None) -> TrainedModel:
        """A TrainedModel with these parameters; ``reuse``'s network is refilled when it has
        the same spec (no rebuild per snapshot). ValueError when the state does not fit."""
        if len(class_names) != self.num_classes:
            class_names = [str(i) for i in range(self.num_classes)]
            ascii_names = None
        if reuse is not None and reuse.model.spec == self.spec:
            model = reuse.model
        else:
            model = engine.build_model(self.spec, input_shape=self.input_shape,
                                       num_classes=self.num_classes)
        model.load_state_dict(self.state)
        meta = {"class_names": list(class_names),
                "ascii_names": list(ascii_names or class_names),
                "input_shape": list(self.input_shape),
                "preprocessing": {"normalizer": self.normalizer, "kind": self.kind}}
        return TrainedModel(model, meta)
