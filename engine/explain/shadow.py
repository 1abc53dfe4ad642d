"""A copy of a model's layers that shares its weights, for explaining without side effects.

Explaining needs a backward pass, and a backward pass needs the caches a forward pass leaves
on the layers. Running those passes on the model itself would overwrite what a training step
left there (its forward caches, Conv2D's kept im2col columns and padded inputs, the fused
runs that ``Sequential.backward`` is about to undo), and ``Sequential.forward`` would reset
its record of fused runs and add to its timings. So every pass here runs on deep copies of
the layers whose parameter and buffer arrays are the model's own (shared, never written):
the model itself is never called.

Each layer runs so that the copy computes exactly the model's evaluation-mode function while
still keeping what its backward needs: layers that change state in training (BatchNorm with
its running statistics, anything with buffers; Dropout, anything drawing from an ``rng``)
run in evaluation mode, every other layer (convolution, pooling, dense, activations,
reshapes; they compute the same thing in both modes) runs in training mode so it caches.
"""

from __future__ import annotations

import copy
from typing import Any

import numpy as np

from engine.layers.activations import softmax


def as_shadow(model: Any) -> ShadowNetwork:
    """``model`` itself when it is a ShadowNetwork (reused across calls), else a new one."""
    return model if isinstance(model, ShadowNetwork) else ShadowNetwork(model)


def _changes_state_in_training(layer: Any) -> bool:
    return bool(layer.buffers) or hasattr(layer, "rng")


class ShadowNetwork:
    """Forward and backward passes of ``model``'s evaluation-mode function on private layers.

    ``model`` is a :class:`engine.model.Sequential` (anything with ``layers``,
    ``layer_names``, ``input_shape``, ``output_shapes``, ``num_classes``). Build one per model
    and reuse it for repeated explanations (the GUI's live updates); it sees later in-place
    changes of the model's weights, but not arrays replaced by ``astype``. Building one copies
    whatever else the layers hold, a training step's caches and work arrays included: about
    1 ms for an unused ``digits-bn``, 34 ms for one in the middle of a batch-128 training step
    (``cifar-vgg-bn``: 320 ms), so explain a snapshot, not the model being trained.
    """

    def __init__(self, model: Any) -> None:
        shared: dict[int, Any] = {}
        for layer in model.layers:
            for store in (layer.params, layer.buffers):
                for array in store.values():
                    shared[id(array)] = array
        layers = copy.deepcopy(list(model.layers), memo=shared)
        for layer in layers:
            # A copy must not feed a fused run's statistics, and must give its input gradient
            # even where the model's first layer skips it in training steps.
            if hasattr(layer, "chunk_hook"):
                layer.chunk_hook = None
            if hasattr(layer, "needs_input_grad"):
                layer.needs_input_grad = True
        self.layers = layers
        self.layer_names = list(model.layer_names)
        self.output_shapes = [tuple(s) for s in model.output_shapes]
        self.input_shape = tuple(model.input_shape)
        self.num_classes = int(model.num_classes)
        self.dtype = next(
            (p.dtype for layer in layers for p in layer.params.values()), np.dtype(np.float32))
        self._train_modes = [not _changes_state_in_training(layer) for layer in layers]

    # -- looking up layers ------------------------------------------------------------------
    def layer_index(self, layer: str | int) -> int:
        """The index of a layer given by name or index (negative counts from the end)."""
        if isinstance(layer, str):
            if layer not in self.layer_names:
                raise ValueError(
                    f"no layer named {layer!r}; the layers are {', '.join(self.layer_names)}")
            return self.layer_names.index(layer)
        if isinstance(layer, bool) or not isinstance(layer, int | np.integer):
            raise ValueError(f"a layer is a name or an index, got {layer!r}")
        count = len(self.layers)
        if not -count <= layer < count:
            raise ValueError(f"layer index {layer} is out of range: the model has {count} layers")
        return int(layer) % count

    def check_batch(self, x: np.ndarray) -> np.ndarray:
        """x: (N, *input_shape) -> the same, in the network's dtype; ValueError otherwise."""
        x = np.asarray(x)
        if x.ndim != len(self.input_shape) + 1 or tuple(x.shape[1:]) != self.input_shape:
            raise ValueError(
                f"the model takes images of shape {'x'.join(map(str, self.input_shape))}, "
                f"got {'x'.join(map(str, x.shape[1:]))}")
        return np.ascontiguousarray(x, dtype=self.dtype)

    def one_image(self, x: np.ndarray) -> np.ndarray:
        """x: one image (*input_shape) -> (1, *input_shape) in the network's dtype."""
        x = np.asarray(x)
        if x.ndim == len(self.input_shape):
            x = x[None]
        if len(x) != 1:
            raise ValueError(f"explains one image at a time, got {len(x)}")
        return self.check_batch(x)

    def check_class(self, class_index: int | None, logits: np.ndarray) -> int:
        """``class_index``, or the predicted class when it is None; ValueError when out of range."""
        if class_index is None:
            return int(np.argmax(logits))
        if isinstance(class_index, bool) or not isinstance(class_index, int | np.integer):
            raise ValueError(f"a class is given by its index, got {class_index!r}")
        if not 0 <= class_index < self.num_classes:
            raise ValueError(f"class {class_index} is out of range: the model has "
                             f"{self.num_classes} classes (0-{self.num_classes - 1})")
        return int(class_index)

    # -- passes -----------------------------------------------------------------------------
    def forward(self, x: np.ndarray, keep: int | None = None
                ) -> tuple[np.ndarray, np.ndarray | None]:
        """x: (N, *input_shape) -> (logits (N, K), output of layer ``keep`` or None), caching
        what :meth:`backward` needs."""
        x = self.check_batch(x)
        kept = None
        for i, (layer, train) in enumerate(zip(self.layers, self._train_modes, strict=True)):
            x = layer.forward(x, train)
            if i == keep:
                kept = x
        return x, kept

    def backward(self, dlogits: np.ndarray, down_to: int = -1) -> np.ndarray:
        """dlogits: (N, K) -> gradient with respect to the output of layer ``down_to``
        ((N, *output_shapes[down_to])), or to the input when ``down_to`` is -1.
        Follows the last :meth:`forward`."""
        d = np.asarray(dlogits, dtype=self.dtype)
        for layer in reversed(self.layers[down_to + 1:]):
            d = layer.backward(d)
        return d

    def class_gradient(self, x: np.ndarray, class_index: int | None, down_to: int = -1
                       ) -> tuple[np.ndarray, np.ndarray, np.ndarray | None, int]:
        """One image x (1, *input_shape): the gradient of the class logit with respect to
        layer ``down_to``'s output (or the input, -1), with the logits (1, K), that layer's
        output (None for the input) and the class explained (the predicted one if None)."""
        logits, kept = self.forward(x, keep=down_to if down_to >= 0 else None)
        c = self.check_class(class_index, logits[0])
        dlogits = np.zeros_like(logits)
        dlogits[:, c] = 1
        return self.backward(dlogits, down_to), logits, kept, c

    def logits(self, x: np.ndarray, batch_size: int = 128) -> np.ndarray:
        """x: (N, *input_shape) -> (N, K) logits, evaluation mode, in batches."""
        x = self.check_batch(x)
        out = []
        for start in range(0, len(x), batch_size):
            y = x[start:start + batch_size]
            for layer in self.layers:
                y = layer.forward(y, False)
            out.append(y)
        if not out:
            return np.zeros((0, self.num_classes), self.dtype)
        return np.concatenate(out)

    def probabilities(self, x: np.ndarray, batch_size: int = 128) -> np.ndarray:
        """x: (N, *input_shape) -> (N, K) softmax probabilities (float64)."""
        return softmax(self.logits(x, batch_size).astype(np.float64))
