"""Start the app: ``run_app()`` opens the main window on MNIST with the pretrained default
model from assets/ when it is there, and still opens without it."""

from __future__ import annotations

import sys
from pathlib import Path

from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QApplication

ASSETS = Path(__file__).resolve().parent.parent / "assets"
DEFAULT_DATASET = "mnist"


def default_model_path(dataset: str = DEFAULT_DATASET, assets: Path = ASSETS) -> Path | None:
    """The pretrained model shipped for ``dataset`` (assets/<dataset>*.pkl), if any."""
    if not assets.is_dir():
        return None
    candidates = sorted(p for p in assets.glob("*.pkl") if p.name.startswith(dataset))
    key = dataset.replace("-", "")
    candidates += sorted(p for p in assets.glob("*.pkl")
                         if key in p.name.replace("-", "").replace("_", "") and p not in candidates)
    return candidates[0] if candidates else None


def create_window(settings=None, load_dataset: bool = True, model_path: Path | None = None):
    """Builds the main window with the default model and starts loading the dataset."""
    from gui.main_window import MainWindow

    window = MainWindow(settings=settings)
    path = model_path if model_path is not None else default_model_path()
    if path is not None and path.is_file():
        # Errors are shown in a message box; the app opens without a model then.
        window.open_model(path)
    if load_dataset:
        name = window.data_page.current_dataset_name() or DEFAULT_DATASET
        QTimer.singleShot(0, lambda: window.data_page.load_dataset(name))
    return window


def run_app() -> int:
    app = QApplication.instance() or QApplication(sys.argv)
    app.setApplicationName("CNN Studio")
    app.setOrganizationName("CNN Studio")
    window = create_window()
    window.show()
    return int(app.exec())
