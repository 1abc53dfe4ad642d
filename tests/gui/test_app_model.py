"""The application model alone (no widgets): each scenario of issue 15 as a short test."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from gui.evaluation import evaluate
from gui.state import AppModel, EvaluationResult, ModelOrigin, RunResult, TrainingSnapshot
from gui.state.model_facts import clone_trained
from tests.gui.conftest import make_dataset


def _recorder(event) -> list:
    seen: list = []
    event.connect(seen.append)
    return seen


def _result(trained, dataset) -> EvaluationResult:
    return EvaluationResult(evaluate(clone_trained(trained), dataset.x_test, dataset.y_test),
                            trained, dataset)


def test_the_app_model_needs_no_qt():
    code = "import sys, gui.state; sys.exit(any(m.startswith('PySide6') for m in sys.modules))"
    root = Path(__file__).resolve().parents[2]
    assert subprocess.run([sys.executable, "-c", code], cwd=root).returncode == 0


def test_a_trained_model_is_unsaved_and_marked_in_the_title(tiny_model, tmp_path):
    app = AppModel()
    app.set_model(tiny_model, origin=ModelOrigin.FINISHED_RUN)
    assert app.unsaved and app.title() == "unsaved model* — CNN Studio"
    saved = _recorder(app.saved_changed)
    app.mark_saved(tmp_path / "digits.pkl")
    assert not app.unsaved and app.title() == "digits.pkl — CNN Studio"
    assert saved[-1].path == tmp_path / "digits.pkl" and saved[-1].trained is tiny_model


def test_replacing_an_unsaved_model_asks_and_cancel_keeps_it(tiny_model, digits_model):
    app = AppModel()
    asked: list[str] = []
    app.confirm_replace = lambda action: asked.append(action) or False  # Cancel
    app.set_model(tiny_model, origin=ModelOrigin.FINISHED_RUN)
    assert app.may_replace_model("quit") is False and asked == ["quit"]
    app.confirm_replace = lambda action: True  # Discard (or saved)
    assert app.may_replace_model("open another model")
    app.set_model(digits_model, Path("m.pkl"))  # a file: saved, nothing asked next time
    asked.clear()
    assert app.may_replace_model("quit") and asked == []


def test_a_stopped_run_never_replaces_the_current_model(tiny_model, tiny_dataset):
    app = AppModel()
    app.set_dataset(tiny_dataset)
    app.set_model(tiny_model, origin=ModelOrigin.FINISHED_RUN)  # the good, unsaved model
    stopped = clone_trained(tiny_model)
    pending = _recorder(app.pending_run_changed)
    app.run_finished(RunResult(stopped, None, tiny_dataset, completed=False))
    assert app.trained is tiny_model and app.unsaved  # kept, still unsaved
    assert app.pending_run is not None and pending[-1].trained is stopped
    app.confirm_replace = lambda action: False  # the user cancels taking it
    assert app.adopt_pending_run() is False and app.trained is tiny_model
    app.confirm_replace = lambda action: True
    assert app.adopt_pending_run() and app.trained is stopped
    assert app.model.origin is ModelOrigin.STOPPED_RUN and app.pending_run is None


def test_a_run_stopped_before_its_first_batch_is_not_offered(tiny_model, tiny_dataset):
    app = AppModel()
    app.set_dataset(tiny_dataset)
    untrained = clone_trained(tiny_model)
    untrained.meta.update(completed=False, stopped_at=[0, 0])
    app.run_finished(RunResult(untrained, None, tiny_dataset, completed=False))
    assert app.pending_run is None and app.trained is None
    untrained.meta.update(stopped_at=[0, 1])  # one batch in: a model worth offering
    app.run_finished(RunResult(untrained, None, tiny_dataset, completed=False))
    assert app.pending_run is not None


def test_a_completed_run_becomes_current_with_results_that_have_images(tiny_model,
                                                                      tiny_dataset):
    app = AppModel()
    app.set_dataset(tiny_dataset)
    result = _result(tiny_model, tiny_dataset)
    app.run_finished(RunResult(tiny_model, result.evaluation, tiny_dataset, completed=True))
    assert app.trained is tiny_model and app.model.origin is ModelOrigin.FINISHED_RUN
    assert app.results is not None
    cell = app.results.evaluation.cell_indices(0, 0)  # images of a cell, right after training
    assert len(cell) == app.results.evaluation.cm[0, 0]


def test_results_are_dropped_when_the_model_or_dataset_changes(tiny_model, digits_model,
                                                               tiny_dataset):
    app = AppModel()
    app.set_dataset(tiny_dataset)
    app.set_model(tiny_model, Path("tiny.pkl"))
    changes = _recorder(app.results_changed)
    assert app.set_results(_result(tiny_model, tiny_dataset))
    app.set_model(digits_model, Path("digits.pkl"))  # another model: the old matrix goes
    assert app.results is None and changes[-1] is None
    app.set_model(tiny_model, Path("tiny.pkl"))
    assert app.set_results(_result(tiny_model, tiny_dataset))
    app.set_dataset(make_dataset(seed=3))  # same shape, other data: results go too
    assert app.results is None and changes[-1] is None
    # An evaluation that finishes after the user switched is refused, not shown.
    late = _result(tiny_model, tiny_dataset)
    assert app.set_results(late) is False and app.results is None


def test_a_mismatch_is_said_when_it_happens(tiny_model, digits_dataset, tiny_dataset):
    app = AppModel()
    reasons = _recorder(app.mismatch_changed)
    app.set_model(tiny_model, Path("tiny.pkl"))
    app.set_dataset(tiny_dataset)
    assert reasons[-1] is None
    app.set_dataset(digits_dataset)  # 28x28 images for an 8x8 model
    assert reasons[-1] is not None and "28x28x1" in reasons[-1]
    assert app.mismatch() == reasons[-1]


def test_snapshots_of_a_run_are_what_predict_uses_until_the_run_ends(tiny_model,
                                                                     tiny_dataset):
    app = AppModel()
    app.set_dataset(tiny_dataset)
    app.set_model(tiny_model, Path("tiny.pkl"))
    model = tiny_model.model
    snapshot = TrainingSnapshot(spec=model.spec, input_shape=tuple(model.input_shape),
                                num_classes=model.num_classes, state=model.state_dict(),
                                normalizer=tiny_model.meta["preprocessing"]["normalizer"],
                                kind="digits", epoch=0, batch=3)
    app.set_running(True)
    app.set_snapshot(snapshot)
    viewed = app.viewed_model
    assert viewed is not tiny_model and viewed.class_names == tiny_dataset.class_names
    x = tiny_dataset.x_test[:4]
    np.testing.assert_allclose(viewed.predict_proba(x), tiny_model.predict_proba(x), rtol=1e-6)
    app.set_running(False)
    assert app.viewed_model is tiny_model


def test_pages_reach_each_other_only_through_requests():
    app = AppModel()
    wanted = _recorder(app.dataset_requested)
    shown = _recorder(app.prediction_requested)
    app.request_dataset("mnist")
    image = np.zeros((8, 8, 1), dtype=np.uint8)
    app.request_prediction(image, "test image 3")
    assert wanted == ["mnist"] and shown[0].name == "test image 3"
    assert shown[0].image.shape == (8, 8, 1)


@pytest.mark.parametrize("completed", [True, False])
def test_run_results_carry_their_evaluation_only_for_their_dataset(completed, tiny_model,
                                                                   tiny_dataset):
    app = AppModel()
    app.set_dataset(make_dataset(seed=5))  # the user switched datasets during the run
    evaluation = _result(tiny_model, tiny_dataset).evaluation
    app.confirm_replace = lambda action: True
    app.run_finished(RunResult(tiny_model, evaluation, tiny_dataset, completed=completed))
    if not completed:
        app.adopt_pending_run()
    assert app.trained is tiny_model and app.results is None
