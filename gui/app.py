"""Start the app: ``run_app()`` opens the main window on MNIST with the pretrained default
model from assets/ when it is there (or the model file given), and still opens without it (or
without the dataset)."""

from __future__ import annotations

import signal
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QApplication

from gui.default_models import DEFAULT_DATASET, default_model_path

if TYPE_CHECKING:
    from gui.main_window import MainWindow
    from gui.settings import Settings


def create_window(settings: Settings | None = None, load_dataset: bool = True,
                  model_path: Path | None = None) -> MainWindow:
    """The main window with ``model_path`` (else the default model), starting to load the
    dataset if it is found (the one the model was trained on, when known)."""
    from gui.main_window import MainWindow

    window = MainWindow(settings=settings)
    path = Path(model_path) if model_path is not None else default_model_path()
    if path is not None and (model_path is not None or path.is_file()):
        # A bad file is reported in a message box; the app then opens without a model.
        window.open_model(path)
    if load_dataset:
        window.data_page.load_initial_dataset()
    return window


def _quit_on_terminate(app: QApplication) -> None:
    """SIGTERM (logout, `kill`) quits through Qt, so aboutToQuit stops a run cleanly."""
    signal.signal(signal.SIGTERM, lambda *_: app.quit())
    # Python runs signal handlers only between bytecodes: wake the interpreter now and then.
    timer = QTimer(app)
    timer.timeout.connect(lambda: None)
    timer.start(500)


def run_app(model_path: str | Path | None = None) -> int:
    app = QApplication.instance() or QApplication(sys.argv[:1])
    app.setApplicationName("CNN Studio")
    app.setOrganizationName("CNN Studio")
    _quit_on_terminate(app)
    window = create_window(model_path=None if model_path is None else Path(model_path))
    window.show()
    return int(app.exec())


__all__ = ["DEFAULT_DATASET", "create_window", "default_model_path", "run_app"]
