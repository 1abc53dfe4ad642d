"""A trained model as a standard ONNX file that ONNX Runtime, OpenCV or PyTorch can run.

The graph: input ``image`` float32 (N, H, W, C) with pixel values in 0..1 (what the canvas
and ``predict`` produce, divided by 255) -> the model's per-channel normalisation (Mul, Add)
-> the layers (engine/onnx/export_layers.py) -> output ``logits`` (N, K) and, through a
Softmax, ``probabilities`` (N, K). N is dynamic. A model that predicts with test-time
augmentation has it in the graph too (engine/onnx/tta_graph.py). Metadata:
engine/onnx/metadata.py.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np
import onnx
from onnx import TensorProto, helper

from engine.onnx.errors import OnnxExportError
from engine.onnx.export_layers import export_layer
from engine.onnx.graph_builder import NHWC, GraphBuilder
from engine.onnx.metadata import OnnxMetadata
from engine.onnx.tta_graph import add_average, add_views
from engine.serialize import atomic_write_bytes
from engine.trained_model import TrainedModel

OPSET = 17
# Gelu is an ONNX operator from opset 20; only networks with a GELU need that newer runtime.
GELU_OPSET = 20
INPUT, LOGITS, PROBABILITIES = "image", "logits", "probabilities"
BATCH = "batch"


def _meta_value(trained: TrainedModel, key: str) -> Any:
    """A model-file field (metrics, training, ...) whether ``meta`` is a dict or a dataclass."""
    meta = trained.meta
    return meta.get(key) if isinstance(meta, dict) else getattr(meta, key, None)


def model_metadata(trained: TrainedModel) -> OnnxMetadata:
    """The facts about ``trained`` that travel with the exported graph."""
    import engine

    metrics = _meta_value(trained, "metrics") or {}
    accuracy = metrics.get("test_accuracy") if isinstance(metrics, dict) else None
    dataset = _meta_value(trained, "dataset") or {}
    training = _meta_value(trained, "training") or {}
    normalizer = trained.normalizer
    return OnnxMetadata(
        class_names=[str(n) for n in trained.class_names],
        input_shape=tuple(int(d) for d in trained.input_shape),
        kind=trained.kind,
        normalizer={"mean": [float(v) for v in normalizer.mean],
                    "std": [float(v) for v in normalizer.std]},
        test_accuracy=None if accuracy is None else float(accuracy),
        engine_version=str(_meta_value(trained, "engine_version") or engine.__version__),
        arch_name=str(_meta_value(trained, "arch_name") or trained.model.arch_name),
        dataset=str(dataset.get("name", "")) if isinstance(dataset, dict) else str(dataset),
        training=dict(training) if isinstance(training, dict) else {},
        engine_spec=list(trained.model.spec),
        tta=trained.tta,
    )


def normalisation_constants(mean: np.ndarray, std: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(scale, shift) float32 (C,) with x01 * scale + shift == (x01 - mean) / std, the first
    two nodes of an exported graph (import recognises them by recomputing them)."""
    mean = np.asarray(mean, np.float32)
    std = np.asarray(std, np.float32)
    return (np.float32(1.0) / std).astype(np.float32), (-mean / std).astype(np.float32)


def opset_for(model: Any) -> int:
    """The ONNX opset a network's graph is written in: :data:`OPSET`, or 20 with a GELU."""
    return GELU_OPSET if "gelu" in model.layer_types else OPSET


def build_onnx(trained: TrainedModel) -> onnx.ModelProto:
    """``trained`` as an ONNX model (opset :func:`opset_for`), checked with ``full_check``.

    Raises OnnxExportError naming a layer that has no ONNX form.
    """
    model = trained.model
    h, w, c = (int(d) for d in trained.input_shape)
    meta = model_metadata(trained)
    g = GraphBuilder(INPUT, NHWC)
    scale, shift = normalisation_constants(trained.normalizer.mean, trained.normalizer.std)
    g.node("Mul", [g.constant("normalize.scale", scale)], "normalize.scaled")
    g.node("Add", [g.constant("normalize.shift", shift)], "normalized")
    if trained.tta != "none":
        g.to_nchw("views")
        weights = add_views(g, trained.tta, h, w)
    for index, (kind, layer, name) in enumerate(
            zip(model.layer_types, model.layers, model.layer_names, strict=True), start=1):
        export_layer(g, index, kind, layer, name)
    if g.layout != "flat":
        raise OnnxExportError("the network does not end with a flat (N, classes) output")
    if trained.tta != "none":
        add_average(g, weights, int(model.num_classes))
    g.rename_output(LOGITS)
    g.nodes.append(helper.make_node("Softmax", [LOGITS], [PROBABILITIES], name="softmax",
                                    axis=1))
    k = int(model.num_classes)
    graph = helper.make_graph(
        g.nodes, str(getattr(model, "arch_name", "cnn-studio")),
        inputs=[helper.make_tensor_value_info(INPUT, TensorProto.FLOAT, [BATCH, h, w, c])],
        outputs=[helper.make_tensor_value_info(LOGITS, TensorProto.FLOAT, [BATCH, k]),
                 helper.make_tensor_value_info(PROBABILITIES, TensorProto.FLOAT, [BATCH, k])],
        initializer=g.initializers,
        doc_string=f"CNN Studio {meta.arch_name}: image float32 [N, {h}, {w}, {c}] in 0..1 "
                   f"-> logits, probabilities over {k} classes",
    )
    proto = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset_for(model))],
                              producer_name="CNN Studio", producer_version=meta.engine_version,
                              doc_string=meta.preprocessing_words())
    helper.set_model_props(proto, meta.to_props())
    onnx.checker.check_model(proto, full_check=True)
    return proto


def export_onnx(trained: TrainedModel, path: str | os.PathLike) -> Path:
    """Write ``trained`` to ``path`` as ONNX (atomically). Returns the path."""
    path = Path(path)
    atomic_write_bytes(path, build_onnx(trained).SerializeToString())
    return path
