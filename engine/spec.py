"""Architecture specs (JSON-able lists of layer dicts) -> models, with shape inference.

A spec is a preset name (``models/<name>.json``), a preset dict with ``"layers"``, or a list
of layer dicts such as ``{"type": "conv2d", "filters": 32, "kernel_size": 3, "padding":
"same"}``. :func:`build_model` fills in defaults, infers every shape from ``input_shape`` and
refuses a bad spec with a :class:`~engine.spec_error.SpecError` (a ``ValueError``) naming the
layer (1-based) and the problem, e.g. ``layer 4 (maxpool2d): input 3x3 is smaller than the
4x4 pool``, and carrying the layer index and the field at fault as attributes.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import numpy as np

from engine.layers import (
    GELU,
    AvgPool2D,
    BatchNorm,
    Conv2D,
    Dense,
    Dropout,
    Flatten,
    GlobalAvgPool2D,
    Layer,
    LeakyReLU,
    MaxPool2D,
    PatchWhitening,
    ReLU,
    Scale,
    Sigmoid,
    Softmax,
    Tanh,
)
from engine.model import Sequential, shape_text
from engine.spec_error import FieldError, SpecError

MODELS_DIR = Path(__file__).resolve().parent.parent / "models"

# type -> (name prefix, {key: default}); a default of REQUIRED must be given, a key whose
# default is OPTIONAL is allowed but left out of the resolved layer when not given (so specs
# and the app's layer editor only show a "frozen" list where there is one).
REQUIRED = object()
OPTIONAL = object()
LAYER_TYPES: dict[str, tuple[str, dict[str, Any]]] = {
    "conv2d": ("conv", {"filters": REQUIRED, "kernel_size": 3, "stride": 1, "padding": "valid",
                        "bias": True, "init": "he", "frozen": OPTIONAL}),
    "batchnorm": ("bn", {"momentum": 0.9, "eps": 1e-5, "scale": True, "frozen": OPTIONAL}),
    "relu": ("relu", {}),
    "gelu": ("gelu", {}),
    "leaky_relu": ("lrelu", {"alpha": 0.01}),
    "sigmoid": ("sigmoid", {}),
    "tanh": ("tanh", {}),
    "softmax": ("softmax", {}),
    "maxpool2d": ("pool", {"pool_size": 2, "stride": None}),
    "avgpool2d": ("avgpool", {"pool_size": 2, "stride": None}),
    "global_avgpool2d": ("gap", {}),
    "dropout": ("dropout", {"rate": 0.5}),
    "flatten": ("flatten", {}),
    "dense": ("dense", {"units": REQUIRED, "bias": True, "init": "auto", "frozen": OPTIONAL}),
    "scale": ("scale", {"factor": REQUIRED}),
    "whiten": ("whiten", {"kernel_size": 2, "eps": 5e-4, "bias_epochs": 3, "frozen": OPTIONAL}),
}
IMAGE_TYPES = ("whiten", "conv2d", "maxpool2d", "avgpool2d", "global_avgpool2d")
# The parameters a "frozen" list may name, by layer type.
PARAM_NAMES = {"whiten": ("W", "b"), "conv2d": ("W", "b"), "batchnorm": ("gamma", "beta"),
               "dense": ("W", "b")}
CONV_INITS = ("he", "uniform", "dirac")
DENSE_INITS = ("auto", "he", "glorot", "uniform")


# -- presets -------------------------------------------------------------------------------
def list_presets() -> list[str]:
    """Names of the architecture presets in ``models/`` (sorted)."""
    return sorted(p.stem for p in MODELS_DIR.glob("*.json"))


def load_preset(name: str) -> dict[str, Any]:
    """The preset ``models/<name>.json`` as a dict: name, note, datasets, layers, recommended."""
    names = list_presets()
    if name not in names:
        raise ValueError(f"unknown architecture {name!r} (presets: {', '.join(names)})")
    path = MODELS_DIR / f"{name}.json"
    try:
        preset = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise ValueError(f"{path}: not valid JSON: {exc}") from exc
    for key in ("name", "note", "layers"):
        if key not in preset:
            raise ValueError(f"{path}: preset lacks the {key!r} field")
    preset.setdefault("datasets", [])
    preset.setdefault("recommended", {})
    return preset


# -- building ------------------------------------------------------------------------------
def _is_int(value: Any) -> bool:
    return isinstance(value, int | np.integer) and not isinstance(value, bool)


def _positive_int(value: Any, key: str) -> int:
    if not _is_int(value) or value < 1:
        raise FieldError(key, f"{key} must be a positive integer, got {value!r}")
    return int(value)


def _window(value: Any, key: str) -> int:
    """Square windows only: an int or a pair of equal ints."""
    if isinstance(value, list | tuple) and len(value) == 2 and value[0] == value[1]:
        value = value[0]
    return _positive_int(value, key)


def _positive_number(value: Any, key: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not value > 0:
        raise FieldError(key, f"{key} must be a positive number, got {value!r}")
    return float(value)


def _frozen_list(value: Any, names: tuple[str, ...]) -> list[str]:
    """A "frozen" entry: a list of this layer's parameter names, returned sorted."""
    if not isinstance(value, list | tuple) or not all(isinstance(v, str) for v in value):
        raise FieldError("frozen", "frozen must be a list of parameter names "
                         f"({', '.join(names)}), got {value!r}")
    unknown = sorted(set(value) - set(names))
    if unknown:
        raise FieldError("frozen", f"frozen names no parameter {unknown[0]!r} (this layer has: "
                         f"{', '.join(names)})")
    return sorted(set(value))


def resolve_layer(entry: Any, num_classes: int) -> dict[str, Any]:
    """Check one layer dict's type and keys and fill in defaults (no shapes yet)."""
    if not isinstance(entry, dict) or "type" not in entry:
        raise ValueError(f'expected a dict with a "type" such as {{"type": "relu"}}, got {entry!r}')
    kind = entry["type"]
    if not isinstance(kind, str) or kind not in LAYER_TYPES:
        raise FieldError("type", f"unknown layer type {kind!r} (known: {', '.join(LAYER_TYPES)})")
    _, defaults = LAYER_TYPES[kind]
    unknown = sorted(set(entry) - set(defaults) - {"type"})
    if unknown:
        allowed = ", ".join(defaults) or "none"
        raise FieldError(unknown[0], f"unknown key {unknown[0]!r} (allowed: {allowed})")
    resolved: dict[str, Any] = {"type": kind}
    for key, default in defaults.items():
        if key in entry:
            resolved[key] = entry[key]
        elif default is REQUIRED:
            raise FieldError(key, f"missing required key {key!r}")
        elif default is OPTIONAL:
            continue
        else:
            resolved[key] = default
    if kind == "dense":
        units = resolved["units"]
        resolved["units"] = num_classes if units == "num_classes" else _positive_int(units, "units")
    elif kind == "conv2d":
        resolved["filters"] = _positive_int(resolved["filters"], "filters")
        resolved["kernel_size"] = _window(resolved["kernel_size"], "kernel_size")
        resolved["stride"] = _window(resolved["stride"], "stride")
        padding = resolved["padding"]
        if padding not in ("same", "valid") and not (_is_int(padding) and padding >= 0):
            raise FieldError(
                "padding",
                f'padding must be "same", "valid" or a non-negative integer, got {padding!r}',
            )
    if "frozen" in resolved:
        resolved["frozen"] = _frozen_list(resolved["frozen"], PARAM_NAMES[kind])
    for key in ("bias", "scale"):
        if key in resolved and not isinstance(resolved[key], bool):
            raise FieldError(key, f"{key} must be true or false, got {resolved[key]!r}")
    if kind == "conv2d" and resolved["init"] not in CONV_INITS:
        raise FieldError("init",
                         f"init must be one of {', '.join(CONV_INITS)}, got {resolved['init']!r}")
    if kind == "dense" and resolved["init"] not in DENSE_INITS:
        raise FieldError("init",
                         f"init must be one of {', '.join(DENSE_INITS)}, got {resolved['init']!r}")
    if kind == "whiten":
        resolved["kernel_size"] = _positive_int(resolved["kernel_size"], "kernel_size")
        _positive_number(resolved["eps"], "eps")
        epochs = resolved["bias_epochs"]
        if epochs is not None and (not _is_int(epochs) or epochs < 0):
            raise FieldError("bias_epochs",
                             f"bias_epochs must be a whole number >= 0 or null, got {epochs!r}")
    if kind == "scale":
        factor = resolved["factor"]
        if (isinstance(factor, bool) or not isinstance(factor, int | float)
                or not np.isfinite(factor) or factor == 0):
            raise FieldError("factor", f"factor must be a finite non-zero number, got {factor!r}")
    elif kind in ("maxpool2d", "avgpool2d"):
        resolved["pool_size"] = _window(resolved["pool_size"], "pool_size")
        stride = resolved["stride"]
        resolved["stride"] = resolved["pool_size"] if stride is None else _window(stride, "stride")
    return resolved


def _check_image_input(kind: str, shape: tuple[int, ...], layer: dict[str, Any]) -> None:
    """Refuse, with a readable message, an input a conv / pool layer cannot take."""
    if len(shape) != 3:
        raise ValueError(
            f"{kind} needs an image input (H, W, C) but gets a flat ({shape[0]},) vector; "
            "image layers must come before flatten/dense"
        )
    h, w = shape[:2]
    if kind in ("maxpool2d", "avgpool2d"):
        p = layer["pool_size"]
        if h < p or w < p:
            raise FieldError("pool_size", f"input {h}x{w} is smaller than the {p}x{p} pool")


def _make_layer(
    layer: dict[str, Any],
    shape: tuple[int, ...],
    init_rng: np.random.Generator,
    dropout_seeds: np.random.SeedSequence,
    dense_init: str,
) -> Layer:
    built = _make_unfrozen_layer(layer, shape, init_rng, dropout_seeds, dense_init)
    built.frozen.update(layer.get("frozen", ()))
    return built


def _make_unfrozen_layer(
    layer: dict[str, Any],
    shape: tuple[int, ...],
    init_rng: np.random.Generator,
    dropout_seeds: np.random.SeedSequence,
    dense_init: str,
) -> Layer:
    kind = layer["type"]
    if kind == "conv2d":
        return Conv2D(
            shape[-1],
            layer["filters"],
            layer["kernel_size"],
            stride=layer["stride"],
            padding=layer["padding"],
            rng=init_rng,
            bias=layer["bias"],
            init=layer["init"],
        )
    if kind == "whiten":
        return PatchWhitening(shape[-1], layer["kernel_size"], eps=layer["eps"],
                              bias_epochs=layer["bias_epochs"])
    if kind == "scale":
        return Scale(layer["factor"])
    if kind in ("maxpool2d", "avgpool2d", "global_avgpool2d"):
        if kind == "global_avgpool2d":
            return GlobalAvgPool2D()
        cls = MaxPool2D if kind == "maxpool2d" else AvgPool2D
        return cls(layer["pool_size"], stride=layer["stride"])
    if kind == "dense":
        if len(shape) != 1:
            raise ValueError(
                f"dense needs a flat (features,) input but gets {shape_text(shape)}; "
                'add {"type": "flatten"} before it'
            )
        init = dense_init if layer["init"] == "auto" else layer["init"]
        return Dense(shape[0], layer["units"], rng=init_rng, init=init, bias=layer["bias"])
    if kind == "batchnorm":
        return BatchNorm(shape[-1], momentum=layer["momentum"], eps=layer["eps"],
                         scale=layer["scale"])
    if kind == "dropout":
        return Dropout(layer["rate"], rng=np.random.default_rng(dropout_seeds.spawn(1)[0]))
    if kind == "leaky_relu":
        return LeakyReLU(layer["alpha"])
    simple = {"relu": ReLU, "gelu": GELU, "sigmoid": Sigmoid, "tanh": Tanh, "softmax": Softmax}
    if kind == "flatten":
        return Flatten()
    return simple[kind]()


def _dense_init(layers: list[dict[str, Any]], index: int) -> str:
    """He init when the dense layer feeds a ReLU (through BN / dropout), Glorot otherwise."""
    for later in layers[index + 1 :]:
        if later["type"] in ("batchnorm", "dropout"):
            continue
        return "he" if later["type"] in ("relu", "leaky_relu", "gelu") else "glorot"
    return "glorot"


def _check_shape_args(input_shape: Any, num_classes: Any) -> tuple[tuple[int, ...], int]:
    try:
        shape = tuple(input_shape)
    except TypeError:
        shape = ()
    if len(shape) not in (1, 3) or not all(_is_int(d) and d >= 1 for d in shape):
        raise ValueError(
            f"input_shape must be (H, W, C) or (features,) positive integers, got {input_shape!r}"
        )
    if not _is_int(num_classes) or num_classes < 2:
        raise ValueError(f"num_classes must be an integer >= 2, got {num_classes!r}")
    return tuple(int(d) for d in shape), int(num_classes)


def _spec_layers(spec: Any) -> tuple[list[Any], str]:
    if isinstance(spec, str):
        return load_preset(spec)["layers"], spec
    if isinstance(spec, dict):
        if "layers" not in spec:
            raise SpecError('a spec dict needs a "layers" list')
        return spec["layers"], str(spec.get("name", "custom"))
    if isinstance(spec, list | tuple):
        return list(spec), "custom"
    raise SpecError(
        f"spec must be a preset name or a list of layer dicts, got {type(spec).__name__}"
    )


def build_model(
    spec: str | list[dict[str, Any]] | dict[str, Any],
    input_shape: tuple[int, ...] = (28, 28, 1),
    num_classes: int = 10,
    seed: int = 0,
) -> Sequential:
    """Build a :class:`~engine.model.Sequential` from a spec, inferring every shape.

    input_shape: per-sample (H, W, C) or (features,). Weights come from ``seed`` (each
    dropout layer gets its own generator spawned from it), so the same call gives the same
    model. Raises ValueError("layer i (type): problem") for a bad spec.
    """
    raw_layers, arch_name = _spec_layers(spec)
    shape, num_classes = _check_shape_args(input_shape, num_classes)
    if not _is_int(seed) or seed < 0:
        raise ValueError(f"seed must be a non-negative integer, got {seed!r}")
    if not raw_layers:
        raise SpecError("the spec has no layers")
    resolved = []
    for i, entry in enumerate(raw_layers, start=1):
        label = entry.get("type") if isinstance(entry, dict) else None
        try:
            resolved.append(resolve_layer(copy.deepcopy(entry), num_classes))
        except ValueError as exc:
            known = isinstance(label, str) and label in LAYER_TYPES
            prefix = f"layer {i} ({label})" if known else f"layer {i}"
            raise SpecError(f"{prefix}: {exc}", i, label if known else None,
                            exc.field if isinstance(exc, FieldError) else None) from None

    root = np.random.SeedSequence(int(seed))
    init_seed, dropout_seeds = root.spawn(2)
    init_rng = np.random.default_rng(init_seed)
    layers: list[Layer] = []
    names: list[str] = []
    shapes: list[tuple[int, ...]] = []
    counters: dict[str, int] = {}
    for i, layer in enumerate(resolved, start=1):
        kind = layer["type"]
        try:
            if kind in IMAGE_TYPES:
                _check_image_input(kind, shape, layer)
            built = _make_layer(layer, shape, init_rng, dropout_seeds, _dense_init(resolved, i - 1))
            shape = tuple(int(d) for d in built.output_shape(shape))
            if 0 in shape:
                raise ValueError(f"output would be empty ({shape_text(shape)})")
        except ValueError as exc:
            raise SpecError(f"layer {i} ({kind}): {exc}", i, kind,
                            exc.field if isinstance(exc, FieldError) else None) from None
        prefix = LAYER_TYPES[kind][0]
        counters[prefix] = counters.get(prefix, 0) + 1
        layers.append(built)
        names.append(f"{prefix}{counters[prefix]}")
        shapes.append(shape)

    last = resolved[-1]["type"]
    if last == "softmax":
        raise SpecError(
            f"layer {len(resolved)} (softmax): the model must end with logits; the loss and "
            "predict_proba apply softmax themselves, so remove this layer",
            len(resolved), "softmax")
    if shape != (num_classes,):
        raise SpecError(
            f"the spec's output is {shape_text(shape)} but the dataset has {num_classes} "
            'classes: end it with {"type": "dense", "units": "num_classes"}')
    return Sequential(
        layers,
        names,
        input_shape=tuple(int(d) for d in input_shape),
        num_classes=num_classes,
        spec=resolved,
        arch_name=arch_name,
        output_shapes=shapes,
    )
