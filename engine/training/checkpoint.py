"""Training checkpoints: the whole state of a run, written atomically, read back safely.

A checkpoint is a plain-data pickle (see :mod:`engine.serialize`) of the dict that
:meth:`engine.training.trainer.Trainer.state_dict` returns:
parameters and BatchNorm statistics, optimizer
state, the state of every random generator, epoch and batch position, running sums, history and
callback state, plus whatever the caller adds under ``"extra"`` (the training configuration, the
fitted normaliser, the dataset fingerprint). It is written through a temporary file and a
rename, so a ``kill -9`` mid-write leaves the previous checkpoint whole.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

from engine.serialize import ModelFileError, dump_plain, load_plain

CHECKPOINT_FORMAT = "cnn-studio-checkpoint"
CHECKPOINT_VERSION = 1
CHECKPOINT_NAME = "checkpoint.pkl"


class CheckpointError(ModelFileError):
    """A checkpoint that cannot be used (wrong file, other dataset, damaged)."""


def checkpoint_path(checkpoint_dir: str | os.PathLike) -> Path:
    """Where a run keeps its latest checkpoint inside ``checkpoint_dir``."""
    return Path(checkpoint_dir) / CHECKPOINT_NAME


def state_is_finite(state: dict) -> bool:
    """True when every floating-point array of the model and optimizer state is finite."""
    def finite(obj: Any) -> bool:
        if isinstance(obj, np.ndarray):
            return not np.issubdtype(obj.dtype, np.floating) or bool(np.isfinite(obj).all())
        if isinstance(obj, float):
            return bool(np.isfinite(obj))
        if isinstance(obj, dict):
            return all(finite(v) for v in obj.values())
        if isinstance(obj, list | tuple):
            return all(finite(v) for v in obj)
        return True

    return finite(state.get("model", {})) and finite(state.get("optimizer", {}))


def save_checkpoint(state: dict, path: str | os.PathLike) -> bool:
    """Write ``state`` to ``path`` atomically.

    A state holding NaN or Inf parameters is not written (the previous, good checkpoint is kept);
    returns whether the file was written.
    """
    if not state_is_finite(state):
        return False
    dump_plain({"format": CHECKPOINT_FORMAT, "format_version": CHECKPOINT_VERSION, **state}, path)
    return True


def load_checkpoint(path: str | os.PathLike) -> dict:
    """Read a checkpoint written by :func:`save_checkpoint`; a folder means its latest one."""
    path = Path(path)
    if path.is_dir():
        path = checkpoint_path(path)
    state = load_plain(path)
    if not isinstance(state, dict) or state.get("format") != CHECKPOINT_FORMAT:
        raise CheckpointError(f"{path} is not a CNN Studio training checkpoint")
    if state.get("format_version", 0) > CHECKPOINT_VERSION:
        raise CheckpointError(f"{path} was written by a newer CNN Studio; update to resume it")
    return state
