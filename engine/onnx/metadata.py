"""What an exported ONNX file says about its model, as ``metadata_props`` (string key/values).

ONNX Runtime (``session.get_modelmeta().custom_metadata_map``), Netron and OpenCV show these;
:func:`read_metadata` reads them back on import. Structured values are JSON text.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from typing import Any

from engine.model_meta import KINDS

# Words for each preprocessing kind (engine.data.preprocess); {size} is "HxW".
_KIND_WORDS = {
    "digits": "digit style (as MNIST): grey, light ink on a dark background (a light background "
              "is inverted), cropped to the ink, its longer side scaled to 20/28 of the frame and "
              "centred by mass in {size}",
    "grey": "object style (as Fashion-MNIST): grey, light on dark, cropped to the object, its "
            "longer side filling the {size} frame, centred by its bounding box",
    "colour": "photo style: RGB, scaled to cover {size} and centre-cropped",
}


@dataclass
class OnnxMetadata:
    """The model facts carried by an exported graph.

    input_shape: (H, W, C) per image; normalizer: {"mean": [...], "std": [...]} per channel in
    0..1 units (the graph applies it); kind: "digits", "grey" or "colour".
    """

    class_names: list[str]
    input_shape: tuple[int, int, int]
    kind: str = "colour"
    normalizer: dict[str, list[float]] | None = None
    test_accuracy: float | None = None
    engine_version: str = ""
    arch_name: str = "custom"
    dataset: str = ""
    training: dict[str, Any] = field(default_factory=dict)
    # The engine's layer list (resolved spec dicts), for the settings only training needs.
    engine_spec: list[dict[str, Any]] = field(default_factory=list)
    # engine.tta mode the graph averages its views with ("none": the image alone).
    tta: str = "none"

    def preprocessing_words(self) -> str:
        h, w, c = self.input_shape
        words = _KIND_WORDS.get(self.kind, _KIND_WORDS["colour"]).format(size=f"{h}x{w}")
        norm = ""
        if self.normalizer:
            mean = ", ".join(f"{v:.4f}" for v in self.normalizer["mean"])
            std = ", ".join(f"{v:.4f}" for v in self.normalizer["std"])
            norm = f"; the graph then normalises per channel itself (mean {mean}, std {std})"
        tta = "" if self.tta == "none" else (
            f"; the graph averages the logits over test-time views ({self.tta})")
        return (f"{words}; fed as float32 [N, {h}, {w}, {c}] (NHWC) with pixel values divided "
                f"by 255 (0..1){norm}{tta}")

    def to_props(self) -> dict[str, str]:
        """The ``metadata_props`` entries, all strings."""
        props = {
            "class_names": json.dumps(self.class_names, ensure_ascii=False),
            "input_shape": json.dumps(list(self.input_shape)),
            "input_layout": "NHWC",
            "preprocessing": self.preprocessing_words(),
            "preprocessing_kind": self.kind,
            "engine_version": self.engine_version,
            "architecture": self.arch_name,
            "training": json.dumps(self.training, ensure_ascii=False, sort_keys=True),
        }
        if self.normalizer:
            props["normalization"] = json.dumps(self.normalizer)
        if self.test_accuracy is not None:
            props["test_accuracy"] = repr(float(self.test_accuracy))
        if self.dataset:
            props["dataset"] = self.dataset
        if self.engine_spec:
            props["engine_spec"] = json.dumps(self.engine_spec)
        if self.tta != "none":
            props["test_time_augmentation"] = self.tta
        return props


def _json(props: dict[str, str], key: str) -> Any:
    try:
        return json.loads(props[key]) if key in props else None
    except json.JSONDecodeError:
        return None


def _valid_normalizer(value: Any, channels: int) -> dict[str, list[float]] | None:
    if not isinstance(value, dict):
        return None
    mean, std = value.get("mean"), value.get("std")
    ok = all(isinstance(v, list) and len(v) == channels
             and all(isinstance(x, int | float) and math.isfinite(x) for x in v)
             for v in (mean, std))
    if not ok or not all(s > 0 for s in std):
        return None
    return {"mean": [float(x) for x in mean], "std": [float(x) for x in std]}


def read_normalizer(props: dict[str, str], channels: int) -> dict[str, list[float]] | None:
    """The exporter's per-channel normalisation ({"mean", "std"}), if the file has a valid one."""
    return _valid_normalizer(_json(props, "normalization"), channels)


def read_metadata(props: dict[str, str], input_shape: tuple[int, int, int],
                  num_classes: int) -> OnnxMetadata:
    """The metadata of an imported graph; anything absent or malformed gets its default
    (class names "0".."N-1" unless the file names exactly ``num_classes`` of them)."""
    names = _json(props, "class_names")
    if not (isinstance(names, list) and len(names) == num_classes
            and all(isinstance(n, str) for n in names)):
        names = [str(i) for i in range(num_classes)]
    kind = props.get("preprocessing_kind", "")
    if kind not in KINDS:  # the kinds a model file knows
        kind = "digits" if input_shape[2] == 1 else "colour"
    try:
        accuracy: float | None = float(props["test_accuracy"])
    except (KeyError, ValueError):
        accuracy = None
    training = _json(props, "training")
    return OnnxMetadata(
        class_names=names,
        input_shape=input_shape,
        kind=kind,
        normalizer=_valid_normalizer(_json(props, "normalization"), input_shape[2]),
        test_accuracy=accuracy,
        engine_version=props.get("engine_version", ""),
        arch_name=props.get("architecture", "") or "imported",
        dataset=props.get("dataset", ""),
        training=training if isinstance(training, dict) else {},
        tta=props.get("test_time_augmentation", "none"),
    )

