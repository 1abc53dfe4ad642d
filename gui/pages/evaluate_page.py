"""Evaluate page: confusion matrix with clickable cells, per-class accuracy, confident
mistakes, learned filters, feature maps of the current predict input, per-layer times.

Everything shown comes from the application model's ``results``, which exist only for the
current model on the current dataset: when either changes, the page is cleared and says so."""

from __future__ import annotations

import numpy as np
from PySide6.QtWidgets import (
    QCheckBox,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QProgressBar,
    QPushButton,
    QScrollArea,
    QSplitter,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from gui.evaluation import (
    Evaluation,
    evaluate,
)
from gui.messages import show_error
from gui.pages.layer_views import LayerViews
from gui.pages.mistake_maps import MistakeMaps
from gui.state import AppModel, EvaluationResult
from gui.state.model_facts import clone_trained
from gui.tasks import TaskRunner
from gui.text import model_labels
from gui.widgets.bar_list import Bar, BarList
from gui.widgets.confusion_matrix_view import ConfusionMatrixView
from gui.widgets.image_gallery import ImageGallery

CELL_LIMIT = 300


def _scrolled(widget: QWidget) -> QScrollArea:
    area = QScrollArea()
    area.setWidget(widget)
    area.setWidgetResizable(True)
    area.setFrameShape(QScrollArea.Shape.NoFrame)
    return area


class EvaluatePage(QWidget):
    def __init__(self, app_model: AppModel, tasks: TaskRunner, parent: QWidget | None = None):
        super().__init__(parent)
        self.app_model = app_model
        self.tasks = tasks
        self._busy = False
        self._labels: list[str] = []
        self.shown_cell_indices = np.zeros(0, dtype=np.int64)

        self.evaluate_button = QPushButton("Evaluate on the test set")
        self.progress = QProgressBar()
        self.progress.setVisible(False)
        self.summary_label = QLabel("Evaluate the current model to fill this page.")
        top = QHBoxLayout()
        top.addWidget(self.evaluate_button)
        top.addWidget(self.progress)
        top.addWidget(self.summary_label, 1)

        # confusion matrix + gallery of a cell
        self.confusion_view = ConfusionMatrixView()
        self.normalised_box = QCheckBox("Normalised by row (recall)")
        self.cell_title = QLabel("Click a cell to see its test images")
        self.cell_title.setWordWrap(True)
        self.cell_gallery = ImageGallery(icon_size=56)
        self.cell_predict_button = QPushButton("Open in Predict")
        self.cell_predict_button.setToolTip("Show the selected image on the Predict page, "
                                            "with its feature maps one click away")
        cm_box = QGroupBox("Confusion matrix (rows: true class, columns: predicted)")
        cl = QVBoxLayout(cm_box)
        cl.addWidget(self.confusion_view, 1)
        cl.addWidget(self.normalised_box)
        cell_box = QGroupBox("Images in the cell")
        gl = QVBoxLayout(cell_box)
        gl.addWidget(self.cell_title)
        gl.addWidget(self.cell_gallery, 1)
        gl.addWidget(self.cell_predict_button)
        cm_split = QSplitter()
        cm_split.addWidget(cm_box)
        cm_split.addWidget(cell_box)
        cm_split.setStretchFactor(0, 3)
        cm_split.setStretchFactor(1, 2)

        # per-class accuracy
        self.class_bars = BarList(max_value=1.0, row_height=26)
        self.class_bars.set_placeholder("Not evaluated yet")
        per_class = QWidget()
        pl = QVBoxLayout(per_class)
        pl.addWidget(QLabel("Accuracy per class (recall: the share of each class's test images "
                            "predicted right), with precision"))
        pl.addWidget(self.class_bars)
        pl.addStretch(1)

        # confident mistakes
        self.mistakes_gallery = ImageGallery(icon_size=64)
        self.mistake_predict_button = QPushButton("Open in Predict")
        self.mistake_predict_button.setToolTip(self.cell_predict_button.toolTip())
        self.mistake_indices = np.zeros(0, dtype=np.int64)
        mistakes = QWidget()
        ml = QVBoxLayout(mistakes)
        ml.addWidget(QLabel("The test images the model got wrong with the highest confidence "
                            "(true → predicted, confidence)"))
        ml.addWidget(self.mistakes_gallery, 1)
        ml.addWidget(self.mistake_predict_button)
        self.mistake_maps = MistakeMaps(app_model)
        ml.addWidget(self.mistake_maps, 1)
        self.mistakes_gallery.currentRowChanged.connect(lambda row: self.mistake_maps.
                                                        show_test_image(self.mistake_at(row)))

        # filters and feature maps
        self.layer_views = LayerViews(app_model)
        views = self.layer_views
        self.filter_layer, self.filter_view = views.filter_layer, views.filter_view
        self.map_layer, self.map_view = views.map_layer, views.map_view
        self.map_caption = views.map_caption

        # layer times
        self.time_bars = BarList(max_value=1.0, row_height=24)
        self.time_bars.set_placeholder("Evaluate to measure")
        self.time_caption = QLabel()
        times = QWidget()
        tl = QVBoxLayout(times)
        tl.addWidget(self.time_caption)
        tl.addWidget(self.time_bars)
        tl.addStretch(1)

        self.tabs = QTabWidget()
        self.tabs.addTab(cm_split, "Confusion matrix")
        self.tabs.addTab(_scrolled(per_class), "Per-class accuracy")
        self.tabs.addTab(mistakes, "Confident mistakes")
        self.tabs.addTab(self.layer_views.filters, "Learned filters")
        self.tabs.addTab(self.layer_views.maps, "Feature maps")
        self.tabs.addTab(_scrolled(times), "Layer times")
        layout = QVBoxLayout(self)
        layout.addLayout(top)
        layout.addWidget(self.tabs, 1)

        self.evaluate_button.clicked.connect(self.start_evaluation)
        self.normalised_box.toggled.connect(self.confusion_view.set_normalised)
        self.confusion_view.cell_clicked.connect(self.show_cell)
        self.cell_predict_button.clicked.connect(
            lambda: self._open_in_predict(self.cell_gallery, self.shown_cell_indices))
        self.mistake_predict_button.clicked.connect(
            lambda: self._open_in_predict(self.mistakes_gallery, self.mistake_indices))
        for gallery, indices in ((self.cell_gallery, lambda: self.shown_cell_indices),
                                 (self.mistakes_gallery, lambda: self.mistake_indices)):
            gallery.itemDoubleClicked.connect(
                lambda _item, g=gallery, i=indices: self._open_in_predict(g, i()))
        app_model.model_changed.connect(lambda _m: self._update_button())
        app_model.dataset_changed.connect(lambda _d: self._update_button())
        app_model.mismatch_changed.connect(lambda _r: self._update_button())
        app_model.results_changed.connect(self._show_results)
        self._show_results(app_model.results)

    # --- state -------------------------------------------------------------------------------

    def _update_button(self) -> None:
        app = self.app_model
        ok = app.trained is not None and app.dataset is not None and not self._busy
        reason = app.mismatch()
        self.evaluate_button.setEnabled(ok and reason is None)
        if self._busy:
            return
        if reason:
            self.summary_label.setText(f"Cannot evaluate: {reason}")
        elif app.results is None:
            self.summary_label.setText(self._not_evaluated_text())

    def _not_evaluated_text(self) -> str:
        app = self.app_model
        if app.trained is None or app.dataset is None:
            return "Open or train a model and load a dataset, then Evaluate."
        return (f"Not evaluated yet: click <b>Evaluate</b> to test {app.model.name} on the "
                f"{len(app.dataset.y_test):,} test images of {app.dataset.name}.")

    # --- evaluation --------------------------------------------------------------------------
    def start_evaluation(self) -> bool:
        trained, ds = self.app_model.trained, self.app_model.dataset
        if trained is None or ds is None:
            show_error(self, "Nothing to evaluate", "Load a dataset and open or train a model.")
            return False
        reason = self.app_model.mismatch()
        if reason:
            show_error(self, "Model and dataset do not match", reason)
            return False
        try:
            copy = clone_trained(trained)
        except ValueError as exc:
            show_error(self, "Cannot evaluate", str(exc))
            return False
        x, y = ds.x_test, ds.y_test
        self._busy = True
        self.progress.setRange(0, 100)
        self.progress.setValue(0)
        self.progress.setVisible(True)
        self.summary_label.setText(f"Evaluating on {len(y):,} test images of {ds.name}…")
        self._update_button()
        self._evaluating = (trained, ds)
        # Bound methods of this widget, so Qt queues the results to the GUI thread.
        self.tasks.start(lambda progress: evaluate(copy, x, y, progress), self._on_evaluated,
                         self._on_failed, self._on_progress)
        return True

    def is_busy(self) -> bool:
        return self._busy

    def _on_progress(self, fraction: float, message: str) -> None:
        self.progress.setValue(int(100 * fraction))

    def _on_failed(self, message: str) -> None:
        self._busy = False
        self.progress.setVisible(False)
        self._update_button()
        show_error(self, "Evaluation failed", message)

    @property
    def evaluation(self) -> Evaluation | None:
        results = self.app_model.results
        return None if results is None else results.evaluation

    def _on_evaluated(self, evaluation: Evaluation) -> None:
        self._busy = False
        self.progress.setVisible(False)
        trained, dataset = self._evaluating
        if not self.app_model.set_results(EvaluationResult(evaluation, trained, dataset)):
            # The model or the dataset changed while this ran: its numbers are not shown.
            self._update_button()

    def _clear(self) -> None:
        self.confusion_view.clear()
        self.class_bars.set_bars([], max_value=1.0)
        self.mistakes_gallery.clear()
        self.mistake_indices = np.zeros(0, dtype=np.int64)
        self.cell_gallery.clear()
        self.shown_cell_indices = np.zeros(0, dtype=np.int64)
        self.cell_title.setText("Click a cell to see its test images")
        self.time_bars.set_bars([], max_value=1.0)
        self.time_caption.setText("")

    def _show_results(self, result: EvaluationResult | None) -> None:
        if result is None:
            self._clear()
            self._update_button()
            return
        evaluation = result.evaluation
        self._labels = labels = model_labels(result.trained)
        n = len(evaluation.y)
        wrong = int((evaluation.pred != evaluation.y).sum())
        model = self.app_model.model
        name = model.name if model is not None else "the model"
        self.summary_label.setText(f"Test accuracy <b>{100 * evaluation.accuracy:.2f} %</b> "
                                   f"on {n:,} images of {result.dataset.name} ({wrong:,} "
                                   f"mistakes) — {name}")
        self.confusion_view.set_matrix(evaluation.cm, labels)
        self.class_bars.set_bars([
            Bar(labels[i], row["recall"],
                f"{100 * row['recall']:5.1f} %   precision {100 * row['precision']:5.1f} %   "
                f"({row['support']:,} images)")
            for i, row in enumerate(evaluation.per_class)], max_value=1.0)
        idx = evaluation.confident_mistakes()
        self.mistake_indices = idx
        ds = result.dataset
        self.mistakes_gallery.set_images(
            ds.x_test[idx],
            [f"{labels[evaluation.y[i]]} → {labels[evaluation.pred[i]]}\n"
             f"{100 * evaluation.probs[i, evaluation.pred[i]]:.0f} %" for i in idx],
            [f"test image {i}: true {labels[evaluation.y[i]]}, predicted "
             f"{labels[evaluation.pred[i]]}" for i in idx])
        self._show_times(evaluation)
        self.cell_gallery.clear()
        self.cell_title.setText("Click a cell to see its test images")
        self._update_button()

    def show_cell(self, true_class: int, predicted: int) -> None:
        results = self.app_model.results
        if results is None:
            self.cell_title.setText("Evaluate first")
            return
        ev, ds, labels = results.evaluation, results.dataset, self._labels
        self.confusion_view.select(true_class, predicted)
        idx = ev.cell_indices(true_class, predicted)
        shown = idx[:CELL_LIMIT]
        more = f", the {CELL_LIMIT} most confident shown" if len(idx) > CELL_LIMIT else ""
        self.cell_title.setText(f"True <b>{labels[true_class]}</b>, predicted "
                                f"<b>{labels[predicted]}</b>: {len(idx):,} images{more}")
        self.cell_gallery.set_images(
            ds.x_test[shown],
            [f"{100 * ev.probs[i, predicted]:.1f} %" for i in shown],
            [f"test image {i}: " + ", ".join(
                f"{labels[k]} {100 * ev.probs[i, k]:.1f} %"
                for k in np.argsort(-ev.probs[i])[:3]) for i in shown])
        self.shown_cell_indices = shown

    def mistake_at(self, row: int) -> int | None:
        """The test image index of row ``row`` of the confident mistakes, or None."""
        return int(self.mistake_indices[row]) if 0 <= row < len(self.mistake_indices) else None

    def _open_in_predict(self, gallery: ImageGallery, indices: np.ndarray) -> bool:
        """Send the selected (else the first) test image of ``gallery`` to the Predict page."""
        results = self.app_model.results
        if results is None or gallery.count() == 0:
            return False
        row = max(0, gallery.currentRow())
        i = int(indices[row])
        label = self._labels[int(results.evaluation.y[i])]
        self.app_model.request_prediction(results.dataset.x_test[i],
                                          f"test image {i}, a {label}")
        return True

    def _show_times(self, evaluation: Evaluation) -> None:
        times = evaluation.layer_times
        if not times:
            return
        total = max(sum(f + b for _, f, b in times), 1e-12)
        self.time_caption.setText(
            f"One training step on a batch of {evaluation.timing_batch} images: "
            f"{1000 * total:.1f} ms in all (forward + backward per layer)")
        self.time_bars.set_bars([
            Bar(name, (f + b) / total,
                f"{1000 * f:7.2f} ms fwd  {1000 * b:7.2f} ms bwd  {100 * (f + b) / total:4.1f} %")
            for name, f, b in times], max_value=max((f + b) / total for _, f, b in times))
