"""Per-layer output shapes and parameter counts of a spec, for the architecture editor."""

from __future__ import annotations

import re

import engine
from gui.widgets.architecture_editor import LayerInfo


def infer_layers(spec: list[dict], input_shape: tuple[int, ...], num_classes: int
                 ) -> tuple[list[LayerInfo], str | None]:
    """Per-layer output shape and parameters for the architecture editor.

    The engine builds the spec; when it is refused, the layers before the faulty one are built
    on their own (closed by a classifier) so their shapes are still shown.
    """
    try:
        model = engine.build_model(spec, input_shape=input_shape, num_classes=num_classes)
    except ValueError as exc:
        error = str(exc)
    else:
        return [LayerInfo(tuple(row["output_shape"]), int(row["params"]))
                for row in model.summary()], None
    match = re.match(r"layer (\d+)", error)
    bad = int(match.group(1)) - 1 if match else len(spec)
    head = spec[:bad]
    for tail in ([{"type": "flatten"}, {"type": "dense", "units": num_classes}],
                 [{"type": "dense", "units": num_classes}]):
        try:
            model = engine.build_model(head + tail, input_shape=input_shape,
                                       num_classes=num_classes)
        except ValueError:
            continue
        rows = model.summary()[: len(head)]
        return [LayerInfo(tuple(r["output_shape"]), int(r["params"])) for r in rows], error
    return [], error
