""""Unlike the training data": a familiarity score per image and the threshold below which
the app says "this does not look like anything I know".

The score is the energy score of Liu et al. (2020), logsumexp of the logits (the negative
free energy, higher = more familiar), or the maximum softmax probability of Hendrycks &
Gimpel (2017). Its threshold is calibrated on the model's own test set, so that a chosen
share of real test images (95 % by default) counts as familiar, and it is stored in the
model file under ``"ood"`` (an :class:`OodCalibration` as plain data).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from engine.explain.shadow import as_shadow

META_KEY = "ood"
SCORES = ("energy", "max_probability")


class OodCalibrationError(ValueError):
    """A model file's calibration that is missing pieces or holds nonsense."""


@dataclass(frozen=True)
class OodCalibration:
    """A familiarity threshold: images scoring below ``threshold`` look unlike the training
    data. ``familiar_rate``: the share of the ``images`` calibration images (``dataset``,
    ``split``) at or above it."""

    score: str
    threshold: float
    familiar_rate: float
    images: int
    dataset: str = ""
    split: str = "test"

    def is_unfamiliar(self, scores: np.ndarray | float) -> np.ndarray | bool:
        return np.asarray(scores) < self.threshold if np.ndim(scores) else bool(
            float(scores) < self.threshold)

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, value: Any) -> OodCalibration:
        try:
            calibration = cls(score=str(value["score"]), threshold=float(value["threshold"]),
                              familiar_rate=float(value["familiar_rate"]),
                              images=int(value["images"]), dataset=str(value.get("dataset", "")),
                              split=str(value.get("split", "test")))
        except (TypeError, KeyError, ValueError, AttributeError):
            raise OodCalibrationError("the model file's out-of-distribution calibration is "
                                      "damaged") from None
        if calibration.score not in SCORES or not np.isfinite(calibration.threshold):
            raise OodCalibrationError("the model file's out-of-distribution calibration is "
                                      "damaged")
        return calibration


def scores_from_logits(logits: np.ndarray, score: str = "energy") -> np.ndarray:
    """logits (N, K) -> (N,) familiarity, higher = more like the training data."""
    z = np.asarray(logits, dtype=np.float64)
    top = z.max(axis=1)
    log_sum = top + np.log(np.exp(z - top[:, None]).sum(axis=1))
    if score == "energy":
        return log_sum
    if score == "max_probability":
        return np.exp(top - log_sum)
    raise ValueError(f"unknown familiarity score {score!r}; choose from {', '.join(SCORES)}")


def familiarity_scores(model: Any, x: np.ndarray, score: str = "energy",
                       batch_size: int = 256) -> np.ndarray:
    """x: (N, H, W, C) normalised network input -> (N,) familiarity scores (the model is not
    changed)."""
    return scores_from_logits(as_shadow(model).logits(x, batch_size), score)


def calibrate_ood(model: Any, x_test: np.ndarray, score: str = "energy",
                  familiar_rate: float = 0.95, dataset: str = "", split: str = "test"
                  ) -> OodCalibration:
    """The threshold that keeps ``familiar_rate`` of the test images x_test (N, H, W, C,
    normalised) familiar."""
    if not 0 < familiar_rate < 1:
        raise ValueError(f"familiar_rate must be between 0 and 1, got {familiar_rate!r}")
    if len(x_test) == 0:
        raise ValueError("calibration needs at least one test image")
    scores = familiarity_scores(model, x_test, score)
    threshold = float(np.quantile(scores, 1 - familiar_rate, method="lower"))
    return OodCalibration(score=score, threshold=threshold,
                          familiar_rate=float(np.mean(scores >= threshold)),
                          images=len(scores), dataset=dataset, split=split)


def read_ood_calibration(meta: dict) -> OodCalibration | None:
    """The calibration stored in a model's metadata, or None when it has none."""
    value = meta.get(META_KEY)
    return None if value is None else OodCalibration.from_dict(value)


def store_ood_calibration(meta: dict, calibration: OodCalibration) -> None:
    """Put ``calibration`` into a model's metadata (saved with the model file)."""
    meta[META_KEY] = calibration.to_dict()
