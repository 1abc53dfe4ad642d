"""Where Save / Export / Open dialogs start, and the permissions of the files the app writes."""

from __future__ import annotations

import os
from pathlib import Path

from PySide6.QtCore import QStandardPaths

from gui.default_models import is_inside_assets
from gui.settings import Settings


def documents_dir() -> Path:
    value = QStandardPaths.writableLocation(QStandardPaths.StandardLocation.DocumentsLocation)
    path = Path(value) if value else Path.home()
    return path if path.is_dir() else Path.home()


def start_dir(settings: Settings) -> Path:
    """The folder the user last saved to or opened from, else their documents folder; never
    the app's own assets/ (a save there could overwrite a shipped model)."""
    last = settings.last_dir()
    if last is not None and Path(last).is_dir() and not is_inside_assets(last):
        return Path(last)
    return documents_dir()


def suggested_path(settings: Settings, file_name: str) -> str:
    return str(start_dir(settings) / file_name)


def remember_dir(settings: Settings, path: str | Path) -> None:
    folder = Path(path).parent
    if not is_inside_assets(folder):
        settings.set_last_dir(folder)


def give_usual_permissions(path: str | Path) -> None:
    """Files written through a private temporary file come out 0600; give them what any new
    file gets (0666 less the umask), so a saved model can be shared like other documents."""
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(path, 0o666 & ~umask)
