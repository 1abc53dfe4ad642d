"""Data & model page: the dataset column (see dataset_panel), the network (preset or edited by
hand) and the training settings. It tells the application model which run is set up, and shows
the architecture and settings of the model that is opened.

A network edited by hand is never lost: every edit is kept in the settings as the "(custom)"
entry, which brings it back after a preset, a model or a restart replaced it."""

from __future__ import annotations

import copy
from typing import Any

from PySide6.QtWidgets import (
    QComboBox,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QSplitter,
    QVBoxLayout,
    QWidget,
)

import engine
from engine import data
from engine.arch_file import ArchFile
from engine.training.config import TrainingConfig, recommended_config
from gui.layer_shapes import infer_layers
from gui.messages import show_error
from gui.pages.dataset_panel import DATASETS, DatasetPanel
from gui.settings import Settings
from gui.state import AppModel, CurrentModel, ModelOrigin, TrainingSetup
from gui.state.model_facts import arch_name, trained_on, training_settings
from gui.tasks import TaskRunner
from gui.widgets.architecture_editor import ArchitectureEditor, LayerInfo
from gui.widgets.hyperparameter_form import HyperparameterForm

CUSTOM = "(custom)"


class DataPage(QWidget):
    def __init__(self, app_model: AppModel, settings: Settings, tasks: TaskRunner,
                 parent: QWidget | None = None):
        super().__init__(parent)
        self.app_model = app_model
        self.settings = settings
        # The network the page itself last put in the editor (preset, model, kept draft, file):
        # an editor spec that differs from it is an edit by hand.
        self._shown_spec: list[dict] | None = None

        self.datasets = DatasetPanel(app_model, settings, tasks)
        # The dataset widgets, under the names the rest of the app and the tests know.
        self.dataset_combo = self.datasets.dataset_combo
        self.status_label = self.datasets.status_label
        self.summary_label = self.datasets.summary_label
        self.gallery = self.datasets.gallery

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
        splitter.addWidget(self.datasets)
        splitter.addWidget(right)
        splitter.setStretchFactor(0, 5)
        splitter.setStretchFactor(1, 6)
        splitter.setChildrenCollapsible(False)
        layout = QVBoxLayout(self)
        layout.addWidget(splitter)

        self.preset_combo.currentIndexChanged.connect(self._on_preset_picked)
        self.recommended_button.clicked.connect(self.apply_recommended)
        self.editor.spec_changed.connect(self._on_spec_edited)
        self.hyper.changed.connect(self.publish_setup)
        self.train_button.clicked.connect(lambda: self.app_model.request_training())
        app_model.dataset_changed.connect(self._on_dataset_changed)
        app_model.model_changed.connect(self._on_model_changed)
        self.hyper.set_dataset_kind(getattr(app_model.dataset, "kind", None))
        self.apply_recommended()

    # --- dataset -----------------------------------------------------------------------------
    def current_dataset_name(self) -> str:
        return self.datasets.current_dataset_name()

    def dataset_found(self, name: str) -> bool:
        return self.datasets.dataset_found(name)

    def load_dataset(self, name_or_path: str, download: bool = False) -> None:
        self.datasets.load_dataset(name_or_path, download)

    def is_loading(self) -> bool:
        return self.datasets.is_loading()

    def load_initial_dataset(self) -> None:
        """At start: the dataset the opened model was trained on, else the last one used,
        loaded when it is on disk. The model's dataset is shown even when it is missing (not
        an error: its status line says how to get it), never another one beside the model."""
        trained = self.app_model.trained
        name = trained_on(trained) if trained is not None else None
        if name in dict(DATASETS):
            self.datasets.select_dataset(name)
        name = self.current_dataset_name()
        if self.dataset_found(name):
            self.load_dataset(name)

    def _on_dataset_changed(self, dataset: Any) -> None:
        self.hyper.set_dataset_kind(getattr(dataset, "kind", None))
        if dataset is not None:
            model = self.app_model.model
            if model is None or model.origin is not ModelOrigin.FILE or \
                    self.app_model.mismatch() is not None:
                self.apply_recommended()
            else:
                self.editor.set_spec(self.editor.spec())  # shapes for the new input
        self.publish_setup()

    def _on_model_changed(self, model: CurrentModel | None) -> None:
        """An opened model shows its own architecture and the settings it was trained with."""
        if model is None or model.origin is not ModelOrigin.FILE:
            return
        trained = model.trained
        settings = training_settings(trained)
        arch = arch_name(trained)
        try:
            config = TrainingConfig.from_dict(settings) if settings else None
        except (ValueError, TypeError, KeyError):
            config = None
        if config is None or not isinstance(config.arch, str | list):
            self.show_architecture(arch, trained.model.spec)
            return
        self.set_config(config)
        if isinstance(config.arch, list) or self.preset_combo.findData(config.arch) < 0:
            self.show_architecture(arch, trained.model.spec)

    def show_architecture(self, name: str, spec: list[dict]) -> None:
        """Select preset ``name`` if it is one, else show ``spec`` as a custom network."""
        index = self.preset_combo.findData(name)
        if index >= 0:
            if index == self.preset_combo.currentIndex():
                self._on_preset_picked()
            self.preset_combo.setCurrentIndex(index)
            return
        self._show_custom(spec, f"The network of the opened model ({name}).")

    # --- architecture ------------------------------------------------------------------------
    def _shape_context(self) -> tuple[tuple[int, ...], int]:
        ds = self.app_model.dataset
        if ds is not None:
            return tuple(ds.input_shape), ds.num_classes
        trained = self.app_model.trained
        if trained is not None:
            return tuple(trained.input_shape), trained.num_classes
        name = self.current_dataset_name()
        return data.dataset_input_shape(name) or data.KIND_INPUT_SHAPES["digits"], 10

    def _infer(self, spec: list[dict]) -> tuple[list[LayerInfo], str | None]:
        shape, classes = self._shape_context()
        return infer_layers(spec, shape, classes)

    def _show(self, spec: list[dict]) -> None:
        """Put ``spec`` in the editor as the page's own (not an edit); the editor's change
        signal then publishes the setup."""
        self._shown_spec = copy.deepcopy(list(spec))
        self.editor.set_spec(spec)

    def _select_custom_entry(self) -> None:
        """Put the combo on "(custom)" without picking it (which would show the kept draft)."""
        self.preset_combo.blockSignals(True)
        self.preset_combo.setCurrentIndex(self.preset_combo.findData(None))
        self.preset_combo.blockSignals(False)

    def _show_custom(self, spec: list[dict], note: str) -> None:
        """Show ``spec`` under "(custom)"."""
        self._select_custom_entry()
        self.preset_note.setText(note)
        self._show(spec)

    def _on_preset_picked(self) -> None:
        name = self.preset_combo.currentData()
        if name is None:  # "(custom)": the network last edited by hand, when there is one
            draft = self.settings.custom_network()
            if draft is not None:
                self._show_custom(draft, "Your network edited by hand, as you last left it.")
            return
        try:
            preset = engine.load_preset(name)
        except (ValueError, OSError) as exc:
            show_error(self, "Cannot read preset", str(exc))
            return
        self.preset_note.setText(preset.get("note", ""))
        self._show(preset["layers"])

    def _on_spec_edited(self, spec: list[dict]) -> None:
        if spec != self._shown_spec:  # edited by hand: kept, so a preset or restart loses nothing
            self._shown_spec = None
            self.settings.set_custom_network(spec)
            self._select_custom_entry()
            self.preset_note.setText(
                f"Edited by hand: kept under {CUSTOM}, also after a restart. File ▸ Save "
                "architecture as… writes it to a file.")
        self.publish_setup()

    def open_architecture(self, arch: ArchFile, source: str) -> None:
        """Show an architecture read from a file; it becomes the kept "(custom)" network."""
        self.settings.set_custom_network(arch.layers)
        note = f"From {source}" + (f": {arch.note}" if arch.note else ".")
        self._show_custom(arch.layers, note)

    def apply_recommended(self) -> None:
        ds = self.app_model.dataset
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
            self._show(list(config.arch))
        self.hyper.set_values(config.to_dict())
        self.publish_setup()

    def training_config(self) -> TrainingConfig:
        """The run the user set up; ValueError when the network or a setting is invalid."""
        if self.editor.error() is not None:
            raise ValueError(f"the network is not valid: {self.editor.error()}")
        problems = self.hyper.problems()
        if problems:
            raise ValueError(" ".join(problems))
        ds = self.app_model.dataset
        name = ds.name if ds is not None else self.current_dataset_name()
        arch: Any = self.preset_combo.currentData() or self.editor.spec()
        return TrainingConfig(dataset=name, arch=arch, **self.hyper.values())

    def publish_setup(self) -> None:
        """Tell the application model which run the Train page would start."""
        try:
            setup = TrainingSetup(self.training_config())
        except ValueError as exc:
            setup = TrainingSetup(None, str(exc))
        self.app_model.set_training_setup(setup)
