"""The suite never sees the user's real folders (issue 15, scenario 5: after Download in the
app, a test found the user's MNIST and failed)."""

from __future__ import annotations

import os
from pathlib import Path

from PySide6.QtCore import QStandardPaths

from engine.data import paths
from gui.settings import Settings


def _inside(path: str | Path, folder: Path) -> bool:
    return Path(path).resolve().is_relative_to(folder.resolve())


def test_user_folders_point_into_the_temporary_home(isolated_user_folders):
    home = isolated_user_folders
    assert _inside(Path.home(), home) and _inside(os.path.expanduser("~"), home)
    assert _inside(paths.user_data_dir(), home)
    assert _inside(paths.user_cache_dir(), home)
    assert _inside(paths.default_cache_dir(), home)
    shared = os.environ.get(paths.DATA_ENV)
    assert shared and (_inside(shared, home) or Path(shared, "mnist").is_dir())
    for variable in ("XDG_DATA_HOME", "XDG_CACHE_HOME", "XDG_CONFIG_HOME"):
        assert _inside(os.environ[variable], home)


def test_qt_settings_and_app_folders_are_temporary(isolated_user_folders):
    home = isolated_user_folders
    settings = Settings()  # the app's default, per-user store
    assert _inside(settings.file_name(), home)
    settings.add_recent_model(home / "model.pkl")
    settings.sync()
    assert Path(settings.file_name()).is_file()
    location = QStandardPaths.writableLocation(QStandardPaths.StandardLocation.AppDataLocation)
    assert _inside(location, home)
    assert _inside(Settings().checkpoint_dir(), home)
