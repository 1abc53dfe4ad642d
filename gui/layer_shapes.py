"""Per-layer output shapes and parameter counts of a spec, for the architecture editor."""

from __future__ import annotations

import engine
from gui.widgets.architecture_editor import LayerInfo


def infer_layers(spec: list[dict], input_shape: tuple[int, ...], num_classes: int
                 ) -> tuple[list[LayerInfo], str | None]:
    """Per-layer output shape and parameters for the architecture editor.

    The engine builds the spec; when it is refused, the layers before the faulty one (the
    error's ``layer``) are built on their own (closed by a classifier) so their shapes are
    still shown.
    """
    try:
        model = engine.build_model(spec, input_shape=input_shape, num_classes=num_classes)
    except engine.SpecError as exc:
        error, bad = str(exc), (len(spec) if exc.layer is None else exc.layer - 1)
    except ValueError as exc:  # the input shape or classes, not the spec
        error, bad = str(exc), len(spec)
    else:
        return [LayerInfo(tuple(row["output_shape"]), int(row["params"]))
                for row in model.summary()], None
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
