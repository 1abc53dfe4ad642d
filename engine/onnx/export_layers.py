"""Each engine layer type as ONNX nodes, in inference form.

One function per spec type (``engine.spec.LAYER_TYPES``), called with the graph builder, the
layer object and its name. Dropout disappears, BatchNorm uses its running statistics, flatten
follows the engine's NHWC order. A type with no entry here cannot be exported and
:func:`export_layer` says so, naming the layer.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from engine.layers.base import Layer
from engine.onnx.errors import OnnxExportError
from engine.onnx.graph_builder import FLAT, GraphBuilder, float_attribute


def _conv(g: GraphBuilder, layer: Layer, name: str) -> None:
    g.to_nchw(name)
    W = layer.params["W"]  # (kh, kw, C_in, C_out) -> ONNX (C_out, C_in, kh, kw)
    inputs = [g.constant(f"{name}.W", np.transpose(W, (3, 2, 0, 1)))]
    if layer.bias:  # a disabled bias is a frozen zero array: no input, as PyTorch writes it
        inputs.append(g.constant(f"{name}.b", layer.params["b"]))
    top, bottom, left, right = layer.pads
    g.node("Conv", inputs, name, kernel_shape=[int(W.shape[0]), int(W.shape[1])],
           strides=[layer.stride, layer.stride], pads=[top, left, bottom, right])


def _pool(op: str) -> Callable[[GraphBuilder, Layer, str], None]:
    def convert(g: GraphBuilder, layer: Layer, name: str) -> None:
        g.to_nchw(name)
        p, s = layer.pool_size, layer.stride
        g.node(op, [], name, kernel_shape=[p, p], strides=[s, s])

    return convert


def _global_avgpool(g: GraphBuilder, layer: Layer, name: str) -> None:
    g.to_nchw(name)
    g.node("GlobalAveragePool", [], f"{name}.pool")
    # (N, C, 1, 1) -> (N, C): the engine's global average pool gives features.
    g.node("Flatten", [], name, FLAT, axis=1)


def _batchnorm(g: GraphBuilder, layer: Layer, name: str) -> None:
    g.to_nchw(name)
    inputs = [g.constant(f"{name}.{key}", store[key]) for store, key in (
        (layer.params, "gamma"), (layer.params, "beta"),
        (layer.buffers, "running_mean"), (layer.buffers, "running_var"))]
    g.node("BatchNormalization", inputs, name, epsilon=float_attribute(layer.eps),
           momentum=float_attribute(layer.momentum))


def _dense(g: GraphBuilder, layer: Layer, name: str) -> None:
    if g.layout != FLAT:
        raise OnnxExportError(f"layer {name} (dense) takes an image; the engine needs a flatten "
                              "before it")
    inputs = [g.constant(f"{name}.W", layer.params["W"])]
    if layer.bias:
        inputs.append(g.constant(f"{name}.b", layer.params["b"]))
    g.node("Gemm", inputs, name)


def _flatten(g: GraphBuilder, layer: Layer, name: str) -> None:
    if g.layout == FLAT:
        return
    g.to_nhwc(name)  # the engine flattens (H, W, C) with channels fastest
    g.node("Flatten", [], name, FLAT, axis=1)


def _activation(op: str) -> Callable[[GraphBuilder, Layer, str], None]:
    def convert(g: GraphBuilder, layer: Layer, name: str) -> None:
        g.node(op, [], name)

    return convert


def _gelu(g: GraphBuilder, layer: Layer, name: str) -> None:
    # The engine's GELU is the tanh form; ONNX has it from opset 20 (export.opset_for).
    g.node("Gelu", [], name, approximate="tanh")


def _scale(g: GraphBuilder, layer: Layer, name: str) -> None:
    g.node("Mul", [g.constant(f"{name}.factor", np.array(layer.factor, np.float32))], name)


def _leaky_relu(g: GraphBuilder, layer: Layer, name: str) -> None:
    g.node("LeakyRelu", [], name, alpha=float_attribute(layer.alpha))


def _softmax(g: GraphBuilder, layer: Layer, name: str) -> None:
    g.node("Softmax", [], name, axis=g.channel_axis())


def _dropout(g: GraphBuilder, layer: Layer, name: str) -> None:
    """Training only: the identity in inference, so no node."""


EXPORTERS: dict[str, Callable[[GraphBuilder, Layer, str], None]] = {
    "conv2d": _conv,
    # Patch whitening is a convolution with data-derived weights (k x k, stride 1, no padding).
    "whiten": _conv,
    "maxpool2d": _pool("MaxPool"),
    "avgpool2d": _pool("AveragePool"),
    "global_avgpool2d": _global_avgpool,
    "batchnorm": _batchnorm,
    "dense": _dense,
    "flatten": _flatten,
    "relu": _activation("Relu"),
    "sigmoid": _activation("Sigmoid"),
    "tanh": _activation("Tanh"),
    "leaky_relu": _leaky_relu,
    "gelu": _gelu,
    "scale": _scale,
    "softmax": _softmax,
    "dropout": _dropout,
}


def export_layer(g: GraphBuilder, index: int, kind: str, layer: Layer, name: str) -> None:
    """Append layer ``index`` (1-based) of type ``kind`` to the graph, or refuse it by name."""
    convert = EXPORTERS.get(kind)
    if convert is None:
        raise OnnxExportError(
            f"layer {index} ({name}, {kind}) cannot be exported to ONNX: the exporter has no "
            f"ONNX form for {kind!r} layers (it knows {', '.join(EXPORTERS)})")
    convert(g, layer, name)

