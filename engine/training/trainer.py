"""The Trainer: mini-batch training driven by callbacks, with checkpoints that resume exactly.

Determinism: the order of each epoch comes from ``default_rng([seed, epoch])`` and each batch's
augmentation from ``default_rng([seed, epoch, batch, 1])``, so both are functions of the position
alone; the remaining randomness (dropout's generators inside the model) is saved in every
checkpoint. A run stopped at any batch and resumed from its checkpoint therefore ends with the
same bits as an uninterrupted run with the same seed and thread count.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import numpy as np

from engine.training.callbacks import Callback, CallbackList, EarlyStopping, History, LambdaCallback
from engine.training.checkpoint import save_checkpoint
from engine.training.config import TrainingConfig, recommended_config
from engine.training.divergence import DivergenceGuard, TrainingDivergedError

__all__ = ["Callback", "EarlyStopping", "History", "LambdaCallback", "Trainer",
           "TrainingConfig", "TrainingControl", "TrainingDivergedError", "recommended_config"]

_STATE_VERSION = 1


class TrainingControl:
    """Stop and pause flags shared between the training thread and, e.g., the GUI thread.

    All methods are thread-safe; the Trainer checks the flags between batches.
    """

    def __init__(self) -> None:
        self._stop = threading.Event()
        self._running = threading.Event()
        self._running.set()

    def stop(self) -> None:
        self._stop.set()
        self._running.set()  # a paused run must wake up to stop

    def pause(self) -> None:
        self._running.clear()

    def resume(self) -> None:
        self._running.set()

    @property
    def stop_requested(self) -> bool:
        return self._stop.is_set()

    @property
    def paused(self) -> bool:
        return not self._running.is_set()

    def wait_while_paused(self, poll: float = 0.1) -> float:
        """Block while paused (returns at once otherwise); returns the seconds spent waiting."""
        if self._running.is_set():
            return 0.0
        start = time.perf_counter()
        while not self._running.wait(poll):
            pass
        return time.perf_counter() - start


def _default_loss(logits: np.ndarray, y: np.ndarray, label_smoothing: float = 0.0
                  ) -> tuple[float, np.ndarray]:
    from engine.losses import softmax_cross_entropy

    return softmax_cross_entropy(logits, y, label_smoothing=label_smoothing)


def _to_float32(x: np.ndarray) -> np.ndarray:
    if x.dtype == np.uint8:
        return x.astype(np.float32) / np.float32(255.0)
    return x.astype(np.float32, copy=False)


def clip_gradients(model: Any, max_norm: float) -> float:
    """Scale all gradients in place so their global L2 norm is at most ``max_norm``.

    Returns the norm before clipping.
    """
    grads = [g for _, _, g in model.parameters()]
    norm = math.sqrt(sum(float(np.vdot(g, g)) for g in grads))
    if norm > max_norm > 0:
        scale = max_norm / (norm + 1e-12)
        for g in grads:
            g *= g.dtype.type(scale)
    return norm


class _EtaTimer:
    """Mean seconds per batch and per validation pass, measured in this fit() call."""

    def __init__(self) -> None:
        self.batch_seconds, self.batches = 0.0, 0
        self.val_seconds, self.vals = 0.0, 0

    def add_batch(self, seconds: float) -> None:
        self.batch_seconds += seconds
        self.batches += 1

    def add_validation(self, seconds: float) -> None:
        self.val_seconds += seconds
        self.vals += 1

    def eta(self, batches_left: int, validations_left: int) -> float:
        per_batch = self.batch_seconds / max(self.batches, 1)
        per_val = self.val_seconds / self.vals if self.vals else 0.0
        return batches_left * per_batch + validations_left * per_val


class Trainer:
    """Trains ``model`` with ``optimizer`` on arrays.

    model: an engine model (forward/backward/parameters/state_dict); optimizer: an
    engine.training.optimizers object with a settable ``lr``. ``schedule``: callable(step) ->
    lr, or None for a constant rate. ``augment``: callable(batch (B, H, W, C) uint8, rng) ->
    batch, applied to training batches only. ``transform``: callable(batch) -> float32 network
    input (the fitted normaliser); uint8 input defaults to x / 255. ``grad_clip``: maximum
    global gradient norm. ``checkpoint_path`` with ``checkpoint_every`` N writes a checkpoint
    every N batches, at each epoch end and when stopped; ``extra_state`` (plain data) is stored
    in each checkpoint. ``sum_loss``: gradients of the loss summed over the batch rather than
    its mean (airbench's convention; the loss shown stays the mean). An ``augment`` object with
    an ``at(batch, rng, epoch=, indices=)`` method is called that way instead (augmentation
    that depends on the epoch and on which images are in the batch: alternating flip).
    """

    def __init__(self, model: Any, optimizer: Any, *, epochs: int = 1, batch_size: int = 64,
                 seed: int = 0, loss: Callable | None = None, label_smoothing: float = 0.0,
                 schedule: Callable[[int], float] | None = None,
                 augment: Callable[[np.ndarray, np.random.Generator], np.ndarray] | None = None,
                 transform: Callable[[np.ndarray], np.ndarray] | None = None,
                 grad_clip: float | None = None, callbacks: Iterable[Callback] = (),
                 checkpoint_path: str | Path | None = None, checkpoint_every: int = 0,
                 eval_batch_size: int = 256, control: TrainingControl | None = None,
                 extra_state: dict | None = None, sum_loss: bool = False) -> None:
        if epochs < 1:
            raise ValueError(f"epochs must be at least 1, got {epochs}")
        if batch_size < 1:
            raise ValueError(f"batch size must be at least 1, got {batch_size}")
        if grad_clip is not None and grad_clip <= 0:
            raise ValueError(f"gradient clipping norm must be positive, got {grad_clip}")
        self.model = model
        self.optimizer = optimizer
        self.epochs = int(epochs)
        self.batch_size = int(batch_size)
        self.seed = int(seed)
        self.loss_fn = loss or _default_loss
        self.label_smoothing = float(label_smoothing)
        self.sum_loss = bool(sum_loss)
        self.schedule = schedule
        self.augment = augment
        self.transform = transform or _to_float32
        self.grad_clip = grad_clip
        self.checkpoint_path = Path(checkpoint_path) if checkpoint_path else None
        self.checkpoint_every = int(checkpoint_every)
        self.eval_batch_size = int(eval_batch_size)
        self.control = control or TrainingControl()
        self.extra_state = extra_state or {}
        self.history = History()
        self.callbacks = CallbackList([self.history, *callbacks], self)
        # Position of the next batch to run, and the current epoch's running sums.
        self.epoch = 0
        self.batch = 0
        self.step = 0
        self._sums = {"loss": 0.0, "correct": 0, "seen": 0}
        self.completed = False
        self.last_checkpoint: Path | None = None
        self.guard = DivergenceGuard(getattr(model, "num_classes", 2))

    # -- flags the GUI sets from its own thread -------------------------------------------
    @property
    def stop_training(self) -> bool:
        return self.control.stop_requested

    @stop_training.setter
    def stop_training(self, value: bool) -> None:
        if value:
            self.control.stop()

    def pause(self) -> None:
        self.control.pause()

    def resume(self) -> None:
        self.control.resume()

    @property
    def paused(self) -> bool:
        return self.control.paused

    # -- training -----------------------------------------------------------------------
    def _lr_at(self, step: int) -> float:
        return float(self.schedule(step)) if self.schedule else float(self.optimizer.lr)

    def _base_logs(self, batches_per_epoch: int) -> dict:
        return {"epoch": self.epoch, "epochs": self.epochs, "batch": self.batch,
                "batches_per_epoch": batches_per_epoch, "step": self.step,
                "total_steps": self.epochs * batches_per_epoch, "lr": self._lr_at(self.step)}

    def fit(self, x: np.ndarray, y: np.ndarray,
            validation_data: tuple[np.ndarray, np.ndarray] | None = None) -> History:
        """Train on x (N, H, W, C) with labels y (N,) int, from the current position (0, or
        where :meth:`load_state_dict` left it). Returns the History.

        Raises TrainingDivergedError when the run diverges (see engine.training.divergence):
        the loss is not finite, stays far above its start, or accuracy falls back to chance.
        """
        n = len(x)
        if n == 0:
            raise ValueError("there are no training images")
        if len(y) != n:
            raise ValueError(f"{n} training images but {len(y)} labels")
        bpe = math.ceil(n / self.batch_size)
        total_steps = self.epochs * bpe
        timer = _EtaTimer()
        self.completed = False
        self.callbacks.call("on_train_begin", self._base_logs(bpe))
        logs: dict = {}
        while self.epoch < self.epochs and not self.stop_training:
            epoch = self.epoch
            order = np.random.default_rng([self.seed, epoch]).permutation(n)
            if self.batch == 0:
                self._sums = {"loss": 0.0, "correct": 0, "seen": 0}
                self.callbacks.call("on_epoch_begin", epoch, self._base_logs(bpe))
            epoch_start_seen = self._sums["seen"]
            epoch_seconds = 0.0
            while self.batch < bpe:
                self.control.wait_while_paused()
                if self.stop_training:
                    break
                start = time.perf_counter()
                batch_loss, batch_acc, lr = self._train_batch(x, y, order)
                elapsed = time.perf_counter() - start
                epoch_seconds += elapsed
                timer.add_batch(elapsed)
                ips = (self._sums["seen"] - epoch_start_seen) / max(epoch_seconds, 1e-9)
                eta = timer.eta(total_steps - self.step, self.epochs - epoch)
                logs = {**self._base_logs(bpe), "batch": self.batch - 1, "lr": lr,
                        **self._running_logs(), "batch_loss": batch_loss,
                        "batch_accuracy": batch_acc, "images_per_sec": ips, "eta_seconds": eta}
                self.callbacks.call("on_batch_end", self.batch - 1, logs)
                if self.checkpoint_every and self.step % self.checkpoint_every == 0:
                    self.save_checkpoint()
            if self.batch < bpe:  # stopped mid-epoch
                break
            start = time.perf_counter()
            logs = {**self._base_logs(bpe), "batch": bpe - 1, **self._running_logs(),
                    "lr": self._lr_at(max(self.step - 1, 0)),
                    "images_per_sec": (self._sums["seen"] - epoch_start_seen)
                    / max(epoch_seconds, 1e-9)}
            if validation_data is not None and len(validation_data[0]):
                val_loss, val_acc = self.evaluate(*validation_data)
                logs.update(val_loss=val_loss, val_accuracy=val_acc)
            timer.add_validation(time.perf_counter() - start)
            self.guard.after_epoch(logs.get("val_accuracy", logs["accuracy"]), logs["lr"],
                                   f"the end of epoch {epoch + 1}", self._last_checkpoint_text())
            self.epoch, self.batch = epoch + 1, 0
            logs.update(epoch=epoch, epoch_seconds=epoch_seconds,
                        eta_seconds=timer.eta(total_steps - self.step, self.epochs - self.epoch))
            self.callbacks.call("on_epoch_end", epoch, logs)
            if self.checkpoint_path:
                self.save_checkpoint()
        if self.batch and self.checkpoint_path and self.stop_training:
            self.save_checkpoint()
        self.completed = self.epoch >= self.epochs
        self.callbacks.call("on_train_end", {**logs, "completed": self.completed,
                                             "stopped_at": (self.epoch, self.batch)})
        return self.history

    def _train_batch(self, x: np.ndarray, y: np.ndarray, order: np.ndarray
                     ) -> tuple[float, float, float]:
        idx = order[self.batch * self.batch_size:(self.batch + 1) * self.batch_size]
        xb, yb = x[idx], y[idx]
        if self.augment is not None:
            rng = np.random.default_rng([self.seed, self.epoch, self.batch, 1])
            xb = (self.augment.at(xb, rng, epoch=self.epoch, indices=idx)
                  if hasattr(self.augment, "at") else self.augment(xb, rng))
        xb = self.transform(xb)
        lr = self._lr_at(self.step)
        self.optimizer.lr = lr
        self.model.zero_grad()
        logits = self.model.forward(xb, training=True)
        loss, dlogits = self.loss_fn(logits, yb, label_smoothing=self.label_smoothing)
        loss = float(loss)
        self.guard.after_batch(loss, lr, f"epoch {self.epoch + 1}, batch {self.batch + 1}",
                               self._last_checkpoint_text())
        if self.sum_loss:
            dlogits = dlogits * dlogits.dtype.type(len(idx))
        self.model.backward(dlogits, input_grad=False)
        if self.grad_clip:
            clip_gradients(self.model, self.grad_clip)
        self.optimizer.step()
        correct = int(np.sum(np.argmax(logits, axis=1) == yb))
        self._sums["loss"] += loss * len(idx)
        self._sums["correct"] += correct
        self._sums["seen"] += len(idx)
        self.step += 1
        self.batch += 1
        return loss, correct / len(idx), lr

    def _running_logs(self) -> dict:
        seen = max(self._sums["seen"], 1)
        return {"loss": self._sums["loss"] / seen, "accuracy": self._sums["correct"] / seen}

    def evaluate(self, x: np.ndarray, y: np.ndarray) -> tuple[float, float]:
        """Mean loss and accuracy of the model in eval mode on x (N, H, W, C), y (N,)."""
        total_loss, correct = 0.0, 0
        for start in range(0, len(x), self.eval_batch_size):
            xb = self.transform(x[start:start + self.eval_batch_size])
            yb = y[start:start + self.eval_batch_size]
            logits = self.model.forward(xb, training=False)
            loss, _ = self.loss_fn(logits, yb)
            total_loss += float(loss) * len(yb)
            correct += int(np.sum(np.argmax(logits, axis=1) == yb))
        n = max(len(x), 1)
        return total_loss / n, correct / n

    # -- checkpoints --------------------------------------------------------------------
    def _stateful_callbacks(self) -> list[tuple[str, Callback]]:
        named = []
        for i, cb in enumerate(self.callbacks.callbacks[1:]):
            if cb.state_dict() is not None:
                named.append((f"{i}.{type(cb).__name__}", cb))
        return named

    def state_dict(self) -> dict:
        """Everything needed to continue this run exactly, as plain data."""
        return {
            "state_version": _STATE_VERSION,
            "epoch": self.epoch, "batch": self.batch, "step": self.step,
            "seed": self.seed, "epochs": self.epochs, "batch_size": self.batch_size,
            "sums": dict(self._sums),
            "model": self.model.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "generators": self.model.random_state(),
            "history": self.history.state_dict(),
            "callbacks": {name: cb.state_dict() for name, cb in self._stateful_callbacks()},
            "extra": self.extra_state,
            "guard": self.guard.state_dict(),
        }

    def load_state_dict(self, state: dict) -> None:
        """Continue from ``state`` (a checkpoint): the next :meth:`fit` resumes mid-run."""
        for key in ("seed", "batch_size"):
            if int(state[key]) != getattr(self, key):
                raise ValueError(f"the checkpoint was made with {key} {state[key]}, "
                                 f"this run uses {getattr(self, key)}")
        self.model.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.model.set_random_state(state["generators"])
        self.history.load_state_dict(state["history"])
        stored = state.get("callbacks", {})
        for name, cb in self._stateful_callbacks():
            if name in stored:
                cb.load_state_dict(stored[name])
        if isinstance(state.get("guard"), dict):  # checkpoints before the guard have none
            self.guard.load_state_dict(state["guard"])
        self.epoch, self.batch, self.step = int(state["epoch"]), int(state["batch"]), int(
            state["step"])
        self._sums = {"loss": float(state["sums"]["loss"]),
                      "correct": int(state["sums"]["correct"]),
                      "seen": int(state["sums"]["seen"])}

    def _last_checkpoint_text(self) -> str | None:
        return str(self.last_checkpoint) if self.last_checkpoint else None

    def save_checkpoint(self, path: str | Path | None = None) -> Path | None:
        """Write the state atomically to ``path`` (default: ``checkpoint_path``). Returns the
        path written, or None when there is no path or the run is suspect (its loss far above
        the start: the last good checkpoint is kept). Raises TrainingDivergedError when the
        parameters or optimizer state are no longer finite (they cannot be saved)."""
        path = Path(path) if path else self.checkpoint_path
        if path is None or self.guard.suspect:
            return None
        bad = save_checkpoint(self.state_dict(), path)
        if bad:
            part = "optimizer state" if bad[0].startswith("optimizer") else "network"
            raise TrainingDivergedError(
                f"training stopped: the {part} "
                f"overflowed ({bad[0]} holds Inf or NaN) at epoch {self.epoch + 1}, batch "
                f"{self.batch}, so it cannot be saved; the learning rate is probably too high, "
                f"try a lower one" + (f"; the last good checkpoint is {self.last_checkpoint}"
                                      if self.last_checkpoint else "") + "; no model was saved")
        self.last_checkpoint = path
        self.callbacks.call("on_checkpoint_saved", str(path),
                            {"epoch": self.epoch, "batch": self.batch, "step": self.step})
        return path
