"""Probability bars the user can click: a click on a class asks to explain that class."""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QMouseEvent, QPainter, QPaintEvent, QPen
from PySide6.QtWidgets import QWidget

from gui.widgets.bar_list import HIGHLIGHT
from gui.widgets.probability_bars import ProbabilityBars


class ClassProbabilityBars(ProbabilityBars):
    """``class_clicked(int)``: the class index of the bar clicked. The class whose map is
    shown is framed (:meth:`set_marked`)."""

    class_clicked = Signal(int)

    def __init__(self, top_k: int = 5, parent: QWidget | None = None):
        super().__init__(top_k, parent)
        self._order: list[int] = []
        self._marked: int | None = None
        self.setCursor(Qt.CursorShape.PointingHandCursor)
        self.setToolTip("Click a class to see where the network looks for it")

    def set_probabilities(self, probs: np.ndarray, class_names: list[str]) -> None:
        super().set_probabilities(probs, class_names)
        p = np.asarray(probs, dtype=np.float64).ravel()
        self._order = [int(i) for i in np.argsort(-p, kind="stable")[: self.top_k()]]

    def clear(self) -> None:
        super().clear()
        self._order = []

    def class_at(self, y: float) -> int | None:
        """The class index of the bar at height ``y`` (widget pixels), or None."""
        row = self.row_at(y)
        return None if row is None or row >= len(self._order) else self._order[row]

    def set_marked(self, class_index: int | None) -> None:
        self._marked = class_index
        self.update()

    def marked(self) -> int | None:
        return self._marked

    def mousePressEvent(self, event: QMouseEvent) -> None:
        chosen = self.class_at(event.position().y())
        if chosen is not None and event.button() == Qt.MouseButton.LeftButton:
            self.class_clicked.emit(chosen)
        super().mousePressEvent(event)

    def paintEvent(self, event: QPaintEvent) -> None:
        super().paintEvent(event)
        if self._marked is None or self._marked not in self._order:
            return
        painter = QPainter(self)
        painter.setPen(QPen(HIGHLIGHT.darker(130), 2))
        painter.drawRoundedRect(self.row_rect(self._order.index(self._marked)).adjusted(
            1, 1, -1, -1), 4, 4)
        painter.end()
