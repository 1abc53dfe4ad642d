"""Issue 15's scenarios through the widgets: nothing lost, nothing stale, controls that show
what is loaded."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from PySide6.QtWidgets import QMessageBox

from engine.serialize import save_model
from gui.state import ModelOrigin
from tests.gui.conftest import colour_model, slow_setup
from tests.gui.helpers import draw_stroke

StandardButton = QMessageBox.StandardButton


def _answer(monkeypatch, button) -> list[str]:
    asked: list[str] = []
    monkeypatch.setattr(QMessageBox, "question", staticmethod(
        lambda parent, title, text, *a, **k: asked.append(text) or button))
    return asked


def _unsaved(window, trained) -> None:
    window.app_model.set_model(trained, origin=ModelOrigin.FINISHED_RUN)


# --- 1. unsaved work -----------------------------------------------------------------------
def test_title_marks_an_unsaved_model_and_saving_clears_it(window, tiny_model, tmp_path):
    _unsaved(window, tiny_model)
    assert window.windowTitle().startswith("unsaved model*")
    assert window.save_model(tmp_path / "kept.pkl")
    assert window.windowTitle() == "kept.pkl — CNN Studio"
    assert (tmp_path / "kept.pkl").stat().st_mode & 0o777 != 0o600  # the usual permissions


def test_quit_with_an_unsaved_model_asks_and_cancel_keeps_the_app(qtbot, window, tiny_model,
                                                                  monkeypatch):
    _unsaved(window, tiny_model)
    asked = _answer(monkeypatch, StandardButton.Cancel)
    window.quit_action.trigger()  # Ctrl+Q
    assert len(asked) == 1 and "not saved" in asked[0]
    assert window.isVisible() and window.app_model.trained is tiny_model
    _answer(monkeypatch, StandardButton.Discard)
    assert window.close()


def test_open_with_an_unsaved_model_asks_first(window, tiny_model, digits_model, tmp_path,
                                               monkeypatch):
    other = tmp_path / "other.pkl"
    save_model(digits_model, other)
    _unsaved(window, tiny_model)
    asked = _answer(monkeypatch, StandardButton.Cancel)
    assert window.open_model(other) is False and len(asked) == 1
    assert window.app_model.trained is tiny_model
    # Save writes it (the dialog is answered with a path), then the other model opens.
    _answer(monkeypatch, StandardButton.Save)
    target = tmp_path / "first.pkl"
    monkeypatch.setattr("gui.main_window.QFileDialog.getSaveFileName",
                        lambda *a, **k: (str(target), ""))
    assert window.open_model(other)
    assert target.is_file() and window.app_model.model_path == other


def test_a_stopped_run_keeps_the_current_model_until_the_user_takes_it(qtbot, window,
                                                                       tiny_model, monkeypatch):
    slow_setup(window)
    good = tiny_model
    _unsaved(window, good)
    asked = _answer(monkeypatch, StandardButton.Discard)
    page = window.train_page
    assert window.start_training()  # a run that could replace it: asked first
    assert len(asked) == 1
    qtbot.waitUntil(lambda: page.batches_seen >= 3, timeout=10000)
    with qtbot.waitSignal(page.training_finished, timeout=10000):
        page.stop_button.click()
    qtbot.waitUntil(lambda: not page.is_running(), timeout=5000)
    assert window.app_model.trained is good  # not silently replaced
    assert page.stopped_banner.isVisibleTo(page) and "stopped" in page.stopped_label.text()
    page.use_stopped_button.click()
    assert window.app_model.trained is not good
    assert window.app_model.model.origin is ModelOrigin.STOPPED_RUN
    assert not page.stopped_banner.isVisibleTo(page)


# --- 2. results belong to a model and a dataset ---------------------------------------------
def test_results_are_cleared_when_the_model_changes_and_exports_refuse(qtbot, window,
                                                                      digits_model, tmp_path):
    page = window.evaluate_page
    assert page.start_evaluation()
    qtbot.waitUntil(lambda: page.evaluation is not None, timeout=10000)
    assert page.confusion_view.matrix() is not None
    window.app_model.set_model(digits_model, Path("digits.pkl"))
    assert page.confusion_view.matrix() is None and page.evaluation is None
    assert page.mistakes_gallery.count() == 0
    assert "Cannot evaluate" in page.summary_label.text()  # 28x28 model, 8x8 dataset
    assert window.export_confusion(tmp_path / "stale.csv") is False
    assert not (tmp_path / "stale.csv").exists()


def test_confusion_cells_show_images_right_after_training(qtbot, window):
    page = window.train_page
    with qtbot.waitSignal(page.training_finished, timeout=30000):
        assert page.start_training()
    evaluate = window.evaluate_page
    ev = evaluate.evaluation
    assert ev is not None and evaluate.confusion_view.matrix() is not None
    evaluate.show_cell(0, 0)
    assert evaluate.cell_gallery.count() == min(int(ev.cm[0, 0]), 300)
    assert "images" in evaluate.cell_title.text()


def test_open_in_predict_from_a_confident_mistake(qtbot, window, tiny_dataset):
    page = window.evaluate_page
    assert page.start_evaluation()
    qtbot.waitUntil(lambda: page.evaluation is not None, timeout=10000)
    gallery = page.cell_gallery
    page.show_cell(0, 0)
    assert gallery.count() > 0
    gallery.setCurrentRow(0)
    page.cell_predict_button.click()
    assert window.tabs.currentWidget() is window.predict_page
    i = int(page.shown_cell_indices[0])
    np.testing.assert_array_equal(window.app_model.predict_input,
                                  window.predict_page.current_input())
    assert f"test image {i}" in window.predict_page.source_name()
    assert window.evaluate_page.map_layer.count() > 0  # feature maps one click away
    del tiny_dataset


# --- 3. the canvas -------------------------------------------------------------------------
def test_loading_an_image_clears_the_drawing_and_drawing_starts_fresh(
        qtbot, window, digits_dataset, digits_model, tmp_path):
    window.app_model.set_dataset(digits_dataset)
    window.app_model.set_model(digits_model, Path("digits.pkl"))
    page = window.predict_page
    draw_stroke(page.canvas, [(60, 140 + i) for i in range(0, 40, 4)])
    assert not page.canvas.is_empty()
    path = tmp_path / "digit.png"
    Image.fromarray(digits_dataset.x_test[0][..., 0]).save(path)
    assert page.load_image(path)
    assert page.canvas.is_empty() and page.source_name() == "digit.png"
    draw_stroke(page.canvas, [(200, 40 + i) for i in range(0, 60, 4)])
    qtbot.waitUntil(lambda: page.source_name() == "canvas", timeout=2000)
    drawing = page.canvas.to_array()
    assert drawing[:, :100].min() == 255  # the first stroke is gone: only the new one
    assert drawing[:, 180:].min() < 128


def test_a_photo_model_clears_and_disables_the_canvas_and_says_why(window, digits_dataset,
                                                                   digits_model):
    window.app_model.set_dataset(digits_dataset)
    window.app_model.set_model(digits_model, Path("digits.pkl"))
    page = window.predict_page
    draw_stroke(page.canvas, [(140, 40 + i) for i in range(0, 100, 4)])
    colour_dataset, photos_model = colour_model()
    window.app_model.set_dataset(colour_dataset)
    window.app_model.set_model(photos_model, Path("photos.pkl"))
    assert not page.canvas.isEnabled() and page.canvas.is_empty()
    assert page.probabilities() is None  # the old drawing is not classified as a photo
    assert "Drawing is off" in page.canvas_note.text() and "photos" in page.canvas_note.text()


# --- 4. controls show the state ------------------------------------------------------------
def test_import_folder_selects_the_dataset_and_says_found(qtbot, window, tmp_path):
    folder = tmp_path / "shapes"
    rng = np.random.default_rng(0)
    for name in ("circle", "square"):
        (folder / name).mkdir(parents=True)
        for i in range(6):
            Image.fromarray(rng.integers(0, 256, (12, 12), dtype=np.uint8)).save(
                folder / name / f"{i}.png")
    window.data_page.load_dataset(str(folder))
    qtbot.waitUntil(lambda: window.app_model.dataset is not None
                    and window.app_model.dataset.name != "tiny"
                    and not window.data_page.is_loading(), timeout=15000)
    combo = window.data_page.dataset_combo
    assert combo.currentData() == str(folder) and "shapes" in combo.currentText()
    assert window.data_page.status_label.text().startswith("✔ Found")


def test_the_opened_model_shows_its_architecture(window, digits_dataset, tmp_path):
    from engine.training.run import train_model
    from tests.gui.conftest import tiny_config

    lenet = train_model(tiny_config(epochs=1).replace(arch="lenet5"), digits_dataset)
    path = tmp_path / "lenet.pkl"
    save_model(lenet, path)
    page = window.data_page
    page.show_architecture("digits-bn", [])
    assert page.preset_combo.currentData() == "digits-bn"
    assert window.open_model(path)
    assert page.preset_combo.currentData() == "lenet5"


def test_a_model_dataset_mismatch_is_said_in_the_status_bar(window, digits_model):
    window.app_model.set_model(digits_model, Path("digits.pkl"))  # 28x28 on the 8x8 data
    assert "does not fit" in window.mismatch_label.text()
    assert "28x28x1" in window.mismatch_label.text()


# --- 5. starting with a model, ending a session --------------------------------------------
def test_main_with_a_model_file_opens_the_app_with_it(qtbot, monkeypatch, tiny_model, tmp_path,
                                                      settings):
    import main
    from gui.app import create_window

    opened: list = []
    monkeypatch.setattr("gui.app.run_app", lambda path=None: opened.append(path) or 0)
    assert main.main(["model.pkl"]) == 0 and opened == ["model.pkl"]
    assert main.main(["model.onnx"]) == 0 and opened[-1] == "model.onnx"  # as File ▸ Open
    path = tmp_path / "mine.pkl"
    save_model(tiny_model, path)
    window = create_window(settings=settings, load_dataset=False, model_path=path)
    qtbot.addWidget(window)
    assert window.app_model.model_path == path and window.windowTitle().startswith("mine.pkl")


def test_the_gui_is_told_of_every_checkpoint_when_it_is_written(tiny_dataset, tmp_path):
    from gui.worker import TrainingWorker
    from tests.gui.conftest import tiny_config

    worker = TrainingWorker(tiny_config(epochs=2, checkpoint_every=0), tiny_dataset,
                            checkpoint_dir=tmp_path)
    reported: list[tuple[str, int]] = []
    batches: list[int] = []
    worker.checkpoint_saved.connect(lambda path, step: reported.append((path, step)))
    worker.batch_done.connect(lambda step, logs: batches.append(step))
    worker.run()
    # One checkpoint per epoch end (5 batches an epoch), each reported with the batch after
    # which it was written — the last one too, although no batch follows it.
    assert [step for _, step in reported] == [5, 10]
    assert all(Path(path).is_file() for path, _ in reported)


def test_ending_the_session_during_training_stops_the_run_and_writes_its_checkpoint(
        qtbot, window):
    from PySide6.QtCore import QCoreApplication

    slow_setup(window)
    page = window.train_page
    assert page.start_training()
    qtbot.waitUntil(lambda: page.batches_seen >= 2, timeout=10000)
    QCoreApplication.instance().aboutToQuit.emit()  # what logout / SIGTERM lead to
    assert not page.is_running()
    assert page.unfinished_checkpoint() is not None


def test_main_window_does_not_import_the_app_module():
    code = ("import sys, gui.main_window; "
            "sys.exit('gui.app' in sys.modules)")
    root = Path(__file__).resolve().parents[2]
    assert subprocess.run([sys.executable, "-c", code], cwd=root,
                          env={"QT_QPA_PLATFORM": "offscreen", "PATH": "/usr/bin:/bin",
                               "HOME": str(root)}).returncode == 0


@pytest.mark.parametrize("size", [(1024, 700)])
def test_getting_started_is_in_the_help_menu(window, size):
    window.resize(*size)
    box = window.show_getting_started()
    assert "Predict" in box.text() and "Ctrl+S" in box.text()


def test_a_model_file_that_names_its_preset_only_in_its_training_settings(tiny_model):
    from copy import copy

    from engine.trained_model import TrainedModel
    from gui.state.model_facts import arch_name

    meta = copy(tiny_model.meta)
    meta["arch_name"] = "custom"
    meta["training"] = {**dict(meta.get("training") or {}), "arch": "lenet5"}
    assert arch_name(TrainedModel(tiny_model.model, meta)) == "lenet5"


def test_the_test_pass_after_stop_shows_progress_and_gives_the_metrics(qtbot, window):
    slow_setup(window)
    page = window.train_page
    shown: list[float] = []
    assert page.start_training()
    page.worker().testing.connect(shown.append)  # (runs on the worker thread: no widgets)
    qtbot.waitUntil(lambda: page.batches_seen >= 2, timeout=10000)
    with qtbot.waitSignal(page.training_finished, timeout=10000) as blocker:
        page.stop_training()
    result = blocker.args[0]
    assert not result.completed
    assert shown[0] == 0.0 and shown[-1] == 1.0  # the test pass reported its progress
    assert result.trained.meta["metrics"]["test_accuracy"] == result.evaluation.accuracy
    assert page.progress_label.text().startswith("Stopped at epoch")
    qtbot.waitUntil(lambda: not page.is_running(), timeout=5000)


def test_stop_before_the_first_batch_offers_nothing_and_tests_nothing(qtbot, window):
    slow_setup(window)
    page = window.train_page
    assert page.start_training()
    page.pause_button.click()  # the worker waits before its first batch ...
    with qtbot.waitSignal(page.training_finished, timeout=10000) as blocker:
        page.stop_training()  # ... and stops there
    result = blocker.args[0]
    assert not result.completed and result.evaluation is None
    assert "test_accuracy" not in result.trained.meta["metrics"]
    assert page.progress_label.text() == "Stopped before the first batch: nothing was trained"
    assert "None" not in page.log.toPlainText()
    assert window.app_model.pending_run is None and not page.stopped_banner.isVisibleTo(page)
    qtbot.waitUntil(lambda: not page.is_running(), timeout=5000)
