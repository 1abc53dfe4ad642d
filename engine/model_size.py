"""How many parameters a spec asks for, bounded from above without building anything.

A model file names its network by a spec and stores the arrays. A crafted file could ask for a
network of billions of parameters while storing a few bytes; building it would allocate them
before the stored arrays are found not to fit. :func:`check_spec_size` bounds the count first.
"""

from __future__ import annotations

import copy
import math
from typing import Any

from engine.spec import load_preset, resolve_layer

MAX_LAYERS = 1000
# The bound may exceed the true count (it rounds output sizes up), never fall below it.
SLACK_FACTOR = 4
SLACK_VALUES = 1_000_000


def _layers(spec: Any) -> list:
    if isinstance(spec, str):
        return load_preset(spec)["layers"]
    if isinstance(spec, dict) and isinstance(spec.get("layers"), list):
        return spec["layers"]
    if isinstance(spec, list):
        return spec
    raise ValueError("the network description (spec) is not a list of layers")


def parameter_upper_bound(spec: Any, input_shape: list[int], num_classes: int) -> int:
    """An upper bound of the number of parameters (and statistics) ``spec`` builds.

    input_shape: [H, W, C]. Raises ValueError for a malformed layer.
    """
    layers = _layers(spec)
    if len(layers) > MAX_LAYERS:
        raise ValueError(f"the network has {len(layers)} layers, more than {MAX_LAYERS}")
    h, w, c = input_shape
    flat: int | None = None
    total = 0
    for index, entry in enumerate(layers, start=1):
        try:
            layer = resolve_layer(copy.deepcopy(entry), num_classes)
        except (ValueError, TypeError, KeyError, AttributeError) as exc:
            raise ValueError(f"layer {index}: {exc}") from None
        kind = layer["type"]
        if kind == "flatten":
            flat = h * w * c
        elif kind == "global_avgpool2d":
            h = w = 1
        elif "units" in layer:
            inputs = flat if flat is not None else h * w * c
            total += inputs * int(layer["units"]) + int(layer["units"])
            flat = int(layer["units"])
        elif "filters" in layer:
            k = int(layer.get("kernel_size", 1))
            total += k * k * c * int(layer["filters"]) + int(layer["filters"])
            c = int(layer["filters"])
            h, w = _strided(h, w, layer.get("stride", 1))
        elif "pool_size" in layer:
            h, w = _strided(h, w, layer.get("stride") or layer["pool_size"])
        else:  # batchnorm and any per-channel layer: a few values per channel at most
            total += 4 * (flat if flat is not None else c)
    return total


def _strided(h: int, w: int, stride: Any) -> tuple[int, int]:
    s = max(int(stride), 1) if isinstance(stride, int) else 1
    return math.ceil(h / s), math.ceil(w / s)


def check_spec_size(spec: Any, input_shape: list[int], num_classes: int,
                    stored_values: int) -> None:
    """ValueError unless ``spec`` could fit in the ``stored_values`` numbers of a model file."""
    bound = parameter_upper_bound(spec, input_shape, num_classes)
    if bound > SLACK_FACTOR * stored_values + SLACK_VALUES:
        raise ValueError(f"the network described needs up to {bound} parameters but the file "
                         f"stores only {stored_values} numbers")
