"""Keras-style training callbacks: the only way code outside the Trainer watches or steers it.

Hooks: ``on_train_begin(logs)``, ``on_epoch_begin(epoch, logs)``, ``on_batch_end(batch, logs)``,
``on_epoch_end(epoch, logs)``, ``on_train_end(logs)``. ``epoch`` and ``batch`` are 0-based
indices (add 1 to show them). ``logs`` is a fresh dict each call with:

- every call: ``epoch``, ``epochs``, ``batch``, ``batches_per_epoch``, ``step`` (batches done
  in the whole run), ``total_steps``, ``lr``;
- ``on_batch_end``: ``loss`` and ``accuracy`` (running means over the epoch so far),
  ``batch_loss``, ``batch_accuracy``, ``images_per_sec``, ``eta_seconds``;
- ``on_epoch_end``: ``loss``, ``accuracy`` (epoch means), ``val_loss``, ``val_accuracy`` (when
  there is validation data), ``images_per_sec``, ``epoch_seconds``, ``eta_seconds``;
- ``on_train_end``: ``completed`` (all epochs ran), ``stopped_at`` ((epoch, batch) of the next
  batch to run), plus the last epoch's values.

One more hook, beyond Keras': ``on_checkpoint_saved(path, logs)`` after each checkpoint.

A callback that must survive a resume keeps its state in ``state_dict()`` / ``load_state_dict()``
(plain data); the Trainer stores it in checkpoints.
"""

from __future__ import annotations

import math
from typing import Any, Protocol

import numpy as np

from engine.model import Sequential


class TrainerView(Protocol):
    """What callbacks read and set on the Trainer that calls them (the Trainer is one; this
    module does not import it: the Trainer imports the callbacks)."""

    model: Sequential
    optimizer: Any
    epoch: int
    batch: int
    stop_training: bool


class Callback:
    """Base class: every hook does nothing; ``self.trainer`` is set before training starts."""

    trainer: TrainerView | None = None

    def set_trainer(self, trainer: TrainerView) -> None:
        self.trainer = trainer

    def on_train_begin(self, logs: dict) -> None:
        pass

    def on_epoch_begin(self, epoch: int, logs: dict) -> None:
        pass

    def on_batch_end(self, batch: int, logs: dict) -> None:
        pass

    def on_epoch_end(self, epoch: int, logs: dict) -> None:
        pass

    def on_train_end(self, logs: dict) -> None:
        pass

    def on_checkpoint_saved(self, path: str, logs: dict) -> None:
        """A checkpoint was written to ``path``; logs hold ``epoch``, ``batch`` and ``step`` of
        the next batch to run."""

    def state_dict(self) -> dict | None:
        """Plain-data state to keep in checkpoints, or None when there is nothing to keep."""
        return None

    def load_state_dict(self, state: dict) -> None:
        pass


class LambdaCallback(Callback):
    """A callback made of plain functions, for tests and small scripts."""

    def __init__(self, on_train_begin=None, on_epoch_begin=None, on_batch_end=None,
                 on_epoch_end=None, on_train_end=None) -> None:
        self._hooks = {"train_begin": on_train_begin, "epoch_begin": on_epoch_begin,
                       "batch_end": on_batch_end, "epoch_end": on_epoch_end,
                       "train_end": on_train_end}

    def on_train_begin(self, logs: dict) -> None:
        if self._hooks["train_begin"]:
            self._hooks["train_begin"](logs)

    def on_epoch_begin(self, epoch: int, logs: dict) -> None:
        if self._hooks["epoch_begin"]:
            self._hooks["epoch_begin"](epoch, logs)

    def on_batch_end(self, batch: int, logs: dict) -> None:
        if self._hooks["batch_end"]:
            self._hooks["batch_end"](batch, logs)

    def on_epoch_end(self, epoch: int, logs: dict) -> None:
        if self._hooks["epoch_end"]:
            self._hooks["epoch_end"](epoch, logs)

    def on_train_end(self, logs: dict) -> None:
        if self._hooks["train_end"]:
            self._hooks["train_end"](logs)


_EPOCH_KEYS = ("loss", "accuracy", "val_loss", "val_accuracy", "lr", "epoch_seconds",
               "images_per_sec")


class History(Callback):
    """Per-epoch values: ``history["val_accuracy"][e]`` is the validation accuracy after epoch e.

    The Trainer owns one and saves it in checkpoints, so a resumed run's history is whole.
    """

    def __init__(self) -> None:
        self.history: dict[str, list[float]] = {}
        self.epochs: list[int] = []

    def on_epoch_end(self, epoch: int, logs: dict) -> None:
        self.epochs.append(epoch)
        for key in _EPOCH_KEYS:
            if key in logs:
                self.history.setdefault(key, []).append(float(logs[key]))

    def state_dict(self) -> dict:
        return {"history": {k: list(v) for k, v in self.history.items()},
                "epochs": list(self.epochs)}

    def load_state_dict(self, state: dict) -> None:
        self.history = {k: [float(x) for x in v] for k, v in state["history"].items()}
        self.epochs = [int(e) for e in state["epochs"]]


class EarlyStopping(Callback):
    """Stop when ``monitor`` has not improved by ``min_delta`` for ``patience`` epochs.

    With ``restore_best_weights`` the model ends with the parameters of its best epoch.
    ``mode`` is "min" or "max"; "auto" picks "max" for accuracies and "min" otherwise.
    """

    def __init__(self, monitor: str = "val_loss", patience: int = 3, min_delta: float = 0.0,
                 mode: str = "auto", restore_best_weights: bool = True) -> None:
        if patience < 0:
            raise ValueError(f"patience must be at least 0, got {patience}")
        if mode == "auto":
            mode = "max" if "acc" in monitor else "min"
        if mode not in ("min", "max"):
            raise ValueError(f"mode must be 'min', 'max' or 'auto', got {mode!r}")
        self.monitor = monitor
        self.patience = patience
        self.min_delta = abs(min_delta)
        self.mode = mode
        self.restore_best_weights = restore_best_weights
        self.best: float | None = None
        self.best_epoch = -1
        self.wait = 0
        self.stopped_epoch: int | None = None
        self.best_weights: dict[str, np.ndarray] | None = None

    def _improved(self, value: float) -> bool:
        if self.best is None:
            return True
        if self.mode == "min":
            return value < self.best - self.min_delta
        return value > self.best + self.min_delta

    def on_epoch_end(self, epoch: int, logs: dict) -> None:
        value = logs.get(self.monitor)
        if value is None or not math.isfinite(value):
            return
        if self._improved(value):
            self.best, self.best_epoch, self.wait = float(value), epoch, 0
            if self.restore_best_weights:
                self.best_weights = self.trainer.model.state_dict()
            return
        self.wait += 1
        if self.wait >= self.patience:
            self.stopped_epoch = epoch
            self.trainer.stop_training = True

    def on_train_end(self, logs: dict) -> None:
        if self.stopped_epoch is not None and self.best_weights is not None:
            self.trainer.model.load_state_dict(self.best_weights)

    def state_dict(self) -> dict:
        return {"best": self.best, "best_epoch": self.best_epoch, "wait": self.wait,
                "stopped_epoch": self.stopped_epoch, "best_weights": self.best_weights}

    def load_state_dict(self, state: dict) -> None:
        self.best = state["best"]
        self.best_epoch = state["best_epoch"]
        self.wait = state["wait"]
        self.stopped_epoch = state["stopped_epoch"]
        self.best_weights = state["best_weights"]


class CallbackList:
    """Calls each hook on every callback in order."""

    def __init__(self, callbacks: list[Callback], trainer: TrainerView) -> None:
        self.callbacks = list(callbacks)
        for cb in self.callbacks:
            cb.set_trainer(trainer)

    def call(self, hook: str, *args: Any) -> None:
        for cb in self.callbacks:
            getattr(cb, hook)(*args)
