"""What the app remembers between runs (QSettings): data folder, recent models, the network
edited by hand, geometry."""

from __future__ import annotations

import json
from pathlib import Path

from PySide6.QtCore import QByteArray, QSettings

from engine.data.paths import user_data_dir

RECENT_LIMIT = 8


class Settings:
    """Typed access to the stored settings.

    ``path`` selects an INI file (tests); by default the platform's per-user store is used.
    """

    def __init__(self, path: str | Path | None = None):
        if path is None:
            self._s = QSettings("CNN Studio", "CNN Studio")
        else:
            self._s = QSettings(str(path), QSettings.Format.IniFormat)

    def sync(self) -> None:
        self._s.sync()

    def file_name(self) -> str:
        """The file the settings are stored in."""
        return self._s.fileName()

    # --- data --------------------------------------------------------------------------------
    def data_dir(self) -> str | None:
        value = self._s.value("data/dir", "")
        return str(value) or None

    def set_data_dir(self, path: str | Path | None) -> None:
        self._s.setValue("data/dir", "" if path is None else str(path))

    def last_dataset(self, default: str = "mnist") -> str:
        return str(self._s.value("data/last", default) or default)

    def set_last_dataset(self, name: str) -> None:
        self._s.setValue("data/last", name)

    # --- models ------------------------------------------------------------------------------
    def recent_models(self) -> list[str]:
        value = self._s.value("models/recent", [])
        if isinstance(value, str):
            value = [value]
        return [str(v) for v in (value or []) if v]

    def add_recent_model(self, path: str | Path) -> None:
        path = str(Path(path).resolve())
        recent = [p for p in self.recent_models() if p != path]
        self._s.setValue("models/recent", [path, *recent][:RECENT_LIMIT])

    def remove_recent_model(self, path: str | Path) -> None:
        self._s.setValue("models/recent", [p for p in self.recent_models() if p != str(path)])

    def last_dir(self) -> str | None:
        """The folder of the last model or export the user saved or opened."""
        return str(self._s.value("files/last_dir", "") or "") or None

    def set_last_dir(self, path: str | Path) -> None:
        self._s.setValue("files/last_dir", str(path))

    def checkpoint_dir(self) -> Path:
        value = str(self._s.value("train/checkpoint_dir", "") or "")
        if value:
            return Path(value)
        # Beside the downloaded datasets (…/cnn-studio/datasets), one folder per app.
        return user_data_dir().parent / "checkpoints"

    def set_checkpoint_dir(self, path: str | Path) -> None:
        self._s.setValue("train/checkpoint_dir", str(path))

    # --- network -----------------------------------------------------------------------------
    def custom_network(self) -> list[dict] | None:
        """The last network edited by hand (a layer list), or None."""
        text = str(self._s.value("network/custom", "") or "")
        try:
            value = json.loads(text) if text else None
        except ValueError:
            return None
        if isinstance(value, list) and value and all(isinstance(v, dict) for v in value):
            return value
        return None

    def set_custom_network(self, spec: list[dict]) -> None:
        self._s.setValue("network/custom", json.dumps(spec))

    # --- window ------------------------------------------------------------------------------
    def geometry(self) -> QByteArray | None:
        value = self._s.value("window/geometry")
        return value if isinstance(value, QByteArray) and not value.isEmpty() else None

    def set_geometry(self, geometry: QByteArray) -> None:
        self._s.setValue("window/geometry", geometry)

    def window_state(self) -> QByteArray | None:
        value = self._s.value("window/state")
        return value if isinstance(value, QByteArray) and not value.isEmpty() else None

    def set_window_state(self, state: QByteArray) -> None:
        self._s.setValue("window/state", state)

    def current_page(self) -> int:
        return int(self._s.value("window/page", 0) or 0)

    def set_current_page(self, index: int) -> None:
        self._s.setValue("window/page", int(index))
