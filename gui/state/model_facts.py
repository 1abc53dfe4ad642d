"""Facts about a trained model that the GUI shows, read in one place (the model file's
metadata may change shape; only this module knows where each fact is kept)."""

from __future__ import annotations

from copy import copy as shallow_copy
from typing import Any

import engine
from engine.trained_model import TrainedModel


def _meta(trained: TrainedModel, key: str, default: Any = None) -> Any:
    """A field of the model file's metadata (a ModelMeta, or a plain dict for snapshots)."""
    meta = trained.meta
    value = getattr(meta, key, None) if not isinstance(meta, dict) else meta.get(key)
    return default if value is None else value


def arch_name(trained: TrainedModel) -> str:
    """The preset a model was built from (stored in its file), else "custom"."""
    name = _meta(trained, "arch_name") or getattr(trained.model, "arch_name", None)
    if not name or name == "custom":
        # Some files (the converted assets) record the preset only in their training config.
        preset = training_settings(trained).get("arch")
        name = preset if isinstance(preset, str) else name
    return str(name or "custom")


def test_accuracy(trained: TrainedModel) -> float | None:
    value = (_meta(trained, "metrics") or {}).get("test_accuracy")
    return float(value) if isinstance(value, int | float) else None


def trained_on(trained: TrainedModel) -> str | None:
    """The name of the dataset the model was trained on, when its file says."""
    name = (_meta(trained, "dataset") or {}).get("name")
    return str(name) if name else None


def training_settings(trained: TrainedModel) -> dict:
    """The TrainingConfig (as a dict) the model was trained with; {} when unknown."""
    value = _meta(trained, "training") or {}
    return dict(value) if isinstance(value, dict) else {}


def ascii_names(trained: TrainedModel) -> list[str] | None:
    value = _meta(trained, "ascii_names")
    return list(value) if value else None


def train_seconds(trained: TrainedModel) -> float:
    return float((_meta(trained, "metrics") or {}).get("train_seconds", 0.0))


def run_completed(trained: TrainedModel) -> bool:
    return bool(_meta(trained, "completed", True))


def stopped_at(trained: TrainedModel) -> tuple[int, int]:
    epoch, batch = _meta(trained, "stopped_at") or (0, 0)
    return int(epoch), int(batch)


def trained_nothing(trained: TrainedModel) -> bool:
    """A run stopped before its first batch: its network is the untrained initialisation."""
    return not run_completed(trained) and stopped_at(trained) == (0, 0)


def checkpoint_of(trained: TrainedModel) -> str | None:
    value = _meta(trained, "checkpoint")
    return str(value) if value else None


def checkpoint_note(trained: TrainedModel) -> str:
    """" Checkpoint kept: <path>" for a stopped run's log line, "" when it wrote none."""
    path = checkpoint_of(trained)
    return f" Checkpoint kept: {path}" if path else ""


def clone_trained(trained: TrainedModel) -> TrainedModel:
    """An independent copy (own layer caches) for use on another thread."""
    model = trained.model
    copy = engine.build_model(model.spec, input_shape=tuple(model.input_shape),
                              num_classes=model.num_classes, seed=0)
    copy.load_state_dict(model.state_dict())
    copy.arch_name = getattr(model, "arch_name", "custom")
    return TrainedModel(copy, shallow_copy(trained.meta))
