"""A trained network together with what it needs to be used on new images."""

from __future__ import annotations

from typing import Any

import numpy as np

from engine.model import shape_text
from engine.model_meta import ModelMeta


class ModelMismatchError(ValueError):
    """A model opened against images or a dataset of another shape or class count."""


class TrainedModel:
    """A built engine model plus everything needed to use it on new images.

    ``model``: the engine model; ``meta``: a :class:`~engine.model_meta.ModelMeta` (a dict of
    the same fields is checked and converted): class_names, input_shape, preprocessing,
    metrics, training, dataset, ...
    """

    def __init__(self, model: Any, meta: ModelMeta | dict) -> None:
        self.model = model
        self.meta = meta if isinstance(meta, ModelMeta) else ModelMeta.from_dict(dict(meta))
        self._normalizer = None

    @property
    def class_names(self) -> list[str]:
        return list(self.meta.class_names)

    @property
    def input_shape(self) -> tuple[int, int, int]:
        return tuple(self.meta.input_shape)

    @property
    def num_classes(self) -> int:
        return len(self.meta.class_names)

    @property
    def kind(self) -> str:
        """"digits" (MNIST-style preprocessing of drawings and scans) or "colour"."""
        return self.meta.preprocessing.get("kind", "colour")

    @property
    def normalizer(self) -> Any:
        if self._normalizer is None:
            from engine.data.normalize import Normalizer

            stored = self.meta.preprocessing.get("normalizer")
            if stored is None:
                raise ModelMismatchError("the model has no normaliser, so it cannot be used on "
                                         "images (its file is incomplete)")
            self._normalizer = Normalizer.from_dict(stored)
        return self._normalizer

    def normalize(self, x: np.ndarray) -> np.ndarray:
        """x: (N, H, W, C) uint8 in the model's input shape -> float32 network input."""
        self.check_images(x)
        return self.normalizer.norm(x)

    @property
    def tta(self) -> str:
        """The test-time augmentation this model predicts with (``engine.tta.TTA_MODES``)."""
        return self.meta.get("tta", "none")

    def predict_proba(self, x: np.ndarray, batch_size: int = 256) -> np.ndarray:
        """x: (N, H, W, C) uint8 -> (N, K) class probabilities, with the model's test-time
        augmentation (:attr:`tta`) when it has one."""
        if self.tta == "none":
            return self.model.predict_proba(self.normalize(x), batch_size=batch_size)
        from engine.layers.activations import softmax
        from engine.tta import tta_logits

        return softmax(tta_logits(self.model, self.normalize(x), self.tta, batch_size))

    def with_class_names(self, names: list[str]) -> TrainedModel:
        """The same network under other class names (an imported model's 0..N-1, say).

        Raises ValueError in one line unless there is one distinct, non-empty name per output.
        """
        names = [str(n).strip() for n in names]
        if len(names) != self.num_classes:
            raise ValueError(f"the model has {self.num_classes} classes, got "
                             f"{len(names)} names")
        if not all(names):
            raise ValueError("a class name is empty")
        if len(set(names)) != len(names):
            twice = sorted({n for n in names if names.count(n) > 1})
            raise ValueError(f"class names must differ; given twice: {', '.join(twice)}")
        fields = self.meta.to_dict()
        fields["class_names"] = names
        return TrainedModel(self.model, ModelMeta.from_dict(fields))

    def check_images(self, x: np.ndarray) -> None:
        if tuple(x.shape[1:]) != self.input_shape:
            raise ModelMismatchError(
                f"the model takes {shape_text(self.input_shape)} images, "
                f"got {shape_text(x.shape[1:])}")

    def check_dataset(self, dataset: Any) -> None:
        """Raise ModelMismatchError unless ``dataset`` has this model's input shape and classes."""
        shape = tuple(dataset.input_shape)
        classes = len(dataset.class_names)
        if shape != self.input_shape or classes != self.num_classes:
            name = getattr(dataset, "name", "the dataset")
            raise ModelMismatchError(
                f"this model was trained on {shape_text(self.input_shape)} images in "
                f"{self.num_classes} classes, but {name} has {shape_text(shape)} images in "
                f"{classes} classes; open it with a dataset like the one it was trained on "
                f"({self.meta.dataset.get('name', 'unknown')})")
