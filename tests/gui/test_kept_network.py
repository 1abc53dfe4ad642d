"""A network edited by hand is never lost: kept under "(custom)" across presets, opened models
and restarts, and saved to / opened from architecture files through the File menu."""

from __future__ import annotations

import json

import pytest
from PySide6.QtWidgets import QFileDialog

from engine import load_preset
from engine.arch_file import read_arch_file
from gui.architecture_dialogs import open_architecture
from tests.gui.conftest import TINY_SPEC
from tests.gui.helpers import error_boxes


def pick(page, name) -> None:
    page.preset_combo.setCurrentIndex(page.preset_combo.findData(name))


def edited(page) -> list[dict]:
    """Add a ReLU after the last layer, by hand, and return the network."""
    page.editor.table.clearSelection()
    page.editor.insert_layer("relu")
    return page.editor.spec()


def test_an_edit_survives_a_preset_a_recommendation_and_a_restart(qtbot, window, settings):
    page = window.data_page
    mine = edited(page)
    assert mine == [*TINY_SPEC, {"type": "relu"}]
    assert page.preset_combo.currentData() is None and "Edited by hand" in page.preset_note.text()
    assert settings.custom_network() == mine

    pick(page, "lenet5")
    assert page.editor.spec() == load_preset("lenet5")["layers"]
    page.apply_recommended()
    assert page.editor.spec() != mine
    pick(page, None)  # the user picks "(custom)"
    assert page.editor.spec() == mine and "as you last left it" in page.preset_note.text()

    from gui.main_window import MainWindow

    settings.sync()
    again = MainWindow(settings=settings)
    qtbot.addWidget(again)
    pick(again.data_page, None)
    assert again.data_page.editor.spec() == mine
    assert error_boxes(window) == [] and error_boxes(again) == []


def test_showing_a_preset_or_a_model_is_not_an_edit(window, settings):
    page = window.data_page
    mine = edited(page)
    pick(page, "lenet5")
    page.show_architecture("an opened model", [{"type": "flatten"}, {"type": "dense",
                                                                     "units": "num_classes"}])
    assert page.preset_combo.currentData() is None
    assert settings.custom_network() == mine  # neither replaced the kept network


def test_save_and_open_an_architecture_through_the_menu(window, settings, monkeypatch, tmp_path):
    page = window.data_page
    mine = edited(page)
    target = tmp_path / "my-net"
    monkeypatch.setattr(QFileDialog, "getSaveFileName",
                        staticmethod(lambda *a, **k: (str(target), "")))
    window.save_arch_action.trigger()
    saved = target.with_suffix(".json")
    assert read_arch_file(saved).layers == mine and json.loads(saved.read_text())["name"] == \
        "my-net"

    pick(page, "lenet5")
    settings.set_custom_network(TINY_SPEC)
    monkeypatch.setattr(QFileDialog, "getOpenFileName",
                        staticmethod(lambda *a, **k: (str(saved), "")))
    window.open_arch_action.trigger()
    assert page.editor.spec() == mine and page.preset_combo.currentData() is None
    assert "my-net.json" in page.preset_note.text()
    assert settings.custom_network() == mine  # an opened file is the kept network now
    assert window.app_model.training_setup.config.arch == mine  # and the run the Train page starts
    assert error_boxes(window) == []


@pytest.mark.parametrize("content", [b"\x00\x01 binary", b'{"layers": "relu"}',
                                     b'[{"type": "teleport"}]'])
def test_a_file_that_is_no_architecture_leaves_the_page_as_it_was(window, tmp_path, content):
    page = window.data_page
    before = page.editor.spec()
    path = tmp_path / "wrong.json"
    path.write_bytes(content)
    assert open_architecture(window, page, window.settings, path) is False
    box = error_boxes(window)[-1]
    assert box.windowTitle() == "Cannot open the architecture"
    assert "\n" not in box.text() and "0x" not in box.text()
    assert page.editor.spec() == before
