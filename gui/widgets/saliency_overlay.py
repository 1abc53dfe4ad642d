"""Where the network looks: a heat map over the network's 28x28 / 32x32 input and over the
original image, a toggle, a method selector and the "unlike the training data" warning.

The widget only draws; a page computes the map (``engine.explain``) and hands it over:

    overlay.method_changed.connect(page.recompute)        # "gradcam" | "gradient" | "occlusion"
    overlay.overlay_toggled.connect(page.recompute)
    overlay.set_images(model_input_uint8, original_uint8, input_box)
    overlay.set_heat(saliency_map.normalized())           # (H, W) in [0, 1], or None
    overlay.set_unfamiliar(calibration.is_unfamiliar(score))
"""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import Signal
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QVBoxLayout,
    QWidget,
)

from engine.data.images import resize
from engine.explain.overlay import heat_overlay
from engine.explain.upsample import upsample_bilinear
from gui.widgets.pixel_view import PixelView

METHOD_LABELS = {"gradcam": "Grad-CAM", "gradient": "Gradient", "occlusion": "Occlusion"}
ORIGINAL_MAX_SIDE = 280  # the original is shown at most this large
UNFAMILIAR_TEXT = "This does not look like anything I was trained on."


def as_rgb(image: np.ndarray) -> np.ndarray:
    image = np.asarray(image, dtype=np.uint8)
    if image.ndim == 2:
        image = image[..., None]
    return np.repeat(image, 3, axis=2) if image.shape[2] == 1 else image[..., :3]


class SaliencyOverlay(QWidget):
    """Shows a heat map over the network input and over the original image.

    ``method_changed(str)``: the user picked another method (a key of ``METHOD_LABELS``).
    ``overlay_toggled(bool)``: the user turned the overlay on or off.
    """

    method_changed = Signal(str)
    overlay_toggled = Signal(bool)

    def __init__(self, alpha: float = 0.5, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.alpha = alpha
        self._input: np.ndarray | None = None
        self._original: np.ndarray | None = None
        self._box: tuple[int, int, int, int] | None = None
        self._heat: np.ndarray | None = None

        self.toggle = QCheckBox("Show where it looks")
        self.toggle.setChecked(True)
        self.selector = QComboBox()
        for key, label in METHOD_LABELS.items():
            self.selector.addItem(label, key)
        self.input_view = PixelView(minimum=112)
        self.original_view = PixelView(minimum=112)
        self.original_view.set_placeholder("no original image")
        self.warning = QLabel(UNFAMILIAR_TEXT)
        self.warning.setWordWrap(True)
        self.warning.setStyleSheet("color: #b00020; font-weight: bold")
        self.warning.hide()

        controls = QHBoxLayout()
        controls.addWidget(self.toggle)
        controls.addWidget(self.selector)
        controls.addStretch(1)
        views = QGridLayout()
        views.addWidget(QLabel("what the network sees"), 0, 0)
        views.addWidget(QLabel("original"), 0, 1)
        views.addWidget(self.input_view, 1, 0)
        views.addWidget(self.original_view, 1, 1)
        layout = QVBoxLayout(self)
        layout.addLayout(controls)
        layout.addLayout(views)
        layout.addWidget(self.warning)

        self.selector.currentIndexChanged.connect(
            lambda _: self.method_changed.emit(self.method()))
        self.toggle.toggled.connect(self._on_toggled)

    # -- state the page reads and sets ------------------------------------------------------
    def method(self) -> str:
        return self.selector.currentData()

    def set_method(self, method: str) -> None:
        """Select ``method`` without emitting ``method_changed`` (the page already knows)."""
        if method not in METHOD_LABELS:
            raise ValueError(f"unknown method {method!r}")
        self.selector.blockSignals(True)
        self.selector.setCurrentIndex(list(METHOD_LABELS).index(method))
        self.selector.blockSignals(False)

    def overlay_enabled(self) -> bool:
        return self.toggle.isChecked()

    def set_images(self, network_input: np.ndarray, original: np.ndarray | None = None,
                   input_box: tuple[int, int, int, int] | None = None) -> None:
        """network_input: (h, w[, C]) uint8, the preprocessed image the network receives;
        original: the image as loaded or drawn (any size, grey or RGB) or None; input_box:
        (top, left, height, width) of the original that the input shows (the whole original
        when None). Clears the heat map."""
        self._input = as_rgb(network_input)
        self._original = None if original is None else as_rgb(original)
        if self._original is not None:
            h, w = self._original.shape[:2]
            box = (0, 0, h, w) if input_box is None else tuple(int(v) for v in input_box)
            top, left, bh, bw = box
            if bh < 1 or bw < 1 or top < 0 or left < 0 or top + bh > h or left + bw > w:
                raise ValueError(f"input_box {input_box} does not lie inside the {h}x{w} "
                                 "original")
            self._original, self._box = self._shrunk(self._original, box)
        self._heat = None
        self._render()

    def set_heat(self, heat: np.ndarray | None) -> None:
        """heat: (h, w) in [0, 1] at the network input's resolution, or None to clear."""
        if heat is not None:
            heat = np.clip(np.asarray(heat, dtype=np.float64), 0, 1)
            if self._input is None or heat.shape != self._input.shape[:2]:
                have = None if self._input is None else self._input.shape[:2]
                raise ValueError(f"the map is {heat.shape} but the input {have}")
        self._heat = heat
        self._render()

    def set_unfamiliar(self, unfamiliar: bool, text: str = UNFAMILIAR_TEXT) -> None:
        """Show or hide the warning that the input is unlike the training data."""
        self.warning.setText(text)
        self.warning.setVisible(bool(unfamiliar))

    # -- drawing ------------------------------------------------------------------------------
    @staticmethod
    def _shrunk(original: np.ndarray, box: tuple[int, int, int, int]
                ) -> tuple[np.ndarray, tuple[int, int, int, int]]:
        h, w = original.shape[:2]
        scale = min(1.0, ORIGINAL_MAX_SIDE / max(h, w))
        if scale == 1.0:
            return original, box
        size = (max(1, round(h * scale)), max(1, round(w * scale)))
        top, left, bh, bw = (round(v * scale) for v in box)
        top, left = min(top, size[0] - 1), min(left, size[1] - 1)
        box = (top, left, max(1, min(bh, size[0] - top)), max(1, min(bw, size[1] - left)))
        return resize(original, size), box

    def _render(self) -> None:
        show = self._heat is not None and self.toggle.isChecked()
        if self._input is None:
            self.input_view.set_array(None)
        else:
            self.input_view.set_array(
                heat_overlay(self._input, self._heat, self.alpha) if show else self._input)
        if self._original is None:
            self.original_view.set_array(None)
            return
        picture = self._original.copy()
        if show:
            top, left, bh, bw = self._box
            region = picture[top:top + bh, left:left + bw]
            heat = np.clip(upsample_bilinear(self._heat, (bh, bw)), 0, 1)
            picture[top:top + bh, left:left + bw] = heat_overlay(region, heat, self.alpha)
        self.original_view.set_array(picture)

    def _on_toggled(self, checked: bool) -> None:
        self._render()
        self.overlay_toggled.emit(checked)
