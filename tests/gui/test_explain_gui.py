"""Why, in the app: the Predict page's overlay (methods, a clicked class, following the pen,
the snapshot of a run), the "unlike the training data" warning, and the maps of a confident
mistake on the Evaluate page."""

from __future__ import annotations

import copy

import numpy as np
import pytest
from PySide6.QtCore import QEvent, QPointF, Qt
from PySide6.QtGui import QMouseEvent
from PySide6.QtWidgets import QApplication

from engine.explain import (
    OodCalibration,
    ShadowNetwork,
    explain,
    grad_cam,
    occlusion,
    store_ood_calibration,
)
from engine.spec import build_model
from engine.trained_model import TrainedModel
from gui.evaluation import evaluate
from gui.state import EvaluationResult, TrainingSnapshot
from gui.state.explanation import unfamiliar_text
from gui.widgets.saliency_overlay import as_rgb
from tests.gui.conftest import TINY_SPEC
from tests.gui.helpers import click, draw_stroke, error_boxes

STROKE = [(140, 40 + 4 * i) for i in range(50)]  # a vertical bar


def drawn(qtbot, window, trained):
    window.app_model.set_model(trained)
    page = window.predict_page
    window.tabs.setCurrentWidget(page)
    draw_stroke(page.canvas, STROKE)
    qtbot.waitUntil(lambda: page.explain.explained is not None, timeout=2000)
    return page


def network_input(page):
    trained = page.current_model()
    return trained.normalize(page.current_input()[None])[0]


def test_the_overlay_shows_grad_cam_of_the_prediction_on_the_input_and_the_drawing(
        qtbot, window, digits_model):
    page = drawn(qtbot, window, digits_model)
    panel = page.explain
    result = panel.explained
    assert result.method == "gradcam" and result.class_index == page.predicted_class()
    expected = grad_cam(digits_model.model, network_input(page))
    np.testing.assert_allclose(result.values, expected.values, rtol=1e-5, atol=1e-7)
    plain = as_rgb(page.current_input())
    shown = panel.overlay.input_view.array()
    assert shown.shape == plain.shape and not np.array_equal(shown, plain)
    assert panel.overlay.original_view.array() is not None  # the drawing, with the map on it
    assert page.bars.marked() == result.class_index
    # Off: the plain input again, no map.
    panel.overlay.toggle.setChecked(False)
    assert panel.explained is None and np.array_equal(panel.overlay.input_view.array(), plain)


def test_the_method_selector_switches_to_occlusion(qtbot, window, digits_model):
    page = drawn(qtbot, window, digits_model)
    overlay = page.explain.overlay
    overlay.selector.setCurrentIndex(overlay.selector.findData("occlusion"))
    result = page.explain.explained
    assert result.method == "occlusion"
    expected = occlusion(digits_model.model, network_input(page), None, patch=7, stride=3)
    np.testing.assert_allclose(result.values, expected.values, rtol=1e-5, atol=1e-7)


def test_clicking_a_bar_explains_that_class(qtbot, window, digits_model):
    page = drawn(qtbot, window, digits_model)
    order = list(np.argsort(-page.probabilities(), kind="stable"))
    second = int(order[1])
    assert page.bars.class_at(page.bars.row_rect(1).center().y()) == second
    click(page.bars, page.bars.row_rect(1).center())
    result = page.explain.explained
    assert result.class_index == second and page.bars.marked() == second
    expected = explain(digits_model.model, network_input(page), "gradcam", second)
    np.testing.assert_allclose(result.values, expected.values, rtol=1e-5, atol=1e-7)
    # Clicking the predicted class goes back to following the prediction.
    click(page.bars, page.bars.row_rect(0).center())
    assert page.explain.chosen_class is None
    assert page.explain.explained.class_index == int(order[0])


def _mouse(widget, kind, x, y, buttons):
    button = Qt.MouseButton.NoButton if kind == QEvent.Type.MouseMove else \
        Qt.MouseButton.LeftButton
    pos = QPointF(x, y)
    QApplication.sendEvent(widget, QMouseEvent(kind, pos, widget.mapToGlobal(pos), button,
                                               buttons, Qt.KeyboardModifier.NoModifier))


def test_grad_cam_follows_the_pen_while_drawing(qtbot, window, digits_model):
    window.app_model.set_model(digits_model)
    page = window.predict_page
    window.tabs.setCurrentWidget(page)
    held = Qt.MouseButton.LeftButton
    _mouse(page.canvas, QEvent.Type.MouseButtonPress, 140, 40, held)
    for i in range(1, 25):
        _mouse(page.canvas, QEvent.Type.MouseMove, 140, 40 + 4 * i, held)
    qtbot.waitUntil(lambda: page.explain.explained is not None, timeout=2000)
    first = page.explain.explained.values.copy()
    for i in range(1, 30):  # the pen is still down: a second stroke direction
        _mouse(page.canvas, QEvent.Type.MouseMove, 140 + 4 * i, 136, held)
    qtbot.waitUntil(lambda: not np.array_equal(page.explain.explained.values, first),
                    timeout=2000)
    expected = grad_cam(digits_model.model, network_input(page))
    np.testing.assert_allclose(page.explain.explained.values, expected.values, rtol=1e-5,
                               atol=1e-7)
    _mouse(page.canvas, QEvent.Type.MouseButtonRelease, 256, 136, Qt.MouseButton.NoButton)


def test_a_run_in_progress_is_explained_on_a_shadow_of_its_snapshot(qtbot, window,
                                                                     digits_model,
                                                                     digits_dataset):
    window.app_model.set_dataset(digits_dataset)
    page = drawn(qtbot, window, digits_model)
    model = digits_model.model
    state = {k: v + np.float32(0.01) for k, v in model.state_dict().items()}
    snapshot = TrainingSnapshot(list(model.spec), (28, 28, 1), 3, state,
                                digits_model.normalizer.to_dict(), "digits", 0, 5)
    window.app_model.set_snapshot(snapshot)
    shown = window.app_model.snapshot_model
    explainer = page.explain.explainer
    assert explainer.trained is shown and shown is not digits_model
    network = explainer.network()
    assert isinstance(network, ShadowNetwork)
    assert not any(a is b for a, b in zip(network.layers, shown.model.layers, strict=True))
    expected = grad_cam(shown.model, network_input(page))
    np.testing.assert_allclose(page.explain.explained.values, expected.values, rtol=1e-5,
                               atol=1e-7)


def _calibrated(trained: TrainedModel, threshold: float | None) -> TrainedModel:
    trained = copy.deepcopy(trained)
    if threshold is not None:
        store_ood_calibration(trained.meta, OodCalibration("energy", threshold, 0.95, 30))
    else:
        trained.meta.other.pop("ood", None)
    return trained


@pytest.mark.parametrize("threshold, shown", [(1e9, True), (-1e9, False), (None, False)])
def test_the_unlike_the_training_data_warning_follows_the_calibration(qtbot, window,
                                                                       digits_model,
                                                                       threshold, shown):
    page = drawn(qtbot, window, _calibrated(digits_model, threshold))
    warning = page.explain.warning
    assert warning.isVisibleTo(page) is shown
    if shown:
        assert warning.text() == "This does not look like any of the 3 classes I know."
    assert not error_boxes(window)


def test_a_damaged_calibration_shows_no_warning_and_no_error(qtbot, window, digits_model):
    trained = _calibrated(digits_model, None)
    trained.meta["ood"] = {"score": "nonsense"}
    page = drawn(qtbot, window, trained)
    assert not page.explain.warning.isVisibleTo(page)
    assert page.explain.explained is not None
    assert not error_boxes(window)


def test_the_warning_speaks_of_digits_for_a_digit_model_else_of_its_classes():
    def model(names, kind):
        return TrainedModel(None, {"class_names": names, "input_shape": [28, 28, 1],
                                   "preprocessing": {"kind": kind}})

    digits = [str(d) for d in range(10)]
    assert unfamiliar_text(model(digits, "digits")) == "This does not look like any digit I know."
    assert unfamiliar_text(model([f"c{i}" for i in range(10)], "colour")) == \
        "This does not look like any of the 10 classes I know."


def test_a_confident_mistake_shows_the_maps_of_both_classes(qtbot, window, tiny_dataset,
                                                            tiny_model):
    # An untrained network makes plenty of mistakes.
    net = build_model(TINY_SPEC, input_shape=(8, 8, 1), num_classes=3, seed=5)
    poor = TrainedModel(net, copy.deepcopy(tiny_model.meta))
    window.app_model.set_model(poor)
    ds = tiny_dataset
    evaluation = evaluate(copy.deepcopy(poor), ds.x_test, ds.y_test)
    assert window.app_model.set_results(EvaluationResult(evaluation, poor, ds))
    page = window.evaluate_page
    assert len(page.mistake_indices) > 0
    page.mistakes_gallery.setCurrentRow(0)
    maps = page.mistake_maps.maps
    i = int(page.mistake_indices[0])
    assert maps is not None and page.mistake_maps.index == i
    predicted, true = int(evaluation.pred[i]), int(evaluation.y[i])
    assert predicted != true
    x = poor.normalize(ds.x_test[i:i + 1])[0]
    for result, c in zip(maps, (predicted, true), strict=True):
        assert result.class_index == c
        np.testing.assert_allclose(result.values, grad_cam(net, x, c).values, rtol=1e-5,
                                   atol=1e-7)
    assert page.mistake_maps.predicted_view.array() is not None
    assert "predicted" in page.mistake_maps.predicted_caption.text()
    assert "true" in page.mistake_maps.true_caption.text()
    # Other results clear the maps.
    window.app_model.set_results(None)
    assert page.mistake_maps.maps is None and page.mistake_maps.predicted_view.array() is None
