"""A model's test-time augmentation (engine/tta.py) inside the exported graph.

The views of one batch (the image, its mirror, the image moved one pixel down-right and up-left
with reflection at the border) are stacked along the batch axis before the first layer, so the
network appears once in the graph and runs on V x N images; after it, the logits (V N, K) are
reshaped to (V, N, K) and summed with the mode's weights, as ``engine.tta.tta_logits``
averages them. The importer recognises exactly these nodes (:func:`match_views`,
:func:`match_average`) by writing them again and comparing.
"""

from __future__ import annotations

import numpy as np
import onnx

from engine.onnx.graph_builder import NCHW, GraphBuilder

PREFIX = "tta."
# int64's smallest value: a Slice with step -1 that runs to before index 0.
_TO_START = np.iinfo(np.int64).min


def _mirror(g: GraphBuilder, tensor: str, width_axis: int) -> str:
    """The image mirrored left-right (x[:, :, ::-1] in NHWC)."""
    consts = [g.constant(f"{PREFIX}mirror.{key}", np.array([value], np.int64))
              for key, value in (("starts", -1), ("ends", _TO_START), ("axes", width_axis),
                                 ("steps", -1))]
    return g.side_node("Slice", [tensor, *consts], f"{PREFIX}mirror")


def add_views(g: GraphBuilder, mode: str, height: int, width: int) -> np.ndarray:
    """Replace the running image (N, ., ., .) by its views stacked along the batch axis
    (V N, ., ., .); returns the views' weights (V,) float32. The exporter gives it NCHW: the
    layout whose reflection padding PyTorch (onnx2torch) can run."""
    x = g.tensor
    h_axis = 2 if g.layout == NCHW else 1
    bases, weights = [x], [1.0]
    if mode in ("translate", "mirror_translate"):
        one = [0, 0, 0, 0]
        one[h_axis] = one[h_axis + 1] = 1
        pads = g.constant(f"{PREFIX}pads", np.array(one + one, np.int64))
        padded = g.side_node("Pad", [x, pads], f"{PREFIX}padded", mode="reflect")
        axes = g.constant(f"{PREFIX}shift.axes", np.array([h_axis, h_axis + 1], np.int64))
        for label, start in (("down_right", 0), ("up_left", 2)):
            starts = g.constant(f"{PREFIX}{label}.starts", np.array([start, start], np.int64))
            ends = g.constant(f"{PREFIX}{label}.ends",
                              np.array([start + height, start + width], np.int64))
            bases.append(g.side_node("Slice", [padded, starts, ends, axes], f"{PREFIX}{label}"))
        weights = [0.5, 0.25, 0.25]
    views, view_weights = [], []
    for base, weight in zip(bases, weights, strict=True):
        if mode in ("mirror", "mirror_translate"):
            views += [base, _mirror(g, base, h_axis + 1)]
            view_weights += [weight / 2, weight / 2]
        else:
            views.append(base)
            view_weights.append(weight)
    g.tensor = g.side_node("Concat", views, f"{PREFIX}views", axis=0)
    return np.array(view_weights, np.float32)


def add_average(g: GraphBuilder, weights: np.ndarray, num_classes: int) -> None:
    """Running logits (V N, K) -> their weighted sum over the V views, (N, K)."""
    shape = g.constant(f"{PREFIX}by_view", np.array([len(weights), -1, num_classes], np.int64))
    g.node("Reshape", [shape], f"{PREFIX}by_view")
    g.node("Mul", [g.constant(f"{PREFIX}weights", weights.reshape(-1, 1, 1))],
           f"{PREFIX}weighted")
    g.node("ReduceSum", [g.constant(f"{PREFIX}axis", np.array([0], np.int64))],
           f"{PREFIX}average", keepdims=0)


def _same(found: list[onnx.NodeProto], expected: list[onnx.NodeProto],
          constants: dict[str, np.ndarray], g: GraphBuilder) -> bool:
    if [n.SerializeToString() for n in found] != [n.SerializeToString() for n in expected]:
        return False
    for tensor in g.initializers:
        value = constants.get(tensor.name)
        if value is None or not np.array_equal(value, onnx.numpy_helper.to_array(tensor)):
            return False
    return True


def match_views(nodes: list[onnx.NodeProto], start: int, tensor: str, layout: str, mode: str,
                height: int, width: int, constants: dict[str, np.ndarray]
                ) -> tuple[int, str, np.ndarray] | None:
    """If ``nodes[start:]`` begins with :func:`add_views`' nodes for ``mode`` on ``tensor`` in
    ``layout`` (NHWC or NCHW): (how many, the stacked views' name, the weights); else None."""
    g = GraphBuilder(tensor, layout)
    weights = add_views(g, mode, height, width)
    count = len(g.nodes)
    if not _same(list(nodes[start:start + count]), g.nodes, constants, g):
        return None
    return count, g.tensor, weights


def match_average(nodes: list[onnx.NodeProto], start: int, tensor: str, weights: np.ndarray,
                  num_classes: int, constants: dict[str, np.ndarray]) -> tuple[int, str] | None:
    """If ``nodes[start:]`` begins with :func:`add_average`'s nodes on ``tensor``: (how many,
    the averaged logits' name); else None."""
    g = GraphBuilder(tensor, "flat")
    add_average(g, weights, num_classes)
    count = len(g.nodes)
    found = list(nodes[start:start + count])
    if len(found) == count and found[-1].output[0] != g.tensor:
        # the exporter renames the last output to "logits"
        expected_last = type(g.nodes[-1])()
        expected_last.CopyFrom(g.nodes[-1])
        expected_last.output[0] = found[-1].output[0]
        g.nodes[-1] = expected_last
    if not _same(found, g.nodes, constants, g):
        return None
    return count, found[-1].output[0]
