"""Training checkpoints: the whole state of a run, written atomically, read back safely.

A checkpoint is a version-2 plain-data file (see :mod:`engine.plain_file`) of the dict that
:meth:`engine.training.trainer.Trainer.state_dict` returns: parameters and BatchNorm statistics,
optimizer state, the state of every random generator, epoch and batch position, running sums,
history and callback state, plus what the run adds under ``"extra"`` (the training
configuration, the dataset it was made on, the fitted normaliser): :class:`RunRecord`.
It is written through a temporary file and a rename, so a ``kill -9`` mid-write leaves the
previous checkpoint whole.
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from engine.plain_file import PlainFileError, dump_plain, load_plain

CHECKPOINT_FORMAT = "cnn-studio-checkpoint"
CHECKPOINT_VERSION = 2
CHECKPOINT_NAME = "checkpoint.pkl"
_REQUIRED = {"model": dict, "optimizer": dict, "epoch": int, "batch": int, "step": int,
             "seed": int, "batch_size": int, "sums": dict, "generators": dict, "history": dict,
             "extra": dict}


class CheckpointError(PlainFileError):
    """A checkpoint that cannot be used (wrong file, other dataset, damaged)."""


@dataclass
class RunRecord:
    """What a run stores beside the trainer's state: its settings, data and normaliser.

    config: the TrainingConfig dict; dataset: name, fingerprint, kind, sizes; normalizer: the
    fitted Normalizer dict; resumes: one {"at": [epoch, batch], "changes": {setting: [old,
    new]}} per resume that changed a setting (--lr, --epochs, --schedule).
    """

    config: dict = field(default_factory=dict)
    dataset: dict = field(default_factory=dict)
    normalizer: dict = field(default_factory=dict)
    resumes: list = field(default_factory=list)

    @property
    def dataset_name(self) -> str:
        name = self.dataset.get("name")
        return name if isinstance(name, str) else "unknown data"

    @property
    def fingerprint(self) -> str | None:
        value = self.dataset.get("fingerprint")
        return value if isinstance(value, str) else None

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Any, source: str) -> RunRecord:
        if not isinstance(data, dict):
            raise CheckpointError(f"{source}: its run record is malformed")
        for key in ("config", "dataset", "normalizer"):
            if not isinstance(data.get(key, {}), dict):
                raise CheckpointError(f"{source}: its {key} record is malformed")
        if not isinstance(data.get("resumes", []), list):
            raise CheckpointError(f"{source}: its resumes record is malformed")
        return cls(config=data.get("config", {}), dataset=data.get("dataset", {}),
                   normalizer=data.get("normalizer", {}), resumes=data.get("resumes", []))


@dataclass
class Checkpoint:
    """A checkpoint read back: ``state`` for ``Trainer.load_state_dict``, ``run`` its record."""

    path: Path
    state: dict
    run: RunRecord

    @property
    def epoch(self) -> int:
        return int(self.state["epoch"])

    @property
    def batch(self) -> int:
        return int(self.state["batch"])


def checkpoint_path(checkpoint_dir: str | os.PathLike) -> Path:
    """Where a run keeps its latest checkpoint inside ``checkpoint_dir``."""
    return Path(checkpoint_dir) / CHECKPOINT_NAME


def non_finite_parts(state: dict) -> list[str]:
    """Names of the model and optimizer arrays (and numbers) that hold NaN or Inf."""
    bad: list[str] = []

    def walk(obj: Any, name: str) -> None:
        if isinstance(obj, np.ndarray):
            if np.issubdtype(obj.dtype, np.floating) and not np.isfinite(obj).all():
                bad.append(name)
        elif isinstance(obj, float):
            if not np.isfinite(obj):
                bad.append(name)
        elif isinstance(obj, dict):
            for key, value in obj.items():
                walk(value, f"{name}.{key}")
        elif isinstance(obj, list | tuple):
            for i, value in enumerate(obj):
                walk(value, f"{name}[{i}]")

    walk(state.get("model", {}), "model")
    walk(state.get("optimizer", {}), "optimizer")
    return bad


def save_checkpoint(state: dict, path: str | os.PathLike) -> list[str]:
    """Write ``state`` to ``path`` atomically, unless it holds NaN or Inf parameters or
    optimizer moments: then nothing is written (the previous, good checkpoint is kept) and the
    names of those parts are returned. An empty list means the file was written."""
    bad = non_finite_parts(state)
    if bad:
        return bad
    content = {"format": CHECKPOINT_FORMAT, "format_version": CHECKPOINT_VERSION, **state}
    dump_plain(content, path, file_format=CHECKPOINT_FORMAT)
    return []


def read_checkpoint(path: str | os.PathLike) -> Checkpoint:
    """Read and check a checkpoint written by :func:`save_checkpoint`; a folder means its
    latest one. Raises CheckpointError (one line, naming the file) for anything unusable."""
    path = Path(path)
    if path.is_dir():
        path = checkpoint_path(path)
    state = load_plain(path)
    if not isinstance(state, dict) or state.get("format") != CHECKPOINT_FORMAT:
        raise CheckpointError(f"{path} is not a CNN Studio training checkpoint")
    version = state.get("format_version", 0)
    if type(version) is not int or version > CHECKPOINT_VERSION:
        raise CheckpointError(f"{path} was written by a newer CNN Studio; update to resume it")
    missing = [key for key in _REQUIRED if key not in state]
    if missing:
        raise CheckpointError(f"{path} is incomplete: it lacks {', '.join(missing)}")
    wrong = [key for key, kind in _REQUIRED.items()
             if not isinstance(state[key], kind) or (kind is int and isinstance(state[key], bool))]
    if wrong:
        raise CheckpointError(f"{path} is damaged: {', '.join(wrong)} has the wrong type")
    if min(state["epoch"], state["batch"], state["step"]) < 0:
        raise CheckpointError(f"{path} is damaged: its position is negative")
    return Checkpoint(path=path, state=state, run=RunRecord.from_dict(state["extra"], str(path)))


def load_checkpoint(path: str | os.PathLike) -> dict:
    """The checked state dict of a checkpoint (see :func:`read_checkpoint`)."""
    return read_checkpoint(path).state
