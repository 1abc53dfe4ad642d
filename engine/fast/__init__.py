"""Speed only: fused runs, Winograd, chunked convolution and the benchmark.

Each run here has a plain equivalent in engine.layers that the tests compare it with. The
dependency goes one way: this package uses the layers' and the model's public interface, and
:func:`install` registers it with them (``engine/__init__.py`` calls it); without it the
network computes the same, layer by layer and by im2col.
"""

from __future__ import annotations

from engine.fast import conv_winograd, fused
from engine.layers.conv_algorithm import register_algorithm
from engine.model import set_run_planner


def install() -> None:
    """Register Winograd as a Conv2D algorithm and the fused-run planner with Sequential."""
    register_algorithm(conv_winograd.ALGORITHM)
    set_run_planner(fused.PLANNER)
