"""A confusion matrix drawn as a heat map whose cells can be clicked."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
from PySide6.QtCore import QPointF, QRectF, QSize, Qt, Signal
from PySide6.QtGui import QColor, QFont, QFontMetrics, QMouseEvent, QPainter, QPaintEvent, QPen
from PySide6.QtWidgets import QSizePolicy, QWidget

from gui.qt_compat import emit

BASE = np.array([247, 251, 255], dtype=np.float64)
DEEP = np.array([8, 69, 148], dtype=np.float64)
WRONG = np.array([203, 24, 29], dtype=np.float64)


class ConfusionMatrixView(QWidget):
    """Rows are true classes, columns predicted ones.

    ``cell_clicked(true_class, predicted_class)`` is emitted on a click inside a cell.
    Counts or row-normalised values (``set_normalised``) are shown in the cells.
    """

    cell_clicked = Signal(int, int)

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self._cm: np.ndarray | None = None
        self._names: list[str] = []
        self._normalised = False
        self._hover: tuple[int, int] | None = None
        self._selected: tuple[int, int] | None = None
        self.setMouseTracking(True)
        self.setMinimumSize(320, 320)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)

    # --- data --------------------------------------------------------------------------------
    def set_matrix(self, cm: np.ndarray, class_names: list[str]) -> None:
        m = np.asarray(cm)
        if m.ndim != 2 or m.shape[0] != m.shape[1] or m.shape[0] != len(class_names):
            raise ValueError(
                f"confusion matrix {m.shape} does not match {len(class_names)} classes")
        self._cm = m.astype(np.int64)
        self._names = list(class_names)
        self._hover = None
        self._selected = None
        self.update()

    def clear(self) -> None:
        """No matrix (the results it showed are no longer current)."""
        self._cm = None
        self._names = []
        self._hover = None
        self._selected = None
        self.update()

    def select(self, true_class: int, predicted: int) -> None:
        """Outline a cell (the one whose images are shown)."""
        self._selected = (true_class, predicted)
        self.update()

    def matrix(self) -> np.ndarray | None:
        return None if self._cm is None else self._cm.copy()

    def set_normalised(self, on: bool) -> None:
        self._normalised = bool(on)
        self.update()

    def is_normalised(self) -> bool:
        return self._normalised

    def normalised_matrix(self) -> np.ndarray:
        assert self._cm is not None
        rows = self._cm.sum(axis=1, keepdims=True)
        return np.divide(self._cm, rows, out=np.zeros(self._cm.shape), where=rows > 0)

    def export_csv(self, path: str | Path) -> None:
        """Writes the matrix (counts, or fractions when normalised) with class names."""
        if self._cm is None:
            raise ValueError("there is no confusion matrix to export yet")
        values = self.normalised_matrix() if self._normalised else self._cm
        with open(path, "w", newline="", encoding="utf-8") as f:
            writer = csv.writer(f)
            writer.writerow(["true \\ predicted", *self._names])
            for name, row in zip(self._names, values, strict=True):
                if self._normalised:
                    cells = [f"{v:.4f}" for v in row]
                else:
                    cells = [str(int(v)) for v in row]
                writer.writerow([name, *cells])

    # --- geometry ----------------------------------------------------------------------------
    def sizeHint(self) -> QSize:
        return QSize(520, 520)

    def _layout(self) -> tuple[float, float, float]:
        """(left, top, cell) of the grid in widget coordinates."""
        n = max(1, len(self._names))
        fm = QFontMetrics(self.font())
        label_w = max([fm.horizontalAdvance(s) for s in self._names] + [20]) + 12
        left = label_w + fm.height() + 4
        top = fm.height() * 3 + 8  # "predicted" and up to two staggered rows of names
        cell = max(8.0, min((self.width() - left - 8) / n, (self.height() - top - 8) / n))
        # Centre the grid (with its labels) in the space left over.
        left += max(0.0, (self.width() - left - 8 - n * cell) / 2)
        return left, top, cell

    def column_headers(self) -> list[tuple[str, bool | None]]:
        """The column names as drawn, with whether each sits on the raised row: None when all
        fit their cell on one row, else every other name is raised so each gets two cells'
        width ("automobile" rather than "auto…"); names longer still are elided."""
        if not self._names:
            return []
        _, _, cell = self._layout()
        fm = QFontMetrics(self.font())
        if all(fm.horizontalAdvance(name) <= cell - 2 for name in self._names):
            return [(name, None) for name in self._names]
        room = int(2 * cell) - 4
        return [(fm.elidedText(name, Qt.TextElideMode.ElideRight, room), i % 2 == 1)
                for i, name in enumerate(self._names)]

    def cell_at(self, pos: QPointF) -> tuple[int, int] | None:
        if self._cm is None:
            return None
        left, top, cell = self._layout()
        col = int((pos.x() - left) // cell)
        row = int((pos.y() - top) // cell)
        n = len(self._names)
        if pos.x() < left or pos.y() < top or not (0 <= row < n and 0 <= col < n):
            return None
        return row, col

    def cell_center(self, row: int, col: int) -> QPointF:
        left, top, cell = self._layout()
        return QPointF(left + (col + 0.5) * cell, top + (row + 0.5) * cell)

    # --- events ------------------------------------------------------------------------------
    def mouseMoveEvent(self, event: QMouseEvent) -> None:
        hover = self.cell_at(event.position())
        if hover != self._hover:
            self._hover = hover
            if hover is None:
                self.setToolTip("")
            else:
                t, p = hover
                n = int(self._cm[t, p])  # type: ignore[index]
                self.setToolTip(f"true {self._names[t]}, predicted {self._names[p]}: {n} images"
                                " — click to see them")
            self.update()

    def leaveEvent(self, event) -> None:
        self._hover = None
        self.update()

    def mouseReleaseEvent(self, event: QMouseEvent) -> None:
        if event.button() == Qt.MouseButton.LeftButton:
            cell = self.cell_at(event.position())
            if cell is not None:
                self._selected = cell
                self.update()
                emit(self.cell_clicked, *cell)

    def paintEvent(self, event: QPaintEvent) -> None:
        painter = QPainter(self)
        if self._cm is None:
            painter.setPen(self.palette().placeholderText().color())
            painter.drawText(self.rect(), Qt.AlignmentFlag.AlignCenter,
                             "Evaluate a model to see its confusion matrix")
            return
        n = len(self._names)
        left, top, cell = self._layout()
        norm = self.normalised_matrix()
        off = norm - np.diag(np.diag(norm))
        worst = float(off.max()) if off.size else 0.0
        font = QFont(self.font())
        font.setPointSizeF(max(6.0, min(font.pointSizeF(), cell / 3.2)))
        fm = QFontMetrics(self.font())
        for t in range(n):
            for p in range(n):
                frac = float(norm[t, p])
                target = DEEP if t == p else WRONG
                # Mistakes are scaled to the largest confusion, so a few are still visible.
                strength = frac if t == p else (0.75 * frac / worst if worst > 0 else 0.0)
                rgb = BASE + (target - BASE) * strength
                rect = QRectF(left + p * cell, top + t * cell, cell, cell)
                painter.fillRect(rect, QColor(*rgb.astype(int)))
                value = f"{frac:.2f}" if self._normalised else str(int(self._cm[t, p]))
                if cell >= 18 and (self._cm[t, p] or cell >= 30):
                    painter.setFont(font)
                    dark = strength > 0.55
                    painter.setPen(Qt.GlobalColor.white if dark else Qt.GlobalColor.black)
                    painter.drawText(rect, Qt.AlignmentFlag.AlignCenter, value)
        painter.setFont(self.font())
        painter.setPen(QColor(200, 200, 200))
        painter.drawRect(QRectF(left, top, n * cell, n * cell))
        for marked, colour in ((self._selected, QColor(0, 0, 0)), (self._hover,
                                                                   QColor(255, 170, 0))):
            if marked is None:
                continue
            t, p = marked
            painter.setPen(QPen(colour, 2))
            box = QRectF(left + p * cell, top + t * cell, cell, cell)
            painter.drawRect(box.adjusted(1, 1, -1, -1))
        painter.setPen(self.palette().windowText().color())
        row_w = max(fm.horizontalAdvance(s) for s in self._names) + 12
        for i, name in enumerate(self._names):
            painter.drawText(QRectF(left - row_w, top + i * cell, row_w - 6, cell),
                             Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter, name)
        for i, (text, raised) in enumerate(self.column_headers()):
            width = 2 * cell if raised is not None else cell
            y = top - 4 - fm.height() * (2 if raised else 1)
            painter.drawText(QRectF(left + (i + 0.5) * cell - width / 2, y, width, fm.height()),
                             Qt.AlignmentFlag.AlignCenter, text)
        bold = QFont(self.font())
        bold.setBold(True)
        painter.setFont(bold)
        painter.drawText(QRectF(left, 0, n * cell, fm.height() + 2), Qt.AlignmentFlag.AlignCenter,
                         "predicted")
        painter.save()
        painter.translate(max(0.0, left - row_w - fm.height() - 4), top + n * cell / 2)
        painter.rotate(-90)
        painter.drawText(QRectF(-n * cell / 2, 0, n * cell, fm.height() + 2),
                         Qt.AlignmentFlag.AlignCenter, "true")
        painter.restore()
        painter.end()
