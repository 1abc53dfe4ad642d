"""Error and information messages that never block the event loop (training keeps reporting)."""

from __future__ import annotations

import re

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QMainWindow, QMessageBox, QWidget

_OBJECT_REPR = re.compile(r"<[\w.]+ object at 0x[0-9a-fA-F]+>")
_TRAILING_DETAIL = re.compile(r":\s*\(([^()]*)\)\s*\.?$")


def plain_text(message: str) -> str:
    """``message`` without Python internals: object reprs become "the data", and a trailing
    parenthesised detail from a library ("(Memo value not found at index 101)") is dropped."""
    text = _OBJECT_REPR.sub("the data", message)
    text = _TRAILING_DETAIL.sub("", text).rstrip()
    return text if text.endswith((".", "?", "!")) else text + "."


def show_error(parent: QWidget | None, title: str, text: str) -> QMessageBox:
    """A window-modal message box, opened without a nested event loop. What the text said
    beyond :func:`plain_text` is kept behind the Details button."""
    shown = plain_text(text)
    box = QMessageBox(QMessageBox.Icon.Warning, title, shown, QMessageBox.StandardButton.Ok,
                      parent)
    if shown.rstrip(".") != text.rstrip("."):
        box.setDetailedText(text)
    box.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
    box.setObjectName("errorMessage")
    box.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
    box.open()
    return box


def show_info(parent: QWidget | None, title: str, text: str) -> QMessageBox:
    box = QMessageBox(QMessageBox.Icon.Information, title, text, QMessageBox.StandardButton.Ok,
                      parent)
    box.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
    box.setObjectName("infoMessage")
    box.open()
    return box


def show_status(parent: QWidget, text: str) -> None:
    """A passing note (five seconds) in the status bar of ``parent``, when it is the window."""
    if isinstance(parent, QMainWindow):
        parent.statusBar().showMessage(text, 5000)
