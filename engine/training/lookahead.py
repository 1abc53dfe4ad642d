"""Lookahead with an exponential moving average of the weights, as airbench trains.

From epoch ``start_epoch`` on, every ``every`` steps: the first time, the average starts as a
copy of the model's state; afterwards it moves towards the model by ``1 - rho`` and the model
is reset to it (so the model "looks ahead" from the average), with
``rho = decay_base ** every * (step / total_steps) ** decay_power``: a weak average early, a
strong one at the end. At every epoch end the model takes the average once more, so training
ends on it. The state averaged is the model's whole ``state_dict`` (parameters and BatchNorm
running statistics), as airbench averages every floating-point tensor of its network.
"""

from __future__ import annotations

import numpy as np

from engine.training.callbacks import Callback


class Lookahead(Callback):
    """Keras-style callback; its average is saved in checkpoints (``state_dict``)."""

    def __init__(self, start_epoch: int = 3, every: int = 5, decay_base: float = 0.95,
                 decay_power: float = 3.0) -> None:
        if isinstance(every, bool) or not isinstance(every, int) or every < 1:
            raise ValueError(f"every must be a positive whole number of steps, got {every!r}")
        if isinstance(start_epoch, bool) or not isinstance(start_epoch, int) or start_epoch < 0:
            raise ValueError(f"start_epoch must be a whole number >= 0, got {start_epoch!r}")
        if not 0 < decay_base < 1:
            raise ValueError(f"decay_base must be in (0, 1), got {decay_base!r}")
        self.start_epoch = start_epoch
        self.every = every
        self.decay_base = float(decay_base)
        self.decay_power = float(decay_power)
        self.average: dict[str, np.ndarray] | None = None

    def decay(self, step: int, total_steps: int) -> float:
        """rho at ``step`` (optimizer steps done) of ``total_steps``."""
        return self.decay_base ** self.every * (step / total_steps) ** self.decay_power

    def on_batch_end(self, batch: int, logs: dict) -> None:
        step = logs["step"]
        if logs["epoch"] < self.start_epoch or step % self.every:
            return
        model = self.trainer.model
        if self.average is None:
            self.average = model.state_dict()
            return
        rho = self.decay(step, logs["total_steps"])
        current = model.state_dict()
        for name, avg in self.average.items():
            # avg <- avg + (1 - rho) (current - avg), i.e. torch's lerp_(current, 1 - rho).
            avg += (current[name] - avg) * avg.dtype.type(1.0 - rho)
        model.load_state_dict(self.average)

    def on_epoch_end(self, epoch: int, logs: dict) -> None:
        if self.average is not None:
            self.trainer.model.load_state_dict(self.average)

    def state_dict(self) -> dict:
        return {"average": self.average}

    def load_state_dict(self, state: dict) -> None:
        average = state["average"]
        self.average = None if average is None else {k: np.array(v) for k, v in average.items()}
