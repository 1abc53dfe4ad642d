"""A canvas to draw a digit on: a backing QImage, a round-cap pen, clear and undo."""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import QPoint, QPointF, QRect, QSize, Qt, Signal
from PySide6.QtGui import QColor, QImage, QMouseEvent, QPainter, QPaintEvent, QPen
from PySide6.QtWidgets import QSizePolicy, QWidget

from gui.imaging import qimage_to_array
from gui.qt_compat import emit

UNDO_LIMIT = 30


class DrawingCanvas(QWidget):
    """Dark ink on white paper, drawn into a fixed-size QImage (``image_size`` px square).

    The widget may be shown larger or smaller than the image; mouse positions are mapped.
    ``changed`` is emitted after every stroke segment, clear and undo.
    """

    changed = Signal()
    stroke_finished = Signal()

    def __init__(self, image_size: int = 280, pen_width: int = 18, parent: QWidget | None = None):
        super().__init__(parent)
        self._image = QImage(image_size, image_size, QImage.Format.Format_RGB32)
        self._image.fill(Qt.GlobalColor.white)
        self._pen_width = pen_width
        self._last: QPointF | None = None
        self._undo: list[QImage] = []
        self._empty = True
        self.setAttribute(Qt.WidgetAttribute.WA_StaticContents)
        self.setSizePolicy(QSizePolicy.Policy.Fixed, QSizePolicy.Policy.Fixed)
        self.setFixedSize(image_size, image_size)
        self.setCursor(Qt.CursorShape.CrossCursor)
        self.setToolTip("Draw a digit with the mouse")

    # --- state -------------------------------------------------------------------------------
    def sizeHint(self) -> QSize:
        return self._image.size()

    def pen_width(self) -> int:
        return self._pen_width

    def set_pen_width(self, width: int) -> None:
        if width <= 0:
            raise ValueError(f"pen width must be positive, got {width!r}")
        self._pen_width = int(width)

    def is_empty(self) -> bool:
        return self._empty

    def can_undo(self) -> bool:
        return bool(self._undo)

    def image(self) -> QImage:
        return self._image.copy()

    def to_array(self) -> np.ndarray:
        """The drawing as a (H, W) uint8 grey array, ink dark (0) on white (255)."""
        return qimage_to_array(self._image, "gray")

    def clear(self) -> None:
        if not self._empty:
            self._push_undo()
        self._image.fill(Qt.GlobalColor.white)
        self._empty = True
        self.update()
        emit(self.changed)

    def undo(self) -> None:
        if not self._undo:
            return
        self._image = self._undo.pop()
        self._empty = self._is_blank()
        self.update()
        emit(self.changed)

    # --- events ------------------------------------------------------------------------------
    def mousePressEvent(self, event: QMouseEvent) -> None:
        if event.button() != Qt.MouseButton.LeftButton:
            return
        self._push_undo()
        self._last = self._to_image(event.position())
        self._draw_to(self._last)

    def mouseMoveEvent(self, event: QMouseEvent) -> None:
        if self._last is not None and event.buttons() & Qt.MouseButton.LeftButton:
            self._draw_to(self._to_image(event.position()))

    def mouseReleaseEvent(self, event: QMouseEvent) -> None:
        if event.button() == Qt.MouseButton.LeftButton and self._last is not None:
            self._draw_to(self._to_image(event.position()))
            self._last = None
            emit(self.stroke_finished)

    def paintEvent(self, event: QPaintEvent) -> None:
        painter = QPainter(self)
        painter.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform)
        painter.drawImage(self.rect(), self._image)
        painter.setPen(QPen(QColor(150, 150, 150), 1))
        painter.drawRect(self.rect().adjusted(0, 0, -1, -1))
        painter.end()

    # --- helpers -----------------------------------------------------------------------------
    def _to_image(self, pos: QPointF) -> QPointF:
        sx = self._image.width() / max(1, self.width())
        sy = self._image.height() / max(1, self.height())
        return QPointF(pos.x() * sx, pos.y() * sy)

    def _draw_to(self, end: QPointF) -> None:
        start = self._last if self._last is not None else end
        painter = QPainter(self._image)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        pen = QPen(QColor(0, 0, 0), self._pen_width, Qt.PenStyle.SolidLine,
                   Qt.PenCapStyle.RoundCap, Qt.PenJoinStyle.RoundJoin)
        painter.setPen(pen)
        if start == end:
            painter.drawPoint(end)
        else:
            painter.drawLine(start, end)
        painter.end()
        self._empty = False
        self._last = end
        r = self._pen_width // 2 + 2
        dirty = QRect(QPoint(int(min(start.x(), end.x())) - r, int(min(start.y(), end.y())) - r),
                      QPoint(int(max(start.x(), end.x())) + r, int(max(start.y(), end.y())) + r))
        self.update(self._to_widget(dirty))
        emit(self.changed)

    def _to_widget(self, rect: QRect) -> QRect:
        sx = self.width() / max(1, self._image.width())
        sy = self.height() / max(1, self._image.height())
        return QRect(int(rect.x() * sx) - 1, int(rect.y() * sy) - 1,
                     int(rect.width() * sx) + 3, int(rect.height() * sy) + 3)

    def _push_undo(self) -> None:
        self._undo.append(self._image.copy())
        del self._undo[:-UNDO_LIMIT]

    def _is_blank(self) -> bool:
        return bool(np.all(self.to_array() == 255))
