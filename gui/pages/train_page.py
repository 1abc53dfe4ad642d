"""Train page: start, pause, resume and stop a run on a worker thread and watch it live. The run
is the one set up on the Data & model page (read from the application model); what it produces
goes back to the application model."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from PySide6.QtCore import QThread, QTimer, Signal
from PySide6.QtGui import QFont
from PySide6.QtWidgets import (
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QMessageBox,
    QPlainTextEdit,
    QProgressBar,
    QPushButton,
    QSizePolicy,
    QSplitter,
    QVBoxLayout,
    QWidget,
)

from engine.training.config import CHECKPOINT_EVERY
from gui.messages import show_error
from gui.pages.unfinished_run import UnfinishedRunBanner
from gui.qt_compat import emit
from gui.run_text import epoch_line, progress_line, run_line
from gui.settings import Settings
from gui.state import AppModel, RunResult, TrainingSnapshot, model_facts
from gui.widgets.banner import Banner
from gui.widgets.training_plots import TrainingPlots
from gui.worker import TrainingWorker, expected_batches


class TrainPage(QWidget):
    training_finished = Signal(object)  # RunResult
    snapshot_ready = Signal(object)  # TrainingSnapshot

    def __init__(self, app_model: AppModel, settings: Settings, parent: QWidget | None = None):
        super().__init__(parent)
        self.app_model = app_model
        self.settings = settings
        self._thread: QThread | None = None
        self._worker: TrainingWorker | None = None
        self._pending_resume: Path | None = None
        self._latest: dict | None = None
        self._last_step = -1
        self.batches_seen = 0  # batch signals received in this run (tests read it)

        self.start_button = QPushButton("▶ Start training")
        self.pause_button = QPushButton("Pause")
        self.pause_button.setCheckable(True)
        self.stop_button = QPushButton("■ Stop")
        self.start_button.setToolTip("Train the network set up on the Data & model page")
        self.stop_button.setToolTip("Stop after the current batch; a checkpoint is kept")
        self.run_label = QLabel()
        self.run_label.setWordWrap(True)

        self.resume_banner = UnfinishedRunBanner(self.checkpoint_dir, self.log_message)
        self.resume_label = self.resume_banner.label
        self.resume_button, self.discard_button = self.resume_banner.buttons
        # A stopped run never replaces the current model by itself: the user decides here.
        self.stopped_banner = Banner("#e8f0fe", ("Use this model", "Keep the current one"))
        self.stopped_label = self.stopped_banner.label
        self.use_stopped_button, self.drop_stopped_button = self.stopped_banner.buttons

        self.progress = QProgressBar()
        self.progress.setFormat("%p %")
        self.progress_label = QLabel("Not started")
        mono = QFont("DejaVu Sans Mono")
        mono.setStyleHint(QFont.StyleHint.Monospace)
        self.progress_label.setFont(mono)
        self.checkpoint_label = QLabel("Checkpoint: none yet")
        self.checkpoint_label.setStyleSheet("color: gray;")
        # Labels rewritten while training must not change the window's size constraints:
        # that would relayout (and re-render the plots of) the whole window each time.
        for label in (self.progress_label, self.checkpoint_label, self.run_label):
            label.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)

        self.plot = TrainingPlots(self)
        self.log = QPlainTextEdit()
        self.log.setReadOnly(True)
        self.log.setMaximumBlockCount(5000)
        self.log.setFont(mono)

        controls = QHBoxLayout()
        controls.addWidget(self.start_button)
        controls.addWidget(self.pause_button)
        controls.addWidget(self.stop_button)
        controls.addSpacing(12)
        controls.addWidget(self.run_label, 1)
        progress_box = QGroupBox("Progress")
        pl = QVBoxLayout(progress_box)
        pl.addWidget(self.progress)
        row = QHBoxLayout()
        row.addWidget(self.progress_label, 1)
        row.addWidget(self.checkpoint_label)
        pl.addLayout(row)
        log_box = QGroupBox("Log")
        ll = QVBoxLayout(log_box)
        ll.addWidget(self.log)
        splitter = QSplitter()
        splitter.setOrientation(splitter.orientation().Vertical)
        splitter.addWidget(self.plot)
        splitter.addWidget(log_box)
        splitter.setStretchFactor(0, 3)
        splitter.setStretchFactor(1, 1)
        splitter.setChildrenCollapsible(False)
        layout = QVBoxLayout(self)
        layout.addLayout(controls)
        layout.addWidget(self.resume_banner)
        layout.addWidget(self.stopped_banner)
        layout.addWidget(progress_box)
        layout.addWidget(splitter, 1)

        self._status_timer = QTimer(self)
        self._status_timer.setInterval(200)
        self._status_timer.timeout.connect(self._show_latest)

        self.start_button.clicked.connect(lambda: self.app_model.request_training())
        self.pause_button.toggled.connect(self._on_pause_toggled)
        self.stop_button.clicked.connect(self.stop_training)
        self.resume_button.clicked.connect(self.resume_unfinished)
        self.discard_button.clicked.connect(self.discard_unfinished)
        self.use_stopped_button.clicked.connect(lambda: self.app_model.adopt_pending_run())
        self.drop_stopped_button.clicked.connect(lambda: self.app_model.discard_pending_run())
        app_model.dataset_changed.connect(self._on_dataset_changed)
        app_model.pending_run_changed.connect(self._show_stopped_run)
        self._update_buttons()
        self.check_unfinished()

    # --- state -------------------------------------------------------------------------------
    def is_running(self) -> bool:
        return self._thread is not None

    @property
    def last_step(self) -> int:
        """The last batch reported in this run (batches done so far), -1 before the first."""
        return self._last_step

    def worker(self) -> TrainingWorker | None:
        return self._worker

    def checkpoint_dir(self) -> Path:
        return self.settings.checkpoint_dir() / "current"

    def _update_buttons(self) -> None:
        running = self.is_running()
        self.start_button.setEnabled(not running)
        self.pause_button.setEnabled(running)
        self.stop_button.setEnabled(running)
        self.resume_button.setEnabled(not running)
        self.discard_button.setEnabled(not running)

    # --- starting ----------------------------------------------------------------------------
    def start_training(self, resume_from: Path | None = None) -> bool:
        if self.is_running():
            return False
        dataset = self.app_model.dataset
        if dataset is None or self.app_model.dataset_loading:
            show_error(self, "No dataset", "Load a dataset on the Data & model page first.")
            return False
        config = None
        if resume_from is None:
            setup = self.app_model.training_setup
            try:
                if setup.config is None:
                    raise ValueError(setup.error or "no network is set up")
                config = setup.config.replace(dataset=dataset.name,
                                              checkpoint_every=CHECKPOINT_EVERY)
                config.validate()
            except ValueError as exc:
                show_error(self, "Cannot start training", str(exc))
                return False
            if self.unfinished_checkpoint() is not None and not self._confirm_discard():
                return False
            self.plot.reset(expected_batches(config, dataset), config.epochs, config.lr)
            self.log.clear()
            self.run_label.setText(run_line(dataset.name, config))
        self.log_message(f"Resuming from {resume_from}" if resume_from else "Starting training")
        self.resume_banner.setVisible(False)
        self.app_model.discard_pending_run()
        self.batches_seen = 0
        self._last_step = -1
        self._latest = None

        thread = QThread(self)
        worker = TrainingWorker(config, dataset, checkpoint_dir=self.checkpoint_dir(),
                                resume_from=resume_from)
        worker.moveToThread(thread)
        thread.started.connect(worker.run)
        worker.train_begin.connect(self._on_train_begin)
        worker.batch_done.connect(self._on_batch)
        worker.epoch_done.connect(self._on_epoch)
        worker.snapshot_ready.connect(self._on_snapshot)
        worker.checkpoint_saved.connect(self._on_checkpoint)
        worker.testing.connect(self._on_testing)
        worker.finished.connect(self._on_finished)
        worker.failed.connect(self._on_failed)
        worker.finished.connect(thread.quit)
        worker.failed.connect(thread.quit)
        thread.finished.connect(worker.deleteLater)
        thread.finished.connect(self._on_thread_finished)
        self._thread, self._worker = thread, worker
        self.pause_button.setChecked(False)
        self._update_buttons()
        self.app_model.set_running(True)
        self._status_timer.start()
        self.progress_label.setText("Preparing…")
        # The axes are rendered before the worker competes for the interpreter.
        self.plot.render_then(thread.start)
        return True

    def _confirm_discard(self) -> bool:
        answer = QMessageBox.question(
            self, "Unfinished run",
            "An unfinished run can still be resumed. Start a new run and discard it?",
            QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No,
            QMessageBox.StandardButton.No)
        return answer == QMessageBox.StandardButton.Yes

    def stop_training(self) -> None:
        if self._worker is not None:
            self.log_message("Stopping after this batch…")
            self._worker.stop()

    def _on_pause_toggled(self, paused: bool) -> None:
        if self._worker is None:
            return
        if paused:
            self._worker.pause()
            self.pause_button.setText("Resume")
            self.log_message("Paused")
        else:
            self._worker.resume()
            self.pause_button.setText("Pause")
            self.log_message("Resumed")

    def shutdown(self, msecs: int = 30000) -> None:
        """Stop and wait for the worker (the window is closing)."""
        if self._worker is not None:
            self._worker.stop()
        if self._thread is not None:
            self._thread.quit()
            if self._thread.wait(msecs):
                # Do now what the queued thread.finished slot would do, so that a close
                # right after this does not find a run "in progress".
                self._on_thread_finished()

    # --- worker signals (GUI thread) ---------------------------------------------------------
    def _on_train_begin(self, logs: dict) -> None:
        total = int(logs.get("total_steps", 0))
        self.progress.setRange(0, max(1, total))
        self.progress.setValue(int(logs.get("step", 0)))
        self.plot.set_extent(total, int(logs.get("epochs", 0)), self._max_lr(logs))
        history = logs.get("history") or {}
        # A resumed run shows the epochs it already has.
        if not self.plot.accuracy.data("train")[0]:
            val = history.get("val_accuracy", [])
            for i, acc in enumerate(history.get("accuracy", [])):
                self.plot.add_epoch(i + 1, acc, val[i] if i < len(val) else None)

    def _max_lr(self, logs: dict) -> float | None:
        worker = self._worker
        config = worker.config if worker is not None else None
        return getattr(config, "lr", None) or logs.get("lr")

    def _on_batch(self, step: int, logs: dict) -> None:
        self.batches_seen += 1
        self._last_step = step
        loss = float(logs.get("batch_loss", logs.get("loss", math.nan)))
        lr = float(logs["lr"]) if "lr" in logs else None
        self.plot.add_batch(step, loss, lr)
        self._latest = logs

    def _on_epoch(self, epoch: int, logs: dict) -> None:
        self.plot.add_epoch(epoch + 1, logs.get("accuracy"), logs.get("val_accuracy"))
        self.log_message(epoch_line(epoch, logs))

    def _on_testing(self, fraction: float) -> None:
        self._latest = None  # the last batch's line is replaced by the test's
        self.progress.setRange(0, 100)
        self.progress.setValue(round(100 * fraction))
        self.progress_label.setText(f"Testing the model on the test images: {100 * fraction:.0f} %")

    def _on_checkpoint(self, path: str, step: int) -> None:
        self.checkpoint_label.setText(f"Checkpoint saved after batch {step}: {path}")
        self.checkpoint_label.setToolTip(path)

    def _show_latest(self) -> None:
        logs = self._latest
        if logs is None:
            return
        self._latest = None
        self.progress.setMaximum(max(1, int(logs.get("total_steps", 1))))
        self.progress.setValue(int(logs.get("step", 0)))
        self.progress_label.setText(progress_line(logs, self.pause_button.isChecked()))

    def _on_snapshot(self, snapshot: TrainingSnapshot) -> None:
        try:
            self.app_model.set_snapshot(snapshot)
        except ValueError as exc:
            self.log_message(f"The model in training cannot be shown on Predict: {exc}")
        emit(self.snapshot_ready, snapshot)

    def _on_finished(self, result: RunResult) -> None:
        self._show_latest()
        trained = result.trained
        acc = model_facts.test_accuracy(trained)
        acc_text = f"; test accuracy {100 * acc:.2f} %" if acc is not None else ""
        if result.completed:
            seconds = model_facts.train_seconds(trained)
            self.log_message(f"Training finished in {seconds:.1f} s{acc_text}")
            self.progress.setValue(self.progress.maximum())
            self.progress_label.setText(f"Finished in {seconds:.1f} s{acc_text}")
            self.resume_banner.discard()
            self.checkpoint_label.setText("Run complete: checkpoint removed (save the model "
                                          "with File ▸ Save model)")
        else:
            epoch, batch = model_facts.stopped_at(trained)
            line = f"Stopped at epoch {epoch + 1}, batch {batch}{acc_text}"
            if model_facts.trained_nothing(trained):
                line = "Stopped before the first batch: nothing was trained"
            self.log_message(f"{line}.{model_facts.checkpoint_note(trained)}")
            self.progress_label.setText(line)
        self.app_model.run_finished(result)
        emit(self.training_finished, result)

    def _show_stopped_run(self, result: RunResult | None) -> None:
        if result is None:
            self.stopped_banner.setVisible(False)
            return
        epoch, batch = model_facts.stopped_at(result.trained)
        acc = model_facts.test_accuracy(result.trained)
        acc_text = f" (test accuracy {100 * acc:.2f} %)" if acc is not None else ""
        current = self.app_model.model
        kept = f"{current.title()} stays the current model" if current is not None else \
            "there is no current model"
        self.stopped_label.setText(
            f"<b>The run stopped</b> at epoch {epoch + 1}, batch {batch}{acc_text}; {kept}. "
            "Use the stopped run's model instead?")
        self.stopped_banner.setVisible(True)

    def _on_failed(self, message: str) -> None:
        self.log_message(f"Training failed: {message}")
        show_error(self, "Training failed", message)

    def _on_thread_finished(self) -> None:
        thread = self._thread
        if thread is None or thread.isRunning():  # already handled (see shutdown)
            return
        thread.deleteLater()
        self._thread, self._worker = None, None
        self._status_timer.stop()
        self.pause_button.setChecked(False)
        self.pause_button.setText("Pause")
        self._update_buttons()
        self.app_model.set_running(False)
        self.check_unfinished()

    def log_message(self, text: str) -> None:
        self.log.appendPlainText(text)
        # Follow the newest line (appendPlainText keeps the view where it was once the log
        # has been scrolled or has never been laid out).
        bar = self.log.verticalScrollBar()
        bar.setValue(bar.maximum())

    # --- unfinished runs (gui/pages/unfinished_run.py) --------------------------------------
    def unfinished_checkpoint(self) -> Path | None:
        return self.resume_banner.checkpoint()

    def check_unfinished(self) -> None:
        """Offer to resume when a previous run left a checkpoint."""
        self.resume_banner.refresh(self.is_running())
        self._update_buttons()

    def resume_unfinished(self) -> None:
        path = self.unfinished_checkpoint()
        if path is None:
            return
        name = self.resume_banner.dataset_name
        ds = self.app_model.dataset
        if ds is not None and (name is None or ds.name == name):
            self.start_training(resume_from=path)
        else:
            self._pending_resume = path
            self.log_message(f"Loading {name} to resume the run…")
            self.app_model.request_dataset(name)

    def discard_unfinished(self) -> None:
        self.resume_banner.discard()

    def _on_dataset_changed(self, dataset: Any) -> None:
        if self._pending_resume is not None and dataset is not None:
            path, self._pending_resume = self._pending_resume, None
            self.start_training(resume_from=path)
