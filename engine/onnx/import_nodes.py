"""Each ONNX node the engine has, as an engine layer (or as a fold into the one before).

A handler takes the walk's state (engine/onnx/import_state.py), with ``state.node`` the node,
and either emits engine layers, folds the node into what came before (normalisation, a bias),
or refuses it with a message naming it. :data:`HANDLERS` maps op types to handlers.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
from onnx import helper

from engine.layers.im2col import output_size, same_padding
from engine.onnx.graph_builder import float_attribute
from engine.onnx.import_state import CHANNELS_FIRST, Activation, ImportState


def attributes(node) -> dict[str, Any]:
    values = {}
    for attr in node.attribute:
        value = helper.get_attribute_value(attr)
        values[attr.name] = value.decode() if isinstance(value, bytes) else value
    return values


def _square(state: ImportState, values: list[int], what: str) -> int:
    if len(values) != 2 or values[0] != values[1]:
        raise state.refuse(f"its {what} {list(values)} is not square, as the engine needs")
    return int(values[0])


def _needs_image(state: ImportState) -> Activation:
    act = state.activation
    if not act.is_image or act.layout != CHANNELS_FIRST:
        where = "a flat tensor" if not act.is_image else f"a {act.layout} tensor"
        raise state.refuse(f"it needs an NCHW image but gets {where}")
    return act


def _explicit_pads(state: ImportState, attrs: dict, size: tuple[int, int],
                   kernel: int, stride: int) -> tuple[int, int, int, int]:
    """(top, bottom, left, right) from ``pads`` or ``auto_pad`` for an H x W input."""
    auto = attrs.get("auto_pad", "NOTSET")
    if auto in ("NOTSET", ""):
        pads = list(attrs.get("pads", [0, 0, 0, 0]))
        return pads[0], pads[2], pads[1], pads[3]
    if auto == "VALID":
        return 0, 0, 0, 0
    if auto not in ("SAME_UPPER", "SAME_LOWER"):
        raise state.refuse(f"auto_pad {auto!r} is not an ONNX padding mode")
    pads = []
    for n in size:
        total = max((-(-n // stride) - 1) * stride + kernel - n, 0)
        small, large = total // 2, total - total // 2
        pads += [small, large] if auto == "SAME_UPPER" else [large, small]
    return tuple(pads)


def _conv(state: ImportState, attrs: dict) -> None:
    act = _needs_image(state)
    extra = state.split_inputs()
    W = state.constant(extra[0], "weight")
    h, w, c = act.engine_shape
    if W.ndim != 4 or W.shape[1] != c:
        raise state.refuse(f"its weight {list(W.shape)} does not take {c} input channels")
    if attrs.get("group", 1) != 1:
        raise state.refuse("grouped or depthwise convolution is not in the engine")
    if any(d != 1 for d in attrs.get("dilations", [1, 1])):
        raise state.refuse("dilated convolution is not in the engine")
    kernel = _square(state, list(W.shape[2:]), "kernel")
    stride = _square(state, list(attrs.get("strides", [1, 1])), "stride")
    top, bottom, left, right = _explicit_pads(state, attrs, (h, w), kernel, stride)
    if (top, bottom) == (left, right) == same_padding(kernel) and top + bottom > 0:
        padding: int | str = "same"
    elif top == bottom == left == right:
        padding = "valid" if top == 0 else int(top)
    else:
        raise state.refuse(f"its padding (top {top}, bottom {bottom}, left {left}, right "
                           f"{right}) is neither even nor the engine's 'same'")
    has_bias = len(extra) > 1 and bool(extra[1])
    bias = state.constant(extra[1], "bias") if has_bias else np.zeros(W.shape[0], np.float32)
    ho = output_size(h, kernel, stride, top, bottom)
    wo = output_size(w, kernel, stride, left, right)
    if ho < 1 or wo < 1:
        raise state.refuse(f"its {kernel}x{kernel} kernel is larger than the {h}x{w} input")
    spec = {"type": "conv2d", "filters": int(W.shape[0]), "kernel_size": kernel,
            "stride": stride, "padding": padding, "bias": has_bias}
    arrays = {"W": np.transpose(W, (2, 3, 1, 0)), "b": bias.reshape(-1)}
    state.emit(spec, arrays, takes_bias=True)
    state.advance(Activation(CHANNELS_FIRST, (ho, wo, int(W.shape[0]))))


def _pool(kind: str) -> Callable[[ImportState, dict], None]:
    def handle(state: ImportState, attrs: dict) -> None:
        act = _needs_image(state)
        state.split_inputs()
        if len(state.node.output) > 1 and state.node.output[1]:
            raise state.refuse("its Indices output is not in the engine")
        h, w, c = act.engine_shape
        size = _square(state, list(attrs.get("kernel_shape", [])), "kernel_shape")
        stride = _square(state, list(attrs.get("strides", [1, 1])), "stride")
        if any(d != 1 for d in attrs.get("dilations", [1, 1])):
            raise state.refuse("dilated pooling is not in the engine")
        if any(_explicit_pads(state, attrs, (h, w), size, stride)):
            raise state.refuse("padded pooling is not in the engine")
        if h < size or w < size:
            raise state.refuse(f"its {size}x{size} window is larger than the {h}x{w} input")
        ho, wo = (h - size) // stride + 1, (w - size) // stride + 1
        if attrs.get("ceil_mode", 0) and ((h - size) % stride or (w - size) % stride):
            raise state.refuse("ceil_mode pooling of a partial window is not in the engine")
        state.emit({"type": kind, "pool_size": size, "stride": stride})
        state.advance(Activation(CHANNELS_FIRST, (ho, wo, c)))

    return handle


def _global_avgpool(state: ImportState, attrs: dict) -> None:
    act = _needs_image(state)
    state.split_inputs()
    state.emit({"type": "global_avgpool2d"})
    state.advance(Activation(CHANNELS_FIRST, (act.engine_shape[2],)))


def _batchnorm(state: ImportState, attrs: dict) -> None:
    act = state.activation
    if act.is_image and act.layout != CHANNELS_FIRST:
        raise state.refuse(f"it needs channels on axis 1 but gets a {act.layout} tensor")
    extra = state.split_inputs()
    if len(extra) != 4:
        raise state.refuse("it needs scale, bias, mean and variance inputs")
    if attrs.get("training_mode", 0) or any(state.node.output[1:]):
        raise state.refuse("training-mode batch normalisation cannot be imported")
    names = ("gamma", "beta", "running_mean", "running_var")
    arrays = {}
    for key, name in zip(names, extra, strict=True):
        values = state.constant(name, key).reshape(-1)
        if values.size != act.engine_shape[-1]:
            raise state.refuse(f"its {key} has {values.size} values for "
                               f"{act.engine_shape[-1]} channels")
        arrays[key] = act.to_engine_order(values)
    eps, momentum = attrs.get("epsilon", 1e-5), attrs.get("momentum", 0.9)
    if not 0 <= momentum < 1:
        momentum = 0.9  # the engine's default: only matters if the model is trained further
    spec = {"type": "batchnorm", "momentum": float_attribute(momentum),
            "eps": float_attribute(eps)}
    state.emit(spec, arrays)
    state.advance(Activation(act.layout, act.engine_shape))


def _dense(state: ImportState, W: np.ndarray, bias: np.ndarray | None) -> None:
    act = state.activation
    if act.layout != "NF":
        raise state.refuse("it needs a flat (N, features) input; flatten the image first")
    if W.ndim != 2 or W.shape[0] != act.engine_shape[0]:
        raise state.refuse(f"its weight {list(W.shape)} does not take "
                           f"{act.engine_shape[0]} features")
    units = int(W.shape[1])
    arrays = {"W": act.to_engine_order(W),
              "b": np.zeros(units, W.dtype) if bias is None else
              np.broadcast_to(bias.reshape(-1), (units,)).astype(W.dtype)}
    state.emit({"type": "dense", "units": units, "bias": bias is not None}, arrays,
               takes_bias=True)
    state.advance(Activation("NF", (units,)))


def _gemm(state: ImportState, attrs: dict) -> None:
    if attrs.get("transA", 0):
        raise state.refuse("a transposed input (transA) is not a dense layer")
    extra = state.split_inputs()
    W = state.constant(extra[0], "weight")
    if attrs.get("transB", 0):
        W = W.T
    alpha, beta = attrs.get("alpha", 1.0), attrs.get("beta", 1.0)
    if alpha != 1.0:
        W = (W * np.float32(alpha)).astype(W.dtype)
    bias = state.constant(extra[1], "bias") if len(extra) > 1 and extra[1] else None
    if bias is not None and beta != 1.0:
        bias = (bias * np.float32(beta)).astype(bias.dtype)
    _dense(state, np.ascontiguousarray(W), bias)


def _matmul(state: ImportState, attrs: dict) -> None:
    extra = state.split_inputs()
    _dense(state, state.constant(extra[0], "weight"), None)


def _affine(op: str) -> Callable[[ImportState, dict], None]:
    """Mul / Add / Sub / Div by a constant: the input's normalisation while no layer has been
    found yet, else the bias of the conv / dense layer just before (Add) or a Scale layer
    (Mul by one number)."""

    def handle(state: ImportState, attrs: dict) -> None:
        inputs = list(state.node.input)
        if op in ("Mul", "Add") and len(inputs) == 2 and inputs[1] == state.tensor:
            inputs.reverse()  # commutative: the running tensor may come second
        state.node = _with_inputs(state.node, inputs)
        extra = state.split_inputs()
        operand = state.constant(extra[0], "operand")
        if state.folding and state.normalisation_done():
            state.folding = False
        if state.folding:
            values = state.channel_vector(operand)
            if op == "Mul":
                state.scale, state.shift = state.scale * values, state.shift * values
            elif op == "Div":
                state.scale, state.shift = state.scale / values, state.shift / values
            else:
                state.shift = state.shift + (values if op == "Add" else -values)
            state.advance()
        elif op == "Add" and state.open_bias is not None:
            values = state.channel_vector(operand)
            layer = state.open_bias
            bias = layer.arrays["b"]
            layer.arrays["b"] = (bias + values.astype(bias.dtype)).astype(bias.dtype)
            layer.spec["bias"] = True
            state.advance()
        elif op in ("Mul", "Div") and operand.size == 1 and float(operand.reshape(-1)[0]) != 0:
            factor = float(operand.reshape(-1)[0])
            state.emit({"type": "scale",
                        "factor": float_attribute(factor if op == "Mul" else 1.0 / factor)})
            state.advance()
        else:
            raise state.refuse(f"a {op} by a constant inside the network has no engine layer "
                               "(the input's normalisation, a bias and a Mul by one number "
                               "can be imported)")

    return handle


def _with_inputs(node, inputs: list[str]):
    copy = type(node)()
    copy.CopyFrom(node)
    del copy.input[:]
    copy.input.extend(inputs)
    return copy


def _activation(kind: str) -> Callable[[ImportState, dict], None]:
    def handle(state: ImportState, attrs: dict) -> None:
        state.split_inputs()
        spec: dict[str, Any] = {"type": kind}
        if kind == "leaky_relu":
            spec["alpha"] = float_attribute(attrs.get("alpha", 0.01))
        state.emit(spec)
        state.advance()

    return handle


def _gelu(state: ImportState, attrs: dict) -> None:
    state.split_inputs()
    if attrs.get("approximate", "none") != "tanh":
        raise state.refuse("the engine's GELU is the tanh form; this is the erf form (up to "
                           "4.7e-4 apart): export it with approximate='tanh'")
    state.emit({"type": "gelu"})
    state.advance()


def _softmax(state: ImportState, attrs: dict) -> None:
    state.split_inputs()
    act = state.activation
    rank = 4 if len(act.layout) == 4 else 2
    axis = attrs.get("axis", -1 if state.opset >= 13 else 1)
    axis = axis + rank if axis < 0 else axis
    if axis != act.channel_axis() or (rank == 4 and state.opset < 13):
        raise state.refuse("only a softmax over the channels / classes is in the engine")
    state.emit({"type": "softmax"})
    state.advance()


def _to_features(state: ImportState) -> None:
    """The running tensor flattened to (N, F) as ONNX does it, and the engine's flatten."""
    act = state.activation
    if act.is_features:  # a (N, C, 1, 1) pool output or already flat: nothing to do
        state.advance(Activation("NF", act.engine_shape, act.feature_order))
        return
    h, w, c = act.engine_shape
    # Engine feature index at each position of the ONNX tensor, in ONNX axis order.
    engine_index = np.arange(h * w * c).reshape(h, w, c)
    onnx_axes = ["HWC".index(letter) for letter in act.layout[1:]]
    engine_at_onnx = np.transpose(engine_index, onnx_axes).reshape(-1)
    order = np.argsort(engine_at_onnx)
    identity = bool(np.array_equal(order, np.arange(order.size)))
    state.emit({"type": "flatten"})
    state.advance(Activation("NF", (h * w * c,), None if identity else order))


def _flatten(state: ImportState, attrs: dict) -> None:
    state.split_inputs()
    if attrs.get("axis", 1) != 1:
        raise state.refuse("only a flatten that keeps the batch axis (axis=1) is in the engine")
    _to_features(state)


def _reshape(state: ImportState, attrs: dict) -> None:
    extra = state.split_inputs()
    shape = [int(v) for v in state.constant(extra[0], "shape").reshape(-1)]
    features = int(np.prod(state.activation.engine_shape))
    # (batch or -1 or 0 "as the input", features) or (batch or 0, -1)
    flat = len(shape) == 2 and (
        (shape[1] == features and shape[0] >= -1) or (shape[1] == -1 and shape[0] >= 0))
    if not flat or (attrs.get("allowzero", 0) and 0 in shape):
        raise state.refuse(f"only a reshape to (N, {features}) is in the engine, got {shape}")
    _to_features(state)


def _transpose(state: ImportState, attrs: dict) -> None:
    state.split_inputs()
    act = state.activation
    rank = len(act.layout) if len(act.layout) == 4 else 2
    perm = list(attrs.get("perm", range(rank - 1, -1, -1)))
    if rank != 4 or sorted(perm) != [0, 1, 2, 3] or perm[0] != 0:
        raise state.refuse(f"a transpose {perm} that moves the batch axis or features is "
                           "not a change of layout")
    state.advance(Activation("".join(act.layout[p] for p in perm), act.engine_shape))


def _passthrough(state: ImportState, attrs: dict) -> None:
    """Identity, and Dropout in inference (what an exported network holds)."""
    state.split_inputs()
    if state.node.op_type == "Dropout" and any(state.node.output[1:]):
        raise state.refuse("its mask output is not in the engine")
    state.advance()


HANDLERS: dict[str, Callable[[ImportState, dict], None]] = {
    "Conv": _conv,
    "MaxPool": _pool("maxpool2d"),
    "AveragePool": _pool("avgpool2d"),
    "GlobalAveragePool": _global_avgpool,
    "BatchNormalization": _batchnorm,
    "Gemm": _gemm,
    "MatMul": _matmul,
    "Relu": _activation("relu"),
    "LeakyRelu": _activation("leaky_relu"),
    "Sigmoid": _activation("sigmoid"),
    "Tanh": _activation("tanh"),
    "Gelu": _gelu,
    "Softmax": _softmax,
    "Flatten": _flatten,
    "Reshape": _reshape,
    "Transpose": _transpose,
    "Mul": _affine("Mul"),
    "Add": _affine("Add"),
    "Sub": _affine("Sub"),
    "Div": _affine("Div"),
    "Identity": _passthrough,
    "Dropout": _passthrough,
}
