"""Issue 15's polish list: each fix with a test that fails without it."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from gui.smoothing import LossSmoother
from tests.gui.helpers import error_boxes


def test_smoothed_loss_is_right_from_the_first_batch_and_recovers_after_a_spike():
    smoother = LossSmoother(0.95)
    losses = [2.3] + [0.1] * 9  # a 10-batch run: the first batch is the worst
    smoothed = [smoother.add(x) for x in losses]
    assert smoothed[0] == pytest.approx(2.3)
    assert smoothed[-1] < 0.5  # an uncorrected average starting at 2.3 is still ~1.5 here
    for _ in range(50):
        smoother.add(0.1)
    assert smoother.add(100.0) < 2.0  # one spike
    after = [smoother.add(0.1) for _ in range(10)]
    assert after[-1] < 0.2  # back near the raw loss within ten batches
    assert smoother.add(float("nan")) is None


def test_training_plots_use_the_corrected_smoothing(qtbot):
    from gui.widgets.training_plots import TrainingPlots

    plots = TrainingPlots()
    qtbot.addWidget(plots)
    for step, loss in enumerate([2.3] + [0.1] * 9, start=1):
        plots.add_batch(step, loss, None)
    assert plots.loss.data("smooth")[1][-1] < 0.5


def test_an_out_of_range_setting_is_refused_visibly_not_changed(qtbot, window):
    from PySide6.QtTest import QTest

    form = window.data_page.hyper
    form.lr.lineEdit().selectAll()
    QTest.keyClicks(form.lr.lineEdit(), "50")
    form.lr.interpretText()
    assert form.lr.value() == 50  # kept as typed, not clamped to 5 or 10
    assert form.error_label.isVisibleTo(form) and "Learning rate 50" in form.error_label.text()
    assert window.app_model.training_setup.config is None
    assert "out of range" in window.app_model.training_setup.error
    assert window.train_page.start_training() is False and error_boxes(window)
    form.lr.setValue(0.01)
    assert not form.error_label.isVisibleTo(form)
    assert window.app_model.training_setup.config is not None


def test_the_training_log_follows_its_newest_line(window):
    page = window.train_page
    window.tabs.setCurrentWidget(page)
    for i in range(300):
        page.log_message(f"line {i}")
    bar = page.log.verticalScrollBar()
    assert bar.maximum() > 0 and bar.value() == bar.maximum()
    bar.setValue(0)  # the user scrolled up to read; a new line brings the newest into view
    page.log_message("newest")
    assert bar.value() == bar.maximum()


def test_a_missing_dataset_says_what_to_do_in_two_lines_with_details(qtbot, window, tmp_path,
                                                                    monkeypatch):
    monkeypatch.setenv("CNN_STUDIO_DATA", str(tmp_path / "empty"))
    window.data_page.load_dataset("mnist")
    qtbot.waitUntil(lambda: not window.data_page.is_loading(), timeout=10000)
    boxes = error_boxes(window)
    assert boxes and boxes[-1].windowTitle() == "Dataset not found"
    assert len(boxes[-1].text().splitlines()) == 2 and "Download" in boxes[-1].text()
    assert "looked in" in boxes[-1].detailedText()
    assert window.app_model.dataset is not None and window.app_model.dataset.name == "tiny"


def test_dataset_loads_can_be_cancelled(qtbot, window, tmp_path):
    folder = tmp_path / "many"
    rng = np.random.default_rng(0)
    for name in ("a", "b"):
        (folder / name).mkdir(parents=True)
        for i in range(150):
            Image.fromarray(rng.integers(0, 256, (16, 16), dtype=np.uint8)).save(
                folder / name / f"{i}.png")
    panel = window.data_page.datasets
    panel.load_dataset(str(folder))
    assert panel.cancel_button.isVisibleTo(panel)
    panel.cancel_loading()
    qtbot.waitUntil(lambda: not panel.is_loading(), timeout=20000)
    assert window.app_model.dataset.name == "tiny"  # nothing replaced
    assert "cancelled" in panel.progress_label.text()
    assert not error_boxes(window)


def test_the_environment_variable_comes_before_the_data_folder_setting(window, tmp_path,
                                                                      monkeypatch):
    monkeypatch.setenv("CNN_STUDIO_DATA", str(tmp_path / "from-env"))
    window.settings.set_data_dir(tmp_path / "from-setting")
    assert window.data_page.datasets.data_dir() == tmp_path / "from-env"
    monkeypatch.delenv("CNN_STUDIO_DATA")
    assert window.data_page.datasets.data_dir() == tmp_path / "from-setting"


def test_checkpoints_live_in_one_clearly_named_folder():
    from gui.settings import Settings

    folder = Settings().checkpoint_dir()
    assert folder.parts[-2:] == ("cnn-studio", "checkpoints")


def test_save_dialogs_never_start_in_the_apps_assets(window, monkeypatch):
    from gui.default_models import ASSETS, default_model_path

    path = default_model_path()
    if path is None:
        pytest.skip("no shipped model in assets/")
    assert window.open_model(path)
    seen = []
    monkeypatch.setattr("gui.main_window.QFileDialog.getSaveFileName",
                        lambda parent, title, start, *a: seen.append(start) or ("", ""))
    window.save_model_dialog()
    window.export_npz_dialog()
    assert len(seen) == 2
    assert all(not Path(s).resolve().is_relative_to(ASSETS.resolve()) for s in seen)


def test_saved_files_get_the_usual_permissions(window, tmp_path):
    umask = os.umask(0o022)
    try:
        assert window.save_model(tmp_path / "m.pkl")
        assert window.save_model(tmp_path / "w.npz")
    finally:
        os.umask(umask)
    assert (tmp_path / "m.pkl").stat().st_mode & 0o777 == 0o644
    assert (tmp_path / "w.npz").stat().st_mode & 0o777 == 0o644


def test_damaged_model_files_are_reported_without_python_internals(window, tmp_path):
    bad = tmp_path / "bad.pkl"
    bad.write_bytes(b"\x80\x04h\x65.")  # a pickle that refers to a memo entry never stored
    assert window.open_model(bad) is False
    box = error_boxes(window)[-1]
    assert "bad.pkl" in box.text() and "is damaged" in box.text()
    assert "Memo" not in box.text() + box.detailedText() and "0x" not in box.text()


def test_plain_text_drops_object_reprs():
    from gui.messages import plain_text

    text = plain_text("cannot read <_io.BytesIO object at 0x7f3a2b1c>: not a model")
    assert "0x" not in text and "the data" in text


def test_the_window_has_a_minimum_size_that_keeps_buttons_readable(window):
    window.resize(640, 480)
    assert window.width() >= 880 and window.height() >= 560
    button = window.data_page.datasets.import_file_button
    assert button.width() >= button.fontMetrics().horizontalAdvance(button.text())


def test_gallery_captions_are_not_cut(qtbot):
    from gui.widgets.image_gallery import ImageGallery

    gallery = ImageGallery(icon_size=52)
    qtbot.addWidget(gallery)
    images = np.zeros((2, 32, 32, 3), dtype=np.uint8)
    gallery.set_images(images, ["automobile", "truck → automobile\n97 %"])
    needed = gallery.fontMetrics().horizontalAdvance("truck → automobile")
    assert gallery.gridSize().width() >= needed
    # Each item lays its text out in its own width: that must hold the name too.
    assert all(gallery.item(i).sizeHint().width() >= needed for i in range(2))


def test_confusion_matrix_headers_keep_cifar_names_whole_at_1024x700(qtbot):
    from gui.widgets.confusion_matrix_view import ConfusionMatrixView

    names = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship",
             "truck"]
    view = ConfusionMatrixView()
    qtbot.addWidget(view)
    view.resize(740, 540)  # its share of a 1024x700 window
    view.set_matrix(np.eye(10, dtype=np.int64), names)
    assert [text for text, _ in view.column_headers()] == names
    assert not view.grab().isNull()


def test_narrow_plots_keep_room_for_their_axis_labels(qtbot):
    from gui.widgets.live_plot import LivePlot, Series

    plot = LivePlot("Loss per batch", "batch", "loss (log scale)", [Series("raw", "raw", {})],
                    log_y=True)
    qtbot.addWidget(plot)
    plot.resize(300, 260)  # one of three plots in a 1024 px window
    plot.show()
    qtbot.waitExposed(plot)
    box = plot.ax.get_position()
    assert box.x0 * plot.width() >= 60 and box.y0 * plot.height() >= 40


def test_layer_pickers_are_as_wide_as_their_names(window, digits_dataset, digits_model):
    window.app_model.set_dataset(digits_dataset)
    window.app_model.set_model(digits_model, Path("digits.pkl"))
    picker = window.evaluate_page.filter_layer
    assert picker.count() > 0
    text = picker.itemText(0)
    assert picker.sizeHint().width() > picker.fontMetrics().horizontalAdvance(text)
