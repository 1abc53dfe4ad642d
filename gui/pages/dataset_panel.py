"""The dataset column of the Data & model page: pick, download or import a dataset, load it on a
worker thread (with progress, cancellable), look at samples."""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QComboBox,
    QFileDialog,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QMessageBox,
    QProgressBar,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from engine import data
from engine.data.errors import DatasetNotFound
from engine.data.paths import DATA_ENV, default_data_dir
from gui.file_dialogs import documents_dir
from gui.messages import show_error, show_info
from gui.settings import Settings
from gui.state import AppModel
from gui.tasks import TaskRunner
from gui.text import dataset_labels
from gui.widgets.image_gallery import ImageGallery

DATASETS = (("mnist", "MNIST — handwritten digits"),
            ("fashion-mnist", "Fashion-MNIST — clothing"),
            ("cifar10", "CIFAR-10 — small colour photos"),
            ("numtadb", "NumtaDB — Bengali handwritten digits"))
SAMPLES_PER_CLASS = 6


class LoadCancelledError(Exception):
    """Raised from the progress callback to end a load the user cancelled."""


@dataclass(frozen=True)
class DatasetMissing:
    """A named dataset that is not on disk: what to say, and the full search (Details)."""

    name: str
    details: str


def sample_indices(y: np.ndarray, num_classes: int, per_class: int) -> np.ndarray:
    """The first ``per_class`` examples of every class, class after class."""
    picks = [np.flatnonzero(y == c)[:per_class] for c in range(num_classes)]
    return np.concatenate(picks).astype(np.int64) if picks else np.zeros(0, dtype=np.int64)


def not_found_box(parent: QWidget | None, title: str, details: str) -> QMessageBox:
    """Two lines on what to do; the folders that were searched behind Details."""
    box = QMessageBox(QMessageBox.Icon.Warning, "Dataset not found",
                      f"{title} is not in your data folders.\nClick Download, or choose "
                      "Data folder… where you keep it.", QMessageBox.StandardButton.Ok, parent)
    box.setDetailedText(details)
    box.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
    box.setObjectName("errorMessage")
    box.open()
    return box


class DatasetPanel(QGroupBox):
    def __init__(self, app_model: AppModel, settings: Settings, tasks: TaskRunner,
                 parent: QWidget | None = None):
        super().__init__("Dataset", parent)
        self.app_model = app_model
        self.settings = settings
        self.tasks = tasks
        self._statuses: dict[str, Any] = {}
        self._imported: dict[str, str] = {}  # combo data (a path) -> dataset name
        self._cancel: threading.Event | None = None

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
        self.data_dir_button.setToolTip("Where your datasets are (CNN_STUDIO_DATA, when set, "
                                        "comes first)")
        self.progress = QProgressBar()
        self.progress.setRange(0, 100)
        self.progress.setFormat("%p %")
        self.cancel_button = QPushButton("Cancel")
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
        progress_row = QHBoxLayout()
        progress_row.addWidget(self.progress, 1)
        progress_row.addWidget(self.cancel_button)
        dl = QVBoxLayout(self)
        dl.addLayout(pick_row)
        dl.addWidget(self.status_label)
        dl.addLayout(button_row)
        dl.addLayout(progress_row)
        dl.addWidget(self.progress_label)
        dl.addWidget(self.summary_label)
        dl.addWidget(QLabel(f"Samples: the first {SAMPLES_PER_CLASS} of each class "
                            "(training split)"))
        dl.addWidget(self.gallery, 1)
        self._show_progress(False)

        self.dataset_combo.currentIndexChanged.connect(self._on_dataset_picked)
        self.load_button.clicked.connect(lambda: self.load_dataset(self.current_dataset_name()))
        self.download_button.clicked.connect(self._download)
        self.import_file_button.clicked.connect(self._import_file)
        self.import_folder_button.clicked.connect(self._import_folder)
        self.data_dir_button.clicked.connect(self._choose_data_dir)
        self.cancel_button.clicked.connect(self.cancel_loading)
        app_model.dataset_changed.connect(self._on_dataset_changed)
        app_model.dataset_requested.connect(self.load_dataset)

        index = self.dataset_combo.findData(settings.last_dataset())
        self.dataset_combo.setCurrentIndex(max(0, index))
        self.refresh_statuses()

    # --- what is on disk ---------------------------------------------------------------------
    def current_dataset_name(self) -> str:
        return str(self.dataset_combo.currentData())

    def select_dataset(self, name: str) -> bool:
        index = self.dataset_combo.findData(name)
        if index >= 0:
            self.dataset_combo.setCurrentIndex(index)
        return index >= 0

    def data_dir(self) -> Path:
        """The README's order: CNN_STUDIO_DATA > the Data folder setting > the per-user one."""
        return default_data_dir(self.settings.data_dir())

    def refresh_statuses(self) -> None:
        try:
            statuses = data.list_datasets(self.data_dir())
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
        key = self.current_dataset_name()
        if key in self._imported:
            ds = self.app_model.dataset
            count = (f": {len(ds.y_train) + len(ds.y_test):,} images"
                     if ds is not None and ds.name == self._imported[key] else "")
            self.status_label.setText(f"✔ Found (imported{count}): {key}")
            self.download_button.setEnabled(False)
            return
        status = self._statuses.get(key)
        if status is None:
            self.status_label.setText("")
            self.download_button.setEnabled(False)
            return
        if status.found:
            size = f", {status.size_text}" if status.size_text else ""
            self.status_label.setText(f"✔ Found ({status.format}{size}): {status.path}")
        else:
            self.status_label.setText(f"✘ Not found. {status.what_to_do}")
        self.download_button.setEnabled(not status.found and status.downloadable)

    def _on_dataset_picked(self) -> None:
        self._show_status()
        if self.current_dataset_name() not in self._imported:
            self.settings.set_last_dataset(self.current_dataset_name())

    # --- loading -----------------------------------------------------------------------------
    def load_dataset(self, name_or_path: str, download: bool = False) -> None:
        """Reads the dataset on a worker thread; the app model gets it when it is ready."""
        if self.app_model.dataset_loading:
            return
        data_dir = self.data_dir()
        cancel = self._cancel = threading.Event()

        def work(progress):
            def report(done, total=None, message=""):
                if cancel.is_set():
                    raise LoadCancelledError
                fraction = -1.0 if not total else done / total
                progress(float(fraction), str(message))

            try:
                if download:
                    data.download(name_or_path, data_dir=data_dir, progress=report)
                return data.load(name_or_path, data_dir=data_dir, progress=report)
            except DatasetNotFound as exc:
                return DatasetMissing(str(name_or_path), str(exc))
            except LoadCancelledError:
                return None

        self._set_loading(True, f"Loading {name_or_path}…")
        self._loading_what = str(name_or_path)
        self.tasks.start(work, self._on_loaded, self._on_load_failed, self._on_progress)

    def cancel_loading(self) -> None:
        if self._cancel is not None:
            self._cancel.set()
            self.progress_label.setText("Cancelling…")

    def _on_progress(self, fraction: float, message: str) -> None:
        if fraction < 0:  # size unknown: a busy bar
            self.progress.setRange(0, 0)
        else:
            self.progress.setRange(0, 100)
            self.progress.setValue(round(100 * min(1.0, fraction)))
        if message:
            self.progress_label.setText(message)

    def _on_loaded(self, value: Any) -> None:
        self._set_loading(False)
        if value is None:
            self.progress_label.setText("Loading cancelled")
            self.progress_label.setVisible(True)
            return
        if isinstance(value, DatasetMissing):
            self.refresh_statuses()
            status = self._statuses.get(value.name)
            not_found_box(self, status.title if status is not None else value.name,
                          value.details)
            return
        what = self._loading_what
        if what not in dict(DATASETS):  # a file or folder: give it a place in the combo
            self._add_imported(what, value)
        self.app_model.set_dataset(value)
        self.refresh_statuses()

    def _add_imported(self, path: str, dataset: Any) -> None:
        self._imported[path] = dataset.name
        if self.dataset_combo.findData(path) < 0:
            self.dataset_combo.addItem(f"{dataset.name} — imported from {Path(path).name}", path)

    def _on_load_failed(self, message: str) -> None:
        self._set_loading(False)
        self.refresh_statuses()
        show_error(self, "Cannot load the dataset", message)

    def _show_progress(self, visible: bool) -> None:
        self.progress.setVisible(visible)
        self.cancel_button.setVisible(visible)
        self.progress_label.setVisible(visible)

    def _set_loading(self, loading: bool, message: str = "") -> None:
        self._show_progress(loading)
        self.progress.setRange(0, 0)  # busy until the first progress report
        self.progress_label.setText(message)
        for w in (self.load_button, self.download_button, self.import_file_button,
                  self.import_folder_button, self.dataset_combo):
            w.setEnabled(not loading)
        if not loading:
            self._cancel = None
            self._show_status()
        self.app_model.set_dataset_loading(loading)

    def is_loading(self) -> bool:
        return self.app_model.dataset_loading

    def _download(self) -> None:
        self.load_dataset(self.current_dataset_name(), download=True)

    def _import_file(self) -> None:
        path, _ = QFileDialog.getOpenFileName(
            self, "Import a dataset file", str(documents_dir()),
            "Datasets (*.zip *.tar.gz *.gz *.npz *.npy);;All files (*)")
        if path:
            self.load_dataset(path)

    def _import_folder(self) -> None:
        path = QFileDialog.getExistingDirectory(self, "Import a dataset folder",
                                                str(documents_dir()))
        if path:
            self.load_dataset(path)

    def _choose_data_dir(self) -> None:
        start = self.settings.data_dir() or str(documents_dir())
        path = QFileDialog.getExistingDirectory(self, "Folder with your datasets", start)
        if path:
            self.settings.set_data_dir(path)
            self.refresh_statuses()
            if os.environ.get(DATA_ENV):
                show_info(self, "Data folder", f"{DATA_ENV} is set, so datasets are looked "
                          "for there first (see the README, Datasets).")

    # --- the loaded dataset ------------------------------------------------------------------
    def _on_dataset_changed(self, dataset: Any) -> None:
        if dataset is None:
            self.summary_label.setText("No dataset loaded")
            self.gallery.clear()
            return
        key = next((p for p, name in self._imported.items() if name == dataset.name),
                   dataset.name)
        index = self.dataset_combo.findData(key)
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
