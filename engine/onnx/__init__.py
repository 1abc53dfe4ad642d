"""ONNX export and import: take a trained model anywhere, bring a small CNN in.

:func:`export_onnx` writes a :class:`~engine.trained_model.TrainedModel` as a standard ONNX
graph (input ``image`` float32 NHWC in 0..1, the model's normalisation as the first nodes,
outputs ``logits`` and ``probabilities``, dynamic batch). :func:`import_onnx` reads such a
graph, or one exported from PyTorch in NCHW, back into an engine model. Errors are
:class:`OnnxExportError` / :class:`OnnxImportError`, each one line.
"""

from __future__ import annotations

from engine.onnx.errors import OnnxExportError, OnnxImportError
from engine.onnx.export import OPSET, build_onnx, export_onnx, opset_for
from engine.onnx.import_graph import import_onnx, read_onnx

__all__ = [
    "OPSET",
    "OnnxExportError",
    "OnnxImportError",
    "build_onnx",
    "export_onnx",
    "import_onnx",
    "opset_for",
    "read_onnx",
]
