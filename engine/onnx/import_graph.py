"""An ONNX file -> an engine model (:class:`~engine.trained_model.TrainedModel`).

The graph must be a chain (a Sequential network) from one image input, [N, C, H, W] as
PyTorch exports it or [N, H, W, C] as CNN Studio does, through the nodes the engine has
(engine/onnx/import_nodes.py) to the logits, optionally followed by a Softmax. Constant
Mul / Add / Sub / Div before the first layer become the model's input normalisation. Class
names come from the file's metadata when it names the right number of them, else "0".."N-1".
"""

from __future__ import annotations

import datetime as _dt
import os
from pathlib import Path

import numpy as np
import onnx
from google.protobuf.message import DecodeError
from onnx import TensorProto, numpy_helper

from engine.data.normalize import Normalizer
from engine.onnx import tta_graph
from engine.onnx.errors import OnnxImportError
from engine.onnx.export import normalisation_constants
from engine.onnx.import_nodes import HANDLERS, attributes
from engine.onnx.import_state import Activation, EngineLayer, ImportState, text
from engine.onnx.metadata import OnnxMetadata, read_metadata, read_normalizer
from engine.onnx.restore_spec import restore_spec
from engine.trained_model import TrainedModel
from engine.tta import TTA_MODES

MIN_OPSET = 9
# Ops that say the tensor they take has channels on axis 1: they fix the input's layout.
_CHANNELS_FIRST_OPS = ("Conv", "MaxPool", "AveragePool", "GlobalAveragePool",
                       "BatchNormalization")
# Ops that leave the layout question open (element-wise, per-channel constants).
_LAYOUT_FREE_OPS = ("Constant", "Identity", "Dropout", "Mul", "Add", "Sub", "Div", "Relu",
                    "LeakyRelu", "Sigmoid", "Tanh", "Gelu")


def _first_line(exc: Exception) -> str:
    text = str(exc).strip().splitlines()
    line = text[0] if text else type(exc).__name__
    return line if len(line) <= 160 else line[:157] + "..."


def read_onnx(path: str | os.PathLike) -> onnx.ModelProto:
    """The parsed and checked ONNX model in ``path``; OnnxImportError (one line) for a file
    that is not ONNX, is damaged or truncated, or points at external data files."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise FileNotFoundError(f"no such file: {path}") from None
    except IsADirectoryError:
        raise OnnxImportError(f"{path} is a folder, not an ONNX file") from None
    if not data:
        raise OnnxImportError(f"{path} is empty")
    try:
        proto = onnx.load_model_from_string(data)
    except (DecodeError, ValueError, RuntimeError):
        raise OnnxImportError(f"{path} is not an ONNX model (it does not parse as one; "
                              "truncated or another kind of file)") from None
    if proto.ir_version < 3 or not proto.HasField("graph") or not proto.graph.node:
        raise OnnxImportError(f"{path} is not an ONNX model (no graph found; truncated or "
                              "another kind of file)")
    for tensor in proto.graph.initializer:
        if tensor.data_location == TensorProto.EXTERNAL:
            raise OnnxImportError(f"{path} keeps its weights in external files; save it as a "
                                  "single .onnx file")
    try:
        onnx.checker.check_model(proto)
    except (onnx.checker.ValidationError, ValueError, RuntimeError) as exc:
        raise OnnxImportError(f"{path} is not a valid ONNX model ({_first_line(exc)})") from None
    return proto


def _constants(graph: onnx.GraphProto, source: str) -> dict[str, np.ndarray]:
    constants = {}
    for tensor in graph.initializer:
        try:
            constants[tensor.name] = numpy_helper.to_array(tensor)
        except (ValueError, TypeError, KeyError) as exc:
            raise OnnxImportError(f"{source}: weight {text(tensor.name)!r} is damaged "
                                  f"({_first_line(exc)})") from None
    return constants


def _constant_node(state: ImportState) -> None:
    """A Constant node's value joins the constants (shapes for Reshape, folded operands)."""
    node = state.node
    attrs = attributes(node)
    if "value" in attrs:
        value = numpy_helper.to_array(attrs["value"])
    elif "value_float" in attrs or "value_floats" in attrs:
        value = np.asarray(attrs.get("value_float", attrs.get("value_floats")), np.float32)
    elif "value_int" in attrs or "value_ints" in attrs:
        value = np.asarray(attrs.get("value_int", attrs.get("value_ints")), np.int64)
    else:
        raise state.refuse("only numeric constants can be imported")
    state.constants[node.output[0]] = value


def _input_layout(graph: onnx.GraphProto, dims: list[int], hint: str) -> str:
    """Which axis of the 4-D input holds what ("NCHW" / "NHWC" / ...), read from the first node
    that needs channels on axis 1, through the transposes before it; else the exporter's
    ``input_layout`` hint, else the channels are the axis of at most 4 values."""
    perm = [0, 1, 2, 3]  # axis i of the running tensor is input axis perm[i]
    for node in graph.node:
        if node.op_type == "Transpose":
            order = list(attributes(node).get("perm", [3, 2, 1, 0]))
            if sorted(order) != [0, 1, 2, 3]:
                break
            perm = [perm[j] for j in order]
        elif node.op_type in _CHANNELS_FIRST_OPS:
            layout = [""] * 4
            for i, axis in enumerate(perm):
                layout[axis] = "NCHW"[i]
            return "".join(layout)
        elif node.op_type not in _LAYOUT_FREE_OPS:
            break
    if hint in ("NCHW", "NHWC"):
        return hint
    return "NHWC" if dims[3] <= 4 < dims[1] else "NCHW"


def _image_input(graph: onnx.GraphProto, constants: dict, source: str
                 ) -> tuple[onnx.ValueInfoProto, list[int]]:
    inputs = [i for i in graph.input if i.name not in constants]
    if len(inputs) != 1:
        raise OnnxImportError(f"{source}: the graph has {len(inputs)} inputs; an image "
                              "classifier has one")
    value = inputs[0]
    tensor = value.type.tensor_type
    dims = [d.dim_value if d.HasField("dim_value") else -1 for d in tensor.shape.dim]
    if len(dims) != 4 or any(d < 1 for d in dims[1:]):
        shown = ", ".join("?" if d < 1 else str(d) for d in dims)
        raise OnnxImportError(f"{source}: its input {text(value.name)!r} is [{shown}]; the engine "
                              "needs an image [N, C, H, W] or [N, H, W, C] of fixed size")
    if tensor.elem_type not in (TensorProto.FLOAT, TensorProto.DOUBLE, TensorProto.FLOAT16):
        raise OnnxImportError(f"{source}: its input {text(value.name)!r} is not a float tensor")
    return value, dims


def _opset(proto: onnx.ModelProto, source: str) -> int:
    versions = {o.domain or "ai.onnx": o.version for o in proto.opset_import}
    used = {n.domain or "ai.onnx" for n in proto.graph.node}
    foreign = sorted(used - {"ai.onnx"})
    if foreign:
        raise OnnxImportError(f"{source}: it uses operators of {', '.join(foreign)}, which the "
                              "engine does not have")
    opset = versions.get("ai.onnx", 0)
    if opset < MIN_OPSET:
        raise OnnxImportError(f"{source}: opset {opset} is older than the oldest the importer "
                              f"reads ({MIN_OPSET}); re-export it with a newer opset")
    return opset


def _skip_tta(state: ImportState, nodes: list, i: int, mode: str,
              shape: tuple[int, int, int]) -> int:
    """Step over the exporter's test-time augmentation nodes (views before the first layer,
    their average after the last); how many nodes that was."""
    if state.tta_weights is None:
        layout = state.activation.layout
        found = tta_graph.match_views(nodes, i, state.tensor, layout, mode, shape[0], shape[1],
                                      state.constants)
        if found is None or layout not in ("NHWC", "NCHW") or not state.folding:
            raise state.refuse("unrecognised test-time augmentation nodes")
        count, state.tensor, state.tta_weights = found
        return count
    found = tta_graph.match_average(nodes, i, state.tensor, state.tta_weights,
                                    state.activation.engine_shape[0], state.constants)
    if found is None or not state.activation.is_features:
        raise state.refuse("unrecognised test-time augmentation nodes")
    count, state.tensor = found
    state.tta = mode
    return count


def _walk(proto: onnx.ModelProto, source: str) -> tuple[ImportState, tuple[int, int, int]]:
    graph = proto.graph
    opset = _opset(proto, source)
    constants = _constants(graph, source)
    image, dims = _image_input(graph, constants, source)
    props = {text(p.key): text(p.value) for p in proto.metadata_props}
    layout = _input_layout(graph, dims, props.get("input_layout", ""))
    shape = tuple(int(dims[layout.index(axis)]) for axis in "HWC")
    state = ImportState(source, opset, constants, image.name, Activation(layout, shape))
    exported = read_normalizer(props, shape[2])
    if exported:
        state.expected_normalisation = normalisation_constants(exported["mean"], exported["std"])
    nodes = list(graph.node)
    tta = props.get("test_time_augmentation", "none")
    i = 0
    while i < len(nodes):
        node = nodes[i]
        state.index, state.node = i + 1, node
        if text(node.name).startswith(tta_graph.PREFIX) and tta in TTA_MODES[1:]:
            i += _skip_tta(state, nodes, i, tta, shape)
            continue
        if node.op_type == "Constant":
            _constant_node(state)
        else:
            handler = HANDLERS.get(node.op_type)
            if handler is None:
                raise state.refuse(f"the engine has no {text(node.op_type)} layer (it imports "
                                   f"{', '.join(HANDLERS)})")
            handler(state, attributes(node))
        i += 1
    state.node = None
    if state.tensor not in {o.name for o in graph.output}:
        raise OnnxImportError(f"{source}: the chain of layers ends in {state.tensor!r}, which is "
                              "not an output of the graph")
    return state, shape


def _normalizer(state: ImportState, meta: OnnxMetadata) -> Normalizer:
    """The folded input affine as a Normalizer; the metadata's exact mean / std when they give
    the very constants in the graph (a CNN Studio export)."""
    if np.any(state.scale <= 0) or not np.all(np.isfinite(state.scale)):
        raise OnnxImportError(f"{state.source}: its input is scaled by a zero or negative factor, "
                              "which is no normalisation")
    if meta.normalizer:
        scale, shift = normalisation_constants(meta.normalizer["mean"], meta.normalizer["std"])
        if np.array_equal(scale, state.scale.astype(np.float32)) and \
                np.array_equal(shift, state.shift.astype(np.float32)):
            return Normalizer(meta.normalizer["mean"], meta.normalizer["std"])
    return Normalizer(0.0 - state.shift / state.scale, 1.0 / state.scale)  # no -0.0 mean


def _trained_model(model, meta: OnnxMetadata, normalizer: Normalizer, source: str,
                   tta: str) -> TrainedModel:
    import engine
    from engine.training.run import DIGIT_SETTINGS

    fields = {
        "arch_name": meta.arch_name,
        "class_names": list(meta.class_names),
        "input_shape": list(meta.input_shape),
        "preprocessing": {"normalizer": normalizer.to_dict(), "kind": meta.kind,
                          "digit": dict(DIGIT_SETTINGS) if meta.kind == "digits" else None},
        "training": dict(meta.training),
        "dataset": {"name": meta.dataset} if meta.dataset else {},
        "metrics": {} if meta.test_accuracy is None else {"test_accuracy": meta.test_accuracy},
        "engine_version": meta.engine_version or engine.__version__,
        "imported_from": source,
        "tta": tta,
        "created": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
    }
    return TrainedModel(model, fields)


def _build(layers: list[EngineLayer], arch_name: str, shape: tuple[int, int, int],
           num_classes: int):
    """The engine model of ``layers`` with their arrays; ValueError if they do not fit."""
    from engine.spec import build_model

    spec = {"name": arch_name, "layers": [layer.spec for layer in layers]}
    model = build_model(spec, input_shape=shape, num_classes=num_classes, seed=0)
    model.load_state_dict({f"{name}.{key}": np.asarray(values, np.float32)
                           for name, layer in zip(model.layer_names, layers, strict=True)
                           for key, values in layer.arrays.items()})
    return model


def import_onnx(path: str | os.PathLike) -> TrainedModel:
    """Read the ONNX file at ``path`` into an engine model; OnnxImportError naming the node (or
    the problem) when it cannot be."""
    source = str(path)
    proto = read_onnx(path)
    state, shape = _walk(proto, source)
    layers = state.layers
    if layers and layers[-1].spec["type"] == "softmax":
        layers.pop()  # the probabilities head: the engine's predict_proba applies it
    output = state.activation.engine_shape
    if not layers or len(output) != 1 or output[0] < 2:
        raise OnnxImportError(f"{source}: the network does not end with scores for two or more "
                              "classes")
    num_classes = int(output[0])
    props = {text(p.key): text(p.value) for p in proto.metadata_props}
    meta = read_metadata(props, shape, num_classes)
    restored = restore_spec(layers, props.get("engine_spec"))
    try:
        model = _build(restored or layers, meta.arch_name, shape, num_classes)
    except ValueError as exc:
        if restored is None:
            raise OnnxImportError(f"{source}: the network does not rebuild in the engine: "
                                  f"{_first_line(exc)}") from None
        model = _build(layers, meta.arch_name, shape, num_classes)  # the metadata was at fault
    return _trained_model(model, meta, _normalizer(state, meta), source, state.tta)
