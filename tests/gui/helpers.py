"""Helpers shared by the GUI tests: synthetic mouse strokes, tiny datasets and models."""

from __future__ import annotations

from PySide6.QtCore import QEvent, QPointF, Qt
from PySide6.QtGui import QMouseEvent
from PySide6.QtWidgets import QApplication, QMessageBox, QWidget


def _mouse(widget: QWidget, kind: QEvent.Type, pos: QPointF, buttons: Qt.MouseButton) -> None:
    button = Qt.MouseButton.NoButton if kind == QEvent.Type.MouseMove else Qt.MouseButton.LeftButton
    event = QMouseEvent(kind, pos, widget.mapToGlobal(pos), button, buttons,
                        Qt.KeyboardModifier.NoModifier)
    QApplication.sendEvent(widget, event)


def draw_stroke(widget: QWidget, points: list[tuple[float, float]]) -> None:
    """Press at the first point, drag through the others with the left button held, release."""
    pts = [QPointF(x, y) for x, y in points]
    _mouse(widget, QEvent.Type.MouseButtonPress, pts[0], Qt.MouseButton.LeftButton)
    for p in pts[1:]:
        _mouse(widget, QEvent.Type.MouseMove, p, Qt.MouseButton.LeftButton)
    _mouse(widget, QEvent.Type.MouseButtonRelease, pts[-1], Qt.MouseButton.NoButton)


def click(widget: QWidget, pos: QPointF) -> None:
    _mouse(widget, QEvent.Type.MouseButtonPress, pos, Qt.MouseButton.LeftButton)
    _mouse(widget, QEvent.Type.MouseButtonRelease, pos, Qt.MouseButton.NoButton)


def error_boxes(window: QWidget) -> list[QMessageBox]:
    """The error message boxes (gui.messages.show_error) open on ``window``."""
    return [b for b in window.findChildren(QMessageBox) if b.objectName() == "errorMessage"]
