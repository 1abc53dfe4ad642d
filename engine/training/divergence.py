"""The divergence guard: stop a run that has died instead of saving it as good.

A run has diverged when (1) its loss is not finite, (2) its loss, smoothed over batches, has
stayed far above its starting value for a while, or (3) its accuracy has fallen back to chance
after having been clearly above it. The Trainer asks the guard after every batch and every
epoch; the guard raises :class:`TrainingDivergedError` with a message that says what happened,
suggests a lower learning rate and names the last good checkpoint. While the smoothed loss is
above the limit (before the guard gives up) the run is "suspect" and no checkpoint is written,
so the last checkpoint on disk is one made before things went wrong.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass


class TrainingDivergedError(ValueError):
    """The run diverged (non-finite loss, loss far above its start, or back to chance)."""


# The limits: far above = this many times the starting loss (and at least this much more).
LOSS_FACTOR = 3.0
LOSS_MARGIN = 1.0
START_BATCHES = 1  # the starting loss: the first batch, before any update
SMOOTHING = 0.1  # weight of each new batch in the smoothed loss
PATIENCE_BATCHES = 30  # how long the smoothed loss may stay above the limit
# "Clearly above chance" and "back at chance", as fractions of the way from chance to 100 %.
ABOVE_CHANCE = 0.25
AT_CHANCE = 0.05


@dataclass
class GuardState:
    """What the guard has seen so far (stored in checkpoints, so a resumed run keeps it)."""

    start_losses: list[float]
    smoothed: float | None = None
    batches_above: int = 0
    best_accuracy: float = 0.0


class DivergenceGuard:
    """Watches one run's losses and accuracies; ``num_classes`` sets the chance level."""

    def __init__(self, num_classes: int) -> None:
        self.chance = 1.0 / max(int(num_classes), 2)
        self.state = GuardState(start_losses=[])

    @property
    def start_loss(self) -> float | None:
        losses = self.state.start_losses
        return sum(losses) / len(losses) if losses else None

    @property
    def loss_limit(self) -> float | None:
        start = self.start_loss
        return None if start is None else max(LOSS_FACTOR * start, start + LOSS_MARGIN)

    @property
    def suspect(self) -> bool:
        """True while the smoothed loss is above the limit: no checkpoint should be written."""
        return self.state.batches_above > 0

    def after_batch(self, loss: float, lr: float, where: str, last_checkpoint: str | None
                    ) -> None:
        """Check one batch's loss; raise TrainingDivergedError when the run has diverged."""
        if not math.isfinite(loss):
            raise TrainingDivergedError(
                f"training stopped: the loss became {loss} at {where}"
                + self._advice(lr, last_checkpoint))
        s = self.state
        if len(s.start_losses) < START_BATCHES:
            s.start_losses.append(loss)
        s.smoothed = loss if s.smoothed is None else (1 - SMOOTHING) * s.smoothed + (
            SMOOTHING * loss)
        limit = self.loss_limit
        if len(s.start_losses) < START_BATCHES or limit is None or s.smoothed <= limit:
            s.batches_above = 0
            return
        s.batches_above += 1
        if s.batches_above >= PATIENCE_BATCHES:
            raise TrainingDivergedError(
                f"training stopped: the loss has stayed far above its starting value "
                f"({s.smoothed:.4g} against {self.start_loss:.4g} at the start) for "
                f"{s.batches_above} batches, up to {where}" + self._advice(lr, last_checkpoint))

    def after_epoch(self, accuracy: float, lr: float, where: str, last_checkpoint: str | None
                    ) -> None:
        """Check an epoch's accuracy (validation if there is one, else training)."""
        s = self.state
        above = self.chance + ABOVE_CHANCE * (1 - self.chance)
        at = self.chance + AT_CHANCE * (1 - self.chance)
        if s.best_accuracy >= above and accuracy <= at:
            raise TrainingDivergedError(
                f"training stopped: the accuracy fell to chance ({accuracy * 100:.1f} %, chance "
                f"is {self.chance * 100:.1f} %) at {where} after reaching "
                f"{s.best_accuracy * 100:.1f} %" + self._advice(lr, last_checkpoint))
        s.best_accuracy = max(s.best_accuracy, accuracy)

    @staticmethod
    def _advice(lr: float, last_checkpoint: str | None) -> str:
        text = (f"; the learning rate ({lr:g}) is probably too high, try a lower one "
                f"(e.g. {lr / 10:g})")
        if last_checkpoint:
            text += f"; the last good checkpoint is {last_checkpoint}"
        return text + "; no model was saved"

    def state_dict(self) -> dict:
        return asdict(self.state)

    def load_state_dict(self, state: dict) -> None:
        try:
            self.state = GuardState(
                start_losses=[float(v) for v in state.get("start_losses", [])],
                smoothed=None if state.get("smoothed") is None else float(state["smoothed"]),
                batches_above=int(state.get("batches_above", 0)),
                best_accuracy=float(state.get("best_accuracy", 0.0)))
        except (TypeError, ValueError, AttributeError):
            raise ValueError("the divergence guard's state in the checkpoint is malformed"
                             ) from None
