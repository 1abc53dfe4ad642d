"""The Predict page's "why": the saliency overlay on the network input and on the original,
a click on a probability bar to explain that class, and the "unlike the training data"
warning under the prediction.

The page hands over each input it predicts (:meth:`ExplainPanel.show_input`); maps follow
the pen like the prediction does. They are computed on a ShadowNetwork of the model shown
(:class:`gui.state.explanation.Explainer`), so the model in training is never run here."""

from __future__ import annotations

import numpy as np
from PySide6.QtWidgets import QGroupBox, QLabel, QVBoxLayout, QWidget

from gui.input_region import input_region
from gui.state import AppModel
from gui.state.explanation import Explainer, unfamiliar_text
from gui.widgets.class_probability_bars import ClassProbabilityBars
from gui.widgets.saliency_overlay import METHOD_LABELS, SaliencyOverlay

HINT = "Click a probability bar to see where the network looks for that class."


class ExplainPanel(QGroupBox):
    def __init__(self, app_model: AppModel, bars: ClassProbabilityBars,
                 parent: QWidget | None = None) -> None:
        super().__init__("Where it looks", parent)
        self.app_model = app_model
        self.bars = bars
        self.explainer = Explainer()
        self.chosen_class: int | None = None  # None: the predicted class
        self._pixels: np.ndarray | None = None
        self.explained = None  # the SaliencyMap shown, if any

        self.overlay = SaliencyOverlay()
        self.caption = QLabel(HINT)
        self.caption.setWordWrap(True)
        self.caption.setStyleSheet("color: gray;")
        self.warning = QLabel()  # placed by the page under the prediction
        self.warning.setWordWrap(True)
        self.warning.setStyleSheet("color: #b00020; font-weight: bold;")
        self.warning.hide()
        layout = QVBoxLayout(self)
        layout.addWidget(self.overlay, 1)
        layout.addWidget(self.caption)

        self.overlay.method_changed.connect(lambda _m: self.refresh())
        self.overlay.overlay_toggled.connect(lambda _on: self.refresh())
        bars.class_clicked.connect(self.explain_class)
        app_model.model_changed.connect(lambda _m: self._on_model_changed(new_model=True))
        app_model.snapshot_changed.connect(lambda _m: self._on_model_changed(new_model=False))
        self._on_model_changed(new_model=True)

    def _on_model_changed(self, new_model: bool) -> None:
        # The page predicts again right after and hands the input over.
        self.explainer.use(self.app_model.viewed_model)
        if new_model:
            self.chosen_class = None

    def show_input(self, original: np.ndarray | None, pixels: np.ndarray | None) -> None:
        """original: the image drawn or loaded (H, W[, C]) uint8; pixels: what the network
        receives (h, w, C) uint8; None for both when there is nothing to predict."""
        trained = self.explainer.trained
        self._pixels = None if pixels is None else np.asarray(pixels)
        if self._pixels is None or trained is None:
            self.chosen_class = None
            self.overlay.input_view.set_array(None)
            self.overlay.original_view.set_array(None)
            self.warning.hide()
            self.explained = None
            self.bars.set_marked(None)
            return
        if original is None:
            self.overlay.set_images(self._pixels)
        else:
            shown, box = input_region(original, trained.input_shape, trained.kind)
            self.overlay.set_images(self._pixels, shown, box)
        self._show_warning()
        self.refresh()

    def explain_class(self, class_index: int) -> None:
        """Explain ``class_index`` from now on (the predicted class when it is the one)."""
        if self._pixels is None:
            return
        predicted = None if self.explained is None else self.explained.predicted_class
        self.chosen_class = None if class_index == predicted else int(class_index)
        if not self.overlay.overlay_enabled():
            self.overlay.toggle.setChecked(True)  # refreshes
        else:
            self.refresh()

    def refresh(self) -> None:
        """Recompute the map for the current input, method and class."""
        if self._pixels is None or self.explainer.trained is None:
            return
        if not self.overlay.overlay_enabled():
            self.overlay.set_heat(None)
            self.explained = None
            self.bars.set_marked(None)
            self.caption.setText(HINT)
            return
        method = self.overlay.method()
        try:
            result = self.explainer.explain(self._pixels, method, self.chosen_class)
        except ValueError as exc:
            self.overlay.set_heat(None)
            self.explained = None
            self.bars.set_marked(None)
            self.caption.setText(f"No map: {exc}")
            return
        self.explained = result
        self.overlay.set_heat(result.normalized())
        self.bars.set_marked(result.class_index)
        names = self.explainer.trained.class_names
        which = "the prediction" if self.chosen_class is None else "the class you clicked"
        where = f" at layer {result.layer}" if result.layer else ""
        self.caption.setText(f"{METHOD_LABELS[method]}{where}: where it sees "
                             f"“{names[result.class_index]}” ({which}). {HINT}")

    def _show_warning(self) -> None:
        trained = self.explainer.trained
        unfamiliar = self.explainer.is_unfamiliar(self._pixels) if trained is not None else None
        if unfamiliar:
            self.warning.setText(unfamiliar_text(trained))
        self.warning.setVisible(bool(unfamiliar))
