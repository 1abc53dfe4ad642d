"""Start the app: ``run_app()`` opens the main window on MNIST with the pretrained default
model from assets/ when it is there, and still opens without it (or without the dataset)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QApplication

if TYPE_CHECKING:
    from gui.main_window import MainWindow
    from gui.settings import Settings

ASSETS = Path(__file__).resolve().parent.parent / "assets"
DEFAULT_DATASET = "mnist"


def default_model_path(dataset: str = DEFAULT_DATASET, assets: Path | None = None) -> Path | None:
    """The pretrained model shipped for ``dataset`` (assets/<dataset>*.pkl), if any."""
    folder = ASSETS if assets is None else assets
    if not folder.is_dir():
        return None
    key = dataset.replace("-", "").replace("_", "")
    candidates = sorted(p for p in folder.glob("*.pkl")
                        if p.name.replace("-", "").replace("_", "").startswith(key))
    return candidates[0] if candidates else None


def create_window(settings: Settings | None = None, load_dataset: bool = True,
                  model_path: Path | None = None) -> MainWindow:
    """The main window with the default model, starting to load the dataset if it is found."""
    from gui.main_window import MainWindow

    window = MainWindow(settings=settings)
    path = model_path if model_path is not None else default_model_path()
    if path is not None and path.is_file():
        # A bad file is reported in a message box; the app then opens without a model.
        window.open_model(path)
    if load_dataset:
        name = window.data_page.current_dataset_name() or DEFAULT_DATASET
        # A missing dataset is not an error at start: the Data page says what to do.
        if window.data_page.dataset_found(name):
            QTimer.singleShot(0, lambda: window.data_page.load_dataset(name))
    return window


def run_app() -> int:
    app = QApplication.instance() or QApplication(sys.argv)
    app.setApplicationName("CNN Studio")
    app.setOrganizationName("CNN Studio")
    window = create_window()
    window.show()
    return int(app.exec())
