"""The widgets on their own, without the engine."""

from __future__ import annotations

import numpy as np
import pytest

from gui.imaging import array_to_qimage, qimage_to_array, tile_mosaic
from gui.widgets.architecture_editor import ArchitectureEditor, LayerInfo, parse_settings
from gui.widgets.confusion_matrix_view import ConfusionMatrixView
from gui.widgets.drawing_canvas import DrawingCanvas
from gui.widgets.image_gallery import ImageGallery
from gui.widgets.live_plot import LivePlot, Series
from gui.widgets.pixel_view import PixelView
from gui.widgets.probability_bars import ProbabilityBars
from gui.widgets.training_plots import TrainingPlots
from tests.gui.helpers import click, draw_stroke


def test_array_qimage_round_trip_grey_and_rgb():
    rng = np.random.default_rng(0)
    grey = rng.integers(0, 256, (7, 5), dtype=np.uint8)
    rgb = rng.integers(0, 256, (4, 9, 3), dtype=np.uint8)
    np.testing.assert_array_equal(qimage_to_array(array_to_qimage(grey), "gray"), grey)
    np.testing.assert_array_equal(qimage_to_array(array_to_qimage(rgb), "rgb"), rgb)
    np.testing.assert_array_equal(qimage_to_array(array_to_qimage(grey[..., None]), "gray"), grey)
    with pytest.raises(ValueError, match="uint8"):
        array_to_qimage(grey.astype(np.float32))


def test_tile_mosaic_places_tiles_in_rows():
    tiles = np.stack([np.full((2, 3), v, dtype=np.float64) for v in range(5)])
    tiles[:, 0, 0] = -1  # so every tile has a range
    out = tile_mosaic(tiles, columns=2, pad=1)
    assert out.shape == (3 * 3 - 1, 2 * 4 - 1)
    assert out[0, 0] == 0 and out[0, 1] == 255  # tile 0 scaled to its own range
    assert out[2, 0] == 96  # padding row


def test_canvas_stroke_draws_ink_and_undo_clear(qtbot):
    canvas = DrawingCanvas(image_size=140, pen_width=10)
    qtbot.addWidget(canvas)
    assert canvas.is_empty()
    with qtbot.waitSignal(canvas.stroke_finished, timeout=1000):
        draw_stroke(canvas, [(70, 20), (70, 60), (70, 120)])
    img = canvas.to_array()
    assert img.shape == (140, 140)
    assert img[70, 70] < 50 and img[70, 10] == 255  # ink on the stroke, paper beside it
    assert not canvas.is_empty()
    draw_stroke(canvas, [(20, 20), (40, 20)])
    assert canvas.to_array()[20, 30] < 50
    canvas.undo()
    assert canvas.to_array()[20, 30] == 255 and canvas.to_array()[70, 70] < 50
    canvas.clear()
    assert canvas.is_empty() and np.all(canvas.to_array() == 255)
    canvas.undo()
    assert canvas.to_array()[70, 70] < 50


def test_canvas_pen_width_changes_stroke_thickness(qtbot):
    widths = []
    for pen in (4, 20):
        canvas = DrawingCanvas(image_size=100, pen_width=pen)
        qtbot.addWidget(canvas)
        draw_stroke(canvas, [(50, 20), (50, 80)])
        widths.append(int((canvas.to_array()[50] < 128).sum()))
    assert widths[0] < widths[1]
    with pytest.raises(ValueError):
        canvas.set_pen_width(0)


def test_probability_bars_show_top_k_sorted(qtbot):
    bars = ProbabilityBars(top_k=3)
    qtbot.addWidget(bars)
    bars.set_probabilities(np.array([0.1, 0.6, 0.05, 0.25]), ["a", "b", "c", "d"])
    shown = bars.bars()
    assert [b.label for b in shown] == ["b", "d", "a"]
    assert shown[0].highlight and not shown[1].highlight
    assert shown[0].text.strip() == "60.0 %"
    with pytest.raises(ValueError):
        bars.set_probabilities(np.array([0.5, 0.5]), ["a"])
    bars.show()
    bars.grab()  # paints without error


def test_confusion_matrix_click_emits_true_and_predicted(qtbot, tmp_path):
    view = ConfusionMatrixView()
    qtbot.addWidget(view)
    view.resize(400, 400)
    cm = np.array([[5, 1, 0], [2, 7, 0], [0, 0, 9]])
    view.set_matrix(cm, ["zero", "one", "two"])
    view.show()
    with qtbot.waitSignal(view.cell_clicked, timeout=1000) as blocker:
        click(view, view.cell_center(1, 0))
    assert blocker.args == [1, 0]
    with qtbot.waitSignal(view.cell_clicked, timeout=1000) as blocker:
        click(view, view.cell_center(0, 2))
    assert blocker.args == [0, 2]
    view.set_normalised(True)
    np.testing.assert_allclose(view.normalised_matrix()[1], [2 / 9, 7 / 9, 0])
    view.export_csv(tmp_path / "cm.csv")
    lines = (tmp_path / "cm.csv").read_text(encoding="utf-8").splitlines()
    assert lines[0].endswith("zero,one,two") and lines[2].startswith("one,0.2222,0.7778")
    with pytest.raises(ValueError):
        view.set_matrix(cm, ["a", "b"])


def test_gallery_and_pixel_view_show_images(qtbot):
    gallery = ImageGallery(icon_size=40)
    qtbot.addWidget(gallery)
    images = np.zeros((3, 28, 28, 1), dtype=np.uint8)
    gallery.set_images(images, ["a", "b", "c"], ["ta", "tb", "tc"])
    assert gallery.captions() == ["a", "b", "c"]
    assert gallery.item(1).toolTip() == "tb"
    with pytest.raises(ValueError):
        gallery.set_images(images, ["a"])
    view = PixelView(minimum=56)
    qtbot.addWidget(view)
    view.resize(120, 100)
    view.set_array(np.zeros((28, 28), dtype=np.uint8))
    assert view.target_rect().width() == 84  # whole factor 3, centred
    assert view.array().shape == (28, 28)


def test_live_plot_blits_until_data_leave_the_limits(qtbot, tmp_path):
    plot = LivePlot("Loss", "batch", "loss", [Series("raw", "raw"), Series("smooth", "smoothed")])
    qtbot.addWidget(plot)
    plot.resize(300, 240)
    plot.show()
    plot.set_x_extent(100)
    for i in range(50):
        plot.append("raw", i, 2.0 / (i + 1))
    plot.append("raw", 50, float("nan"))  # ignored, never drawn
    assert len(plot.data("raw")[0]) == 50
    assert plot.redraw() is True  # first picture: a full render
    assert plot.ax.get_xlim() == (0.0, 100.0) and plot.ax.get_ylim()[1] > 2.0
    plot.append("raw", 60, 0.5)
    assert plot.redraw() is False and plot.blits == 1  # inside the limits: blit only
    assert plot.redraw() is False and plot.blits == 1  # nothing new: nothing drawn
    plot.append("raw", 150, 0.5)  # beyond the x extent
    assert plot.redraw() is True and plot.ax.get_xlim()[1] >= 150
    assert plot.full_draws == 2
    plot.export_png(tmp_path / "plot.png")
    assert (tmp_path / "plot.png").stat().st_size > 1000
    assert len(plot.rows()) == 52


def test_training_plots_smooth_and_export(qtbot, tmp_path):
    plots = TrainingPlots()
    qtbot.addWidget(plots)
    plots.reset(total_batches=10, epochs=2)
    for step, loss in enumerate([1.0, 0.0, 0.0], start=1):
        plots.add_batch(step, loss, 0.1)
    plots.add_epoch(1, 0.5, 0.6)
    # Bias-corrected moving average of log(loss), a loss of 0 counting as 1e-4.
    logs = np.log([1.0, 1e-4, 1e-4])
    expected = [np.exp(sum(0.05 * 0.95 ** (t - 1 - i) * logs[i] for i in range(t))
                       / (1 - 0.95 ** t)) for t in (1, 2, 3)]
    assert plots.loss.data("smooth")[1] == pytest.approx(expected)
    assert plots.lr.data("lr") == ([1.0, 2.0, 3.0], [0.1, 0.1, 0.1])
    assert plots.accuracy.data("val") == ([1.0], [0.6])
    plots.export_png(tmp_path / "t.png")
    plots.export_csv(tmp_path / "t.csv")
    assert (tmp_path / "t.png").stat().st_size > 1000
    assert (tmp_path / "t.csv").read_text().count("\n") == 1 + 3 + 3 + 2 + 3


def test_parse_settings_types():
    assert parse_settings("conv2d", "filters=8, kernel_size=3, padding=same") == {
        "type": "conv2d", "filters": 8, "kernel_size": 3, "padding": "same"}
    assert parse_settings("dropout", "rate=0.25")["rate"] == 0.25
    with pytest.raises(ValueError, match="key=value"):
        parse_settings("dense", "units")


def fake_inferer(spec):
    """Shapes of a 1-D toy: dense layers map to their units, anything else keeps the shape."""
    infos, shape = [], (4,)
    for i, layer in enumerate(spec):
        if layer["type"] == "dense":
            if not isinstance(layer.get("units"), int) or layer["units"] <= 0:
                return infos, f"layer {i + 1} (dense): units must be positive"
            infos.append(LayerInfo((layer["units"],), shape[0] * layer["units"] + layer["units"]))
            shape = (layer["units"],)
        else:
            infos.append(LayerInfo(shape, 0))
    return infos, None


def test_architecture_editor_add_edit_reorder_remove(qtbot):
    editor = ArchitectureEditor()
    qtbot.addWidget(editor)
    editor.set_inferer(fake_inferer)
    editor.set_spec([{"type": "dense", "units": 3}])
    assert editor.table.item(0, 2).text() == "3" and editor.table.item(0, 3).text() == "15"
    with qtbot.waitSignal(editor.spec_changed, timeout=1000) as blocker:
        editor.insert_layer("relu")
    assert [layer["type"] for layer in blocker.args[0]] == ["dense", "relu"]
    editor.table.selectRow(1)
    editor.move_selected(-1)
    assert [layer["type"] for layer in editor.spec()] == ["relu", "dense"]
    editor.set_layer_settings(1, "units=0")
    assert editor.error() == "layer 2 (dense): units must be positive"
    assert editor.error_label.isVisibleTo(editor)
    assert editor.table.item(1, 0).background().color().red() == 255
    editor.set_layer_settings(1, "units=5")
    assert editor.error() is None and editor.table.item(1, 3).text() == "25"
    editor.set_layer_settings(1, "oops")
    assert "key=value" in editor.error() and editor.spec()[1]["units"] == 5
    editor.table.selectRow(0)
    editor.remove_selected()
    assert editor.spec() == [{"type": "dense", "units": 5}]


def test_emit_keeps_the_count_of_true_right():
    """PySide6 6.12 on Python 3.11 drops a reference to True on every emit; a few thousand
    emits (one training run) then abort the interpreter. gui.qt_compat.emit compensates."""
    import sys

    from PySide6.QtCore import QObject, Signal

    from gui.qt_compat import emit

    class Source(QObject):
        changed = Signal(int, object)

    source = Source()
    received = []
    source.changed.connect(lambda n, logs: received.append(n))
    before = sys.getrefcount(True)
    for i in range(2000):
        emit(source.changed, i, {"flag": True})
    received.clear()
    assert abs(sys.getrefcount(True) - before) <= 2
