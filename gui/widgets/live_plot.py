"""Live line plots: matplotlib figure, axes and lines created once, redrawn at most every few
hundred milliseconds from the GUI thread."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from matplotlib.backends.backend_qtagg import FigureCanvasQTAgg
from matplotlib.figure import Figure
from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QSizePolicy, QWidget

MAX_DRAWN_POINTS = 1500


@dataclass
class Panel:
    key: str
    title: str
    xlabel: str
    ylabel: str
    ylim: tuple[float, float] | None = None


@dataclass
class Series:
    key: str
    panel: str
    label: str
    style: dict = field(default_factory=dict)


class LivePlot(FigureCanvasQTAgg):
    """Panels side by side, each with named series; ``append`` is cheap, drawing is throttled."""

    def __init__(self, panels: list[Panel], series: list[Series], min_interval_ms: int = 400,
                 parent: QWidget | None = None, height: float = 3.0):
        figure = Figure(figsize=(3.2 * len(panels), height), dpi=100)
        super().__init__(figure)
        self.setParent(parent)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)
        self.setMinimumHeight(200)
        self._panels = {p.key: p for p in panels}
        self._axes = {}
        for i, panel in enumerate(panels):
            ax = figure.add_subplot(1, len(panels), i + 1)
            ax.set_title(panel.title, fontsize=10)
            ax.set_xlabel(panel.xlabel, fontsize=9)
            ax.set_ylabel(panel.ylabel, fontsize=9)
            ax.tick_params(labelsize=8)
            ax.grid(True, alpha=0.3)
            if panel.ylim is not None:
                ax.set_ylim(*panel.ylim)
            self._axes[panel.key] = ax
        self._series = {s.key: s for s in series}
        self._lines = {}
        self._x: dict[str, list[float]] = {}
        self._y: dict[str, list[float]] = {}
        for s in series:
            (line,) = self._axes[s.panel].plot([], [], label=s.label, **s.style)
            self._lines[s.key] = line
            self._x[s.key], self._y[s.key] = [], []
        for key, ax in self._axes.items():
            if sum(1 for s in series if s.panel == key) > 1:
                ax.legend(fontsize=8, loc="best")
        figure.subplots_adjust(left=0.07, right=0.98, bottom=0.18, top=0.88, wspace=0.32)
        self._dirty = False
        self.draw_count = 0
        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.setInterval(min_interval_ms)
        self._timer.timeout.connect(self._redraw)

    # --- data --------------------------------------------------------------------------------
    def append(self, key: str, x: float, y: float) -> None:
        if not np.isfinite(y):
            return
        self._x[key].append(float(x))
        self._y[key].append(float(y))
        self._schedule()

    def set_series(self, key: str, xs: list[float], ys: list[float]) -> None:
        self._x[key], self._y[key] = [float(v) for v in xs], [float(v) for v in ys]
        self._schedule()

    def data(self, key: str) -> tuple[list[float], list[float]]:
        return list(self._x[key]), list(self._y[key])

    def clear_data(self) -> None:
        for key in self._x:
            self._x[key], self._y[key] = [], []
        self._schedule()

    def axes(self, panel: str):
        return self._axes[panel]

    def export_png(self, path: str | Path) -> None:
        self._apply()
        self.figure.savefig(path, dpi=120)

    def export_csv(self, path: str | Path) -> None:
        """One row per point: series, x, y."""
        with open(path, "w", encoding="utf-8") as f:
            f.write("series,x,y\n")
            for key in self._x:
                for x, y in zip(self._x[key], self._y[key], strict=True):
                    f.write(f"{key},{x:g},{y:.6g}\n")

    # --- drawing -----------------------------------------------------------------------------
    def _schedule(self) -> None:
        self._dirty = True
        if not self._timer.isActive():
            self._timer.start()

    def flush(self) -> None:
        """Draw now (tests, screenshots)."""
        self._timer.stop()
        self._redraw()
        self.draw()

    def _apply(self) -> None:
        for key, line in self._lines.items():
            xs, ys = self._x[key], self._y[key]
            if len(xs) > MAX_DRAWN_POINTS:
                step = int(np.ceil(len(xs) / MAX_DRAWN_POINTS))
                xs, ys = xs[::step] + xs[-1:], ys[::step] + ys[-1:]
            line.set_data(xs, ys)
        for key, ax in self._axes.items():
            ax.relim()
            ax.autoscale_view(scaley=self._panels[key].ylim is None)

    def _redraw(self) -> None:
        if not self._dirty:
            return
        self._dirty = False
        self._apply()
        self.draw_idle()
        self.draw_count += 1
