"""An engine model rebuilt in PyTorch (NCHW) with the same weights: the benchmark's reference.

PyTorch is a benchmark- and test-only tool, never a dependency of the app: this module
imports it when :func:`torch_twin` is called and raises ImportError without it.

Each engine layer maps to the PyTorch module computing the same function:

- ``Conv2D`` (and ``PatchWhitening``, a convolution with data-derived weights) -> ``Conv2d``,
  weights (kh, kw, C_in, C_out) -> (C_out, C_in, kh, kw); an uneven "same" padding (even
  kernels) -> ``ZeroPad2d`` first; ``bias=False`` -> no bias.
- ``Dense`` -> ``Linear``, weights (in, out) -> (out, in).
- ``BatchNorm`` -> ``BatchNorm2d`` / ``BatchNorm1d`` with eps, the running statistics, and
  PyTorch's momentum ``1 - momentum`` (the engine weighs the old running value, PyTorch the
  batch).
- ``GELU`` -> ``GELU(approximate="tanh")``; ``Scale`` -> a multiplication; ``Flatten`` ->
  flattened in NHWC order, as the engine's dense weights expect.
- Parameters in a layer's ``frozen`` set (a whitening filter, a fixed BatchNorm scale, a
  frozen list from the spec) get ``requires_grad = False``.
"""

from __future__ import annotations

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
    LeakyReLU,
    MaxPool2D,
    ReLU,
    Scale,
    Sigmoid,
    Softmax,
    Tanh,
)
from engine.model import Sequential

# Engine parameter name -> PyTorch parameter name, for the layers that have parameters.
TORCH_PARAM = {"W": "weight", "b": "bias", "gamma": "weight", "beta": "bias"}


def torch_twin(model: Sequential) -> Any:
    """``model`` as a ``torch.nn.Sequential`` taking (N, C, H, W) input and giving the same
    (N, num_classes) logits; parameters and running statistics copied, in the dtype of the
    engine's parameters. Raises ImportError without torch and ValueError for a layer type
    it does not know."""
    import torch
    from torch import nn

    class Multiply(nn.Module):
        """out = factor * x (the engine's Scale)."""

        def __init__(self, factor: float) -> None:
            super().__init__()
            self.factor = factor

        def forward(self, x):
            return x * self.factor

    class FlattenNHWC(nn.Module):
        """(N, C, H, W) -> (N, H*W*C) in the engine's order (channels fastest)."""

        def forward(self, x):
            return x.permute(0, 2, 3, 1).flatten(1) if x.dim() == 4 else x.flatten(1)

    class GlobalAvgPool(nn.Module):
        """(N, C, H, W) -> (N, C), the mean over all positions."""

        def forward(self, x):
            return x.mean(dim=(2, 3))

    dtype = {np.dtype(np.float64): torch.float64}.get(model.dtype, torch.float32)

    def tensor(array: np.ndarray):
        # A copy: a tensor sharing the engine's memory would let one framework's update
        # (running statistics, SGD steps) change the other's network.
        return torch.tensor(np.asarray(array), dtype=dtype)

    modules: list[Any] = []
    for name, layer, shape in zip(model.layer_names, model.layers, model.output_shapes,
                                  strict=True):
        if isinstance(layer, Conv2D):
            top, bottom, left, right = layer.pads
            padding: Any = top
            if len({top, bottom, left, right}) > 1:
                modules.append(nn.ZeroPad2d((left, right, top, bottom)))
                padding = 0
            module = nn.Conv2d(layer.in_channels, layer.out_channels, (layer.kh, layer.kw),
                               layer.stride, padding, bias=layer.bias)
            module.weight.data = tensor(layer.params["W"].transpose(3, 2, 0, 1))
        elif isinstance(layer, Dense):
            module = nn.Linear(layer.in_features, layer.out_features, bias=layer.bias)
            module.weight.data = tensor(layer.params["W"].T)
        elif isinstance(layer, BatchNorm):
            norm = nn.BatchNorm2d if len(shape) == 3 else nn.BatchNorm1d
            module = norm(layer.num_features, eps=layer.eps, momentum=1.0 - layer.momentum)
            module.weight.data = tensor(layer.params["gamma"])
            module.running_mean.data = tensor(layer.buffers["running_mean"])
            module.running_var.data = tensor(layer.buffers["running_var"])
        elif isinstance(layer, MaxPool2D | AvgPool2D):
            pool = nn.MaxPool2d if isinstance(layer, MaxPool2D) else nn.AvgPool2d
            module = pool(layer.pool_size, layer.stride)
        elif isinstance(layer, GlobalAvgPool2D):
            module = GlobalAvgPool()
        elif isinstance(layer, Scale):
            module = Multiply(layer.factor)
        elif isinstance(layer, Flatten):
            module = FlattenNHWC()
        elif isinstance(layer, Dropout):
            module = nn.Dropout(layer.rate)
        elif isinstance(layer, LeakyReLU):
            module = nn.LeakyReLU(layer.alpha)
        elif isinstance(layer, GELU):
            module = nn.GELU(approximate="tanh")
        elif isinstance(layer, Softmax):
            module = nn.Softmax(dim=1)  # the channel axis in NCHW, the last in NHWC
        elif isinstance(layer, ReLU | Sigmoid | Tanh):
            module = {ReLU: nn.ReLU, Sigmoid: nn.Sigmoid, Tanh: nn.Tanh}[type(layer)]()
        else:
            raise ValueError(f"{name}: no PyTorch twin for {type(layer).__name__}")
        if "b" in layer.params and layer.bias:
            module.bias.data = tensor(layer.params["b"])
        if "beta" in layer.params:
            module.bias.data = tensor(layer.params["beta"])
        for key in layer.frozen:
            param = getattr(module, TORCH_PARAM[key], None)
            if param is not None:  # a disabled bias has no PyTorch parameter
                param.requires_grad_(False)
        modules.append(module.to(dtype))
    return nn.Sequential(*modules)
