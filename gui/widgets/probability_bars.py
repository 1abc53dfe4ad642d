"""Top-k class probabilities as bars, the most likely class highlighted."""

from __future__ import annotations

import numpy as np
from PySide6.QtWidgets import QWidget

from gui.widgets.bar_list import Bar, BarList


class ProbabilityBars(BarList):
    def __init__(self, top_k: int = 5, parent: QWidget | None = None):
        super().__init__(max_value=1.0, row_height=26, parent=parent)
        self._top_k = top_k
        self.set_placeholder("No prediction yet")

    def top_k(self) -> int:
        return self._top_k

    def set_top_k(self, k: int) -> None:
        self._top_k = max(1, int(k))

    def set_probabilities(self, probs: np.ndarray, class_names: list[str]) -> None:
        """probs: (K,) probabilities summing to 1; shows the top ``top_k`` classes."""
        p = np.asarray(probs, dtype=np.float64).ravel()
        if len(class_names) != p.size:
            raise ValueError(f"{p.size} probabilities for {len(class_names)} class names")
        order = np.argsort(-p, kind="stable")[: self._top_k]
        bars = [Bar(class_names[i], float(p[i]), _percent(p[i]), highlight=(n == 0))
                for n, i in enumerate(order)]
        self.set_bars(bars, max_value=1.0)

    def clear(self) -> None:
        self.set_bars([])


def _percent(p: float) -> str:
    return "<0.1 %" if 0 < p < 0.0005 else f"{100 * p:5.1f} %"
