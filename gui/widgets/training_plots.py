"""The Train page's three live plots — loss per batch (raw and smoothed), accuracy per epoch
(train and validation), learning rate — redrawn in turn by one throttling timer so that no
event-loop turn renders more than one of them."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from matplotlib.figure import Figure
from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QHBoxLayout, QWidget

from gui.smoothing import LossSmoother
from gui.widgets.live_plot import LivePlot, Series

SMOOTHING = 0.95  # moving average of the batch loss (see gui.smoothing)
REDRAW_MS = 100


class TrainingPlots(QWidget):
    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        # Log scale with wide fixed limits: the axes need no new render as the loss falls.
        self.loss = LivePlot("Loss per batch", "batch", "loss (log scale)", [
            Series("raw", "raw", {"color": "#9ecae1", "linewidth": 0.8}),
            Series("smooth", "smoothed", {"color": "#08519c", "linewidth": 1.8})], log_y=True)
        self.accuracy = LivePlot("Accuracy per epoch", "epoch", "accuracy", [
            Series("train", "train", {"color": "#08519c", "marker": "o", "markersize": 4}),
            Series("val", "validation", {"color": "#e6550d", "marker": "s", "markersize": 4})],
            ylim=(0.0, 1.0), legend_loc="lower right", integer_x=True)
        self.lr = LivePlot("Learning rate", "batch", "learning rate", [
            Series("lr", "lr", {"color": "#31a354"})])
        self.plots = (self.loss, self.accuracy, self.lr)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        for plot in self.plots:
            layout.addWidget(plot)
        self._smoother = LossSmoother(SMOOTHING)
        self._next = 0
        self._timer = QTimer(self)
        self._timer.setInterval(REDRAW_MS)
        self._timer.timeout.connect(self._redraw_one)
        self._timer.start()

    # --- data --------------------------------------------------------------------------------
    def reset(self, total_batches: int | None = None, epochs: int | None = None,
              max_lr: float | None = None) -> None:
        for plot in self.plots:
            plot.clear_data()
        self._smoother.reset()
        self.set_extent(total_batches, epochs, max_lr)

    def set_extent(self, total_batches: int | None, epochs: int | None,
                   max_lr: float | None = None) -> None:
        """Sizes the axes for the whole run up front, so that training needs no full render."""
        if total_batches:
            self.loss.set_x_extent(total_batches)
            self.lr.set_x_extent(total_batches)
        if epochs:
            self.accuracy.set_x_extent(epochs + 0.5)
        if max_lr:
            self.lr.set_y_range(0.0, 1.15 * max_lr)

    def render_then(self, callback: Callable[[], object]) -> None:
        """Renders the plots that need it, one per event-loop turn, then calls ``callback``."""
        pending = [p for p in self.plots if p.needs_full_render() and p.isVisible()]
        if not pending:
            callback()
            return
        pending[0].render_full()
        QTimer.singleShot(0, lambda: self.render_then(callback))

    def add_batch(self, step: int, loss: float, lr: float | None) -> None:
        """step: 1-based batch number in the run."""
        self.loss.append("raw", step, loss)
        smooth = self._smoother.add(loss)
        if smooth is not None:
            self.loss.append("smooth", step, smooth)
        if lr is not None:
            self.lr.append("lr", step, lr)

    def add_epoch(self, epoch: int, accuracy: float | None, val_accuracy: float | None) -> None:
        """epoch: 1-based."""
        if accuracy is not None:
            self.accuracy.append("train", epoch, accuracy)
        if val_accuracy is not None:
            self.accuracy.append("val", epoch, val_accuracy)

    def _redraw_one(self) -> None:
        """One plot per tick, so no event-loop turn renders more than one."""
        for i in range(len(self.plots)):
            plot = self.plots[(self._next + i) % len(self.plots)]
            if plot.is_dirty():
                self._next = (self._next + i + 1) % len(self.plots)
                plot.redraw()
                return

    def flush(self) -> None:
        for plot in self.plots:
            plot.flush()

    # --- export ------------------------------------------------------------------------------
    def export_png(self, path: str | Path) -> None:
        """The three plots side by side in one image."""
        figure = Figure(figsize=(13, 3.8), dpi=120)
        for i, plot in enumerate(self.plots):
            ax = figure.add_subplot(1, 3, i + 1)
            src = plot.ax
            for line in src.get_lines():
                ax.plot(*line.get_data(), label=line.get_label(), color=line.get_color(),
                        linewidth=line.get_linewidth(), marker=line.get_marker(),
                        markersize=line.get_markersize())
            ax.set_title(src.get_title())
            ax.set_xlabel(src.get_xlabel())
            ax.set_ylabel(src.get_ylabel())
            ax.grid(True, alpha=0.3)
            if len(src.get_lines()) > 1:
                ax.legend(fontsize=8)
        figure.tight_layout()
        figure.savefig(path)

    def export_csv(self, path: str | Path) -> None:
        """One row per point: plot, series, x, y."""
        with open(path, "w", encoding="utf-8") as f:
            f.write("plot,series,x,y\n")
            for name, plot in (("loss", self.loss), ("accuracy", self.accuracy),
                               ("lr", self.lr)):
                for key, x, y in plot.rows():
                    f.write(f"{name},{key},{x:g},{y:.6g}\n")
