"""Evaluate page, confident mistakes: for the selected test image, where the network looks
for the class it predicted and for the true class, side by side."""

from __future__ import annotations

from PySide6.QtWidgets import QComboBox, QGridLayout, QHBoxLayout, QLabel, QVBoxLayout, QWidget

from engine.explain import heat_overlay
from gui.state import AppModel
from gui.state.explanation import Explainer
from gui.text import model_labels
from gui.widgets.pixel_view import PixelView
from gui.widgets.saliency_overlay import METHOD_LABELS

PROMPT = "Select a mistake to see where the network looks for each of the two classes."


class MistakeMaps(QWidget):
    """Two heat maps of one test image: for the predicted class and for the true one."""

    def __init__(self, app_model: AppModel, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.app_model = app_model
        self.explainer = Explainer()
        self.index: int | None = None  # the test image shown
        self.maps = None  # (predicted SaliencyMap, true SaliencyMap) shown

        self.method = QComboBox()
        for key, label in METHOD_LABELS.items():
            self.method.addItem(label, key)
        self.title = QLabel(PROMPT)
        self.title.setWordWrap(True)
        self.predicted_view = PixelView(minimum=112)
        self.true_view = PixelView(minimum=112)
        self.predicted_caption = QLabel()
        self.true_caption = QLabel()
        top = QHBoxLayout()
        top.addWidget(self.title, 1)
        top.addWidget(QLabel("Map"))
        top.addWidget(self.method)
        grid = QGridLayout()
        grid.addWidget(self.predicted_caption, 0, 0)
        grid.addWidget(self.true_caption, 0, 1)
        grid.addWidget(self.predicted_view, 1, 0)
        grid.addWidget(self.true_view, 1, 1)
        layout = QVBoxLayout(self)
        layout.addLayout(top)
        layout.addLayout(grid, 1)

        self.method.currentIndexChanged.connect(lambda _i: self.show_test_image(self.index))
        app_model.results_changed.connect(lambda _r: self.show_test_image(None))

    def show_test_image(self, index: int | None) -> bool:
        """Show the maps of test image ``index`` of the current results (None clears)."""
        results = self.app_model.results
        self.index, self.maps = index, None
        if index is None or results is None:
            self.predicted_view.set_array(None)
            self.true_view.set_array(None)
            self.predicted_caption.setText("")
            self.true_caption.setText("")
            self.title.setText(PROMPT)
            return False
        if self.explainer.trained is not results.trained:
            self.explainer.use(results.trained)
        ev = results.evaluation
        pixels = results.dataset.x_test[index]
        true, predicted = int(ev.y[index]), int(ev.pred[index])
        method = self.method.currentData()
        try:
            maps = (self.explainer.explain(pixels, method, predicted),
                    self.explainer.explain(pixels, method, true))
        except ValueError as exc:
            self.title.setText(f"No map: {exc}")
            return False
        self.maps = maps
        labels = model_labels(results.trained)
        for view, caption, result, role in (
                (self.predicted_view, self.predicted_caption, maps[0], "predicted"),
                (self.true_view, self.true_caption, maps[1], "true")):
            view.set_array(heat_overlay(pixels, result.normalized()))
            caption.setText(f"{role}: {labels[result.class_index]} "
                            f"({100 * ev.probs[index, result.class_index]:.1f} %)")
        self.title.setText(f"Test image {index}: where it looks for the class it said "
                           f"({labels[predicted]}) and for the right one ({labels[true]})")
        return True
