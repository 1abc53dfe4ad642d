"""Edit an architecture spec (a list of layer dicts): add, remove, reorder, change settings,
with each layer's output shape and parameter count and any spec error shown as you type."""

from __future__ import annotations

import copy
import re
from collections.abc import Callable
from dataclasses import dataclass

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QBrush, QColor
from PySide6.QtWidgets import (
    QAbstractItemView,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QMenu,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from gui.qt_compat import emit

LAYER_DEFAULTS: dict[str, dict] = {
    "conv2d": {"filters": 32, "kernel_size": 3, "stride": 1, "padding": "same"},
    "batchnorm": {},
    "relu": {},
    "leaky_relu": {"alpha": 0.01},
    "maxpool2d": {"pool_size": 2},
    "avgpool2d": {"pool_size": 2},
    "global_avgpool2d": {},
    "dropout": {"rate": 0.5},
    "flatten": {},
    "dense": {"units": 128},
    "sigmoid": {},
    "tanh": {},
    "softmax": {},
    "gelu": {},
    "scale": {"factor": 1.0},
    "whiten": {"kernel_size": 2, "eps": 0.0005, "bias_epochs": 3},
}

ERROR_ROW = QColor(255, 225, 225)


@dataclass
class LayerInfo:
    """What shape inference tells about one layer."""

    output_shape: tuple[int, ...]
    params: int


# Given a spec, returns the info for as many leading layers as could be inferred, and the
# error (None when the whole spec is valid).
Inferer = Callable[[list[dict]], tuple[list[LayerInfo], str | None]]


def format_settings(layer: dict) -> str:
    """{"type": "conv2d", "filters": 8, "bias": False, "frozen": ["W"]} ->
    "filters=8, bias=false, frozen=[W]": what :func:`parse_settings` reads back unchanged."""
    return ", ".join(f"{k}={_format_value(v)}" for k, v in layer.items() if k != "type")


def _format_value(value: object) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_format_value(v) for v in value) + "]"
    return repr(value) if isinstance(value, float) else str(value)


def parse_settings(layer_type: str, text: str) -> dict:
    """"filters=32, bias=false, frozen=[W]" -> {"type": ..., "filters": 32, "bias": False,
    "frozen": ["W"]}; "null" is None (a whitening bias that never freezes)."""
    layer: dict = {"type": layer_type}
    for part in filter(None, (p.strip() for p in _split_outside_brackets(text))):
        if "=" not in part:
            raise ValueError(f"{layer_type}: expected key=value, got {part!r}")
        key, value = (s.strip() for s in part.split("=", 1))
        if not key.isidentifier():
            raise ValueError(f"{layer_type}: {key!r} is not a setting name")
        layer[key] = _parse_value(value)
    return layer


def _split_outside_brackets(text: str) -> list[str]:
    """Split at commas and semicolons that are not inside [...]."""
    parts, depth, start = [], 0, 0
    for i, char in enumerate(text):
        depth += {"[": 1, "]": -1}.get(char, 0)
        if char in ",;" and depth <= 0:
            parts.append(text[start:i])
            start = i + 1
    return [*parts, text[start:]]


def _parse_value(value: str) -> int | float | str | bool | list | None:
    if value.startswith("[") and value.endswith("]"):
        inner = value[1:-1].strip()
        return [_parse_value(v.strip()) for v in inner.split(",")] if inner else []
    for kind in (int, float):
        try:
            return kind(value)
        except ValueError:
            pass
    if value.lower() in ("true", "false"):
        return value.lower() == "true"
    if value.lower() in ("null", "none"):
        return None
    return value.strip("'\"")


def format_shape(shape: tuple[int, ...]) -> str:
    return " × ".join(str(d) for d in shape)


class ArchitectureEditor(QWidget):
    spec_changed = Signal(list)

    COLUMNS = ("Layer", "Settings (double-click to edit)", "Output", "Params")

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self._spec: list[dict] = []
        self._inferer: Inferer | None = None
        self._updating = False
        self._error: str | None = None

        self.table = QTableWidget(0, len(self.COLUMNS))
        self.table.setHorizontalHeaderLabels(self.COLUMNS)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.DoubleClicked
                                   | QAbstractItemView.EditTrigger.EditKeyPressed)
        self.table.verticalHeader().setDefaultSectionSize(24)
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(1, QHeaderView.ResizeMode.Stretch)
        header.setSectionResizeMode(2, QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(3, QHeaderView.ResizeMode.ResizeToContents)
        self.table.itemChanged.connect(self._on_item_changed)
        self.table.itemSelectionChanged.connect(self._update_buttons)

        self.add_button = QToolButton()
        self.add_button.setText("Add layer")
        self.add_button.setPopupMode(QToolButton.ToolButtonPopupMode.InstantPopup)
        menu = QMenu(self.add_button)
        for layer_type in LAYER_DEFAULTS:
            menu.addAction(layer_type, lambda t=layer_type: self.insert_layer(t))
        self.add_button.setMenu(menu)
        self.remove_button = QPushButton("Remove")
        self.up_button = QPushButton("Move up")
        self.down_button = QPushButton("Move down")
        self.remove_button.clicked.connect(self.remove_selected)
        self.up_button.clicked.connect(lambda: self.move_selected(-1))
        self.down_button.clicked.connect(lambda: self.move_selected(+1))

        self.summary_label = QLabel()
        self.error_label = QLabel()
        self.error_label.setWordWrap(True)
        self.error_label.setStyleSheet("color: #b00020;")
        self.error_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)

        buttons = QHBoxLayout()
        for b in (self.add_button, self.remove_button, self.up_button, self.down_button):
            buttons.addWidget(b)
        buttons.addStretch(1)
        buttons.addWidget(self.summary_label)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.table, 1)
        layout.addLayout(buttons)
        layout.addWidget(self.error_label)
        self._update_buttons()

    # --- public ------------------------------------------------------------------------------
    def set_inferer(self, inferer: Inferer | None) -> None:
        self._inferer = inferer
        self._refresh()

    def set_spec(self, spec: list[dict]) -> None:
        self._spec = [copy.deepcopy(dict(layer)) for layer in spec]
        self._refresh()
        emit(self.spec_changed, self.spec())

    def spec(self) -> list[dict]:
        return copy.deepcopy(self._spec)

    def error(self) -> str | None:
        return self._error

    def selected_row(self) -> int:
        rows = self.table.selectionModel().selectedRows()
        return rows[0].row() if rows else -1

    def insert_layer(self, layer_type: str, settings: dict | None = None) -> None:
        """Inserts after the selected layer (or at the end)."""
        layer = {"type": layer_type, **copy.deepcopy(LAYER_DEFAULTS.get(layer_type, {}))}
        layer.update(settings or {})
        row = self.selected_row()
        at = len(self._spec) if row < 0 else row + 1
        self._spec.insert(at, layer)
        self._changed(select=at)

    def remove_selected(self) -> None:
        row = self.selected_row()
        if row < 0:
            return
        del self._spec[row]
        self._changed(select=min(row, len(self._spec) - 1))

    def move_selected(self, delta: int) -> None:
        row = self.selected_row()
        target = row + delta
        if row < 0 or not 0 <= target < len(self._spec):
            return
        self._spec[row], self._spec[target] = self._spec[target], self._spec[row]
        self._changed(select=target)

    def set_layer_settings(self, row: int, text: str) -> None:
        """Same as editing the Settings cell of ``row``."""
        self.table.item(row, 1).setText(text)

    # --- internals ---------------------------------------------------------------------------
    def _changed(self, select: int = -1) -> None:
        self._refresh()
        if 0 <= select < self.table.rowCount():
            self.table.selectRow(select)
        emit(self.spec_changed, self.spec())

    def _on_item_changed(self, item: QTableWidgetItem) -> None:
        if self._updating or item.column() != 1:
            return
        row = item.row()
        try:
            layer = parse_settings(self._spec[row]["type"], item.text())
        except ValueError as exc:
            self._show_error(f"layer {row + 1}: {exc}", row)
            return
        self._spec[row] = layer
        self._changed(select=row)

    def _refresh(self) -> None:
        infos: list[LayerInfo] = []
        error: str | None = None
        if self._inferer is not None and self._spec:
            try:
                infos, error = self._inferer(self.spec())
            except ValueError as exc:
                infos, error = [], str(exc)
        elif not self._spec:
            error = "The architecture is empty: add layers or pick a preset."
        self._updating = True
        try:
            self.table.setRowCount(len(self._spec))
            for row, layer in enumerate(self._spec):
                cells = [layer["type"], format_settings(layer), "", ""]
                if row < len(infos):
                    cells[2] = format_shape(infos[row].output_shape)
                    cells[3] = f"{infos[row].params:,}"
                for col, text in enumerate(cells):
                    item = QTableWidgetItem(text)
                    flags = Qt.ItemFlag.ItemIsSelectable | Qt.ItemFlag.ItemIsEnabled
                    if col == 1:
                        flags |= Qt.ItemFlag.ItemIsEditable
                    if col >= 2:
                        item.setTextAlignment(Qt.AlignmentFlag.AlignRight
                                              | Qt.AlignmentFlag.AlignVCenter)
                    item.setFlags(flags)
                    self.table.setItem(row, col, item)
        finally:
            self._updating = False
        total = sum(i.params for i in infos)
        self.summary_label.setText(f"{len(self._spec)} layers, {total:,} parameters"
                                   if error is None else f"{len(self._spec)} layers")
        self._show_error(error, self._error_row(error, len(infos)))
        self._update_buttons()

    def _error_row(self, error: str | None, inferred: int) -> int:
        if error is None:
            return -1
        match = re.search(r"layer (\d+)", error)
        if match:
            return int(match.group(1)) - 1
        return inferred if inferred < len(self._spec) else -1

    def _show_error(self, error: str | None, row: int) -> None:
        self._error = error
        self.error_label.setText("" if error is None else f"⚠ {error}")
        self.error_label.setVisible(error is not None)
        self._updating = True
        try:
            for r in range(self.table.rowCount()):
                brush = QBrush(ERROR_ROW) if r == row else QBrush()
                for c in range(self.table.columnCount()):
                    item = self.table.item(r, c)
                    if item is not None:
                        item.setBackground(brush)
        finally:
            self._updating = False

    def _update_buttons(self) -> None:
        row = self.selected_row()
        self.remove_button.setEnabled(row >= 0)
        self.up_button.setEnabled(row > 0)
        self.down_button.setEnabled(0 <= row < len(self._spec) - 1)
