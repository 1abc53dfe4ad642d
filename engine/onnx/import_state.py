"""What the importer knows while it walks a graph: the running tensor, its layout, constants,
and the engine layers found so far.

An ONNX graph from PyTorch computes in NCHW and flattens in (C, H, W) order; the engine
computes in NHWC and flattens (H, W, C). The importer never moves data at run time: it tracks
which engine axis each ONNX axis holds (``Activation.layout``) and, after a flatten, which ONNX
position each engine feature sits at (``Activation.feature_order``), and rearranges the
weights instead.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
from onnx import NodeProto

from engine.onnx.errors import OnnxImportError

CHANNELS_FIRST = "NCHW"


def text(value: str | bytes) -> str:
    """A name from the file, for a message: protobuf hands back bytes that are not UTF-8."""
    return value if isinstance(value, str) else value.decode("utf-8", "replace")


@dataclass(frozen=True)
class Activation:
    """The running tensor as the engine sees it.

    layout: for a 4-D ONNX tensor, the engine axis each ONNX axis holds ("NCHW" as PyTorch
    computes, "NHWC" as the engine does); "NF" for a 2-D (N, features) tensor.
    engine_shape: the engine's per-sample shape, (H, W, C) or (F,) — (C,) for the (N, C, 1, 1)
    output of a GlobalAveragePool, which the engine already holds as features.
    feature_order: for "NF", the ONNX feature position of each engine feature (None: same).
    """

    layout: str
    engine_shape: tuple[int, ...]
    feature_order: np.ndarray | None = None

    @property
    def is_image(self) -> bool:
        return len(self.layout) == 4 and len(self.engine_shape) == 3

    @property
    def is_features(self) -> bool:
        return len(self.engine_shape) == 1

    def channel_axis(self) -> int:
        """The ONNX axis holding channels (features for a 2-D tensor)."""
        return self.layout.index("C") if len(self.layout) == 4 else 1

    def to_engine_order(self, values: np.ndarray) -> np.ndarray:
        """Per-feature values (F, ...) in ONNX order -> engine order."""
        return values if self.feature_order is None else values[self.feature_order]


@dataclass
class EngineLayer:
    """One engine layer: its spec dict and its arrays by engine key ("W", "running_mean")."""

    spec: dict[str, Any]
    arrays: dict[str, np.ndarray] = field(default_factory=dict)


class ImportState:
    """The walk over one graph's nodes (see engine/onnx/import_graph.py)."""

    def __init__(self, source: str, opset: int, constants: dict[str, np.ndarray],
                 tensor: str, activation: Activation) -> None:
        self.source = source
        self.opset = opset
        self.constants = constants
        self.tensor = tensor
        self.activation = activation
        self.layers: list[EngineLayer] = []
        # The input's normalisation folded from the affine nodes before the first layer, per
        # channel: value = scale * image + shift. ``folding`` ends at the first layer (later
        # affine nodes are not normalisation).
        self.scale = np.ones(activation.engine_shape[-1])
        self.shift = np.zeros(activation.engine_shape[-1])
        self.folding = True
        # (scale, shift) float32 of a CNN Studio export's normalisation, from its metadata:
        # once folded, later affine nodes are layers (a Scale), not more normalisation.
        self.expected_normalisation: tuple[np.ndarray, np.ndarray] | None = None
        # A conv/dense layer whose output is the running tensor and can absorb an Add as bias.
        self.open_bias: EngineLayer | None = None
        self.index = 0
        self.node: NodeProto | None = None
        # Test-time augmentation found in the graph: the views' weights once its views are
        # stepped over, the mode once their average is too (engine/onnx/tta_graph.py).
        self.tta_weights: np.ndarray | None = None
        self.tta = "none"

    # -- messages ---------------------------------------------------------------------------
    def refuse(self, reason: str) -> OnnxImportError:
        """An error naming the current node: ``model.onnx: node 3 'conv1' (Conv): reason``."""
        node = self.node
        label = f"node {self.index}" + (f" {text(node.name)!r}" if node and node.name else "")
        op = f" ({text(node.op_type)})" if node is not None else ""
        return OnnxImportError(f"{self.source}: {label}{op}: {reason}")

    # -- inputs -----------------------------------------------------------------------------
    def constant(self, name: str, what: str) -> np.ndarray:
        if name not in self.constants:
            raise self.refuse(f"its {what} must be a constant (a weight stored in the file)")
        return self.constants[name]

    def split_inputs(self) -> list[str]:
        """The node's inputs after the running tensor, which must come first and only once."""
        inputs = list(self.node.input)
        if not inputs or inputs[0] != self.tensor:
            computed = [i for i in inputs if i and i not in self.constants]
            if computed and computed[0] != self.tensor:
                raise self.refuse("the graph branches or its nodes are out of order; only a chain "
                                  "of layers (as a Sequential network) can be imported")
            raise self.refuse("the running tensor must be its first input")
        for name in inputs[1:]:
            if name == self.tensor or (name and name not in self.constants):
                raise self.refuse(f"it also takes the computed tensor {text(name)!r}, so the "
                                  "graph branches; only a chain of layers (as a Sequential "
                                  "network) can be imported")
        return inputs[1:]

    def channel_vector(self, values: np.ndarray) -> np.ndarray:
        """A constant broadcast against the running tensor -> (C,) values per channel in engine
        order; refused unless it varies along the channel axis only."""
        act = self.activation
        values = np.asarray(values, np.float64)
        rank = len(act.layout) if len(act.layout) == 4 else 2
        if values.ndim > rank:
            raise self.refuse(f"its constant has {values.ndim} dimensions, the tensor {rank}")
        shaped = values.reshape((1,) * (rank - values.ndim) + values.shape)
        axis = act.channel_axis()
        channels = act.engine_shape[-1]
        if any(n != 1 for i, n in enumerate(shaped.shape) if i != axis) or \
                shaped.shape[axis] not in (1, channels):
            raise self.refuse(f"its constant of shape {list(values.shape)} is not one value per "
                              "channel")
        per_channel = np.broadcast_to(shaped.reshape(-1), (channels,)).copy()
        return act.to_engine_order(per_channel) if rank == 2 else per_channel

    def normalisation_done(self) -> bool:
        """Whether the folded affine already is the exporter's whole normalisation."""
        if self.expected_normalisation is None:
            return False
        scale, shift = self.expected_normalisation
        return bool(np.array_equal(self.scale.astype(np.float32), scale)
                    and np.array_equal(self.shift.astype(np.float32), shift))

    # -- results ----------------------------------------------------------------------------
    def emit(self, spec: dict[str, Any], arrays: dict[str, np.ndarray] | None = None,
             takes_bias: bool = False) -> EngineLayer:
        layer = EngineLayer(spec, arrays or {})
        self.layers.append(layer)
        self.folding = False
        self.open_bias = layer if takes_bias else None
        return layer

    def advance(self, activation: Activation | None = None) -> None:
        """The node's output becomes the running tensor."""
        self.tensor = self.node.output[0]
        if activation is not None:
            self.activation = activation
