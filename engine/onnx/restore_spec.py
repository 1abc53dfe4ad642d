"""Training-only settings back from a CNN Studio export's ``engine_spec`` metadata.

An inference graph loses what only training needs: dropout layers, which parameters are frozen,
initialisers, BatchNorm momentum, that a first convolution is a patch whitening or that a
BatchNorm's scale is fixed. The exporter writes the engine's layer list as metadata; on import
each of its entries is accepted only where the graph itself computes the same thing (same type,
sizes, strides, padding, epsilon, factors; a "no bias" only over a zero bias, a fixed scale only
over a gamma of ones). Any disagreement and the graph's own layers are kept as they are.
"""

from __future__ import annotations

import json
from typing import Any

import numpy as np

from engine.onnx.import_state import EngineLayer


def _pads(entry: dict[str, Any]) -> tuple[int, int] | None:
    k, padding = entry.get("kernel_size"), entry.get("padding", "valid")
    if not isinstance(k, int):
        return None
    if padding == "same":
        return (k - 1) // 2, k - 1 - (k - 1) // 2
    if padding == "valid":
        return 0, 0
    return (padding, padding) if isinstance(padding, int) else None


def _same_float32(a: Any, b: Any) -> bool:
    return isinstance(a, int | float) and isinstance(b, int | float) and \
        np.float32(a) == np.float32(b)


def _fits(entry: dict[str, Any], layer: EngineLayer) -> bool:
    """Whether ``entry`` (from the metadata) computes what ``layer`` (from the graph) does."""
    kind, found = entry.get("type"), layer.spec
    arrays = layer.arrays
    if kind == "whiten":
        k = entry.get("kernel_size")
        W = arrays.get("W")
        return (found["type"] == "conv2d" and W is not None and W.shape[:2] == (k, k)
                and W.shape[3] == 2 * k * k * W.shape[2] and found["stride"] == 1
                and _pads(found) == (0, 0))
    if kind != found["type"]:
        return False
    if kind in ("conv2d", "dense") and entry.get("bias") is False and np.any(arrays["b"]):
        return False
    if kind == "conv2d":
        return all(entry.get(key) == found[key] for key in ("filters", "kernel_size", "stride")) \
            and _pads(entry) == _pads(found)
    if kind == "dense":
        return entry.get("units") == found["units"]
    if kind == "batchnorm":
        fixed_scale_ok = entry.get("scale", True) or np.all(arrays["gamma"] == 1)
        return bool(fixed_scale_ok) and _same_float32(entry.get("eps"), found["eps"])
    if kind in ("maxpool2d", "avgpool2d"):
        return all(entry.get(key) == found[key] for key in ("pool_size", "stride"))
    if kind == "leaky_relu":
        return _same_float32(entry.get("alpha"), found["alpha"])
    if kind == "scale":
        return _same_float32(entry.get("factor"), found["factor"])
    return True


def restore_spec(layers: list[EngineLayer], exported: str | None) -> list[EngineLayer] | None:
    """``layers`` (read from the graph) with the exported entries' settings, dropout layers put
    back; None when ``exported`` is absent, malformed or disagrees with the graph."""
    try:
        entries = json.loads(exported) if exported else None
    except json.JSONDecodeError:
        return None
    if not isinstance(entries, list) or not all(
            isinstance(e, dict) and isinstance(e.get("type"), str) for e in entries):
        return None
    restored: list[EngineLayer] = []
    found = iter(layers)
    for entry in entries:
        if entry["type"] == "dropout":  # the identity in inference: safe to put back
            restored.append(EngineLayer(dict(entry)))
            continue
        layer = next(found, None)
        if layer is None or not _fits(entry, layer):
            return None
        restored.append(EngineLayer(dict(entry), layer.arrays))
    if next(found, None) is not None:
        return None
    return restored
