"""Faster ways to compute some Conv2D layers, registered by the fast path.

Conv2D computes by im2col on its own. ``engine.fast`` registers faster algorithms here
(Winograd F(4x4, 3x3) for 3x3 stride-1 layers), so the readable layer never imports the
fast path and works, slower, without it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from engine.layers.base import Layer

# The layer these algorithms compute: an engine.layers.conv.Conv2D (which imports this module).
Conv2D = Layer


@dataclass(frozen=True)
class ConvAlgorithm:
    """One algorithm: ``name`` is what ``Conv2D.algorithm`` is set to to force it;
    ``handles(conv)`` says whether it can compute that layer at all, ``preferred(conv)``
    whether ``"auto"`` picks it. ``forward(conv, x, y, role) -> state`` writes the
    convolution of x (N, H, W, C_in) into y (N, Ho, Wo, C_out) (``role``: "train" or "eval",
    to keep their scratch apart); ``backward(conv, state, dout, dx)`` sets ``conv.grads``
    from dout (N, Ho, Wo, C_out) and fills dx (N, H, W, C_in) unless it is None.
    """

    name: str
    handles: Callable[[Conv2D], bool]
    preferred: Callable[[Conv2D], bool]
    forward: Callable[[Conv2D, np.ndarray, np.ndarray, str], Any]
    backward: Callable[[Conv2D, Any, np.ndarray, np.ndarray | None], None]


_registered: dict[str, ConvAlgorithm] = {}


def register_algorithm(algorithm: ConvAlgorithm) -> None:
    """Make ``algorithm`` available to every Conv2D (the fast path calls this)."""
    _registered[algorithm.name] = algorithm


def algorithm_for(conv: Conv2D, choice: str) -> ConvAlgorithm | None:
    """The registered algorithm that computes ``conv`` for its ``algorithm`` setting
    ``choice`` ("auto", "im2col" or a registered name), or None for im2col."""
    if choice == "auto":
        return next((a for a in _registered.values() if a.handles(conv) and a.preferred(conv)),
                    None)
    algorithm = _registered.get(choice)
    return algorithm if algorithm is not None and algorithm.handles(conv) else None
