"""Predict page: draw a digit or load / drop an image, see what the model receives and what
it answers — also with a snapshot of a model that is still training."""

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

import engine
from engine.data.images import read_image
from engine.data.preprocess import image_to_input
from engine.trained_model import TrainedModel
from gui.messages import show_error
from gui.qt_compat import emit
from gui.session import Session, arch_name
from gui.text import model_labels
from gui.widgets.drawing_canvas import DrawingCanvas
from gui.widgets.pixel_view import PixelView
from gui.widgets.probability_bars import ProbabilityBars

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

    def __init__(self, session: Session, parent: QWidget | None = None):
        super().__init__(parent)
        self.session = session
        self._trained: TrainedModel | None = None
        self._snapshot: TrainedModel | None = None
        self._snapshot_info = ""
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
        self.bars = ProbabilityBars(top_k=10)
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
        al.addWidget(self.bars)
        al.addLayout(k_row)
        al.addStretch(1)
        al.addWidget(self.model_label)

        layout = QHBoxLayout(self)
        layout.addWidget(draw_box, 0)
        layout.addWidget(seen_box, 1)
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
        session.model_changed.connect(self._on_model_changed)
        self._on_model_changed(session.trained)

    # --- model -------------------------------------------------------------------------------
    def current_model(self) -> TrainedModel | None:
        """The snapshot of a run in progress if there is one, else the session's model."""
        return self._snapshot or self._trained

    def current_input(self) -> np.ndarray | None:
        return None if self._input is None else self._input.copy()

    def probabilities(self) -> np.ndarray | None:
        return None if self._probs is None else self._probs.copy()

    def _on_model_changed(self, trained: TrainedModel | None) -> None:
        self._trained = trained
        self._snapshot = None
        self._configure_for_model()
        self._repredict_source()

    def set_snapshot(self, snapshot: dict) -> None:
        """A copy of the parameters of the model in training (from TrainingWorker)."""
        meta = {"class_names": None, "input_shape": list(snapshot["input_shape"]),
                "preprocessing": {"normalizer": snapshot["normalizer"],
                                  "kind": snapshot.get("kind") or "digits"}}
        ds = self.session.dataset
        meta["class_names"] = list(ds.class_names) if ds is not None else [
            str(i) for i in range(snapshot["num_classes"])]
        meta["ascii_names"] = list(getattr(ds, "ascii_names", []) or meta["class_names"])
        current = self._snapshot
        try:
            if current is not None and current.model.spec == snapshot["spec"]:
                current.model.load_state_dict(snapshot["state"])
                current.meta.update(meta)
                current._normalizer = None
            else:
                model = engine.build_model(snapshot["spec"], input_shape=snapshot["input_shape"],
                                           num_classes=snapshot["num_classes"])
                model.load_state_dict(snapshot["state"])
                self._snapshot = TrainedModel(model, meta)
        except ValueError as exc:
            self.model_label.setText(f"Cannot use the training snapshot: {exc}")
            return
        self._snapshot_info = (f"the model being trained (epoch {snapshot.get('epoch', 0) + 1}, "
                               f"batch {snapshot.get('batch', 0)})")
        self._configure_for_model()
        self._repredict_source()

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
        self.canvas.setEnabled(digits)
        self.pen_slider.setEnabled(digits)
        self.clear_button.setEnabled(digits)
        self.undo_button.setEnabled(digits)
        self.canvas_note.setText(
            DRAW_HINT if digits else "This model classifies "
            f"{'photos' if kind == 'colour' else 'grey images'}: load or drop an image file.")
        self.input_caption.setText(f"{h}×{w}×{c} input — {PREPROCESSING_TEXT.get(kind, kind)}")
        self.bars.set_placeholder("Draw something" if digits else "Load or drop an image")
        source = self._snapshot_info if self._snapshot is not None else (
            self.session.model_path.name if self.session.model_path else "unsaved model")
        self.model_label.setText(f"Using {source}: {arch_name(trained)}, "
                                 f"{trained.model.num_params():,} parameters")

    # --- input -------------------------------------------------------------------------------
    def _on_pen_width(self, width: int) -> None:
        self.canvas.set_pen_width(width)
        self.pen_value.setText(f"{width} px")

    def _on_top_k(self, k: int) -> None:
        self.bars.set_top_k(k)
        self._show_probabilities()

    def _on_canvas_changed(self) -> None:
        self._source = None if self.canvas.is_empty() else self.canvas.to_array()
        self._source_name = "canvas"
        if not self._timer.isActive():
            self._timer.start()

    def load_image_dialog(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Load an image", str(Path.home()),
                                              IMAGE_FILTER)
        if path:
            self.load_image(path)

    def load_image(self, path: str | Path) -> bool:
        try:
            image = read_image(path)
        except (ValueError, OSError) as exc:
            show_error(self, "Cannot read image", str(exc))
            return False
        self._source = image
        self._source_name = Path(path).name
        self.predict_now()
        return True

    def dragEnterEvent(self, event: QDragEnterEvent) -> None:
        if event.mimeData().hasUrls() and any(u.isLocalFile() for u in event.mimeData().urls()):
            event.acceptProposedAction()

    def dropEvent(self, event: QDropEvent) -> None:
        files = [u.toLocalFile() for u in event.mimeData().urls() if u.isLocalFile()]
        if files:
            event.acceptProposedAction()
            self.load_image(files[0])

    # --- prediction --------------------------------------------------------------------------
    def _repredict_source(self) -> None:
        if self._source is not None:
            self.predict_now()

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
