"""Results handed to the application model, each tied to what it was computed for."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from engine.trained_model import TrainedModel

if TYPE_CHECKING:  # gui.evaluation draws mosaics with Qt; this module stays Qt-free
    from gui.evaluation import Evaluation


@dataclass(frozen=True)
class EvaluationResult:
    """``evaluation`` of ``trained`` on the test split of ``dataset`` (the very objects: a
    result is shown only while both are still the current ones)."""

    evaluation: Evaluation
    trained: TrainedModel
    dataset: Any

    def is_for(self, trained: TrainedModel | None, dataset: Any) -> bool:
        return trained is self.trained and dataset is self.dataset


@dataclass(frozen=True)
class RunResult:
    """What a training run hands the GUI when it ends: the model (complete or stopped early),
    its evaluation on the test split of ``dataset`` (None if it could not be made)."""

    trained: TrainedModel
    evaluation: Evaluation | None
    dataset: Any
    completed: bool

    def evaluation_result(self) -> EvaluationResult | None:
        if self.evaluation is None:
            return None
        return EvaluationResult(self.evaluation, self.trained, self.dataset)
