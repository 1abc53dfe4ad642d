"""File ▸ Open architecture / Save architecture as: the network on the Data & model page as a
JSON file (``engine.arch_file``), the form of the presets in models/, which
``python main.py train --arch FILE`` also reads."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtGui import QAction
from PySide6.QtWidgets import QFileDialog, QMainWindow, QMenu, QWidget

from engine.arch_file import ArchFile, read_arch_file, write_arch_file
from gui.file_dialogs import give_usual_permissions, remember_dir, start_dir, suggested_path
from gui.messages import show_error, show_status
from gui.pages.data_page import DataPage
from gui.settings import Settings

ARCH_FILTER = "Architecture (*.json)"


def add_architecture_actions(window: QMainWindow, menu: QMenu) -> tuple[QAction, QAction]:
    """File ▸ Open architecture… and Save architecture as…, added to ``menu`` (a section of
    its own) for the window's Data & model page."""
    page, settings = window.data_page, window.settings
    menu.addSeparator()
    open_action = menu.addAction("Open arc&hitecture…")
    open_action.triggered.connect(lambda: open_architecture_dialog(window, page, settings))
    save_action = menu.addAction("Save arc&hitecture as…")
    save_action.triggered.connect(lambda: save_architecture_dialog(window, page, settings))
    return open_action, save_action


def save_architecture_dialog(parent: QWidget, page: DataPage, settings: Settings) -> Path | None:
    """Ask where to write the page's network and write it; the path written or None."""
    preset = page.preset_combo.currentData()
    name = preset or "my-network"
    path, _ = QFileDialog.getSaveFileName(parent, "Save architecture",
                                          suggested_path(settings, f"{name}.json"), ARCH_FILTER)
    if not path:
        return None
    path = Path(path)
    if path.suffix.lower() != ".json":
        path = path.with_name(path.name + ".json")
    remember_dir(settings, path)
    note = f"The {preset} preset, saved from CNN Studio." if preset else \
        "A network edited in CNN Studio."
    try:
        write_arch_file(path, ArchFile(layers=page.editor.spec(), name=path.stem, note=note))
        give_usual_permissions(path)
    except (ValueError, OSError) as exc:
        show_error(parent, "Cannot save the architecture", str(exc))
        return None
    show_status(parent, f"Saved the architecture to {path}")
    return path


def open_architecture_dialog(parent: QWidget, page: DataPage, settings: Settings) -> bool:
    path, _ = QFileDialog.getOpenFileName(parent, "Open architecture", str(start_dir(settings)),
                                          ARCH_FILTER + ";;All files (*)")
    return bool(path) and open_architecture(parent, page, settings, path)


def open_architecture(parent: QWidget, page: DataPage, settings: Settings,
                      path: str | Path) -> bool:
    """Show the network of an architecture file on the page; a one-line message when the file
    is not one, and the page is left as it was."""
    try:
        arch = read_arch_file(path)
    except (ValueError, OSError) as exc:
        show_error(parent, "Cannot open the architecture", str(exc))
        return False
    remember_dir(settings, path)
    page.open_architecture(arch, Path(path).name)
    show_status(parent, f"Opened the architecture {Path(path).name}")
    return True
