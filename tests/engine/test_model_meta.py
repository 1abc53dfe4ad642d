"""ModelMeta: a typed record that still answers as the dict it replaced."""

from __future__ import annotations

import pytest

from engine.model_meta import ModelMeta

NORMALIZER = {"type": "per_channel", "scale": 255.0, "mean": [0.5], "std": [0.25]}


def _meta(**changes):
    data = {"class_names": ["a", "b"], "input_shape": [4, 4, 1],
            "preprocessing": {"kind": "digits", "normalizer": NORMALIZER}, "ood": {"x": 1}}
    data.update(changes)
    return ModelMeta.from_dict(data)


def test_fields_are_attributes_and_dict_keys_and_unknown_fields_are_kept():
    meta = _meta()
    assert meta.class_names == meta["class_names"] == ["a", "b"]
    assert meta.get("metrics") == {} and meta.get("nothing", 3) == 3
    meta["metrics"] = {"test_accuracy": 0.5}
    meta.update(completed=False, threshold=2.0)
    assert meta.metrics["test_accuracy"] == 0.5 and meta.completed is False
    assert meta.other == {"ood": {"x": 1}, "threshold": 2.0}
    plain = dict(meta)
    assert plain["ood"] == {"x": 1} and plain["class_names"] == ["a", "b"]
    assert ModelMeta.from_dict(meta.to_dict()) == meta


def test_a_normaliser_may_be_missing_in_code_but_not_malformed():
    assert _meta(preprocessing={"kind": "colour", "normalizer": None}).preprocessing
    with pytest.raises(ValueError, match="normaliser is malformed"):
        _meta(preprocessing={"kind": "digits", "normalizer": {"mean": "x"}})
    with pytest.raises(ValueError, match="normaliser has 1 channels, the input 3"):
        _meta(input_shape=[4, 4, 3])


@pytest.mark.parametrize("changes, message", [
    ({"class_names": "ab"}, "class_names"), ({"class_names": ["a"]}, "class_names"),
    ({"input_shape": [4, 4]}, "input_shape"), ({"input_shape": [True, 4, 1]}, "input_shape"),
    ({"preprocessing": {"kind": "other"}}, "kind"), ({"metrics": []}, "metrics"),
    ({"metrics": {"test_accuracy": "99 %"}}, "test_accuracy"),
    ({"metrics": {"test_accuracy": 1.5}}, "test_accuracy"),
    ({"metrics": {"confusion_matrix": [[1, 2], [3]]}}, "2 x 2 counts"),
    ({"metrics": {"per_class": [{"class": 1}]}}, "per_class"),
    ({"history": {"loss": "low"}}, "history loss"), ({"completed": 1}, "completed"),
    ({"stopped_at": [1]}, "stopped_at"), ({"created": 2026}, "created"),
])
def test_malformed_fields_are_one_line_errors(changes, message):
    with pytest.raises(ValueError, match=message) as info:
        _meta(**changes)
    assert "\n" not in str(info.value)
