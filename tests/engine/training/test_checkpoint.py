"""Checkpoints: atomic, refused when not finite, and a run killed with SIGKILL resumes exactly."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest

from engine.serialize import ModelFileError, dump_plain
from engine.training.checkpoint import (
    CheckpointError,
    checkpoint_path,
    load_checkpoint,
    non_finite_parts,
    save_checkpoint,
)
from engine.training.run import TrainingConfig, train_model
from tests.engine.training_toys import TOY_SPEC, toy_dataset

ROOT = Path(__file__).resolve().parents[3]


def test_round_trip_and_folder_lookup(tmp_path):
    state = {"model": {"w": np.arange(3.0)}, "optimizer": {}, "epoch": 1, "batch": 0, "step": 4,
             "seed": 0, "batch_size": 8, "sums": {}, "generators": {}, "history": {},
             "extra": {}}
    assert save_checkpoint(state, checkpoint_path(tmp_path)) == []  # written
    loaded = load_checkpoint(tmp_path)  # a folder means its latest checkpoint
    np.testing.assert_array_equal(loaded["model"]["w"], np.arange(3.0))
    assert loaded["epoch"] == 1


def test_non_finite_state_is_not_written(tmp_path):
    path = tmp_path / "c.pkl"
    save_checkpoint({"model": {"w": np.ones(2)}, "optimizer": {}}, path)
    before = path.read_bytes()
    bad = {"model": {"w": np.array([1.0, np.nan])}, "optimizer": {}}
    assert non_finite_parts(bad) == ["model.w"]
    assert save_checkpoint(bad, path) == ["model.w"]  # refused, naming what overflowed
    assert save_checkpoint({"model": {}, "optimizer": {"m": {"x": np.array([np.inf])}}},
                           path) == ["optimizer.m.x"]
    assert path.read_bytes() == before


def test_other_files_are_not_checkpoints(tmp_path):
    dump_plain({"format": "cnn-studio-model"}, tmp_path / "model.pkl")
    with pytest.raises(CheckpointError, match="not a CNN Studio training checkpoint"):
        load_checkpoint(tmp_path / "model.pkl")
    with pytest.raises(FileNotFoundError):
        load_checkpoint(tmp_path / "nothing.pkl")
    assert issubclass(CheckpointError, ModelFileError)


CONFIG = dict(dataset="toy", arch=TOY_SPEC, epochs=3, batch_size=16, optimizer="sgd", lr=0.05,
              schedule="onecycle", augment=False, seed=5, threads=1, checkpoint_every=1,
              label_smoothing=0.1, weight_decay=1e-4)

# The child trains the same toy run slowly, checkpointing after every batch, until killed.
CHILD = textwrap.dedent("""
    import sys, time
    sys.path.insert(0, {root!r})
    from engine.training.callbacks import LambdaCallback
    from engine.training.run import TrainingConfig, train_model
    from tests.engine.training_toys import toy_dataset
    slow = LambdaCallback(on_batch_end=lambda b, logs: time.sleep(0.15))
    train_model(TrainingConfig(**{config!r}), toy_dataset(), callbacks=[slow],
                checkpoint_dir={folder!r})
""")


@pytest.mark.slow
def test_a_run_killed_with_sigkill_resumes_bitwise_identically(tmp_path, restore_threads):
    folder = tmp_path / "ckpt"
    script = CHILD.format(root=str(ROOT), config=CONFIG, folder=str(folder))
    child = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.DEVNULL,
                             stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 60
        step = 0
        while step < 4 and time.monotonic() < deadline and child.poll() is None:
            time.sleep(0.05)
            if checkpoint_path(folder).exists():
                step = load_checkpoint(folder)["step"]  # always whole: written atomically
        assert child.poll() is None, child.stderr.read().decode()
        os.kill(child.pid, signal.SIGKILL)
    finally:
        child.kill()
        child.wait()
    assert child.returncode == -signal.SIGKILL
    killed_at = load_checkpoint(folder)
    assert 4 <= killed_at["step"] < 3 * 7  # mid-run (7 batches per epoch)

    dataset = toy_dataset()
    resumed = train_model(None, dataset, checkpoint_dir=folder, resume_from=folder)
    reference = train_model(TrainingConfig(**CONFIG), dataset)
    assert resumed.meta["completed"]
    got, want = resumed.model.state_dict(), reference.model.state_dict()
    assert all(np.array_equal(got[k], want[k]) for k in want)
    assert resumed.meta["history"]["val_loss"] == reference.meta["history"]["val_loss"]
    assert resumed.meta["metrics"]["test_accuracy"] == reference.meta["metrics"]["test_accuracy"]
