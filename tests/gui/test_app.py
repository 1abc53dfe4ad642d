"""Starting the app: with the default model, and without a dataset or a model."""

from __future__ import annotations

from pathlib import Path

import pytest

from gui.app import create_window, default_model_path
from tests.gui.helpers import error_boxes


def test_app_opens_with_the_pretrained_model_when_present(qtbot, settings, tmp_path, monkeypatch):
    monkeypatch.setenv("CNN_STUDIO_DATA", str(tmp_path / "no-data-here"))
    window = create_window(settings=settings)
    qtbot.addWidget(window)
    path = default_model_path()
    if path is None:
        assert window.app_model.trained is None
    else:
        assert window.app_model.model_path == path
        assert window.app_model.trained.num_classes == 10
        assert "Using" in window.predict_page.model_label.text()
    assert window.app_model.dataset is None and not window.data_page.is_loading()
    assert "Not found" in window.data_page.status_label.text()
    assert not error_boxes(window)


def test_a_model_opens_beside_its_own_dataset_even_when_that_is_missing(qtbot, settings,
                                                                        tmp_path, monkeypatch):
    monkeypatch.setenv("CNN_STUDIO_DATA", str(tmp_path / "no-data-here"))
    settings.set_last_dataset("mnist")
    model = Path(__file__).resolve().parents[2] / "assets" / "cifar10.pkl"
    if not model.is_file():
        pytest.skip("assets/cifar10.pkl is not in this checkout")
    window = create_window(settings=settings, model_path=model)
    qtbot.addWidget(window)
    assert window.data_page.current_dataset_name() == "cifar10"
    assert "Not found" in window.data_page.status_label.text()
    assert "cifar" in window.data_page.status_label.text().lower()
    assert window.app_model.dataset is None and not window.data_page.is_loading()


def test_app_opens_gracefully_without_model_or_dataset(qtbot, settings, tmp_path, monkeypatch):
    monkeypatch.setenv("CNN_STUDIO_DATA", str(tmp_path / "no-data-here"))
    monkeypatch.setattr("gui.default_models.ASSETS", tmp_path / "no-assets")
    assert default_model_path(assets=tmp_path / "no-assets") is None
    window = create_window(settings=settings)
    qtbot.addWidget(window)
    window.show()
    assert window.app_model.trained is None
    assert "No model" in window.predict_page.model_label.text()
    for index in range(window.tabs.count()):
        window.tabs.setCurrentIndex(index)
        assert not window.grab().isNull()
    assert window.save_action.isEnabled() is False
