"""What a model file says about its network, as a typed record checked when the file is read.

:class:`ModelMeta` holds the model file's fields other than the arrays. It is a dataclass, and
also answers ``meta["class_names"]``, ``meta.get("metrics")``, ``meta.update(...)`` and
``dict(meta)`` as the plain dict it replaces did, so code written against the dict keeps working
while callers move to the attributes. Fields it does not know (a newer app's, or another
feature's such as an out-of-distribution threshold) are kept in ``other`` and written back.
"""

from __future__ import annotations

from collections.abc import Iterator, MutableMapping
from dataclasses import dataclass, field, fields
from typing import Any

KINDS = ("digits", "colour")
MAX_INPUT_SIDE = 4096
MAX_INPUT_VALUES = 1 << 24
MAX_CLASSES = 100_000


def _is_int(value: Any) -> bool:
    return type(value) is int


def _is_number(value: Any) -> bool:
    return type(value) in (int, float)


@dataclass
class ModelMeta(MutableMapping):
    """The metadata of a trained model (everything in its file but the arrays).

    class_names: one name per output; input_shape: [H, W, C]; preprocessing: {"normalizer":
    Normalizer dict, "kind": "digits" | "colour", "digit": settings or None}; training: the
    TrainingConfig dict; dataset: name, fingerprint and sizes; history: per-epoch logs;
    metrics: test accuracy, confusion matrix, ...
    """

    class_names: list[str]
    input_shape: list[int]
    preprocessing: dict = field(default_factory=dict)
    arch_name: str = "custom"
    ascii_names: list[str] | None = None
    training: dict = field(default_factory=dict)
    dataset: dict = field(default_factory=dict)
    history: dict = field(default_factory=dict)
    metrics: dict = field(default_factory=dict)
    completed: bool = True
    stopped_at: list[int] = field(default_factory=lambda: [0, 0])
    checkpoint: str | None = None
    created: str | None = None
    engine_version: str | None = None
    other: dict = field(default_factory=dict)

    # -- the dict view that existing callers use ------------------------------------------
    def _names(self) -> list[str]:
        return [f.name for f in fields(self) if f.name != "other"]

    def __getitem__(self, key: str) -> Any:
        if key in self._names():
            return getattr(self, key)
        return self.other[key]

    def __setitem__(self, key: str, value: Any) -> None:
        if key in self._names():
            setattr(self, key, value)
        else:
            self.other[key] = value

    def __delitem__(self, key: str) -> None:
        if key in self._names():
            raise KeyError(f"{key} is a field of every model's metadata and cannot be removed")
        del self.other[key]

    def __iter__(self) -> Iterator[str]:
        yield from self._names()
        yield from self.other

    def __len__(self) -> int:
        return len(self._names()) + len(self.other)

    def to_dict(self) -> dict:
        """A plain dict of every field (what the model file stores besides the arrays)."""
        return {key: self[key] for key in self}

    @classmethod
    def from_dict(cls, data: Any, source: str = "the model") -> ModelMeta:
        """Check ``data`` (a model file's fields) and make the record; ValueError in one line
        naming ``source`` and the field for anything malformed."""
        if not isinstance(data, dict):
            raise ValueError(f"{source}: its description is not a table of fields")
        known = {f.name for f in fields(cls)} - {"other"}
        values = {k: v for k, v in data.items() if k in known}
        other = {k: v for k, v in data.items() if k not in known and k != "state"}
        for key in ("class_names", "input_shape"):
            if key not in values:
                raise ValueError(f"{source} is incomplete: it has no {key}")
        meta = cls(**values, other=other)
        meta.validate(source)
        return meta

    def validate(self, source: str = "the model") -> None:
        """Raise ValueError (one line) unless every field has the type and range it needs."""
        names = self.class_names
        if not isinstance(names, list) or not 2 <= len(names) <= MAX_CLASSES or not all(
                isinstance(n, str) for n in names):
            raise ValueError(f"{source}: class_names must be a list of at least 2 texts")
        shape = self.input_shape
        if (not isinstance(shape, list) or len(shape) != 3
                or not all(type(n) is int and 1 <= n <= MAX_INPUT_SIDE for n in shape)
                or shape[0] * shape[1] * shape[2] > MAX_INPUT_VALUES):
            raise ValueError(f"{source}: input_shape must be [height, width, channels] of "
                             f"sizes 1..{MAX_INPUT_SIDE}")
        if self.ascii_names is not None and (not isinstance(self.ascii_names, list) or not all(
                isinstance(n, str) for n in self.ascii_names)):
            raise ValueError(f"{source}: ascii_names must be a list of texts")
        self._validate_preprocessing(source)
        for key in ("training", "dataset", "history", "metrics"):
            if not isinstance(getattr(self, key), dict):
                raise ValueError(f"{source}: {key} must be a table of fields")
        if not isinstance(self.arch_name, str):
            raise ValueError(f"{source}: arch_name must be a text")
        self._validate_run_fields(source)

    def _validate_run_fields(self, source: str) -> None:
        """What the app reads back from a trained model's record of its run."""
        if not isinstance(self.completed, bool):
            raise ValueError(f"{source}: completed must be true or false")
        if (not isinstance(self.stopped_at, list) or len(self.stopped_at) != 2
                or not all(_is_int(v) and v >= 0 for v in self.stopped_at)):
            raise ValueError(f"{source}: stopped_at must be [epoch, batch]")
        for key in ("checkpoint", "created", "engine_version"):
            if getattr(self, key) is not None and not isinstance(getattr(self, key), str):
                raise ValueError(f"{source}: {key} must be a text")
        for key, values in self.history.items():
            if not isinstance(values, list) or not all(_is_number(v) for v in values):
                raise ValueError(f"{source}: history {key} must be a list of numbers")
        m = self.metrics
        for key in ("test_accuracy", "val_accuracy", "test_top3_accuracy"):
            if key in m and not (_is_number(m[key]) and 0 <= m[key] <= 1):
                raise ValueError(f"{source}: metrics {key} must be a fraction")
        for key in ("train_seconds", "epochs_run"):
            if key in m and not _is_number(m[key]):
                raise ValueError(f"{source}: metrics {key} must be a number")
        k = len(self.class_names)
        cm = m.get("confusion_matrix")
        if cm is not None and (not isinstance(cm, list) or len(cm) != k or not all(
                isinstance(row, list) and len(row) == k and all(_is_int(v) and v >= 0
                                                                for v in row) for row in cm)):
            raise ValueError(f"{source}: metrics confusion_matrix must be {k} x {k} counts")
        rows = m.get("per_class")
        if rows is not None and (not isinstance(rows, list) or not all(
                isinstance(row, dict) and isinstance(row.get("class"), str) and all(
                    _is_number(row.get(f)) for f in ("precision", "recall", "support"))
                for row in rows)):
            raise ValueError(f"{source}: metrics per_class is malformed")

    def _validate_preprocessing(self, source: str) -> None:
        from engine.data.normalize import Normalizer

        pre = self.preprocessing
        if not isinstance(pre, dict) or pre.get("kind", "colour") not in KINDS:
            raise ValueError(f"{source}: preprocessing must say kind 'digits' or 'colour'")
        if pre.get("normalizer") is None:
            return  # made in code without one yet; TrainedModel.normalizer says so if used
        try:
            normalizer = Normalizer.from_dict(pre.get("normalizer"))
        except (ValueError, TypeError, KeyError, AttributeError):
            raise ValueError(f"{source}: its normaliser is malformed") from None
        if normalizer.mean.size != self.input_shape[2]:
            raise ValueError(f"{source}: its normaliser has {normalizer.mean.size} channels, "
                             f"the input {self.input_shape[2]}")
