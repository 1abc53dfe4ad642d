"""Shows a small array (a 28x28 model input, a filter mosaic) scaled up without smoothing."""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import QRect, QSize, Qt
from PySide6.QtGui import QColor, QImage, QPainter, QPaintEvent
from PySide6.QtWidgets import QSizePolicy, QWidget

from gui.imaging import array_to_qimage


class PixelView(QWidget):
    """Keeps the image's aspect ratio, scales by whole or fractional factors, no interpolation."""

    def __init__(self, minimum: int = 112, align_top: bool = False,
                 parent: QWidget | None = None):
        super().__init__(parent)
        self._align_top = align_top
        self._image: QImage | None = None
        self._array: np.ndarray | None = None
        self._placeholder = ""
        self._minimum = minimum
        self.setMinimumSize(minimum, minimum)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)

    def set_array(self, array: np.ndarray | None) -> None:
        """array: (H, W), (H, W, 1) or (H, W, 3) uint8, or None to clear."""
        if array is None:
            self._array, self._image = None, None
        else:
            self._array = np.array(array, dtype=np.uint8, copy=True)
            self._image = array_to_qimage(self._array)
        self.update()

    def array(self) -> np.ndarray | None:
        return None if self._array is None else self._array.copy()

    def set_placeholder(self, text: str) -> None:
        self._placeholder = text
        self.update()

    def sizeHint(self) -> QSize:
        return QSize(self._minimum * 2, self._minimum * 2)

    def target_rect(self) -> QRect:
        if self._image is None:
            return QRect()
        w, h = self._image.width(), self._image.height()
        scale = min(self.width() / w, self.height() / h)
        if scale >= 1:
            scale = max(1.0, float(int(scale)))  # whole factors keep pixels square and even
        tw, th = int(w * scale), int(h * scale)
        top = 0 if self._align_top else (self.height() - th) // 2
        return QRect((self.width() - tw) // 2, top, tw, th)

    def paintEvent(self, event: QPaintEvent) -> None:
        painter = QPainter(self)
        if self._image is None:
            painter.setPen(self.palette().placeholderText().color())
            painter.drawText(self.rect(), Qt.AlignmentFlag.AlignCenter | Qt.TextFlag.TextWordWrap,
                             self._placeholder)
            return
        target = self.target_rect()
        painter.drawImage(target, self._image)
        painter.setPen(QColor(160, 160, 160))
        painter.drawRect(target.adjusted(-1, -1, 0, 0))
        painter.end()
