"""The two ways an ONNX file can fail: a network that cannot be written, a graph that cannot
be read. Both are one-line messages a user can act on (caught by the CLI and the app)."""

from __future__ import annotations

from engine.serialize import ModelFileError


class OnnxExportError(ValueError):
    """A network with a layer (or setting) that has no faithful ONNX form; names the layer."""


class OnnxImportError(ModelFileError):
    """An ONNX file that is not ONNX, is damaged, or holds a node the engine does not have."""
