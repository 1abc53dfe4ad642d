"""Every page on the tiny dataset and model: builds, predicts, evaluates, round-trips files."""

from __future__ import annotations

import os
import pickle

import numpy as np
import pytest
from PIL import Image
from PySide6.QtCore import QMimeData, QPointF, Qt, QUrl
from PySide6.QtGui import QDropEvent
from PySide6.QtWidgets import QFileDialog

from engine.data.preprocess import image_to_input
from tests.gui.helpers import click, draw_stroke, error_boxes


def test_every_page_builds(window, tiny_dataset):
    for index in range(window.tabs.count()):
        window.tabs.setCurrentIndex(index)
        assert not window.tabs.currentWidget().grab().isNull()
    data_page = window.data_page
    assert data_page.gallery.count() == 3 * 6
    assert data_page.gallery.captions()[5:8] == ["class 0", "class 1", "class 1"]
    assert "96 training" in data_page.summary_label.text()
    assert data_page.editor.error() is None
    assert data_page.editor.table.rowCount() == 5
    assert data_page.editor.table.item(4, 2).text() == "3"  # dense output: 3 classes
    assert "tiny" in window.dataset_label.text()
    assert window.evaluate_page.filter_layer.count() == 1  # the one conv layer
    assert window.evaluate_page.filter_view.array() is not None
    assert error_boxes(window) == []


def test_spec_error_is_shown_inline_and_blocks_training(window):
    page = window.data_page
    page.editor.set_layer_settings(2, "pool_size=16")  # the 8x8 input cannot take it
    assert "layer 3 (maxpool2d)" in page.editor.error()
    assert page.editor.error_label.isVisibleTo(page)
    assert page.editor.table.item(0, 2).text() == "8 × 8 × 2"  # layers before still inferred
    with pytest.raises(ValueError, match="not valid"):
        page.training_config()
    assert window.train_page.start_training() is False
    assert len(error_boxes(window)) == 1


def test_canvas_drawing_predicts_on_the_preprocessed_input(qtbot, window, digits_dataset,
                                                           digits_model):
    window.app_model.set_dataset(digits_dataset)
    window.app_model.set_model(digits_model)
    page = window.predict_page
    window.tabs.setCurrentWidget(page)
    predictions = []
    page.predicted.connect(predictions.append)
    points = [(140, 40 + 4 * i) for i in range(50)]  # a vertical bar, many move events
    draw_stroke(page.canvas, points)
    qtbot.waitUntil(lambda: page.probabilities() is not None, timeout=2000)
    # Throttled: one prediction when the stroke ends (the timer was still pending), not 50.
    assert len(predictions) <= 2
    expected = image_to_input(page.canvas.to_array(), (28, 28, 1), "digits")
    np.testing.assert_array_equal(page.current_input(), expected)
    np.testing.assert_array_equal(page.input_view.array(), expected)
    assert expected.max() > 200 and expected[:, :4].max() == 0  # white ink, centred, dark edges
    probs = page.probabilities()
    np.testing.assert_allclose(probs, digits_model.predict_proba(expected[None])[0], rtol=1e-6)
    assert page.answer_label.text() == "class " + str(int(np.argmax(probs)))
    assert len(page.bars.bars()) == 3
    page.canvas.clear()
    qtbot.waitUntil(lambda: page.probabilities() is None, timeout=2000)
    assert page.answer_label.text() == "–"


def _write_digit_png(path, light_background: bool = True) -> None:
    img = np.full((60, 40), 255 if light_background else 0, dtype=np.uint8)
    img[10:50, 18:23] = 0 if light_background else 255
    Image.fromarray(img).save(path)


def test_loading_and_dropping_an_image_predicts(qtbot, window, digits_dataset, digits_model,
                                                tmp_path):
    window.app_model.set_dataset(digits_dataset)
    window.app_model.set_model(digits_model)
    page = window.predict_page
    path = tmp_path / "digit.png"
    _write_digit_png(path)
    assert page.load_image(path)
    assert page.probabilities() is not None and page.source_name() == "digit.png"
    image = np.asarray(Image.open(path))
    np.testing.assert_array_equal(page.current_input(),
                                  image_to_input(image, (28, 28, 1), "digits"))

    dropped = tmp_path / "dropped.png"
    _write_digit_png(dropped, light_background=False)
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(dropped))])
    event = QDropEvent(QPointF(10, 10), Qt.DropAction.CopyAction, mime,
                       Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier)
    page.dropEvent(event)  # QApplication only delivers drops during a real drag
    assert event.isAccepted() and page.source_name() == "dropped.png"

    bad = tmp_path / "broken.png"
    bad.write_bytes(b"not an image at all")
    assert page.load_image(bad) is False
    assert any("broken.png" in b.text() for b in error_boxes(window))
    assert page.source_name() == "dropped.png"  # the app stays up, the last input remains


def test_colour_model_disables_the_canvas_and_shows_the_32x32_input(window, tmp_path):
    from tests.gui.conftest import colour_model

    colour, model = colour_model()
    window.app_model.set_dataset(colour)
    window.app_model.set_model(model)
    page = window.predict_page
    assert not page.canvas.isEnabled()
    photo = tmp_path / "photo.png"
    Image.fromarray(np.random.default_rng(0).integers(0, 256, (50, 70, 3), dtype=np.uint8)
                    ).save(photo)
    assert page.load_image(photo)
    assert page.current_input().shape == (32, 32, 3)
    assert "32×32×3" in page.input_caption.text()


def test_confusion_matrix_cell_opens_its_test_images(qtbot, window, tiny_dataset):
    page = window.evaluate_page
    window.tabs.setCurrentWidget(page)
    assert page.start_evaluation()
    qtbot.waitUntil(lambda: page.evaluation is not None, timeout=10000)
    ev = page.evaluation
    assert ev.cm.sum() == len(tiny_dataset.y_test)
    assert "Test accuracy" in page.summary_label.text()
    off = ev.cm - np.diag(np.diag(ev.cm))
    t, p = np.unravel_index(np.argmax(off), off.shape) if off.max() else (0, 0)
    page.confusion_view.resize(400, 400)
    with qtbot.waitSignal(page.confusion_view.cell_clicked, timeout=1000):
        click(page.confusion_view, page.confusion_view.cell_center(int(t), int(p)))
    shown = page.shown_cell_indices
    assert len(shown) == ev.cm[t, p] == page.cell_gallery.count()
    assert np.all(tiny_dataset.y_test[shown] == t) and np.all(ev.pred[shown] == p)
    assert page.cell_gallery.captions()[0] == f"{100 * ev.probs[shown[0], p]:.1f} %"
    assert len(page.class_bars.bars()) == 3
    assert page.mistakes_gallery.count() == min(48, int((ev.pred != ev.y).sum()))
    assert [b.label for b in page.time_bars.bars()] == window.app_model.trained.model.layer_names


def test_feature_maps_follow_the_predict_input(qtbot, window, digits_dataset, digits_model):
    window.app_model.set_dataset(digits_dataset)
    window.app_model.set_model(digits_model)
    page = window.evaluate_page
    assert page.map_view.array() is None
    draw_stroke(window.predict_page.canvas, [(140, 40), (140, 240)])
    qtbot.waitUntil(lambda: window.predict_page.current_input() is not None, timeout=2000)
    names = [page.map_layer.itemData(i) for i in range(page.map_layer.count())]
    assert names == ["conv1", "relu1", "pool1"]
    page.map_layer.setCurrentIndex(2)
    assert page.map_view.array() is not None and "2 channels of 14×14" in page.map_caption.text()


def test_save_and_reopen_through_the_menu(window, monkeypatch, tmp_path):
    original = window.app_model.trained
    target = tmp_path / "saved.pkl"
    monkeypatch.setattr(QFileDialog, "getSaveFileName",
                        staticmethod(lambda *a, **k: (str(target), "")))
    window.save_as_action.trigger()
    assert target.is_file() and window.app_model.model_path == target
    npz = tmp_path / "weights.npz"
    monkeypatch.setattr(QFileDialog, "getSaveFileName",
                        staticmethod(lambda *a, **k: (str(npz), "")))
    window.export_npz_action.trigger()
    assert npz.is_file() and npz.with_suffix(".json").is_file()

    for path in (target, npz):
        window.app_model.set_model(None)
        monkeypatch.setattr(QFileDialog, "getOpenFileName",
                            staticmethod(lambda *a, p=path, **k: (str(p), "")))
        window.open_action.trigger()
        reopened = window.app_model.trained
        assert reopened is not None and reopened is not original
        assert reopened.class_names == original.class_names
        a, b = original.model.state_dict(), reopened.model.state_dict()
        assert a.keys() == b.keys()
        for key in a:
            np.testing.assert_array_equal(a[key], b[key])
    assert str(target.resolve()) in window.settings.recent_models()
    assert error_boxes(window) == []


def test_refused_pickle_and_unreadable_files_show_a_message(window, tmp_path):
    marker = tmp_path / "owned"

    class Evil:
        def __reduce__(self):
            return (os.system, (f"touch {marker}",))

    evil = tmp_path / "evil.pkl"
    evil.write_bytes(pickle.dumps(Evil()))
    before = window.app_model.trained
    assert window.open_model(evil) is False
    assert not marker.exists()
    assert window.app_model.trained is before
    assert "refused" in error_boxes(window)[-1].windowTitle().lower()
    junk = tmp_path / "junk.pkl"
    junk.write_bytes(b"\x00garbage")
    assert window.open_model(junk) is False
    assert window.open_model(tmp_path / "missing.pkl") is False
    assert len(error_boxes(window)) == 3
    assert window.app_model.trained is before


def test_geometry_is_remembered(qtbot, settings):
    from gui.main_window import MainWindow

    first = MainWindow(settings=settings)
    qtbot.addWidget(first)
    first.resize(first.width(), 600)
    first.show()
    first.tabs.setCurrentIndex(2)
    first.close()
    second = MainWindow(settings=settings)
    qtbot.addWidget(second)
    assert settings.geometry() is not None
    assert second.height() == 600  # (the offscreen screen is 800 px wide, so width is clamped)
    assert second.tabs.currentIndex() == 2


def test_exports_of_plot_and_confusion_matrix_through_the_menu(qtbot, window, monkeypatch,
                                                               tmp_path):
    window.train_page.plot.add_batch(1, 0.5, 0.01)
    page = window.evaluate_page
    assert page.start_evaluation()
    qtbot.waitUntil(lambda: page.evaluation is not None, timeout=10000)
    for name in ("plot.png", "plot.csv"):
        monkeypatch.setattr(QFileDialog, "getSaveFileName",
                            staticmethod(lambda *a, n=name, **k: (str(tmp_path / n), "")))
        window.export_plot_action.trigger()
    for name in ("cm.png", "cm.csv"):
        monkeypatch.setattr(QFileDialog, "getSaveFileName",
                            staticmethod(lambda *a, n=name, **k: (str(tmp_path / n), "")))
        window.export_cm_action.trigger()
    assert (tmp_path / "plot.png").stat().st_size > 1000
    assert "loss,raw,1,0.5" in (tmp_path / "plot.csv").read_text()
    assert (tmp_path / "cm.png").stat().st_size > 500
    rows = (tmp_path / "cm.csv").read_text(encoding="utf-8").splitlines()
    assert len(rows) == 4 and rows[0].endswith("class 0,class 1,class 2")
    assert error_boxes(window) == []
