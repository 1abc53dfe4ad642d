"""Training on a QThread: a worker object that runs ``engine.training.run.train_model`` and reports
through typed signals. It never touches a widget or matplotlib; the GUI thread does.

Usage (what the Train page does)::

    thread = QThread(); worker = TrainingWorker(config, dataset, checkpoint_dir=...)
    worker.moveToThread(thread)
    thread.started.connect(worker.run)
    worker.finished.connect(thread.quit); worker.failed.connect(thread.quit)
    thread.finished.connect(worker.deleteLater)
    thread.start()

``pause()``, ``resume()`` and ``stop()`` may be called from the GUI thread: they set the
trainer's thread-safe flags, which it checks between batches.

The worker also waits, between batches, for a GUI thread that has fallen behind: see
:meth:`TrainingWorker.let_gui_catch_up`.
"""

from __future__ import annotations

import gc
import math
import time
import traceback
from pathlib import Path
from typing import Any

from PySide6.QtCore import QCoreApplication, QObject, Signal, Slot

from engine.training.callbacks import Callback
from engine.training.trainer import TrainingControl
from gui.evaluation import evaluate
from gui.qt_compat import emit
from gui.state import RunResult, TrainingSnapshot
from gui.state.model_facts import clone_trained, run_completed, trained_nothing
from gui.tasks import error_text, is_expected

SNAPSHOT_SECONDS = 5.0
GUI_LAG_SECONDS = 0.02  # the GUI thread behind for longer: the worker waits for it
GUI_WAIT_SECONDS = 0.25  # at most, per batch (the GUI may be blocked on purpose)


class _SignalCallback(Callback):
    """Forwards the trainer's hooks as the worker's signals (runs in the worker thread)."""

    def __init__(self, worker: TrainingWorker):
        self._worker = worker
        self._last_snapshot = 0.0

    def on_train_begin(self, logs: dict) -> None:
        history = self.trainer.history.state_dict() if self.trainer is not None else {}
        emit(self._worker.train_begin, {**logs, "history": history.get("history", {})})
        self._last_snapshot = time.monotonic()

    def on_checkpoint_saved(self, path: str, logs: dict) -> None:
        # Told by the trainer as each checkpoint is written: at the interval, at epoch ends
        # and on stop (polling file times once per batch reported them late or never).
        emit(self._worker.checkpoint_saved, str(path), int(logs.get("step", 0)))

    def on_batch_end(self, batch: int, logs: dict) -> None:
        emit(self._worker.batch_done, int(logs["step"]), dict(logs))
        self._worker.let_gui_catch_up(int(logs["step"]))
        if time.monotonic() - self._last_snapshot > SNAPSHOT_SECONDS:
            self._snapshot()

    def on_epoch_end(self, epoch: int, logs: dict) -> None:
        emit(self._worker.epoch_done, int(epoch), dict(logs))
        self._snapshot()

    def _snapshot(self) -> None:
        # A copy of the parameters, made on this thread so the GUI never reads arrays the
        # optimizer is writing. The spec and normaliser let the GUI rebuild a usable model.
        trainer = self.trainer
        if trainer is not None:
            extra = trainer.extra_state
            emit(self._worker.snapshot_ready, TrainingSnapshot(
                spec=trainer.model.spec,
                input_shape=tuple(trainer.model.input_shape),
                num_classes=trainer.model.num_classes,
                state=trainer.model.state_dict(),
                normalizer=extra.get("normalizer"),
                kind=(extra.get("dataset") or {}).get("kind") or "digits",
                epoch=trainer.epoch, batch=trainer.batch))
        self._last_snapshot = time.monotonic()


class _Receipt(QObject):
    """Lives in the GUI thread and notes the last batch signal that thread has handled."""

    def __init__(self) -> None:
        super().__init__()
        self.step = -1

    @Slot(int, dict)
    def take(self, step: int, logs: dict) -> None:
        self.step = step


class TrainingWorker(QObject):
    train_begin = Signal(dict)
    batch_done = Signal(int, dict)  # batches done in the run so far (1, 2, ...), logs
    epoch_done = Signal(int, dict)  # epoch (0-based), logs
    snapshot_ready = Signal(object)  # TrainingSnapshot of the model in training
    checkpoint_saved = Signal(str, int)  # path, step of the next batch to run
    testing = Signal(float)  # share of the test images evaluated after the last batch
    finished = Signal(object)  # RunResult (also after a stop: it holds what was learned)
    failed = Signal(str)

    def __init__(self, config: Any, dataset: Any, checkpoint_dir: str | Path | None = None,
                 resume_from: str | Path | None = None):
        super().__init__()
        self.config = config
        self.dataset = dataset
        self.checkpoint_dir = None if checkpoint_dir is None else Path(checkpoint_dir)
        self.resume_from = None if resume_from is None else Path(resume_from)
        self.control = TrainingControl()
        self._receipt = _Receipt()  # made in (and kept by) the thread that creates the worker
        self.batch_done.connect(self._receipt.take)
        self._gui_caught_up_at = time.monotonic()
        self._last_step = -1

    # --- called from the GUI thread ----------------------------------------------------------
    def pause(self) -> None:
        self.control.pause()

    def resume(self) -> None:
        self.control.resume()

    def stop(self) -> None:
        self.control.stop()

    def is_paused(self) -> bool:
        return self.control.paused

    # --- runs in the worker thread -----------------------------------------------------------
    @Slot()
    def run(self) -> None:
        from engine.training.run import train_model

        # The objects alive now (the app's, the dataset's) are left out of garbage collection
        # while training: a full collection walks every one of them, holding the GIL, and
        # with a large heap that stalled the GUI thread for 80 ms (tests/gui/test_training).
        gc.freeze()
        try:
            trained = train_model(
                self.config,
                self.dataset,
                callbacks=[_SignalCallback(self)],
                checkpoint_dir=self.checkpoint_dir,
                resume_from=self.resume_from,
                control=self.control,
                # A stopped run is tested below, once, with progress (see _evaluate).
                evaluate_if_stopped=False,
            )
            result = RunResult(trained, self._evaluate(trained), self.dataset,
                               completed=run_completed(trained))
        except Exception as exc:
            if not is_expected(exc):
                traceback.print_exc()
            self._go_home()
            emit(self.failed, error_text(exc))
            return
        finally:
            gc.unfreeze()
        self._go_home()
        emit(self.finished, result)

    def _evaluate(self, trained: Any):
        """The full evaluation the Evaluate page shows (images per confusion cell included),
        on a copy: measuring layer times moves BatchNorm statistics. A stopped run's model
        gets its test metrics from here."""
        x, y = self.dataset.x_test, self.dataset.y_test
        if not len(y) or trained_nothing(trained):  # testing an untrained net tells nothing
            return None
        emit(self.testing, 0.0)
        evaluation = evaluate(clone_trained(trained), x, y,
                              lambda fraction, _message: emit(self.testing, float(fraction)))
        metrics = trained.meta["metrics"]
        if "test_accuracy" not in metrics:
            metrics.update(test_accuracy=evaluation.accuracy,
                           confusion_matrix=evaluation.cm.tolist(),
                           per_class=evaluation.per_class)
        return evaluation

    def let_gui_catch_up(self, step: int) -> None:
        """Sleeps, briefly, until the GUI thread has handled the batches sent to it, when it
        has been behind for over GUI_LAG_SECONDS.

        The GUI thread needs the GIL for every Python slot. Training releases the GIL briefly
        and very often (NumPy calls, os.stat) and takes it back before a waiting thread has
        woken up; in CPython (3.11) each release also restarts that thread's switch-interval
        wait, so it may never ask for the GIL and starve for 100 ms and more (measured: the
        GUI thread asleep on the GIL while training ran on). A sleep hands it over for sure."""
        now = time.monotonic()
        if self._receipt.step >= self._last_step:
            self._gui_caught_up_at = now
        elif now - self._gui_caught_up_at > GUI_LAG_SECONDS:
            deadline = now + GUI_WAIT_SECONDS
            while (self._receipt.step < step and time.monotonic() < deadline
                   and not self.control.stop_requested):
                time.sleep(0.001)
            self._gui_caught_up_at = time.monotonic()
        self._last_step = step

    def _go_home(self) -> None:
        # Hand the object back to the GUI thread before the last signal, so that
        # thread.finished -> deleteLater destroys it there, never on the ending worker thread.
        app = QCoreApplication.instance()
        if app is not None and self.thread() is not app.thread():
            self.moveToThread(app.thread())


def expected_batches(config: Any, dataset: Any) -> int:
    """Batches in the run, as train_model will count them (stratified split included)."""
    from engine.data.split import stratified_split

    y = dataset.y_train
    if config.max_train_images and config.max_train_images < len(y):
        n = config.max_train_images
    else:
        n = len(y)
    if config.val_split and not config.max_train_images:
        train_idx, _ = stratified_split(y, config.val_split, seed=config.seed)
        n = len(train_idx)
    elif config.val_split:
        n = n - round(n * config.val_split)
    return config.epochs * math.ceil(max(1, n) / config.batch_size)
