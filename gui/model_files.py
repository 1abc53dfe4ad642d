"""Model files the app opens and writes besides its own: ONNX graphs in, ONNX graphs out.

File ▸ Open reads a ``.onnx`` file through ``engine.onnx`` into an engine model; it becomes the
current model marked unsaved (it is not one of our files, so saving asks where to write the
.pkl). File ▸ Export ▸ ONNX writes the current model as a standard ONNX graph. ``onnx`` is
imported only when one of these is used, so the app starts without it.
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtWidgets import QFileDialog, QWidget

from engine.serialize import load_model
from engine.trained_model import TrainedModel
from gui.file_dialogs import give_usual_permissions, remember_dir, suggested_path
from gui.messages import show_error, show_info, show_status
from gui.settings import Settings
from gui.state import AppModel, ModelOrigin

ONNX_SUFFIX = ".onnx"
OPEN_FILTER = ("Models (*.pkl *.onnx *.npz);;CNN Studio model (*.pkl);;ONNX model (*.onnx);;"
               "Weights export (*.npz)")
ONNX_FILTER = "ONNX model (*.onnx)"
NEEDS_ONNX = "ONNX files need the onnx package: pip install onnx"


def is_onnx(path: str | Path) -> bool:
    return Path(path).suffix.lower() == ONNX_SUFFIX


def origin_of(path: str | Path) -> ModelOrigin:
    """Where a model read from ``path`` comes from: our own file, or an imported graph."""
    return ModelOrigin.IMPORTED if is_onnx(path) else ModelOrigin.FILE


def read_model_file(path: str | Path) -> TrainedModel:
    """The model in ``path``: an ONNX graph imported, else our .pkl / .npz read.

    Raises ValueError / OSError with one line (a node the engine does not have is named)."""
    if not is_onnx(path):
        return load_model(path)
    try:
        from engine.onnx import import_onnx
    except ImportError:
        raise ValueError(NEEDS_ONNX) from None
    return import_onnx(path)


def onnx_name(app_model: AppModel) -> str:
    """The export's suggested file name: the model file's name with .onnx, else model.onnx."""
    path = app_model.model_path
    return "model.onnx" if path is None else path.with_suffix(ONNX_SUFFIX).name


def export_onnx_dialog(parent: QWidget, app_model: AppModel, settings: Settings) -> Path | None:
    """Ask where to write the current model as ONNX and write it; the path written or None."""
    if app_model.trained is None:
        show_info(parent, "No model", "Train a model or open one first.")
        return None
    path, _ = QFileDialog.getSaveFileName(parent, "Export ONNX",
                                          suggested_path(settings, onnx_name(app_model)),
                                          ONNX_FILTER)
    if not path:
        return None
    path = Path(path)
    if not is_onnx(path):
        path = path.with_name(path.name + ONNX_SUFFIX)
    remember_dir(settings, path)
    if not export_current_model(parent, app_model, path):
        return None
    show_status(parent, f"Exported {path}")
    return path


def export_current_model(parent: QWidget, app_model: AppModel, path: str | Path) -> bool:
    """Write the current model to ``path`` as ONNX; a one-line message box when it cannot
    be (a layer without an ONNX form is named, nothing is written)."""
    trained = app_model.trained
    if trained is None:
        return False
    try:
        from engine.onnx import export_onnx
    except ImportError:
        show_error(parent, "Cannot export ONNX", NEEDS_ONNX)
        return False
    try:
        written = export_onnx(trained, path)
        give_usual_permissions(written)
    except (ValueError, OSError) as exc:
        show_error(parent, "Cannot export ONNX", str(exc))
        return False
    return True
