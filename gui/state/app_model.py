"""The application model: everything the app has loaded now, and events when it changes.

napari's ``ViewerModel`` pattern: state and events in plain Python, the Qt pages on top. Each
page renders from an :class:`AppModel` and tells it what the user did; pages never hold each
other. The one thing only the Qt shell can do — ask whether unsaved work may be thrown away —
is a function it installs in :attr:`AppModel.confirm_replace`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from engine.trained_model import TrainedModel
from engine.training.config import TrainingConfig
from gui.state.current_model import CurrentModel, ModelOrigin
from gui.state.events import Event
from gui.state.model_facts import trained_nothing, trained_on
from gui.state.results import EvaluationResult, RunResult
from gui.state.snapshot import TrainingSnapshot

APP_NAME = "CNN Studio"


@dataclass(frozen=True)
class TrainingSetup:
    """The run the user has set up (Data & model page): a config, or why there is none."""

    config: TrainingConfig | None
    error: str | None = None


@dataclass(frozen=True)
class PredictionRequest:
    """An image (H, W) or (H, W, C) uint8 to show on the Predict page, and where it came from."""

    image: np.ndarray
    name: str


class AppModel:
    """What is loaded now. Attributes are read freely; changes go through the methods, which
    emit the matching event with the new value."""

    def __init__(self) -> None:
        self.dataset: Any = None  # engine.data.Dataset
        self.dataset_loading = False
        self.model: CurrentModel | None = None
        self.pending_run: RunResult | None = None  # a stopped run the user has not taken yet
        self.running = False
        self.snapshot: TrainingSnapshot | None = None
        self.snapshot_model: TrainedModel | None = None
        self.training_setup = TrainingSetup(None, "no network set up yet")
        self.predict_input: np.ndarray | None = None
        self._results: EvaluationResult | None = None
        # Asked (with what is about to happen) before an unsaved model is replaced; False
        # cancels. The Qt shell installs a Save / Discard / Cancel question.
        self.confirm_replace: Callable[[str], bool] = lambda _action: True

        self.dataset_changed = Event()  # dataset
        self.loading_changed = Event()  # bool
        self.model_changed = Event()  # CurrentModel | None
        self.saved_changed = Event()  # CurrentModel | None (saved flag or path changed)
        self.mismatch_changed = Event()  # str | None: why the model does not fit the dataset
        self.results_changed = Event()  # EvaluationResult | None
        self.pending_run_changed = Event()  # RunResult | None
        self.running_changed = Event()  # bool
        self.snapshot_changed = Event()  # TrainedModel | None (the model in training)
        self.setup_changed = Event()  # TrainingSetup
        self.predict_input_changed = Event()  # (H, W, C) uint8 | None
        self.prediction_requested = Event()  # PredictionRequest
        self.dataset_requested = Event()  # str: a dataset name or path to load
        self.training_requested = Event()  # None: the user asked to start a run

    # --- dataset -----------------------------------------------------------------------------
    def set_dataset(self, dataset: Any) -> None:
        self.dataset = dataset
        self.dataset_changed.emit(dataset)
        self._invalidate_results()
        self.mismatch_changed.emit(self.mismatch())

    def set_dataset_loading(self, loading: bool) -> None:
        self.dataset_loading = bool(loading)
        self.loading_changed.emit(self.dataset_loading)

    def request_dataset(self, name_or_path: str) -> None:
        """Ask whoever loads datasets (the Data page) to load this one."""
        self.dataset_requested.emit(name_or_path)

    # --- the current model -------------------------------------------------------------------
    @property
    def trained(self) -> TrainedModel | None:
        return None if self.model is None else self.model.trained

    @property
    def model_path(self) -> Path | None:
        return None if self.model is None else self.model.path

    @property
    def unsaved(self) -> bool:
        return self.model is not None and not self.model.saved

    def may_replace_model(self, action: str) -> bool:
        """True when nothing unsaved would be lost by ``action`` or the user agreed."""
        return not self.unsaved or bool(self.confirm_replace(action))

    def set_model(self, trained: TrainedModel | None, path: Path | None = None,
                  origin: ModelOrigin = ModelOrigin.FILE, saved: bool | None = None) -> None:
        """Make ``trained`` the current model (no question asked: see may_replace_model)."""
        if trained is None:
            self.model = None
        else:
            saved = (origin is ModelOrigin.FILE) if saved is None else saved
            self.model = CurrentModel(trained, None if path is None else Path(path), saved,
                                      origin)
        self.model_changed.emit(self.model)
        self.saved_changed.emit(self.model)
        self._invalidate_results()
        self.mismatch_changed.emit(self.mismatch())

    def rename_classes(self, names: list[str]) -> None:
        """Give the current model other class names (ValueError in one line when they do not
        fit); it is then unsaved, and results shown under the old names are cleared."""
        current = self.model
        if current is None:
            raise ValueError("there is no model to rename the classes of")
        renamed = current.trained.with_class_names(names)
        self.set_model(renamed, current.path, current.origin, saved=False)

    def mark_saved(self, path: Path) -> None:
        """The current model was written to ``path`` (a .pkl it can be reopened from)."""
        if self.model is None:
            return
        self.model = CurrentModel(self.model.trained, Path(path), True, self.model.origin)
        self.saved_changed.emit(self.model)

    def mismatch(self) -> str | None:
        """None when the current model can be used on the dataset, else why not."""
        trained, dataset = self.trained, self.dataset
        if trained is None or dataset is None:
            return None
        try:
            trained.check_dataset(dataset)
        except ValueError as exc:
            return str(exc)
        return None

    def title(self) -> str:
        """The window title: the model's name, ``*`` while it is unsaved."""
        if self.model is None:
            return APP_NAME
        star = "*" if not self.model.saved else ""
        return f"{self.model.name}{star} — {APP_NAME}"

    # --- training runs -----------------------------------------------------------------------
    def set_training_setup(self, setup: TrainingSetup) -> None:
        self.training_setup = setup
        self.setup_changed.emit(setup)

    def request_training(self) -> None:
        """Ask the shell to start a run (it asks about unsaved work first)."""
        self.training_requested.emit(None)

    def set_running(self, running: bool) -> None:
        self.running = bool(running)
        if not running:
            self.snapshot, self.snapshot_model = None, None
            self.snapshot_changed.emit(None)
        self.running_changed.emit(self.running)

    def set_snapshot(self, snapshot: TrainingSnapshot) -> None:
        """The parameters of the model in training; ValueError when they cannot be used."""
        ds = self.dataset
        names = list(ds.class_names) if ds is not None else []
        ascii_ = list(getattr(ds, "ascii_names", None) or names) if ds is not None else None
        self.snapshot_model = snapshot.to_trained(names, ascii_, reuse=self.snapshot_model)
        self.snapshot = snapshot
        self.snapshot_changed.emit(self.snapshot_model)

    @property
    def viewed_model(self) -> TrainedModel | None:
        """What Predict and the filter views use: the model in training while there is a
        snapshot of it, else the current model."""
        return self.snapshot_model if self.snapshot_model is not None else self.trained

    def run_finished(self, result: RunResult) -> None:
        """A completed run becomes the current model (unsaved) with its evaluation; a stopped
        one is kept aside (:attr:`pending_run`) until the user takes or discards it; one
        stopped before its first batch trained nothing and is not offered."""
        if result.completed:
            self.set_model(result.trained, origin=ModelOrigin.FINISHED_RUN, saved=False)
            self.set_results(result.evaluation_result())
            self._set_pending(None)
        else:
            self._set_pending(None if trained_nothing(result.trained) else result)

    def adopt_pending_run(self) -> bool:
        """Make the stopped run the current model, if the user agrees to lose unsaved work."""
        result = self.pending_run
        if result is None or not self.may_replace_model("use the stopped run's model"):
            return False
        self._set_pending(None)
        self.set_model(result.trained, origin=ModelOrigin.STOPPED_RUN, saved=False)
        self.set_results(result.evaluation_result())
        return True

    def discard_pending_run(self) -> None:
        self._set_pending(None)

    def _set_pending(self, result: RunResult | None) -> None:
        self.pending_run = result
        self.pending_run_changed.emit(result)

    # --- results -----------------------------------------------------------------------------
    @property
    def results(self) -> EvaluationResult | None:
        """The evaluation of the current model on the current dataset, if one was made."""
        result = self._results
        if result is not None and result.is_for(self.trained, self.dataset):
            return result
        return None

    def set_results(self, result: EvaluationResult | None) -> bool:
        """Keep ``result`` if it is for the current model and dataset; False when it is not
        (it was computed for something no longer loaded) and is dropped."""
        if result is not None and not result.is_for(self.trained, self.dataset):
            return False
        self._results = result
        self.results_changed.emit(result)
        return result is not None

    def _invalidate_results(self) -> None:
        if self._results is not None and self.results is None:
            self._results = None
            self.results_changed.emit(None)

    # --- predict -----------------------------------------------------------------------------
    def set_predict_input(self, x: np.ndarray | None) -> None:
        self.predict_input = None if x is None else np.array(x, copy=True)
        self.predict_input_changed.emit(self.predict_input)

    def request_prediction(self, image: np.ndarray, name: str) -> None:
        """Show ``image`` on the Predict page (e.g. a test image from Evaluate)."""
        self.prediction_requested.emit(PredictionRequest(np.asarray(image), name))

    # --- what fits what ----------------------------------------------------------------------
    def model_dataset_name(self) -> str | None:
        """The dataset the current model was trained on, if known."""
        return None if self.trained is None else trained_on(self.trained)
