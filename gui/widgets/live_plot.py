"""Live line plots that stay cheap to update while training runs.

Each ``LivePlot`` is one matplotlib ``FigureCanvasQTAgg`` with one axes, created once. Data are
appended in GUI-thread slots (cheap); ``redraw()`` — called by a throttling timer — pushes them
into the ``Line2D`` objects with ``set_data`` and blits only the lines over a cached background.
A full render (tens of milliseconds) happens only when the data leave the axes limits, which
grow with headroom, so it is rare.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from matplotlib.backends.backend_qtagg import FigureCanvasQTAgg
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator
from PySide6.QtWidgets import QSizePolicy, QWidget

MAX_DRAWN_POINTS = 1500


MARGINS_PX = (66, 14, 46, 30)  # left (tick labels + y title), right, bottom, top (title)


@dataclass
class Series:
    key: str
    label: str
    style: dict = field(default_factory=dict)


class LivePlot(FigureCanvasQTAgg):
    """One axes with named line series.

    ylim: fixed y limits (e.g. (0, 1) for accuracy) or None to grow them with the data.
    """

    def __init__(self, title: str, xlabel: str, ylabel: str, series: list[Series],
                 ylim: tuple[float, float] | None = None, log_y: bool = False,
                 legend_loc: str = "upper right", integer_x: bool = False,
                 parent: QWidget | None = None):
        figure = Figure(figsize=(4.0, 3.0), dpi=100)
        super().__init__(figure)
        self.setParent(parent)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)
        self.setMinimumSize(220, 180)
        self.ax = figure.add_subplot(1, 1, 1)
        self.ax.set_title(title, fontsize=10)
        self.ax.set_xlabel(xlabel, fontsize=9)
        self.ax.set_ylabel(ylabel, fontsize=9)
        self.ax.tick_params(labelsize=8)
        self.ax.grid(True, alpha=0.3)
        self._log_y = log_y
        if log_y:
            self.ax.set_yscale("log")
        else:
            self.ax.ticklabel_format(axis="y", style="sci", scilimits=(-3, 4))
        self._fit_margins(400, 300)
        self._fixed_ylim = ylim
        self._y_range = ylim  # limits chosen ahead of the data (fixed, or set_y_range)
        self._x_hint = 10.0
        self._lines = {}
        self._x: dict[str, list[float]] = {}
        self._y: dict[str, list[float]] = {}
        for s in series:
            (line,) = self.ax.plot([], [], label=s.label, animated=True, **s.style)
            self._lines[s.key] = line
            self._x[s.key], self._y[s.key] = [], []
        if len(series) > 1:
            self.ax.legend(fontsize=8, loc=legend_loc)
        if integer_x:
            self.ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        self._bounds = [np.inf, -np.inf, np.inf, -np.inf]  # data xmin, xmax, ymin, ymax
        self._limits: tuple[float, float, float, float] = (0.0, 1.0, 0.0, 1.0)
        self._background = None
        self._fitted = False  # y limits set from the data at least once
        self._dirty = False
        self._stale = True  # limits changed since the last full render
        self.full_draws = 0
        self.blits = 0
        self._reset_limits()
        self.mpl_connect("draw_event", self._on_draw)

    # --- data --------------------------------------------------------------------------------
    def append(self, key: str, x: float, y: float) -> None:
        if not np.isfinite(y):
            return
        self._x[key].append(float(x))
        self._y[key].append(float(y))
        b = self._bounds
        b[0], b[1] = min(b[0], x), max(b[1], x)
        b[2], b[3] = min(b[2], y), max(b[3], y)
        self._dirty = True

    def data(self, key: str) -> tuple[list[float], list[float]]:
        return list(self._x[key]), list(self._y[key])

    def series_keys(self) -> list[str]:
        return list(self._x)

    def clear_data(self) -> None:
        for key in self._x:
            self._x[key], self._y[key] = [], []
        self._bounds = [np.inf, -np.inf, np.inf, -np.inf]
        self._fitted = False
        self._reset_limits()
        self._dirty = True

    def set_x_extent(self, xmax: float) -> None:
        """Known final x (total batches, epochs): the x axis is sized for it at once."""
        self._x_hint = max(1.0, float(xmax))
        self._reset_limits()
        self._dirty = True

    def set_y_range(self, lo: float, hi: float) -> None:
        """Expected y range (e.g. 0 .. the peak learning rate), so no render is needed later."""
        if self._fixed_ylim is None:
            self._y_range = (float(lo), float(hi))
            self._reset_limits()
            self._dirty = True

    def needs_full_render(self) -> bool:
        return self._stale or self._background is None

    def is_dirty(self) -> bool:
        return self._dirty

    # --- drawing -----------------------------------------------------------------------------
    def _reset_limits(self) -> None:
        lo, hi = self._y_range or ((1e-4, 10.0) if self._log_y else (0.0, 1.0))
        self._fitted = self._y_range is not None or self._log_y
        limits = (0.0, self._x_hint, lo, hi)
        if limits != self._limits:
            self._limits = limits
            self._apply_limits()
            self._stale = True

    def _apply_limits(self) -> None:
        x0, x1, y0, y1 = self._limits
        self.ax.set_xlim(x0, x1)
        self.ax.set_ylim(y0, y1)

    def _grow_limits(self) -> bool:
        """Widens the limits (with headroom) when the data left them; True if they changed."""
        x0, x1, y0, y1 = self._limits
        _, bx1, by0, by1 = self._bounds
        if not np.isfinite(bx1):
            return False
        changed = False
        if bx1 > x1:
            x1 = max(self._x_hint, bx1 * 1.5)
            changed = True
        if self._fixed_ylim is not None:
            pass
        elif self._log_y:
            # Values under the lower limit are drawn on it (see _set_lines), so only a
            # diverging loss ever widens a log axis.
            if by1 > y1:
                y1 = by1 * 3
                changed = True
        elif by0 < y0 or by1 > y1 or not self._fitted:
            span = max(by1 - by0, abs(by1) * 0.1, 1e-12)
            y0 = min(y0 if self._fitted else 0.0, by0 - 0.1 * span if by0 < 0 else 0.0)
            y1 = max(y1 if self._fitted else by1, by1 + 0.15 * span)
            self._fitted = True
            changed = True
        if changed:
            self._limits = (x0, x1, y0, y1)
            self._apply_limits()
            self._stale = True
        return changed

    def _set_lines(self) -> None:
        for key, line in self._lines.items():
            xs, ys = self._x[key], self._y[key]
            if len(xs) > MAX_DRAWN_POINTS:
                step = int(np.ceil(len(xs) / MAX_DRAWN_POINTS))
                xs, ys = xs[::step] + xs[-1:], ys[::step] + ys[-1:]
            if self._log_y:
                ys = np.maximum(ys, self._limits[2] * 1.05)
            line.set_data(xs, ys)

    def redraw(self) -> bool:
        """Bring the picture up to date; returns True when it needed a full render."""
        if not self._dirty:
            return False
        self._dirty = False
        self._set_lines()
        self._grow_limits()
        if self.needs_full_render():
            self.render_full()
            return True
        self.restore_region(self._background)
        self._draw_lines()
        self.blit(self.ax.bbox)
        self.blits += 1
        return False

    def render_full(self) -> None:
        """Render axes, ticks and lines (tens of ms); _on_draw caches the background."""
        self._dirty = False
        self._set_lines()
        self.draw()

    def flush(self) -> None:
        """Render everything now (tests, screenshots)."""
        self._set_lines()
        self._grow_limits()
        self.render_full()

    def _draw_lines(self) -> None:
        for line in self._lines.values():
            self.ax.draw_artist(line)

    def _on_draw(self, event: object) -> None:
        # Any full render (ours, or Qt's after a resize) shows the current limits.
        self._background = self.copy_from_bbox(self.ax.bbox)
        self._stale = False
        self.full_draws += 1
        self._draw_lines()

    def blit(self, bbox: object = None) -> None:
        # Like matplotlib's, but schedules the repaint instead of painting synchronously.
        box = bbox if bbox is not None else self.figure.bbox
        ratio = self.device_pixel_ratio
        left, bottom, width, height = (int(v / ratio) for v in box.bounds)
        self.update(left, self.rect().height() - (bottom + height), width, height)

    def resizeEvent(self, event) -> None:
        self._background = None
        self._fit_margins(event.size().width(), event.size().height())
        super().resizeEvent(event)

    def _fit_margins(self, width: int, height: int) -> None:
        """Margins in pixels, not fractions: a narrow plot (a 1024 px window) keeps room for
        its tick labels and axis titles."""
        w, h = max(width, 1), max(height, 1)
        self.figure.subplots_adjust(left=min(0.45, MARGINS_PX[0] / w),
                                    right=1 - min(0.2, MARGINS_PX[1] / w),
                                    bottom=min(0.45, MARGINS_PX[2] / h),
                                    top=1 - min(0.3, MARGINS_PX[3] / h))

    # --- export ------------------------------------------------------------------------------
    def export_png(self, path: str | Path) -> None:
        self._set_lines()
        for line in self._lines.values():
            line.set_animated(False)
        try:
            self.figure.savefig(path, dpi=120)
        finally:
            for line in self._lines.values():
                line.set_animated(True)
            self._background = None
            self.draw_idle()

    def rows(self) -> list[tuple[str, float, float]]:
        return [(key, x, y) for key in self._x
                for x, y in zip(self._x[key], self._y[key], strict=True)]
