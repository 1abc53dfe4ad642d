"""Fused execution of layer runs in training steps: Conv2D -> BatchNorm -> ReLU ->
MaxPool2D(2) (:class:`engine.fast.conv_bn_relu_pool.ConvBNReLUPool`), a Winograd Conv2D ->
[ReLU ->] MaxPool2D(2), with a ReLU before it too (:class:`engine.fast.conv_pool.ConvPool`),
and ReLU -> MaxPool2D (:class:`engine.fast.relu_max_pool.ReLUMaxPool`).

``Sequential`` finds such runs when it is built (through :data:`PLANNER`, registered by
``engine.fast.install``) and, in training mode, executes each through its fused class
instead of layer by layer. The layers stay what they are (names, params,
grads, buffers, state_dict keys, summary); only the work between them changes. Results equal
the layer-by-layer path up to float rounding (tests/engine/fast/test_fused.py). Evaluation-mode
passes and runs that do not fit (odd sizes) go layer by layer. :func:`set_fusion` turns
fusion off for the whole process, a model's ``fusion`` attribute for one model.
"""

from __future__ import annotations

from engine.fast import conv_winograd
from engine.fast.conv_bn_relu_pool import ConvBNReLUPool
from engine.fast.conv_pool import ConvPool
from engine.fast.relu_max_pool import ReLUMaxPool
from engine.layers.activations import ReLU
from engine.layers.conv import Conv2D
from engine.layers.norm import BatchNorm
from engine.layers.pool import MaxPool2D

Run = ConvBNReLUPool | ConvPool | ReLUMaxPool

_enabled = True


def set_fusion(enabled: bool) -> None:
    """Turn fused execution of conv/BN/ReLU/max-pool runs on or off for the process."""
    global _enabled
    _enabled = bool(enabled)


def get_fusion() -> bool:
    return _enabled


def _is_pool2(layer) -> bool:
    return type(layer) is MaxPool2D and layer.pool_size == layer.stride == 2


class Planner:
    """The fused-run planner Sequential uses (registered by ``engine.fast.install``)."""

    def find_runs(self, layers: list) -> dict[int, Run]:
        return find_runs(layers)

    def enabled(self) -> bool:
        return _enabled


PLANNER = Planner()


def find_runs(layers: list) -> dict[int, Run]:
    """Fusable runs by index of their first layer: Conv2D, BatchNorm, ReLU, MaxPool2D(2, 2)
    (:class:`ConvBNReLUPool`); a Winograd Conv2D, ReLU, MaxPool2D(2, 2), with the ReLU before
    the conv when there is one, or a Winograd Conv2D straight into MaxPool2D(2, 2)
    (:class:`ConvPool`); else ReLU, MaxPool2D (:class:`ReLUMaxPool`)."""
    runs: dict[int, Run] = {}
    i = 0
    while i + 2 <= len(layers):
        first, second, third, fourth = [*layers[i : i + 4], None, None][:4]
        if (
            type(first) is Conv2D
            and type(second) is BatchNorm
            and type(third) is ReLU
            and _is_pool2(fourth)
            and second.num_features == first.out_channels
        ):
            runs[i] = ConvBNReLUPool(first, second, third, fourth)
            i += 4
        elif _winograd_relu_pool(first, second, third):
            runs[i] = ConvPool(first, second, third)
            i += 3
        elif type(first) is ReLU and _winograd_relu_pool(second, third, fourth):
            runs[i] = ConvPool(second, third, fourth, relu_in=first)
            i += 4
        elif _winograd_conv(first) and _is_pool2(second):
            runs[i] = ConvPool(first, None, second)
            i += 2
        elif type(first) is ReLU and type(second) is MaxPool2D:
            runs[i] = ReLUMaxPool(first, second)
            i += 2
        else:
            i += 1
    return runs


def _winograd_conv(layer) -> bool:
    return type(layer) is Conv2D and conv_winograd.computes(layer)


def _winograd_relu_pool(conv, relu, pool) -> bool:
    return _winograd_conv(conv) and type(relu) is ReLU and _is_pool2(pool)
