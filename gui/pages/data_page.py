"""Data & model page: pick or import a dataset, look at samples, choose and edit the network,
set the training hyperparameters."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import numpy as np
from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QComboBox,
    QFileDialog,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QProgressBar,
    QPushButton,
    QSplitter,
    QVBoxLayout,
    QWidget,
)

import engine
from engine import data
from engine.training.config import TrainingConfig, recommended_config
from gui.layer_shapes import infer_layers
from gui.messages import show_error
from gui.qt_compat import emit
from gui.session import Session
from gui.settings import Settings
from gui.tasks import TaskRunner
from gui.text import dataset_labels
from gui.widgets.architecture_editor import ArchitectureEditor, LayerInfo
from gui.widgets.hyperparameter_form import HyperparameterForm
from gui.widgets.image_gallery import ImageGallery

DATASETS = (("mnist", "MNIST — handwritten digits"),
            ("fashion-mnist", "Fashion-MNIST — clothing"),
            ("cifar10", "CIFAR-10 — small colour photos"),
            ("numtadb", "NumtaDB — Bengali handwritten digits"))
SAMPLES_PER_CLASS = 6
CUSTOM = "(custom)"


def sample_indices(y: np.ndarray, num_classes: int, per_class: int) -> np.ndarray:
    """The first ``per_class`` examples of every class, class after class."""
    picks = [np.flatnonzero(y == c)[:per_class] for c in range(num_classes)]
    return np.concatenate(picks).astype(np.int64) if picks else np.zeros(0, dtype=np.int64)


class DataPage(QWidget):
    start_training_requested = Signal()
    dataset_loading = Signal(bool)

    def __init__(self, session: Session, settings: Settings, tasks: TaskRunner,
                 parent: QWidget | None = None):
        super().__init__(parent)
        self.session = session
        self.settings = settings
        self.tasks = tasks
        self._loading = False
        self._preset_spec: list[dict] | None = None
        self._statuses: dict[str, Any] = {}

        # --- dataset column ----------------------------------------------------------------
        self.dataset_combo = QComboBox()
        for name, title in DATASETS:
            self.dataset_combo.addItem(title, name)
        self.load_button = QPushButton("Load")
        self.status_label = QLabel()
        self.status_label.setWordWrap(True)
        self.status_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.download_button = QPushButton("Download")
        self.import_file_button = QPushButton("Import file…")
        self.import_folder_button = QPushButton("Import folder…")
        self.data_dir_button = QPushButton("Data folder…")
        self.import_file_button.setToolTip("A dataset archive: .zip of class folders, "
                                           "cifar-10-python.tar.gz, IDX .gz files …")
        self.import_folder_button.setToolTip("A folder with one sub-folder of images per class, "
                                             "or a dataset in its published layout")
        self.progress = QProgressBar()
        self.progress.setRange(0, 100)
        self.progress.setVisible(False)
        self.progress_label = QLabel()
        self.summary_label = QLabel("No dataset loaded")
        self.summary_label.setWordWrap(True)
        self.gallery = ImageGallery(icon_size=52)

        pick_row = QHBoxLayout()
        pick_row.addWidget(self.dataset_combo, 1)
        pick_row.addWidget(self.load_button)
        button_row = QHBoxLayout()
        for b in (self.download_button, self.import_file_button, self.import_folder_button,
                  self.data_dir_button):
            button_row.addWidget(b)
        button_row.addStretch(1)
        dataset_box = QGroupBox("Dataset")
        dl = QVBoxLayout(dataset_box)
        dl.addLayout(pick_row)
        dl.addWidget(self.status_label)
        dl.addLayout(button_row)
        dl.addWidget(self.progress)
        dl.addWidget(self.progress_label)
        dl.addWidget(self.summary_label)
        dl.addWidget(QLabel(f"Samples: the first {SAMPLES_PER_CLASS} of each class "
                            "(training split)"))
        dl.addWidget(self.gallery, 1)

        # --- model column ------------------------------------------------------------------
        self.preset_combo = QComboBox()
        for name in engine.list_presets():
            self.preset_combo.addItem(name, name)
        self.preset_combo.addItem(CUSTOM, None)
        self.recommended_button = QPushButton("Recommended")
        self.recommended_button.setToolTip("The preset and settings recommended for this dataset")
        self.preset_note = QLabel()
        self.preset_note.setWordWrap(True)
        self.preset_note.setStyleSheet("color: #505050;")
        self.editor = ArchitectureEditor()
        self.editor.set_inferer(self._infer)
        self.hyper = HyperparameterForm(max_threads=max(1, engine.get_num_threads() * 2))
        self.train_button = QPushButton("Train this network →")
        self.train_button.setDefault(True)

        preset_row = QHBoxLayout()
        preset_row.addWidget(QLabel("Architecture"))
        preset_row.addWidget(self.preset_combo, 1)
        preset_row.addWidget(self.recommended_button)
        model_box = QGroupBox("Network")
        ml = QVBoxLayout(model_box)
        ml.addLayout(preset_row)
        ml.addWidget(self.preset_note)
        ml.addWidget(self.editor, 1)
        hyper_box = QGroupBox("Training settings")
        hl = QVBoxLayout(hyper_box)
        hl.addWidget(self.hyper)
        right = QWidget()
        rl = QVBoxLayout(right)
        rl.setContentsMargins(0, 0, 0, 0)
        rl.addWidget(model_box, 1)
        rl.addWidget(hyper_box)
        train_row = QHBoxLayout()
        train_row.addStretch(1)
        train_row.addWidget(self.train_button)
        rl.addLayout(train_row)

        splitter = QSplitter()
        splitter.addWidget(dataset_box)
        splitter.addWidget(right)
        splitter.setStretchFactor(0, 5)
        splitter.setStretchFactor(1, 6)
        splitter.setChildrenCollapsible(False)
        layout = QVBoxLayout(self)
        layout.addWidget(splitter)

        self.dataset_combo.currentIndexChanged.connect(self._on_dataset_picked)
        self.load_button.clicked.connect(lambda: self.load_dataset(self.current_dataset_name()))
        self.download_button.clicked.connect(self._download)
        self.import_file_button.clicked.connect(self._import_file)
        self.import_folder_button.clicked.connect(self._import_folder)
        self.data_dir_button.clicked.connect(self._choose_data_dir)
        self.preset_combo.currentIndexChanged.connect(self._on_preset_picked)
        self.recommended_button.clicked.connect(self.apply_recommended)
        self.editor.spec_changed.connect(self._on_spec_edited)
        self.train_button.clicked.connect(self.start_training_requested)
        session.dataset_changed.connect(self._on_dataset_changed)

        index = self.dataset_combo.findData(settings.last_dataset())
        self.dataset_combo.setCurrentIndex(max(0, index))
        self.refresh_statuses()
        self.apply_recommended()

    # --- dataset -----------------------------------------------------------------------------
    def current_dataset_name(self) -> str:
        return str(self.dataset_combo.currentData())

    def refresh_statuses(self) -> None:
        try:
            statuses = data.list_datasets(self.settings.data_dir())
        except (ValueError, OSError) as exc:
            self._statuses = {}
            self.status_label.setText(f"Cannot look for datasets: {exc}")
            return
        self._statuses = {s.name: s for s in statuses}
        self._show_status()

    def dataset_found(self, name: str) -> bool:
        status = self._statuses.get(name)
        return bool(status is not None and status.found)

    def _show_status(self) -> None:
        name = self.current_dataset_name()
        status = self._statuses.get(name)
        if status is None:
            self.status_label.setText("")
            self.download_button.setEnabled(False)
            return
        found = status.found
        if found:
            size = f", {status.size_text}" if status.size_text else ""
            self.status_label.setText(f"✔ Found ({status.format}{size}): {status.path}")
        else:
            self.status_label.setText(f"✘ Not found. {status.what_to_do}")
        self.download_button.setEnabled(not found and status.downloadable)

    def _on_dataset_picked(self) -> None:
        self._show_status()
        self.settings.set_last_dataset(self.current_dataset_name())

    def load_dataset(self, name_or_path: str, download: bool = False) -> None:
        """Reads the dataset on a worker thread; the session gets it when it is ready."""
        if self._loading:
            return
        data_dir = self.settings.data_dir()

        def work(progress):
            def report(done, total=None, message=""):
                fraction = done if total in (None, 0) else done / total
                progress(float(fraction), str(message))

            if download and hasattr(data, "download"):
                data.download(name_or_path, data_dir=data_dir, progress=report)
            return data.load(name_or_path, data_dir=data_dir, progress=report)

        self._set_loading(True, f"Loading {name_or_path}…")
        self.tasks.start(work, self._on_loaded, self._on_load_failed, self._on_progress)

    def _on_progress(self, fraction: float, message: str) -> None:
        if fraction < 0:  # size unknown: a busy bar
            self.progress.setRange(0, 0)
        else:
            self.progress.setRange(0, 100)
            self.progress.setValue(round(100 * min(1.0, fraction)))
        if message:
            self.progress_label.setText(message)

    def _on_loaded(self, dataset: Any) -> None:
        self._set_loading(False)
        self.session.set_dataset(dataset)
        self.refresh_statuses()

    def _on_load_failed(self, message: str) -> None:
        self._set_loading(False)
        self.refresh_statuses()
        show_error(self, "Cannot load the dataset", message)

    def _set_loading(self, loading: bool, message: str = "") -> None:
        self._loading = loading
        self.progress.setVisible(loading)
        self.progress.setRange(0, 0)  # busy until the first progress report
        self.progress_label.setText(message)
        self.progress_label.setVisible(loading)
        for w in (self.load_button, self.download_button, self.import_file_button,
                  self.import_folder_button, self.dataset_combo):
            w.setEnabled(not loading)
        if not loading:
            self._show_status()
        emit(self.dataset_loading, loading)

    def is_loading(self) -> bool:
        return self._loading

    def _download(self) -> None:
        self.load_dataset(self.current_dataset_name(), download=True)

    def _import_file(self) -> None:
        path, _ = QFileDialog.getOpenFileName(
            self, "Import a dataset file", str(Path.home()),
            "Datasets (*.zip *.tar.gz *.gz *.npz *.npy);;All files (*)")
        if path:
            self.load_dataset(path)

    def _import_folder(self) -> None:
        path = QFileDialog.getExistingDirectory(self, "Import a dataset folder", str(Path.home()))
        if path:
            self.load_dataset(path)

    def _choose_data_dir(self) -> None:
        start = self.settings.data_dir() or str(Path.home())
        path = QFileDialog.getExistingDirectory(self, "Folder with your datasets", start)
        if path:
            self.settings.set_data_dir(path)
            self.refresh_statuses()

    def _on_dataset_changed(self, dataset: Any) -> None:
        if dataset is None:
            self.summary_label.setText("No dataset loaded")
            self.gallery.clear()
            return
        index = self.dataset_combo.findData(dataset.name)
        if index >= 0:
            self.dataset_combo.blockSignals(True)
            self.dataset_combo.setCurrentIndex(index)
            self.dataset_combo.blockSignals(False)
            self._show_status()
        h, w, c = dataset.input_shape
        self.summary_label.setText(
            f"<b>{dataset.name}</b>: {len(dataset.y_train):,} training and "
            f"{len(dataset.y_test):,} test images, {h}×{w}×{c}, {dataset.num_classes} classes"
            f"<br><span style='color:gray'>{dataset.source}</span>")
        labels = dataset_labels(dataset)
        idx = sample_indices(dataset.y_train, dataset.num_classes, SAMPLES_PER_CLASS)
        self.gallery.set_icon_size(52 if h <= 32 else 64)
        self.gallery.set_images(dataset.x_train[idx], [labels[dataset.y_train[i]] for i in idx],
                                [f"training image {i}: {labels[dataset.y_train[i]]}" for i in idx])
        self.apply_recommended()

    # --- architecture ------------------------------------------------------------------------
    def _shape_context(self) -> tuple[tuple[int, ...], int]:
        ds = self.session.dataset
        if ds is not None:
            return tuple(ds.input_shape), ds.num_classes
        if self.session.trained is not None:
            return tuple(self.session.trained.input_shape), self.session.trained.num_classes
        name = self.current_dataset_name()
        return data.dataset_input_shape(name) or data.KIND_INPUT_SHAPES["digits"], 10

    def _infer(self, spec: list[dict]) -> tuple[list[LayerInfo], str | None]:
        shape, classes = self._shape_context()
        return infer_layers(spec, shape, classes)

    def _on_preset_picked(self) -> None:
        name = self.preset_combo.currentData()
        if name is None:
            return
        try:
            preset = engine.load_preset(name)
        except (ValueError, OSError) as exc:
            show_error(self, "Cannot read preset", str(exc))
            return
        self._preset_spec = copy.deepcopy(preset["layers"])
        self.preset_note.setText(preset.get("note", ""))
        self.editor.set_spec(preset["layers"])

    def _on_spec_edited(self, spec: list[dict]) -> None:
        if self._preset_spec is not None and spec != self._preset_spec:
            self._preset_spec = None
            self.preset_combo.blockSignals(True)
            self.preset_combo.setCurrentIndex(self.preset_combo.findData(None))
            self.preset_combo.blockSignals(False)
            self.preset_note.setText("Edited by hand.")

    def apply_recommended(self) -> None:
        ds = self.session.dataset
        name = ds.name if ds is not None else self.current_dataset_name()
        try:
            config = recommended_config(name, getattr(ds, "kind", None))
        except (ValueError, OSError):
            return
        self.set_config(config)

    def set_config(self, config: TrainingConfig) -> None:
        if isinstance(config.arch, str):
            index = self.preset_combo.findData(config.arch)
            if index >= 0:
                if index == self.preset_combo.currentIndex():
                    self._on_preset_picked()
                self.preset_combo.setCurrentIndex(index)
        else:
            self.editor.set_spec(list(config.arch))
        self.hyper.set_values(config.to_dict())

    def training_config(self) -> TrainingConfig:
        """The run the user set up; ValueError when the network or a setting is invalid."""
        if self.editor.error() is not None:
            raise ValueError(f"the network is not valid: {self.editor.error()}")
        ds = self.session.dataset
        name = ds.name if ds is not None else self.current_dataset_name()
        arch: Any = self.preset_combo.currentData() or self.editor.spec()
        return TrainingConfig(dataset=name, arch=arch, **self.hyper.values())
