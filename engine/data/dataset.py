"""The in-memory dataset every loader returns."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

KINDS = ("digits", "grey", "colour")
# Per-sample input shape (H, W, C) of each kind: the registry's datasets are read at these
# sizes, and image folders are resized to them unless asked otherwise.
KIND_INPUT_SHAPES = {"digits": (28, 28, 1), "grey": (28, 28, 1), "colour": (32, 32, 3)}


@dataclass
class Dataset:
    """Train and test arrays plus what a model and the app need to know about them.

    x_train: (N, H, W, C) uint8, 0..255;   y_train: (N,) int64 class indices
    x_test:  (M, H, W, C) uint8;           y_test:  (M,) int64
    kind: "digits" (28x28 grey, MNIST-style digit preprocessing), "colour" (RGB, resized), or
        "grey" (28x28 grey objects such as Fashion-MNIST: cropped and fitted, not digit-scaled).
    class_names: readable names, e.g. "০ (0)" for NumtaDB; ascii_names: the same in plain ASCII
        (for fonts or terminals that lack a script), equal to class_names when already ASCII.
    source: the file or folder the arrays were read from; notes: how the splits were made.
    """

    name: str
    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    class_names: list[str]
    kind: str
    source: str
    ascii_names: list[str] = field(default_factory=list)
    notes: str = ""
    from_cache: bool = False

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"kind must be one of {KINDS}, got {self.kind!r}")
        if not self.ascii_names:
            self.ascii_names = list(self.class_names)

    @property
    def input_shape(self) -> tuple[int, int, int]:
        """Per-sample shape (H, W, C)."""
        return tuple(int(d) for d in self.x_train.shape[1:])  # type: ignore[return-value]

    @property
    def num_classes(self) -> int:
        return len(self.class_names)

    @property
    def display_names(self) -> list[str]:
        """Alias of ``class_names``: the readable names to show."""
        return self.class_names

    def __repr__(self) -> str:
        return (
            f"Dataset({self.name!r}, train={len(self.y_train)}, test={len(self.y_test)}, "
            f"input_shape={self.input_shape}, classes={self.num_classes}, kind={self.kind!r})"
        )
