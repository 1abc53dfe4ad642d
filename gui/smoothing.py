"""The smoothed loss curve: an exponential moving average of log(loss), bias-corrected."""

from __future__ import annotations

import math

FLOOR = 1e-4  # a batch loss of 0 counts as this (log 0 is -inf; the plot's scale ends near it)


class LossSmoother:
    """Adam's bias correction (divide by 1 - beta^t) makes the average right from the first
    batch instead of starting at the first, highest loss and creeping down. Averaging the
    logarithm (the plot's own scale) lets one spike pass in a few batches."""

    def __init__(self, beta: float = 0.95) -> None:
        if not 0 <= beta < 1:
            raise ValueError(f"beta must be in [0, 1), got {beta!r}")
        self.beta = beta
        self.reset()

    def reset(self) -> None:
        self._average = 0.0
        self._count = 0

    def add(self, loss: float) -> float | None:
        """The smoothed loss after ``loss``; None (and no change) for a non-finite loss."""
        if not math.isfinite(loss) or loss < 0:
            return None
        self._count += 1
        self._average = self.beta * self._average + (1 - self.beta) * math.log(max(loss, FLOOR))
        return math.exp(self._average / (1 - self.beta ** self._count))
