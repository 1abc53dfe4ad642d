"""Why the model says what it says, for the app: a saliency map of one input and the verdict
"unlike the training data", computed on a ShadowNetwork of the model shown (the current model,
or the snapshot of a run in progress), never on the network itself. Qt-free."""

from __future__ import annotations

import numpy as np

from engine.explain import (
    OodCalibration,
    OodCalibrationError,
    SaliencyMap,
    ShadowNetwork,
    explain,
    familiarity_scores,
    read_ood_calibration,
)
from engine.trained_model import TrainedModel

DIGIT_CLASSES = [str(d) for d in range(10)]


def calibration_of(trained: TrainedModel | None) -> OodCalibration | None:
    """The model's familiarity calibration; None when it has none (or a damaged one: the
    warning is optional, so a model without it just shows none)."""
    if trained is None:
        return None
    try:
        return read_ood_calibration(trained.meta)
    except OodCalibrationError:
        return None


def unfamiliar_text(trained: TrainedModel) -> str:
    """The warning for an input unlike the training data, in the model's own terms."""
    if trained.kind == "digits" and list(trained.class_names) == DIGIT_CLASSES:
        return "This does not look like any digit I know."
    return f"This does not look like any of the {trained.num_classes} classes I know."


class Explainer:
    """Maps and verdicts for the model shown; call :meth:`use` whenever it changes (a new
    snapshot included: the shadow copy is rebuilt from it, so explaining never touches the
    model in training)."""

    def __init__(self) -> None:
        self.trained: TrainedModel | None = None
        self.calibration: OodCalibration | None = None
        self._network: ShadowNetwork | None = None

    def use(self, trained: TrainedModel | None) -> None:
        self.trained = trained
        self.calibration = calibration_of(trained)
        self._network = None

    def network(self) -> ShadowNetwork:
        if self._network is None:
            if self.trained is None:
                raise ValueError("no model to explain")
            self._network = ShadowNetwork(self.trained.model)
        return self._network

    def explain(self, pixels: np.ndarray, method: str, class_index: int | None = None
                ) -> SaliencyMap:
        """pixels: (H, W, C) uint8 in the model's input shape -> the ``method`` map for
        ``class_index`` (the predicted class when None). ValueError when it cannot be made."""
        x = self.network_input(pixels)
        return explain(self.network(), x, method, class_index)

    def is_unfamiliar(self, pixels: np.ndarray) -> bool | None:
        """True when ``pixels`` (H, W, C) uint8 look unlike the training data; None when the
        model has no calibration to tell."""
        if self.calibration is None or self.trained is None:
            return None
        x = self.network_input(pixels)
        score = float(familiarity_scores(self.network(), x[None], self.calibration.score)[0])
        return bool(self.calibration.is_unfamiliar(score))

    def network_input(self, pixels: np.ndarray) -> np.ndarray:
        if self.trained is None:
            raise ValueError("no model to explain")
        return self.trained.normalize(np.asarray(pixels)[None])[0]
