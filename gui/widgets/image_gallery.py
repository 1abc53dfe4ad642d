"""A scrolling grid of small images with captions (dataset samples, mistakes, matrix cells)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from PySide6.QtCore import QSize, Qt
from PySide6.QtGui import QIcon, QPixmap
from PySide6.QtWidgets import QAbstractItemView, QListView, QListWidget, QListWidgetItem, QWidget

from gui.imaging import array_to_qimage


class ImageGallery(QListWidget):
    """Images scaled up with nearest-neighbour sampling (so 28x28 pixels stay crisp).

    ``set_images(images, captions, tooltips)`` replaces the contents; images are
    (N, H, W, C) or (N, H, W) uint8.
    """

    def __init__(self, icon_size: int = 64, parent: QWidget | None = None):
        super().__init__(parent)
        self._icon_size = icon_size
        self.setViewMode(QListView.ViewMode.IconMode)
        self.setResizeMode(QListView.ResizeMode.Adjust)
        self.setMovement(QListView.Movement.Static)
        self.setFlow(QListView.Flow.LeftToRight)
        self.setWrapping(True)
        self.setUniformItemSizes(True)
        self.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.setWordWrap(True)
        self.setSpacing(4)
        self.set_icon_size(icon_size)

    def set_icon_size(self, size: int) -> None:
        self._icon_size = size
        self.setIconSize(QSize(size, size))
        self._fit_grid([])

    def _fit_grid(self, captions: Sequence[str]) -> None:
        """Cells wide enough for the longest caption line ("automobile", "truck → ship"), so
        class names are not cut to "autom…"."""
        metrics = self.fontMetrics()
        widest = max((metrics.horizontalAdvance(line) for caption in captions
                      for line in caption.splitlines()), default=0)
        size = self._icon_size
        self.setGridSize(QSize(max(size + 26, widest + 14), size + 2 * metrics.height() + 10))

    def set_images(
        self,
        images: np.ndarray | Sequence[np.ndarray],
        captions: Sequence[str],
        tooltips: Sequence[str] | None = None,
    ) -> None:
        if len(images) != len(captions):
            raise ValueError(f"{len(images)} images but {len(captions)} captions")
        self.setUpdatesEnabled(False)
        try:
            self.clear()
            self._fit_grid(captions)
            for i, (image, caption) in enumerate(zip(images, captions, strict=True)):
                pixmap = QPixmap.fromImage(array_to_qimage(np.asarray(image))).scaled(
                    self._icon_size, self._icon_size, Qt.AspectRatioMode.KeepAspectRatio,
                    Qt.TransformationMode.FastTransformation)
                item = QListWidgetItem(QIcon(pixmap), caption)
                item.setTextAlignment(Qt.AlignmentFlag.AlignHCenter | Qt.AlignmentFlag.AlignTop)
                item.setData(Qt.ItemDataRole.UserRole, i)
                # The text is laid out in the item's own width, not the grid's.
                item.setSizeHint(self.gridSize() - QSize(4, 4))
                if tooltips is not None:
                    item.setToolTip(tooltips[i])
                self.addItem(item)
        finally:
            self.setUpdatesEnabled(True)

    def captions(self) -> list[str]:
        return [self.item(i).text() for i in range(self.count())]
