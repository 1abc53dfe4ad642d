"""The Trainer: hooks and logs, shuffling, stop / pause from another thread, exact resume,
NaN handling, clipping and early stopping."""

from __future__ import annotations

import threading

import numpy as np
import pytest

from engine.spec import build_model
from engine.training.checkpoint import load_checkpoint
from engine.training.optimizers import make_optimizer
from engine.training.schedules import make_schedule
from engine.training.trainer import (
    Callback,
    EarlyStopping,
    LambdaCallback,
    Trainer,
    TrainingDivergedError,
    clip_gradients,
)
from tests.engine.training_toys import TOY_SPEC, toy_images

X, Y = toy_images(70, seed=3)
X_VAL, Y_VAL = toy_images(20, seed=4)
EPOCHS, BATCH = 3, 16  # 5 batches per epoch, the last one of 6 images


def shift_rows(batch: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A tiny random augmentation: roll each batch by -1, 0 or 1 rows."""
    return np.roll(batch, int(rng.integers(-1, 2)), axis=1)


def make_trainer(callbacks=(), checkpoint_path=None, checkpoint_every=0, lr=0.05, **kw):
    model = build_model(TOY_SPEC, (8, 8, 1), 3, seed=0)
    optimizer = make_optimizer("sgd", model, lr, momentum=0.9, nesterov=True)
    schedule = make_schedule("onecycle", lr, EPOCHS * 5)
    return Trainer(model, optimizer, epochs=EPOCHS, batch_size=BATCH, seed=7, schedule=schedule,
                   augment=shift_rows, grad_clip=5.0, callbacks=callbacks,
                   checkpoint_path=checkpoint_path, checkpoint_every=checkpoint_every, **kw)


class Recorder(Callback):
    def __init__(self):
        self.calls = []

    def on_train_begin(self, logs):
        self.calls.append(("train_begin", None, logs))

    def on_epoch_begin(self, epoch, logs):
        self.calls.append(("epoch_begin", epoch, logs))

    def on_batch_end(self, batch, logs):
        self.calls.append(("batch_end", batch, logs))

    def on_epoch_end(self, epoch, logs):
        self.calls.append(("epoch_end", epoch, logs))

    def on_train_end(self, logs):
        self.calls.append(("train_end", None, logs))


@pytest.fixture(scope="module")
def uninterrupted():
    """State and history of a whole run, the reference for every resume test."""
    trainer = make_trainer()
    trainer.fit(X, Y, validation_data=(X_VAL, Y_VAL))
    return trainer.model.state_dict(), trainer.history.history


def test_hooks_come_in_order_with_the_documented_logs():
    rec = Recorder()
    make_trainer([rec]).fit(X, Y, validation_data=(X_VAL, Y_VAL))
    kinds = [c[0] for c in rec.calls]
    epoch_block = ["epoch_begin"] + ["batch_end"] * 5 + ["epoch_end"]
    assert kinds == ["train_begin", *epoch_block * EPOCHS, "train_end"]
    batch_logs = [c for c in rec.calls if c[0] == "batch_end"]
    assert [c[1] for c in batch_logs] == [0, 1, 2, 3, 4] * EPOCHS
    logs = batch_logs[-1][2]
    assert {"loss", "accuracy", "lr", "images_per_sec", "eta_seconds", "epoch", "batch",
            "batches_per_epoch", "epochs"} <= set(logs)
    assert logs["batches_per_epoch"] == 5 and logs["epochs"] == EPOCHS and logs["epoch"] == 2
    assert logs["eta_seconds"] == pytest.approx(0.0, abs=1.0) and logs["images_per_sec"] > 0
    end_logs = [c[2] for c in rec.calls if c[0] == "epoch_end"]
    assert all({"val_loss", "val_accuracy", "loss", "accuracy"} <= set(lg) for lg in end_logs)
    assert rec.calls[-1][2]["completed"] is True


def test_learning_rate_follows_the_schedule():
    rates = []
    make_trainer([LambdaCallback(on_batch_end=lambda b, lg: rates.append(lg["lr"]))]).fit(X, Y)
    schedule = make_schedule("onecycle", 0.05, EPOCHS * 5)
    assert rates == [schedule(step) for step in range(EPOCHS * 5)]


def test_each_epoch_has_a_fresh_seeded_shuffle():
    seen = []

    def spy(batch, rng):
        seen.append(batch.copy())
        return batch

    def run_once():
        seen.clear()
        model = build_model(TOY_SPEC, (8, 8, 1), 3, seed=0)
        Trainer(model, make_optimizer("sgd", model, 0.01), epochs=2, batch_size=70, seed=11,
                augment=spy).fit(X, Y)
        return [s.copy() for s in seen]

    first, again = run_once(), run_once()
    assert len(first) == 2
    assert not np.array_equal(first[0], first[1])  # epochs differ in order
    assert sorted(map(bytes, first[0])) == sorted(map(bytes, X))  # each is a permutation
    assert all(np.array_equal(a, b) for a, b in zip(first, again, strict=True))  # seeded


def test_validation_runs_after_each_epoch_and_learns(uninterrupted):
    _, history = uninterrupted
    assert len(history["val_accuracy"]) == EPOCHS
    assert history["val_accuracy"][-1] >= 0.9


def _stop_at(step: int, path):
    """A run stopped (as by the Stop button) after ``step`` batches, checkpointing on stop."""
    holder = {}
    stopper = LambdaCallback(on_batch_end=lambda b, lg: lg["step"] == step and setattr(
        holder["trainer"], "stop_training", True))
    holder["trainer"] = trainer = make_trainer([stopper], checkpoint_path=path)
    trainer.fit(X, Y, validation_data=(X_VAL, Y_VAL))
    assert not trainer.completed


def _snapshot_at(step: int, path):
    """A run that goes on after writing a checkpoint at ``step`` (as a periodic one, which may
    fall after an epoch's last batch but before its validation)."""
    holder = {}

    def snap(batch, logs):
        if logs["step"] == step:
            holder["trainer"].save_checkpoint(path)

    holder["trainer"] = trainer = make_trainer([LambdaCallback(on_batch_end=snap)])
    trainer.fit(X, Y, validation_data=(X_VAL, Y_VAL))


@pytest.mark.parametrize(("step", "interrupt"), [
    (1, _stop_at), (7, _stop_at), (14, _stop_at),       # first batch, mid-run, last-but-one
    (5, _snapshot_at), (10, _snapshot_at), (3, _snapshot_at),  # before an epoch's validation
])
def test_a_run_stopped_at_any_batch_resumes_bitwise_identically(uninterrupted, step, interrupt,
                                                                tmp_path):
    reference_state, reference_history = uninterrupted
    path = tmp_path / "ckpt.pkl"
    interrupt(step, path)
    state = load_checkpoint(path)
    assert state["step"] == step

    resumed = make_trainer(checkpoint_path=path)
    resumed.load_state_dict(state)
    resumed.fit(X, Y, validation_data=(X_VAL, Y_VAL))
    assert resumed.completed
    final = resumed.model.state_dict()
    assert all(np.array_equal(final[k], reference_state[k]) for k in reference_state)
    for key in ("loss", "accuracy", "val_loss", "val_accuracy", "lr"):
        assert resumed.history.history[key] == reference_history[key]


def test_resuming_needs_the_same_seed_and_batch_size(tmp_path):
    trainer = make_trainer()
    state = trainer.state_dict()
    state["seed"] = 8
    with pytest.raises(ValueError, match="seed 8"):
        make_trainer().load_state_dict(state)


def test_checkpoints_every_n_batches_and_at_epoch_ends(tmp_path):
    written = []
    spy = LambdaCallback()
    spy.on_checkpoint_saved = lambda path, logs: written.append((logs["epoch"], logs["batch"]))
    path = tmp_path / "ckpt.pkl"
    make_trainer([spy], checkpoint_path=path, checkpoint_every=2).fit(X, Y)
    assert written == [(0, 2), (0, 4), (1, 0), (1, 1), (1, 3), (1, 5), (2, 0), (2, 2), (2, 4),
                       (3, 0)]
    final = load_checkpoint(path)
    assert (final["epoch"], final["batch"], final["step"]) == (EPOCHS, 0, EPOCHS * 5)
    assert set(final) >= {"model", "optimizer", "generators", "history", "sums", "extra"}
    assert final["generators"]  # the dropout layer's generator


def test_stop_and_pause_from_another_thread():
    at_batch = threading.Event()
    proceed = threading.Event()
    steps = []

    def on_batch(batch, logs):
        steps.append(logs["step"])
        if logs["step"] == 2:
            at_batch.set()
            proceed.wait(5)

    trainer = make_trainer([LambdaCallback(on_batch_end=on_batch)])
    worker = threading.Thread(target=trainer.fit, args=(X, Y))
    worker.start()
    assert at_batch.wait(10)
    trainer.pause()                  # as the GUI's Pause button would
    proceed.set()
    worker.join(0.5)
    assert worker.is_alive() and steps == [1, 2] and trainer.paused
    trainer.stop_training = True     # Stop wakes a paused run and ends it between batches
    worker.join(10)
    assert not worker.is_alive()
    assert steps == [1, 2] and not trainer.completed and trainer.step == 2


def test_nan_loss_stops_with_advice_and_keeps_the_good_checkpoint(tmp_path):
    path = tmp_path / "ckpt.pkl"
    calls = {"n": 0}

    def loss_that_blows_up(logits, y, label_smoothing=0.0):
        from engine.losses import softmax_cross_entropy

        calls["n"] += 1
        loss, grad = softmax_cross_entropy(logits, y)
        return (float("nan") if calls["n"] == 8 else loss), grad

    trainer = make_trainer(checkpoint_path=path, checkpoint_every=1, loss=loss_that_blows_up)
    with pytest.raises(TrainingDivergedError, match=r"loss became nan at epoch 2, batch 3.*lower"):
        trainer.fit(X, Y)
    good = load_checkpoint(path)
    assert good["step"] == 7
    assert all(np.isfinite(v).all() for v in good["model"].values())


def test_a_checkpoint_with_non_finite_weights_is_never_written(tmp_path):
    path = tmp_path / "ckpt.pkl"
    trainer = make_trainer(checkpoint_path=path)
    assert trainer.save_checkpoint() == path
    before = path.read_bytes()
    trainer.model.layers[0].params["W"][0, 0, 0, 0] = np.inf
    with pytest.raises(TrainingDivergedError, match=r"network overflowed \(model\.conv1\.W "
                       r"holds Inf or NaN\).*cannot be saved.*last good checkpoint is"):
        trainer.save_checkpoint()
    assert path.read_bytes() == before


def test_gradient_clipping_scales_to_the_norm():
    model = build_model(TOY_SPEC, (8, 8, 1), 3, seed=0)
    for _, _, grad in model.parameters():
        grad[...] = 1.0
    before = clip_gradients(model, 0.5)
    after = np.sqrt(sum(float((g * g).sum()) for _, _, g in model.parameters()))
    assert before > 0.5 and after == pytest.approx(0.5, rel=1e-5)
    assert clip_gradients(model, 10.0) == pytest.approx(0.5, rel=1e-5)  # under: untouched


class _FakeTrainer:
    def __init__(self):
        self.stop_training = False
        self.model = build_model(TOY_SPEC, (8, 8, 1), 3, seed=0)


def test_early_stopping_waits_patience_epochs_and_restores_the_best():
    stopper = EarlyStopping("val_loss", patience=2)
    fake = _FakeTrainer()
    stopper.set_trainer(fake)
    for epoch, value in enumerate([1.0, 0.5, 0.6]):
        if epoch == 1:
            best = fake.model.state_dict()
        stopper.on_epoch_end(epoch, {"val_loss": value})
        fake.model.layers[0].params["W"] += 1.0
    assert not fake.stop_training
    stopper.on_epoch_end(3, {"val_loss": 0.55})
    assert fake.stop_training and stopper.best_epoch == 1
    stopper.on_train_end({})
    np.testing.assert_array_equal(fake.model.state_dict()["conv1.W"], best["conv1.W"])


def test_early_stopping_ends_a_real_run():
    trainer = make_trainer([EarlyStopping("val_accuracy", patience=0)])
    trainer.epochs = 10
    trainer.schedule = None
    trainer.fit(X, Y, validation_data=(X_VAL, Y_VAL))
    assert 1 <= len(trainer.history.history["val_accuracy"]) < 10 and not trainer.completed


def test_bad_settings_are_refused():
    model = build_model(TOY_SPEC, (8, 8, 1), 3, seed=0)
    optimizer = make_optimizer("sgd", model, 0.1)
    with pytest.raises(ValueError, match="epochs"):
        Trainer(model, optimizer, epochs=0)
    with pytest.raises(ValueError, match="batch size"):
        Trainer(model, optimizer, batch_size=0)
