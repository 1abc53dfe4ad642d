"""The divergence guard: a dead run stops with a clear message, keeps its last good checkpoint."""

from __future__ import annotations

import numpy as np
import pytest

from engine.training.checkpoint import load_checkpoint
from engine.training.divergence import PATIENCE_BATCHES, DivergenceGuard, TrainingDivergedError
from engine.training.run import TrainingConfig, train_model
from tests.engine.training_toys import TOY_SPEC, toy_dataset


def test_a_loss_that_stays_far_above_its_start_stops_the_run_after_the_patience():
    guard = DivergenceGuard(10)
    guard.after_batch(2.3, 0.1, "b1", None)
    for i in range(PATIENCE_BATCHES + 5):
        try:
            guard.after_batch(50.0, 0.1, f"b{i + 2}", "ck.pkl")
        except TrainingDivergedError as exc:
            assert "stayed far above its starting value" in str(exc)
            assert "last good checkpoint is ck.pkl" in str(exc) and "try a lower one" in str(exc)
            break
        assert guard.suspect or i == 0  # suspect from the first batch above the limit
    else:
        pytest.fail("the guard never stopped the run")


def test_a_loss_spike_that_recovers_is_not_divergence():
    guard = DivergenceGuard(10)
    guard.after_batch(2.3, 0.1, "b1", None)
    for _ in range(8):
        guard.after_batch(40.0, 0.1, "b", None)
    assert guard.suspect
    for _ in range(60):
        guard.after_batch(1.0, 0.1, "b", None)
    assert not guard.suspect


def test_accuracy_back_to_chance_after_being_above_it_stops_the_run():
    guard = DivergenceGuard(10)
    guard.after_epoch(0.09, 0.1, "epoch 1", None)  # at chance from the start: not this rule
    guard.after_epoch(0.60, 0.1, "epoch 2", None)
    with pytest.raises(TrainingDivergedError, match=r"accuracy fell to chance \(10\.0 %.*60\.0 %"):
        guard.after_epoch(0.10, 0.1, "the end of epoch 3", None)


def test_the_guard_state_travels_in_checkpoints():
    guard = DivergenceGuard(3)
    guard.after_batch(1.1, 0.1, "b1", None)
    guard.after_epoch(0.8, 0.1, "e1", None)
    other = DivergenceGuard(3)
    other.load_state_dict(guard.state_dict())
    assert other.state == guard.state


def _config(**changes):
    settings = dict(dataset="toy", arch=TOY_SPEC, epochs=6, batch_size=16, optimizer="adam",
                    lr=1e6, warmup_epochs=2, checkpoint_every=1)
    settings.update(changes)
    return TrainingConfig(**settings)


@pytest.mark.parametrize("changes", [dict(), dict(optimizer="sgd", lr=1000.0, warmup_epochs=0)])
def test_a_diverging_run_stops_and_its_last_checkpoint_is_good(tmp_path, changes):
    with pytest.raises(TrainingDivergedError, match="training stopped") as info:
        train_model(_config(**changes), toy_dataset(n_train=400, n_test=30),
                    checkpoint_dir=tmp_path)
    assert "\n" not in str(info.value)
    state = load_checkpoint(tmp_path)  # written before the run went wrong: finite, usable
    assert all(np.isfinite(v).all() for v in state["model"].values())
    assert str(tmp_path) in str(info.value)


def test_an_optimizer_state_that_overflows_is_said_not_skipped(tmp_path):
    from tests.engine.training.test_train import make_trainer

    trainer = make_trainer(checkpoint_path=tmp_path / "c.pkl")
    assert trainer.save_checkpoint() == tmp_path / "c.pkl"
    before = (tmp_path / "c.pkl").read_bytes()
    trainer.optimizer.state_dict = lambda: {"m": {"conv1.W": np.array([np.inf])}}
    with pytest.raises(TrainingDivergedError, match=r"optimizer state overflowed \(optimizer"
                       r"\.m\.conv1\.W holds Inf or NaN\)"):
        trainer.save_checkpoint()
    assert (tmp_path / "c.pkl").read_bytes() == before
