"""Test configuration shared by every test package."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from pathlib import Path

# GUI tests run headless; set before anything imports Qt.
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
# matplotlib must not look for a display either.
os.environ.setdefault("MPLBACKEND", "Agg")

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import pytest  # noqa: E402

from engine.data.paths import CACHE_ENV, DATA_ENV, default_cache_dir  # noqa: E402

# Captured before the user's folders are hidden (below): the real-data tests decode the shared,
# read-only datasets into this cache once and read it back afterwards, passing it explicitly.
# No other test sees it.
REAL_CACHE_DIR = default_cache_dir()
# Every environment variable the product reads to find a per-user or per-machine folder.
PRODUCT_VARIABLES = (DATA_ENV, CACHE_ENV)
XDG_FOLDERS = {"XDG_DATA_HOME": "share", "XDG_CACHE_HOME": "cache",
               "XDG_CONFIG_HOME": "config", "XDG_STATE_HOME": "state"}


def _shared_datasets() -> str | None:
    """``CNN_STUDIO_DATA`` when the caller (CI, ./test.sh) pointed it at real datasets."""
    value = os.environ.get(DATA_ENV)
    return value if value and Path(value).is_dir() else None


@pytest.fixture(scope="session", autouse=True)
def isolated_user_folders(tmp_path_factory) -> Iterator[Path]:
    """HOME, the XDG folders, every ``CNN_STUDIO_*`` folder and Qt's settings point into one
    temporary directory for the whole run, so tests never read or write a user's real folders
    (a dataset the user downloaded, their recent models) and engineers testing at the same time
    on one machine never see each other's files. ``CNN_STUDIO_DATA`` is kept when it names the
    shared datasets, which the real-data tests read (and never write)."""
    home = tmp_path_factory.mktemp("user-home")
    shared = _shared_datasets()
    patch = pytest.MonkeyPatch()
    patch.setenv("HOME", str(home))
    for variable, folder in XDG_FOLDERS.items():
        patch.setenv(variable, str(home / folder))
    patch.setenv(CACHE_ENV, str(home / "cnn-studio-cache"))
    patch.setenv(DATA_ENV, shared or str(home / "cnn-studio-data"))
    _isolate_qt_settings(home / "config")
    yield home
    patch.undo()


def _isolate_qt_settings(folder: Path) -> None:
    """QSettings caches its folders on first use, so the environment alone is not enough."""
    try:
        from PySide6.QtCore import QSettings, QStandardPaths
    except ImportError:  # the engine tests run without Qt installed
        return
    for fmt in (QSettings.Format.NativeFormat, QSettings.Format.IniFormat):
        for scope in (QSettings.Scope.UserScope, QSettings.Scope.SystemScope):
            QSettings.setPath(fmt, scope, str(folder))
    # AppDataLocation and friends under ~/.qttest (HOME is the temporary folder above).
    QStandardPaths.setTestModeEnabled(True)


@pytest.fixture(scope="session")
def shared_data_dir() -> Path:
    """The real datasets (``CNN_STUDIO_DATA``); the test is skipped when they are absent."""
    value = os.environ.get(DATA_ENV)
    if not value or not Path(value, "mnist").is_dir():
        pytest.skip("real datasets not available (set CNN_STUDIO_DATA to ../shared/datasets)")
    return Path(value)
