"""Labelled horizontal bars: top-k probabilities, per-class accuracy, per-layer times."""

from __future__ import annotations

from dataclasses import dataclass

from PySide6.QtCore import QRectF, QSize, Qt
from PySide6.QtGui import QColor, QFontMetrics, QPainter, QPaintEvent
from PySide6.QtWidgets import QSizePolicy, QWidget

ACCENT = QColor(52, 120, 198)
HIGHLIGHT = QColor(46, 160, 90)
TRACK = QColor(232, 235, 240)


@dataclass
class Bar:
    label: str
    value: float  # 0..max_value
    text: str  # shown right of the bar, e.g. "97.3 %"
    highlight: bool = False


class BarList(QWidget):
    """Rows of ``label  [bar]  text``; the first highlighted row is drawn in green."""

    def __init__(self, max_value: float = 1.0, row_height: int = 24, parent: QWidget | None = None):
        super().__init__(parent)
        self._bars: list[Bar] = []
        self._max = max_value
        self._row_height = row_height
        self._placeholder = ""
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Minimum)

    def set_bars(self, bars: list[Bar], max_value: float | None = None) -> None:
        self._bars = list(bars)
        if max_value is not None:
            self._max = max_value
        self.updateGeometry()
        self.update()

    def bars(self) -> list[Bar]:
        return list(self._bars)

    def row_at(self, y: float) -> int | None:
        """The row at height ``y`` (widget pixels), or None below the last one."""
        row = int((y - 2) // self._row_height)
        return row if y >= 2 and row < len(self._bars) else None

    def row_rect(self, row: int) -> QRectF:
        """The area of row ``row`` (as painted)."""
        return QRectF(0, row * self._row_height + 2, self.width(), self._row_height)

    def set_placeholder(self, text: str) -> None:
        self._placeholder = text
        self.update()

    def sizeHint(self) -> QSize:
        return QSize(260, max(self._row_height * 2, self._row_height * len(self._bars) + 4))

    def minimumSizeHint(self) -> QSize:
        return QSize(160, self.sizeHint().height())

    def paintEvent(self, event: QPaintEvent) -> None:
        painter = QPainter(self)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        fm = QFontMetrics(self.font())
        if not self._bars:
            painter.setPen(self.palette().placeholderText().color())
            painter.drawText(self.rect(), Qt.AlignmentFlag.AlignCenter, self._placeholder)
            return
        widest = max(fm.horizontalAdvance(b.label) for b in self._bars)
        label_w = min(self.width() // 3, widest + 10)
        text_w = max(fm.horizontalAdvance(b.text) for b in self._bars) + 10
        bar_x = label_w
        bar_w = max(10, self.width() - label_w - text_w - 4)
        h = self._row_height
        for i, bar in enumerate(self._bars):
            y = i * h + 2
            painter.setPen(self.palette().windowText().color())
            label = fm.elidedText(bar.label, Qt.TextElideMode.ElideRight, label_w - 8)
            painter.drawText(QRectF(0, y, label_w - 6, h - 4),
                             Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter, label)
            track = QRectF(bar_x, y + 4, bar_w, h - 12)
            painter.setPen(Qt.PenStyle.NoPen)
            painter.setBrush(TRACK)
            painter.drawRoundedRect(track, 3, 3)
            frac = 0.0 if self._max <= 0 else max(0.0, min(1.0, bar.value / self._max))
            if frac > 0:
                painter.setBrush(HIGHLIGHT if bar.highlight else ACCENT)
                painter.drawRoundedRect(QRectF(bar_x, y + 4, max(3.0, bar_w * frac), h - 12), 3, 3)
            painter.setPen(self.palette().windowText().color())
            painter.drawText(QRectF(bar_x + bar_w + 6, y, text_w, h - 4),
                             Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter, bar.text)
        painter.end()
