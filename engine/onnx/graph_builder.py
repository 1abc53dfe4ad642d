"""Builds an ONNX graph node by node while tracking the running tensor's layout.

The engine computes in NHWC; ONNX's Conv, pools and BatchNormalization want the channels on
axis 1 (NCHW). The builder inserts a Transpose only where a node needs the other layout, so
element-wise runs stay where they are and flatten happens in the engine's NHWC order.
"""

from __future__ import annotations

import numpy as np
from onnx import NodeProto, TensorProto, helper, numpy_helper

NHWC, NCHW, FLAT = "NHWC", "NCHW", "flat"
TO_NCHW = (0, 3, 1, 2)
TO_NHWC = (0, 2, 3, 1)


def float_attribute(value: float) -> float:
    """A float attribute is stored as float32: the shortest decimal that gives that float32
    back (1e-5, not 9.99999974e-06), so an import returns the engine's own setting."""
    return float(str(np.float32(value)))


class GraphBuilder:
    """Nodes and initialisers of one graph; ``tensor`` is the name of the running value and
    ``layout`` how it is laid out: NHWC / NCHW for (N, ., ., .) images, flat for (N, F)."""

    def __init__(self, tensor: str, layout: str) -> None:
        self.nodes: list[NodeProto] = []
        self.initializers: list[TensorProto] = []
        self.tensor = tensor
        self.layout = layout
        self._used: set[str] = {tensor}

    def unique(self, name: str) -> str:
        candidate, i = name, 1
        while candidate in self._used:
            i += 1
            candidate = f"{name}_{i}"
        self._used.add(candidate)
        return candidate

    def constant(self, name: str, array: np.ndarray) -> str:
        """Add ``array`` (as float32 unless it is an integer array) as an initialiser."""
        array = np.asarray(array)
        if array.dtype.kind == "f":
            array = array.astype(np.float32)
        name = self.unique(name)
        self.initializers.append(numpy_helper.from_array(np.ascontiguousarray(array), name))
        return name

    def node(self, op: str, inputs: list[str], name: str, layout: str | None = None,
             **attributes) -> str:
        """Append ``op`` applied to the running tensor followed by ``inputs``; its output
        becomes the running tensor (in ``layout``, default unchanged)."""
        output = self.unique(name)
        self.nodes.append(helper.make_node(op, [self.tensor, *inputs], [output], name=output,
                                           **attributes))
        self.tensor = output
        if layout is not None:
            self.layout = layout
        return output

    def side_node(self, op: str, inputs: list[str], name: str, **attributes) -> str:
        """Append ``op`` on ``inputs`` without touching the running tensor; returns its output
        (for the few places a graph fans out, such as test-time augmentation's views)."""
        output = self.unique(name)
        self.nodes.append(helper.make_node(op, inputs, [output], name=output, **attributes))
        return output

    def to_nchw(self, name: str) -> None:
        """Make the running image NCHW (for Conv, pools, BatchNormalization)."""
        if self.layout == NHWC:
            self.node("Transpose", [], f"{name}.to_nchw", NCHW, perm=list(TO_NCHW))

    def to_nhwc(self, name: str) -> None:
        """Make the running image NHWC again (before flattening in the engine's order)."""
        if self.layout == NCHW:
            self.node("Transpose", [], f"{name}.to_nhwc", NHWC, perm=list(TO_NHWC))

    def channel_axis(self) -> int:
        return 1 if self.layout == NCHW else -1

    def rename_output(self, name: str) -> None:
        """Give the running tensor (the last node's output) the graph output's name."""
        last = self.nodes[-1]
        if last.output[0] != self.tensor:
            raise AssertionError("the running tensor is not the last node's output")
        last.output[0] = name
        self.tensor = name
