"""Predict page: draw a digit or load / drop an image, see what the model receives and what
it answers — also with a snapshot of a model that is still training. The model comes from the
application model (``viewed_model``); the preprocessed input goes back to it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtGui import QDragEnterEvent, QDropEvent, QFont, QKeySequence, QShortcut
from PySide6.QtWidgets import (
    QFileDialog,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QSizePolicy,
    QSlider,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from engine.data.images import read_image
from engine.data.preprocess import image_to_input
from engine.trained_model import TrainedModel
from gui.file_dialogs import remember_dir, start_dir
from gui.messages import show_error
from gui.pages.explain_panel import ExplainPanel
from gui.qt_compat import emit
from gui.settings import Settings
from gui.state import AppModel
from gui.state.app_model import PredictionRequest
from gui.state.model_facts import arch_name
from gui.text import model_labels
from gui.widgets.class_probability_bars import ClassProbabilityBars
from gui.widgets.drawing_canvas import DrawingCanvas
from gui.widgets.pixel_view import PixelView

PREDICT_INTERVAL_MS = 120
IMAGE_FILTER = "Images (*.png *.jpg *.jpeg *.bmp *.gif *.tif *.tiff *.webp);;All files (*)"
DRAW_HINT = ("Draw with the left mouse button: the prediction follows as you draw. "
             "Ctrl+Z undoes a stroke, Delete clears. Any image file can be dropped here too.")
PREPROCESSING_TEXT = {
    "digits": "MNIST-style: ink cropped, scaled to 20 px, centred by mass",
    "grey": "grey, object cropped and fitted to the frame",
    "colour": "RGB, scaled to cover and centre-cropped",
}


class PredictPage(QWidget):
    input_changed = Signal(object)  # (H, W, C) uint8 model input, or None
    predicted = Signal(object)  # (K,) probabilities

    def __init__(self, app_model: AppModel, settings: Settings | None = None,
                 parent: QWidget | None = None):
        super().__init__(parent)
        self.app_model = app_model
        self.settings = settings
        self._source: np.ndarray | None = None  # what is being predicted, before preprocessing
        self._source_name = ""
        self._input: np.ndarray | None = None
        self._probs: np.ndarray | None = None
        self.setAcceptDrops(True)

        # --- input column --------------------------------------------------------------------
        self.canvas = DrawingCanvas(image_size=280, pen_width=18)
        self.pen_slider = QSlider(Qt.Orientation.Horizontal)
        self.pen_slider.setRange(4, 40)
        self.pen_slider.setValue(self.canvas.pen_width())
        self.pen_value = QLabel(f"{self.canvas.pen_width()} px")
        self.clear_button = QPushButton("Clear")
        self.undo_button = QPushButton("Undo")
        self.clear_button.setShortcut(QKeySequence(Qt.Key.Key_Delete))
        self.undo_button.setToolTip("Undo the last stroke (Ctrl+Z)")
        self.clear_button.setToolTip("Clear the canvas (Delete)")
        QShortcut(QKeySequence.StandardKey.Undo, self, activated=self.canvas.undo)
        self.load_button = QPushButton("Load image…")
        self.load_button.setToolTip("Or drop an image file anywhere on this page")
        self.canvas_note = QLabel()
        self.canvas_note.setWordWrap(True)
        self.canvas_note.setStyleSheet("color: gray;")
        pen_row = QHBoxLayout()
        pen_row.addWidget(QLabel("Pen"))
        pen_row.addWidget(self.pen_slider, 1)
        pen_row.addWidget(self.pen_value)
        buttons = QHBoxLayout()
        buttons.addWidget(self.undo_button)
        buttons.addWidget(self.clear_button)
        buttons.addStretch(1)
        buttons.addWidget(self.load_button)
        draw_box = QGroupBox("Draw a digit, or load / drop an image")
        dl = QVBoxLayout(draw_box)
        dl.addWidget(self.canvas, 0, Qt.AlignmentFlag.AlignHCenter)
        dl.addLayout(pen_row)
        dl.addLayout(buttons)
        dl.addWidget(self.canvas_note)
        dl.addStretch(1)

        # --- what the model sees -------------------------------------------------------------
        self.input_view = PixelView(minimum=168, align_top=True)
        self.input_view.set_placeholder("Draw, load or drop an image")
        self.input_caption = QLabel()
        self.input_caption.setWordWrap(True)
        self.input_caption.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.source_view = PixelView(minimum=72)
        self.source_caption = QLabel()
        self.source_caption.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.source_caption.setStyleSheet("color: gray;")
        seen_box = QGroupBox("What the model receives")
        sl = QVBoxLayout(seen_box)
        sl.addWidget(self.input_caption)
        sl.addWidget(self.input_view, 3)
        sl.addWidget(self.source_view, 1)
        sl.addWidget(self.source_caption)

        # --- prediction ----------------------------------------------------------------------
        self.answer_label = QLabel("–")
        big = QFont(self.font())
        big.setPointSizeF(big.pointSizeF() * 3.2)
        big.setBold(True)
        self.answer_label.setFont(big)
        self.answer_label.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.confidence_label = QLabel()
        self.confidence_label.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.bars = ClassProbabilityBars(top_k=10)
        self.explain = ExplainPanel(app_model, self.bars)
        self.top_k = QSpinBox(minimum=1, maximum=10, value=10)
        self.model_label = QLabel()
        self.model_label.setWordWrap(True)
        self.model_label.setStyleSheet("color: gray;")
        # Rewritten on every training snapshot: keep it out of the window's size constraints.
        for label in (self.model_label, self.confidence_label, self.input_caption,
                      self.source_caption, self.canvas_note):
            label.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        k_row = QHBoxLayout()
        k_row.addStretch(1)
        k_row.addWidget(QLabel("Show top"))
        k_row.addWidget(self.top_k)
        answer_box = QGroupBox("Prediction")
        al = QVBoxLayout(answer_box)
        al.addWidget(self.answer_label)
        al.addWidget(self.confidence_label)
        al.addWidget(self.explain.warning)
        al.addWidget(self.bars)
        al.addLayout(k_row)
        al.addStretch(1)
        al.addWidget(self.model_label)

        layout = QHBoxLayout(self)
        layout.addWidget(draw_box, 0)
        layout.addWidget(seen_box, 1)
        layout.addWidget(self.explain, 2)  # the maps: the widest column
        layout.addWidget(answer_box, 1)

        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.setInterval(PREDICT_INTERVAL_MS)
        self._timer.timeout.connect(self.predict_now)
        self.canvas.changed.connect(self._on_canvas_changed)
        self.canvas.stroke_finished.connect(self.predict_now)
        self.pen_slider.valueChanged.connect(self._on_pen_width)
        self.clear_button.clicked.connect(self.canvas.clear)
        self.undo_button.clicked.connect(self.canvas.undo)
        self.load_button.clicked.connect(self.load_image_dialog)
        self.top_k.valueChanged.connect(self._on_top_k)
        app_model.model_changed.connect(lambda _m: self._on_model_changed())
        app_model.snapshot_changed.connect(lambda _m: self._on_model_changed())
        app_model.prediction_requested.connect(self._on_prediction_requested)
        self._on_model_changed()

    # --- model -------------------------------------------------------------------------------
    def current_model(self) -> TrainedModel | None:
        """The snapshot of a run in progress if there is one, else the current model."""
        return self.app_model.viewed_model

    def current_input(self) -> np.ndarray | None:
        return None if self._input is None else self._input.copy()

    def probabilities(self) -> np.ndarray | None:
        return None if self._probs is None else self._probs.copy()

    def _on_model_changed(self) -> None:
        trained = self.current_model()
        if trained is not None and trained.kind != "digits" and self._source_name == "canvas":
            # The old drawing must not be classified by a model for photos.
            self._clear_canvas_quietly()
            self._source = None
        self._configure_for_model()
        self.predict_now()

    def _configure_for_model(self) -> None:
        trained = self.current_model()
        if trained is None:
            self.model_label.setText("No model: open one (File ▸ Open model) or train one.")
            self.canvas_note.setText("")
            self.input_caption.setText("")
            self.bars.set_placeholder("No model loaded")
            return
        h, w, c = trained.input_shape
        kind = trained.kind
        digits = kind == "digits"
        for widget in (self.canvas, self.pen_slider, self.clear_button, self.undo_button):
            widget.setEnabled(digits)
        self.canvas_note.setText(
            DRAW_HINT if digits else "Drawing is off: this model classifies "
            f"{'photos' if kind == 'colour' else 'grey images'} of {h}×{w} pixels, not "
            "drawings. Load or drop an image file.")
        self.canvas.setToolTip("Draw a digit with the mouse" if digits else
                               "Drawing is off: the model classifies photos")
        self.input_caption.setText(f"{h}×{w}×{c} input — {PREPROCESSING_TEXT.get(kind, kind)}")
        self.bars.set_placeholder("Draw something" if digits else "Load or drop an image")
        snapshot = self.app_model.snapshot
        model = self.app_model.model
        if snapshot is not None and self.app_model.snapshot_model is not None:
            source = snapshot.describe()
        else:
            source = model.name if model is not None else "unsaved model"
        self.model_label.setText(f"Using {source}: {arch_name(trained)}, "
                                 f"{trained.model.num_params():,} parameters")

    # --- input -------------------------------------------------------------------------------
    def _on_pen_width(self, width: int) -> None:
        self.canvas.set_pen_width(width)
        self.pen_value.setText(f"{width} px")

    def _on_top_k(self, k: int) -> None:
        self.bars.set_top_k(k)
        self._show_probabilities()

    def _clear_canvas_quietly(self) -> None:
        """Empty the canvas without treating that as a new (empty) drawing to predict."""
        self.canvas.blockSignals(True)
        self.canvas.clear()
        self.canvas.blockSignals(False)
        self.canvas.update()

    def _on_canvas_changed(self) -> None:
        if self._source_name != "canvas" and self.canvas.is_empty():
            return  # undo after an image: nothing of the drawing is left to show
        self._source = None if self.canvas.is_empty() else self.canvas.to_array()
        self._source_name = "canvas"
        if not self._timer.isActive():
            self._timer.start()

    def load_image_dialog(self) -> None:
        start = start_dir(self.settings) if self.settings is not None else Path.home()
        path, _ = QFileDialog.getOpenFileName(self, "Load an image", str(start), IMAGE_FILTER)
        if path:
            if self.settings is not None:
                remember_dir(self.settings, path)
            self.load_image(path)

    def load_image(self, path: str | Path) -> bool:
        try:
            image = read_image(path)
        except (ValueError, OSError) as exc:
            show_error(self, "Cannot read image", str(exc))
            return False
        self.show_image(image, Path(path).name)
        return True

    def show_image(self, image: np.ndarray, name: str) -> None:
        """Predict ``image`` (H, W) or (H, W, C) uint8; the drawing is cleared, so drawing
        afterwards starts on an empty canvas."""
        self._clear_canvas_quietly()
        self._source = np.asarray(image)
        self._source_name = name
        self.predict_now()

    def _on_prediction_requested(self, request: PredictionRequest) -> None:
        self.show_image(request.image, request.name)

    def dragEnterEvent(self, event: QDragEnterEvent) -> None:
        if event.mimeData().hasUrls() and any(u.isLocalFile() for u in event.mimeData().urls()):
            event.acceptProposedAction()

    def dropEvent(self, event: QDropEvent) -> None:
        files = [u.toLocalFile() for u in event.mimeData().urls() if u.isLocalFile()]
        if files:
            event.acceptProposedAction()
            self.load_image(files[0])

    # --- prediction --------------------------------------------------------------------------
    def predict_now(self) -> None:
        self._timer.stop()
        trained = self.current_model()
        source = self._source
        if source is None:
            self._input, self._probs = None, None
            self.input_view.set_array(None)
            self.source_view.set_array(None)
            self.source_caption.setText("")
            self._show_probabilities()
            self.app_model.set_predict_input(None)
            self.explain.show_input(None, None)
            emit(self.input_changed, None)
            return
        from_file = self._source_name != "canvas"  # the canvas is already in view
        self.source_view.setVisible(from_file)
        self.source_caption.setVisible(from_file)
        self.source_view.set_array(source if source.ndim == 2 or source.shape[2] in (1, 3)
                                   else source[..., :3])
        self.source_caption.setText(f"original ({self._source_name}, "
                                    f"{source.shape[1]}×{source.shape[0]})")
        if trained is None:
            self._show_probabilities()
            return
        try:
            x = image_to_input(source, trained.input_shape, trained.kind)
            probs = trained.predict_proba(x[None])[0]
        except ValueError as exc:
            show_error(self, "Cannot predict", str(exc))
            return
        self._input, self._probs = x, probs
        self.input_view.set_array(x)
        self._show_probabilities()
        self.explain.show_input(source, x)
        self.app_model.set_predict_input(x)
        emit(self.input_changed, x)
        emit(self.predicted, probs)

    def _show_probabilities(self) -> None:
        trained = self.current_model()
        if self._probs is None or trained is None:
            self.bars.clear()
            self.answer_label.setText("–")
            self.confidence_label.setText("")
            return
        labels = model_labels(trained)
        best = int(np.argmax(self._probs))
        self.bars.set_probabilities(self._probs, labels)
        self.answer_label.setText(labels[best])
        self.confidence_label.setText(f"{100 * self._probs[best]:.1f} % confident")

    def predicted_class(self) -> int | None:
        return None if self._probs is None else int(np.argmax(self._probs))

    def source_name(self) -> str:
        return self._source_name

    def model_info(self) -> Any:
        return self.model_label.text()
