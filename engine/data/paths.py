"""Where datasets are read from and where decoded arrays are cached.

The data directory is chosen as: an explicit ``data_dir`` (``--data-dir`` on the command line, the
app's setting) > the ``CNN_STUDIO_DATA`` environment variable > a per-user folder. It may be
read-only (a shared copy), so decoded arrays go to a separate writable cache directory:
``cache_dir`` > ``CNN_STUDIO_CACHE`` > a per-user cache folder.
"""

from __future__ import annotations

import os
import stat
import sys
from pathlib import Path

DATA_ENV = "CNN_STUDIO_DATA"
CACHE_ENV = "CNN_STUDIO_CACHE"
_APP_DIR = "cnn-studio"


def _home() -> Path:
    return Path(os.path.expanduser("~"))


def user_data_dir() -> Path:
    """The per-user folder that downloads go to when no other data directory is chosen."""
    if sys.platform == "win32":
        base = Path(os.environ.get("LOCALAPPDATA") or _home() / "AppData" / "Local")
        return base / "CNN Studio" / "datasets"
    if sys.platform == "darwin":
        return _home() / "Library" / "Application Support" / "CNN Studio" / "datasets"
    base = Path(os.environ.get("XDG_DATA_HOME") or _home() / ".local" / "share")
    return base / _APP_DIR / "datasets"


def user_cache_dir() -> Path:
    """The per-user folder for decoded-array caches."""
    if sys.platform == "win32":
        base = Path(os.environ.get("LOCALAPPDATA") or _home() / "AppData" / "Local")
        return base / "CNN Studio" / "cache"
    if sys.platform == "darwin":
        return _home() / "Library" / "Caches" / "CNN Studio"
    base = Path(os.environ.get("XDG_CACHE_HOME") or _home() / ".cache")
    return base / _APP_DIR


def default_data_dir(setting: str | os.PathLike | None = None) -> Path:
    """``CNN_STUDIO_DATA`` > the app's ``setting`` > the per-user folder."""
    env = os.environ.get(DATA_ENV)
    if env:
        return Path(env).expanduser()
    if setting:
        return Path(setting).expanduser()
    return user_data_dir()


def resolve_data_dir(data_dir: str | os.PathLike | None = None) -> Path:
    """An explicit ``data_dir`` (``--data-dir``) wins; otherwise :func:`default_data_dir`."""
    if data_dir:
        return Path(data_dir).expanduser()
    return default_data_dir()


def default_cache_dir(cache_dir: str | os.PathLike | None = None) -> Path:
    """An explicit ``cache_dir`` > ``CNN_STUDIO_CACHE`` > the per-user cache folder."""
    if cache_dir:
        return Path(cache_dir).expanduser()
    env = os.environ.get(CACHE_ENV)
    if env:
        return Path(env).expanduser()
    return user_cache_dir()


def search_roots(data_dir: str | os.PathLike | None = None) -> list[Path]:
    """Folders searched for datasets: the data directory, then the per-user download folder."""
    roots: list[Path] = []
    for root in (resolve_data_dir(data_dir), user_data_dir()):
        if root not in roots:
            roots.append(root)
    return roots


def is_writable_dir(path: Path) -> bool:
    """Whether files may be created in ``path`` (an existing folder, or one that can be made).

    A folder with no write permission bit at all counts as read-only even for the superuser,
    so a shared read-only copy is never written to.
    """
    existing = Path(path)
    while not existing.exists():
        if existing.parent == existing:
            return False
        existing = existing.parent
    if not existing.is_dir():
        return False
    mode = existing.stat().st_mode
    if not mode & (stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH):
        return False
    return os.access(existing, os.W_OK | os.X_OK)


def download_dir(data_dir: str | os.PathLike | None = None) -> Path:
    """Where downloads are written: the data directory if writable, else the per-user folder."""
    root = resolve_data_dir(data_dir)
    return root if is_writable_dir(root) else user_data_dir()


def human_size(num_bytes: int) -> str:
    """``12345678`` -> ``"11.8 MB"``."""
    size = float(num_bytes)
    for unit in ("B", "KB", "MB", "GB"):
        if size < 1024 or unit == "GB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{size:.1f} GB"


def path_size(path: Path) -> int:
    """Bytes in a file, or in all files under a folder."""
    if path.is_file():
        return path.stat().st_size
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())
