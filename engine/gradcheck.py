"""Centred-difference gradient checks, for tests and for ``python main.py gradcheck``.

The numerical derivative of a scalar function f at an entry x_i is
``(f(x + h e_i) - f(x - h e_i)) / 2h``; it is compared with the analytical gradient the
layers' ``backward`` computed. Checks run in float64 (``astype(np.float64)``). Layers that
draw random numbers (dropout) have their generator restored before every forward pass, so
the same mask is used throughout a check.

:func:`rel_error` is the largest absolute difference divided by the largest gradient
magnitude, so entries whose gradient is almost zero do not turn rounding noise into a
large "relative" error.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from engine.layers.base import Layer
from engine.losses import softmax_cross_entropy
from engine.model import Sequential
from engine.spec import build_model, load_preset

TINY = 1e-12


def rel_error(numerical: np.ndarray, analytical: np.ndarray, scale: float | None = None) -> float:
    """max |numerical - analytical| / max(|analytical|, |numerical|) (or / ``scale``)."""
    numerical = np.asarray(numerical, dtype=np.float64)
    analytical = np.asarray(analytical, dtype=np.float64)
    if numerical.size == 0:
        return 0.0
    if scale is None:
        scale = max(np.abs(numerical).max(), np.abs(analytical).max())
    return float(np.abs(numerical - analytical).max() / max(scale, TINY))


def numerical_gradient(
    f: Callable[[], float],
    x: np.ndarray,
    h: float = 1e-5,
    indices: np.ndarray | None = None,
) -> np.ndarray:
    """Centred differences of ``f()`` with respect to ``x`` (perturbed in place, then restored).

    x: any shape, float64, contiguous. indices: flat indices to check (default: all).
    Returns the derivatives at those indices, flat (len(indices),), or shaped like x when
    checking all.
    """
    flat = x.reshape(-1)
    if not np.shares_memory(flat, x):
        raise ValueError("x must be contiguous so it can be perturbed in place")
    chosen = np.arange(flat.size) if indices is None else np.asarray(indices)
    grad = np.empty(len(chosen))
    for j, i in enumerate(chosen):
        old = flat[i]
        flat[i] = old + h
        plus = f()
        flat[i] = old - h
        minus = f()
        flat[i] = old
        grad[j] = (plus - minus) / (2 * h)
    return grad.reshape(x.shape) if indices is None else grad


def _rng_layers(layers: list[Layer]) -> list[tuple[Layer, dict]]:
    return [(layer, layer.rng.bit_generator.state) for layer in layers if hasattr(layer, "rng")]


def _restore(snapshot: list[tuple[Layer, dict]]) -> None:
    for layer, state in snapshot:
        layer.rng.bit_generator.state = state


def check_layer(
    layer: Layer,
    x: np.ndarray,
    *,
    training: bool = True,
    seed: int = 0,
    h: float = 1e-5,
) -> dict[str, float]:
    """Check a layer's input and parameter gradients on x (any shape the layer takes).

    The layer is cast to float64 in place. The scalar checked is sum(forward(x) * g) for a
    fixed random g. Returns {"x": error, "W": error, ...} (see :func:`rel_error`).
    """
    layer.astype(np.float64)
    x = np.array(x, dtype=np.float64)
    snapshot = _rng_layers([layer])
    _restore(snapshot)
    out = layer.forward(x, training)
    g = np.random.default_rng(seed).standard_normal(out.shape)

    def f() -> float:
        _restore(snapshot)
        return float(np.sum(layer.forward(x, training) * g))

    _restore(snapshot)
    layer.forward(x, training)
    dx = np.array(layer.backward(g))
    analytical = {k: v.copy() for k, v in layer.grads.items()}
    errors = {"x": rel_error(numerical_gradient(f, x, h), dx)}
    for key, param in layer.params.items():
        errors[key] = rel_error(numerical_gradient(f, param, h), analytical[key])
    return errors


def check_loss(
    loss_fn: Callable[..., tuple[float, np.ndarray]],
    pred: np.ndarray,
    *args: Any,
    h: float = 1e-5,
    **kwargs: Any,
) -> float:
    """Check ``loss_fn(pred, *args, **kwargs) -> (loss, dpred)`` against centred differences."""
    pred = np.array(pred, dtype=np.float64)
    _, analytical = loss_fn(pred, *args, **kwargs)
    numerical = numerical_gradient(lambda: loss_fn(pred, *args, **kwargs)[0], pred, h)
    return rel_error(numerical, analytical)


def _sample(
    candidates: np.ndarray, analytical: np.ndarray, count: int, rng: np.random.Generator
) -> np.ndarray:
    """Up to ``count`` candidate indices: half where the analytical gradient is non-zero
    (after a max-pool most entries get none), the rest from all candidates."""
    if candidates.size <= count:
        return candidates
    live = candidates[analytical.reshape(-1)[candidates] != 0]
    first = rng.choice(live, min(count // 2, live.size), replace=False)
    rest = np.setdiff1d(candidates, first)
    second = rng.choice(rest, count - first.size, replace=False)
    return np.sort(np.concatenate([first, second]))


def smallest_input_shape(
    spec: Any, channels: int, num_classes: int = 10, sizes: range = range(8, 65)
) -> tuple[int, int, int]:
    """The smallest square (S, S, channels) input, S >= 8, that the spec can take."""
    last_error: ValueError | None = None
    for size in sizes:
        try:
            build_model(spec, (size, size, channels), num_classes)
        except ValueError as exc:
            last_error = exc
            continue
        return (size, size, channels)
    raise ValueError(f"no input of {sizes.start}..{sizes.stop - 1} pixels fits: {last_error}")


def default_channels(spec: Any) -> int:
    """3 for a preset meant for colour data (its first dataset is cifar10), else 1."""
    if isinstance(spec, str):
        datasets = load_preset(spec).get("datasets", [])
        return 3 if datasets and datasets[0] == "cifar10" else 1
    return 1


def check_model(
    spec_or_name: str | list[dict[str, Any]] | Sequential,
    input_shape: tuple[int, ...] | None = None,
    num_classes: int = 10,
    *,
    batch_size: int = 4,
    samples: int = 12,
    seed: int = 0,
    h: float = 1e-5,
) -> dict[str, float]:
    """Gradient check of a whole model in training mode with softmax cross-entropy.

    Builds the spec (or takes a built model) in float64, feeds random data (batch_size,
    *input_shape) with random labels, and for every layer compares the gradient with
    respect to its input and to each of its parameters at up to ``samples`` random entries
    (input entries that are exactly zero, ReLU outputs where a following max-pool would sit
    on a tie, are not sampled). input_shape defaults to the smallest square input the spec
    takes (:func:`smallest_input_shape`, :func:`default_channels`).

    Returns {layer name: largest relative error}, in layer order; a layer's error is its
    largest absolute difference divided by its largest analytical gradient (input or
    parameter), because some true gradients are zero (a conv bias before BatchNorm).
    """
    if isinstance(spec_or_name, Sequential):
        model = spec_or_name
    else:
        if input_shape is None:
            input_shape = smallest_input_shape(
                spec_or_name, default_channels(spec_or_name), num_classes
            )
        model = build_model(spec_or_name, input_shape, num_classes, seed=seed)
    model.astype(np.float64)
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((batch_size, *model.input_shape))
    y = rng.integers(0, model.num_classes, batch_size)
    layers = model.layers
    snapshot = _rng_layers(layers)

    # One recorded pass: each layer's input and the analytical gradients (copied, because
    # layers may reuse their work arrays on the next call).
    _restore(snapshot)
    inputs = []
    a = x
    for layer in layers:
        inputs.append(np.array(a))
        a = layer.forward(a, True)
    _, d = softmax_cross_entropy(a, y)
    input_grads: list[np.ndarray] = [np.empty(0)] * len(layers)
    param_grads: list[dict[str, np.ndarray]] = [{}] * len(layers)
    for i in range(len(layers) - 1, -1, -1):
        d = layers[i].backward(d)
        input_grads[i] = np.array(d)
        param_grads[i] = {k: v.copy() for k, v in layers[i].grads.items()}

    def loss_from(i: int, a: np.ndarray) -> float:
        _restore(snapshot)
        for layer in layers[i:]:
            a = layer.forward(a, True)
        return softmax_cross_entropy(a, y)[0]

    def differences(
        i: int, target: np.ndarray, analytical: np.ndarray, a_in: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        """(numerical, analytical) at sampled entries of ``target`` (an input or a parameter)."""
        candidates = np.arange(target.size)
        if target is a_in:
            # Exact zeros are ReLU outputs: a max-pool over them is a tie, not differentiable.
            nonzero = np.flatnonzero(target)
            candidates = nonzero if nonzero.size else candidates
        idx = _sample(candidates, analytical, samples, rng)
        ana = analytical.reshape(-1)[idx]
        num = numerical_gradient(lambda: loss_from(i, a_in), target, h, idx)
        bad = np.abs(num - ana) > 1e-7 * max(np.abs(analytical).max(), TINY)
        if bad.any():
            # A ReLU or max-pool kink within h of an entry spoils that difference; a smaller
            # step taken on the same entries tells a kink from a wrong gradient.
            retry = numerical_gradient(lambda: loss_from(i, a_in), target, h / 8, idx[bad])
            better = np.abs(retry - ana[bad]) < np.abs(num[bad] - ana[bad])
            num[np.flatnonzero(bad)[better]] = retry[better]
        return num, ana

    errors: dict[str, float] = {}
    for i, (name, layer) in enumerate(zip(model.layer_names, layers, strict=True)):
        a_in = inputs[i].copy()
        pairs = [differences(i, a_in, input_grads[i], a_in)]
        scale = np.abs(input_grads[i]).max(initial=0.0)
        for key, param in layer.params.items():
            pairs.append(differences(i, param, param_grads[i][key], inputs[i]))
            scale = max(scale, np.abs(param_grads[i][key]).max(initial=0.0))
        worst = max(np.abs(num - ana).max(initial=0.0) for num, ana in pairs)
        errors[name] = float(worst / max(scale, TINY))
    return errors
