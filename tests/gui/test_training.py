"""Training through the worker and the Train page: signals, plots, pause / resume / stop,
closing during a run, divergence, and the event loop's responsiveness."""

from __future__ import annotations

import pytest
from PySide6.QtCore import QElapsedTimer, QThread, QTimer
from PySide6.QtWidgets import QMessageBox

from engine.training.checkpoint import checkpoint_path
from gui.worker import TrainingWorker
from tests.gui.conftest import make_dataset, slow_setup, tiny_config
from tests.gui.helpers import error_boxes


def test_worker_emits_batch_and_epoch_signals_in_order(qtbot, tiny_dataset, tmp_path):
    worker = TrainingWorker(tiny_config(epochs=2), tiny_dataset, checkpoint_dir=tmp_path)
    events = []
    worker.train_begin.connect(lambda logs: events.append(("begin", logs["total_steps"])))
    worker.batch_done.connect(lambda step, logs: events.append(("batch", step)))
    worker.epoch_done.connect(lambda epoch, logs: events.append(("epoch", epoch)))
    worker.finished.connect(lambda result: events.append(("finished", result)))
    worker.failed.connect(lambda message: events.append(("failed", message)))
    worker.run()  # synchronously, on this thread: deterministic order
    bpe = 5  # 96 images, 20 % held out -> 77 (stratified) -> 5 batches of 16
    assert events[0] == ("begin", 2 * bpe)
    kinds = [e[0] for e in events[1:]]
    assert kinds == ["batch"] * bpe + ["epoch"] + ["batch"] * bpe + ["epoch", "finished"]
    assert [e[1] for e in events if e[0] == "batch"] == list(range(1, 2 * bpe + 1))
    result = events[-1][1]
    assert result.completed and result.trained.meta["completed"] is True
    # The evaluation the Evaluate page shows comes with it (images per cell included).
    assert result.evaluation.cm.sum() == len(tiny_dataset.y_test) == len(result.evaluation.y)


def test_objects_alive_at_the_start_stay_out_of_garbage_collection_while_training(
        tiny_dataset):
    """A full collection walks every frozen-out object holding the GIL: with the heap of a
    long test session it stalled the event loop for 80 ms mid-run."""
    import gc

    frozen = []
    worker = TrainingWorker(tiny_config(epochs=1), tiny_dataset)
    worker.batch_done.connect(lambda step, logs: frozen.append(gc.get_freeze_count()))
    alive = len(gc.get_objects())
    worker.run()
    assert frozen and min(frozen) >= alive // 2
    assert gc.get_freeze_count() == 0  # handed back when the run ends


def test_worker_on_a_thread_reports_and_finishes(qtbot, tiny_dataset):
    thread = QThread()
    worker = TrainingWorker(tiny_config(epochs=1), tiny_dataset)
    worker.moveToThread(thread)
    thread.started.connect(worker.run)
    worker.finished.connect(thread.quit)
    epochs = []
    worker.epoch_done.connect(lambda e, logs: epochs.append(e))
    with qtbot.waitSignals([worker.train_begin, worker.epoch_done, worker.finished],
                           order="strict", timeout=20000):
        thread.start()
    thread.wait(5000)
    assert epochs == [0]


def test_train_page_run_grows_the_plots_and_hands_over_the_model(qtbot, window):
    page = window.train_page
    snapshots = []
    page.snapshot_ready.connect(snapshots.append)
    with qtbot.waitSignal(page.training_finished, timeout=30000) as blocker:
        window.data_page.train_button.click()  # "Train this network →" starts the run
        assert window.tabs.currentWidget() is page
        assert page.is_running() and not page.start_button.isEnabled()
    trained = blocker.args[0].trained
    qtbot.waitUntil(lambda: not page.is_running(), timeout=5000)
    assert page.batches_seen == 10
    xs, ys = page.plot.loss.data("raw")
    assert xs == [float(i) for i in range(1, 11)] and len(ys) == 10
    assert len(page.plot.loss.data("smooth")[0]) == 10
    assert page.plot.accuracy.data("train")[0] == [1.0, 2.0]
    assert page.plot.accuracy.data("val")[0] == [1.0, 2.0]
    assert len(page.plot.lr.data("lr")[0]) == 10
    assert "Epoch 2/2" in page.log.toPlainText()
    assert window.app_model.trained is trained and window.app_model.unsaved
    assert "not saved" in window.model_label.text()
    assert len(snapshots) >= 2  # one per epoch: the Predict page can use the model in training
    assert page.unfinished_checkpoint() is None  # a completed run leaves no checkpoint
    assert not page.resume_banner.isVisibleTo(page)


def _digit_png(window, tmp_path):
    from PIL import Image

    x = window.app_model.dataset.x_test[0][..., 0]
    path = tmp_path / "digit.png"
    Image.fromarray(x).save(path)
    return path


def test_pause_resume_stop_and_resume_after_restart(qtbot, window, settings, tmp_path,
                                                   monkeypatch):
    slow_setup(window)
    page = window.train_page
    assert page.start_training()
    qtbot.waitUntil(lambda: page.batches_seen >= 3, timeout=10000)
    page.pause_button.click()
    assert page.worker().is_paused() and page.pause_button.text() == "Resume"
    qtbot.wait(150)  # the batch in flight lands
    paused_at = page.batches_seen
    qtbot.wait(300)
    assert page.batches_seen == paused_at
    page.pause_button.click()
    qtbot.waitUntil(lambda: page.batches_seen > paused_at + 3, timeout=10000)
    # The Predict page works with a snapshot of the model in training (after an epoch).
    predict = window.predict_page
    qtbot.waitUntil(lambda: "being trained" in predict.model_label.text(), timeout=10000)
    assert predict.current_model() is not window.app_model.trained
    predict.load_image(_digit_png(window, tmp_path))
    assert predict.probabilities() is not None
    with qtbot.waitSignal(page.training_finished, timeout=10000) as blocker:
        page.stop_button.click()
    meta = blocker.args[0].trained.meta
    assert meta["completed"] is False
    qtbot.waitUntil(lambda: not page.is_running(), timeout=5000)
    ckpt = checkpoint_path(page.checkpoint_dir())
    assert ckpt.is_file() and meta["checkpoint"] == str(ckpt)
    assert page.resume_banner.isVisibleTo(page)
    stopped_step = page.last_step

    # Starting afresh asks before discarding the unfinished run; "No" keeps it.
    asked = []
    monkeypatch.setattr(QMessageBox, "question", staticmethod(
        lambda *a, **k: asked.append(a) or QMessageBox.StandardButton.No))
    assert page.start_training() is False and len(asked) == 1
    assert ckpt.is_file()

    # A new window (the app restarted) offers to resume, and resuming continues the run.
    from gui.main_window import MainWindow

    again = MainWindow(settings=settings)
    qtbot.addWidget(again)
    assert again.train_page.resume_banner.isVisibleTo(again.train_page)
    offer = again.train_page.resume_label.text()
    dataset_name = window.app_model.dataset.name
    assert "unfinished run" in offer and f": {dataset_name}, " in offer and "batch " in offer
    again.app_model.set_dataset(window.app_model.dataset)
    seen = []
    again.train_page.resume_unfinished()
    worker = again.train_page.worker()
    worker.batch_done.connect(lambda step, logs: seen.append(step))
    qtbot.waitUntil(lambda: len(seen) >= 2, timeout=10000)
    assert seen[0] > stopped_step - 2  # continues where it stopped, not from batch 0
    with qtbot.waitSignal(again.train_page.training_finished, timeout=10000):
        again.train_page.stop_training()
    qtbot.waitUntil(lambda: not again.train_page.is_running(), timeout=5000)


def test_closing_during_training_asks_stops_and_keeps_a_checkpoint(qtbot, window, monkeypatch):
    slow_setup(window)
    asked = []
    monkeypatch.setattr(QMessageBox, "question", staticmethod(
        lambda *a, **k: asked.append(a) or QMessageBox.StandardButton.Yes))
    page = window.train_page
    assert page.start_training()
    qtbot.waitUntil(lambda: page.batches_seen >= 2, timeout=10000)
    assert window.close() is False  # not yet: it stops the run first
    assert len(asked) == 1
    qtbot.waitUntil(lambda: not window.isVisible(), timeout=15000)
    assert not page.is_running()
    assert page.unfinished_checkpoint() is not None


def test_closing_during_training_can_be_cancelled(qtbot, window, monkeypatch):
    slow_setup(window)
    monkeypatch.setattr(QMessageBox, "question",
                        staticmethod(lambda *a, **k: QMessageBox.StandardButton.No))
    page = window.train_page
    assert page.start_training()
    qtbot.waitUntil(lambda: page.batches_seen >= 1, timeout=10000)
    assert window.close() is False
    qtbot.wait(100)
    assert window.isVisible() and page.is_running()
    with qtbot.waitSignal(page.training_finished, timeout=10000):
        page.stop_training()


def test_diverging_training_shows_a_message_and_the_app_stays_up(qtbot, window, monkeypatch):
    from gui.state import TrainingSetup

    window.app_model.set_training_setup(
        TrainingSetup(tiny_config(lr=1e12, optimizer="sgd", epochs=3)))
    page = window.train_page
    assert page.start_training()
    qtbot.waitUntil(lambda: not page.is_running(), timeout=20000)
    boxes = error_boxes(window)
    assert boxes and "learning rate" in boxes[-1].text()
    assert "Training failed" in page.log.toPlainText()
    assert page.start_button.isEnabled()


def _longest_stall_ms(qtbot, page) -> tuple[int, float, int, int]:
    """One training run measured by a 5 ms QTimer: the longest gap between its ticks from the
    first to the last batch, the seconds measured, the ticks and the loss plot's full renders.
    (Rendering the empty axes before the worker starts is not part of the run.)"""
    clock = QElapsedTimer()
    gaps = []
    last = [None]
    page.batches_seen = 0

    def tick() -> None:
        now = clock.elapsed()
        if last[0] is not None and page.batches_seen > 0:  # from the first batch on
            gaps.append(now - last[0])
        last[0] = now

    timer = QTimer()
    timer.setInterval(5)
    timer.timeout.connect(tick)
    clock.start()
    timer.start()
    page.plot.loss.full_draws = page.plot.loss.blits = 0
    with qtbot.waitSignal(page.training_finished, timeout=60000):
        assert page.start_training()
    timer.stop()
    seconds = sum(gaps) / 1000
    assert page.batches_seen > 500 and seconds > 0.5  # long enough to mean something
    assert len(gaps) > 50
    assert page.plot.loss.blits >= 2  # the plots were updated while it ran
    return max(gaps), seconds, len(gaps), page.plot.loss.full_draws


@pytest.mark.slow
def test_event_loop_never_stalls_over_50_ms_while_training(qtbot, window):
    window.app_model.set_dataset(make_dataset(n_train=1500, n_test=30, size=16))
    spec = [dict(layer) for layer in tiny_config().arch]
    spec[0]["filters"] = 8
    window.data_page.editor.set_spec(spec)
    window.data_page.hyper.set_values({"epochs": 6, "batch_size": 8})
    window.tabs.setCurrentWidget(window.train_page)
    page = window.train_page
    qtbot.waitExposed(window)
    qtbot.wait(100)  # the page is laid out and painted, as when a person clicks Start
    worst, seconds, ticks, renders = _longest_stall_ms(qtbot, page)
    assert worst < 50, (f"the event loop stalled {worst} ms over {seconds:.1f} s "
                        f"({ticks} ticks, {renders} full renders)")


def test_expected_batches_match_the_run(tiny_dataset):
    from engine.training.run import train_model
    from gui.worker import expected_batches

    seen = []
    from engine.training.callbacks import LambdaCallback

    config = tiny_config(epochs=2, batch_size=7, val_split=0.3)
    train_model(config, tiny_dataset,
                callbacks=[LambdaCallback(on_train_begin=lambda logs: seen.append(logs))])
    assert expected_batches(config, tiny_dataset) == seen[0]["total_steps"]


def test_closing_right_after_a_run_ends_asks_only_about_the_unsaved_model(qtbot, window,
                                                                          monkeypatch):
    asked = []
    monkeypatch.setattr(QMessageBox, "question", staticmethod(
        lambda *a, **k: asked.append(a[1]) or QMessageBox.StandardButton.Discard))
    page = window.train_page
    with qtbot.waitSignal(page.training_finished, timeout=30000):
        assert page.start_training()
    # The thread's own "finished" has not been handled yet; shutting down settles it.
    page.shutdown()
    assert not page.is_running()
    assert window.close() and asked == ["Save the model?"]  # not "Training is running"
