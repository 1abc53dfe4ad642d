"""ONNX in the app: File ▸ Export ONNX writes the current model, File ▸ Open reads .onnx files
as the current model (unsaved: it is not one of our files)."""

from __future__ import annotations

import numpy as np
import pytest
from PySide6.QtWidgets import QFileDialog

from engine.layers.base import Layer
from gui.state import ModelOrigin
from gui.state.model_facts import clone_trained
from tests.gui.helpers import error_boxes

onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")


def answer_save(monkeypatch, path) -> None:
    monkeypatch.setattr(QFileDialog, "getSaveFileName",
                        lambda *a, **k: (str(path), "ONNX model (*.onnx)"))


def answer_open(monkeypatch, path) -> None:
    monkeypatch.setattr(QFileDialog, "getOpenFileName", lambda *a, **k: (str(path), ""))


def test_export_writes_the_current_model_and_onnx_runtime_agrees(window, monkeypatch, tmp_path,
                                                                  tiny_dataset):
    answer_save(monkeypatch, tmp_path / "exported")  # the suffix is added
    window.export_onnx_action.trigger()
    path = tmp_path / "exported.onnx"
    assert path.is_file() and not error_boxes(window)
    x = tiny_dataset.x_test[:12]
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    probs = session.run(["probabilities"], {"image": x.astype(np.float32) / 255})[0]
    np.testing.assert_allclose(probs, window.app_model.trained.predict_proba(x), atol=1e-5)
    assert window.app_model.model.saved  # exporting is not saving, and changes nothing


def test_a_layer_without_onnx_form_is_named_in_one_line_and_nothing_is_written(
        window, monkeypatch, tmp_path, tiny_model):
    class Mystery(Layer):
        def forward(self, x, training=True):
            return x

    odd = clone_trained(tiny_model)
    odd.model.layers.insert(1, Mystery())
    odd.model.layer_names.insert(1, "mystery1")
    odd.model.spec = []  # built by hand: layer types are the class names
    window.app_model.set_model(odd)
    answer_save(monkeypatch, tmp_path / "odd.onnx")
    window.export_onnx_action.trigger()
    boxes = error_boxes(window)
    assert len(boxes) == 1 and not (tmp_path / "odd.onnx").exists()
    text = boxes[0].text()
    assert "mystery1" in text and "cannot be exported to ONNX" in text and "\n" not in text


def test_opening_an_export_makes_it_the_current_model_unsaved(window, monkeypatch, tmp_path,
                                                              tiny_model, tiny_dataset):
    from engine.onnx import export_onnx

    path = export_onnx(tiny_model, tmp_path / "tiny.onnx")
    window.app_model.set_model(None)
    answer_open(monkeypatch, path)
    window.open_action.trigger()
    model = window.app_model.model
    assert not error_boxes(window)
    assert model.origin is ModelOrigin.IMPORTED and window.app_model.unsaved
    assert model.path == path and window.windowTitle().startswith("tiny.onnx*")
    assert model.trained.class_names == tiny_model.class_names
    x = tiny_dataset.x_test
    np.testing.assert_allclose(model.trained.predict_proba(x), tiny_model.predict_proba(x),
                               atol=1e-6)
    # Saving asks where to write our own file (the .onnx is not overwritten).
    monkeypatch.setattr(QFileDialog, "getSaveFileName",
                        lambda *a, **k: (str(tmp_path / "tiny.pkl"), ""))
    assert window.save_model_now()
    assert window.app_model.model.path == tmp_path / "tiny.pkl" and not window.app_model.unsaved


def test_class_names_fall_back_to_numbers_without_metadata(window, tmp_path, tiny_model):
    from engine.onnx import build_onnx

    proto = build_onnx(tiny_model)
    del proto.metadata_props[:]
    path = tmp_path / "bare.onnx"
    path.write_bytes(proto.SerializeToString())
    assert window.open_model(path)
    assert window.app_model.trained.class_names == ["0", "1", "2"]


def test_a_file_that_is_not_onnx_is_refused_in_one_line_and_the_model_stays(window, tmp_path,
                                                                            tiny_model):
    path = tmp_path / "broken.onnx"
    path.write_bytes(b"this is not a protobuf" * 10)
    assert not window.open_model(path)
    boxes = error_boxes(window)
    assert len(boxes) == 1 and "not an ONNX model" in boxes[0].text()
    assert "\n" not in boxes[0].text() and "Traceback" not in boxes[0].text()
    assert window.app_model.trained is tiny_model


def test_every_export_is_under_file_export(window):
    texts = [action.text() for action in window.export_menu.actions()]
    assert texts == ["&ONNX (.onnx)…", "&Weights (.npz + .json)…",
                     "Training &plot (PNG / CSV)…", "&Confusion matrix (PNG / CSV)…"]
    file_menu = window.menuBar().actions()[0].menu()
    assert window.export_menu.menuAction() in file_menu.actions()
