"""build_model: shape inference, defaults, seeding and every refusal message."""

from __future__ import annotations

import re

import numpy as np
import pytest

import engine
from engine.layers import Conv2D, Dense

CONV = {"type": "conv2d", "filters": 4, "kernel_size": 3}
HEAD = [{"type": "flatten"}, {"type": "dense", "units": "num_classes"}]


def test_resolves_defaults_and_num_classes():
    model = engine.build_model([CONV, {"type": "maxpool2d"}, *HEAD], (8, 8, 1), 7)
    assert model.spec == [
        {"type": "conv2d", "filters": 4, "kernel_size": 3, "stride": 1, "padding": "valid",
         "bias": True, "init": "he"},
        {"type": "maxpool2d", "pool_size": 2, "stride": 2},
        {"type": "flatten"},
        {"type": "dense", "units": 7, "bias": True, "init": "auto"},
    ]
    assert model.output_shapes == [(6, 6, 4), (3, 3, 4), (36,), (7,)]
    # The resolved spec builds the same model again (as model files do).
    again = engine.build_model(model.spec, (8, 8, 1), 7)
    assert again.output_shapes == model.output_shapes


def test_layer_objects_and_init():
    model = engine.build_model(
        [
            CONV,
            {"type": "relu"},
            {"type": "flatten"},
            {"type": "dense", "units": 5},
            {"type": "batchnorm"},
            {"type": "relu"},
            {"type": "dense", "units": 3},
        ],
        (5, 5, 2),
        3,
    )
    conv, dense1, dense2 = model.layers[0], model.layers[3], model.layers[6]
    assert isinstance(conv, Conv2D) and (conv.in_channels, conv.out_channels) == (2, 4)
    assert isinstance(dense1, Dense) and dense1.in_features == 36
    assert (dense1.init, dense2.init) == ("he", "glorot")


def test_seed_determines_weights():
    spec = [CONV, *HEAD]
    a = engine.build_model(spec, (6, 6, 1), 3, seed=5).state_dict()
    b = engine.build_model(spec, (6, 6, 1), 3, seed=5).state_dict()
    c = engine.build_model(spec, (6, 6, 1), 3, seed=6).state_dict()
    for key in a:
        np.testing.assert_array_equal(a[key], b[key])
    assert not np.array_equal(a["conv1.W"], c["conv1.W"])


def test_accepts_preset_name_and_preset_dict():
    model = engine.build_model("lenet5", (28, 28, 1), 10)
    assert model.arch_name == "lenet5"
    preset = engine.load_preset("lenet5")
    assert engine.build_model(preset, (28, 28, 1), 10).arch_name == "lenet5"


@pytest.mark.parametrize(
    ("layers", "shape", "message"),
    [
        (
            [CONV, {"type": "relu"}, CONV, {"type": "maxpool2d", "pool_size": 4}, *HEAD],
            (7, 7, 1),
            "layer 4 (maxpool2d): input 3x3 is smaller than the 4x4 pool",
        ),
        (
            [{"type": "conv2d", "filters": 2, "kernel_size": 5}, *HEAD],
            (4, 4, 1),
            "layer 1 (conv2d): input 4x4 is smaller than the 5x5 kernel",
        ),
        (
            [CONV, {"type": "dense", "units": 3}],
            (5, 5, 1),
            "layer 2 (dense): dense needs a flat (features,) input but gets 3x3x4; "
            'add {"type": "flatten"} before it',
        ),
        (
            [{"type": "flatten"}, CONV, *HEAD],
            (5, 5, 1),
            "layer 2 (conv2d): conv2d needs an image input (H, W, C) but gets a flat (25,)",
        ),
        ([{"type": "conv"}], (5, 5, 1), "layer 1: unknown layer type 'conv' (known: conv2d,"),
        ([{"type": ["relu"]}], (5,), "layer 1: unknown layer type ['relu'] (known: conv2d,"),
        (
            [{"type": "dense", "unit": 3}],
            (4,),
            "layer 1 (dense): unknown key 'unit' (allowed: units, bias, init, frozen)",
        ),
        ([{"type": "dense"}], (4,), "layer 1 (dense): missing required key 'units'"),
        (
            [{"type": "dense", "units": 0}],
            (4,),
            "layer 1 (dense): units must be a positive integer, got 0",
        ),
        (
            [{"type": "conv2d", "filters": 2, "padding": "full"}],
            (4, 4, 1),
            'layer 1 (conv2d): padding must be "same", "valid" or a non-negative integer',
        ),
        (
            [{"type": "dropout", "rate": 1.5}],
            (4,),
            "layer 1 (dropout): rate must be a number in [0, 1), got 1.5",
        ),
        (["relu"], (4,), 'layer 1: expected a dict with a "type"'),
        (
            [{"type": "flatten"}, {"type": "dense", "units": 4}],
            (3, 3, 1),
            "the spec's output is 4 but the dataset has 3 classes: end it with "
            '{"type": "dense", "units": "num_classes"}',
        ),
        (
            [CONV, {"type": "flatten"}],
            (3, 3, 1),
            "the spec's output is 4 but the dataset has 3 classes",
        ),
        (
            [{"type": "dense", "units": 3}, {"type": "softmax"}],
            (4,),
            "layer 2 (softmax): the model must end with logits",
        ),
        ([], (4,), "the spec has no layers"),
    ],
)
def test_bad_specs_are_refused_with_a_message(layers, shape, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        engine.build_model(layers, shape, 3)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"spec": "resnet50"}, "unknown architecture 'resnet50' (presets: "),
        ({"spec": 42}, "spec must be a preset name or a list of layer dicts, got int"),
        ({"input_shape": (28, 28)}, "input_shape must be (H, W, C) or (features,)"),
        ({"num_classes": 1}, "num_classes must be an integer >= 2, got 1"),
        ({"seed": -1}, "seed must be a non-negative integer, got -1"),
    ],
)
def test_bad_arguments(kwargs, message):
    args = {
        "spec": [{"type": "flatten"}, {"type": "dense", "units": 3}],
        "input_shape": (2, 2, 1),
        "num_classes": 3,
        **kwargs,
    }
    with pytest.raises(ValueError, match=re.escape(message)):
        engine.build_model(**args)


def test_integer_units_equal_to_num_classes_accepted():
    model = engine.build_model([{"type": "dense", "units": 3}], (4,), 3)
    assert model.output_shapes == [(3,)]


def test_strided_same_conv_and_pools():
    spec = [
        {"type": "conv2d", "filters": 3, "kernel_size": 3, "stride": 2, "padding": "same"},
        {"type": "avgpool2d", "pool_size": 2, "stride": 1},
        {"type": "global_avgpool2d"},
        {"type": "dense", "units": "num_classes"},
    ]
    model = engine.build_model(spec, (9, 9, 1), 2)
    assert model.output_shapes == [(5, 5, 3), (4, 4, 3), (3,), (2,)]
    assert model.layer_names == ["conv1", "avgpool1", "gap1", "dense1"]


@pytest.mark.parametrize(
    ("layers", "shape", "where"),
    [
        ([CONV, {"type": "relu"}, CONV, {"type": "maxpool2d", "pool_size": 4}, *HEAD], (7, 7, 1),
         (4, "maxpool2d", "pool_size")),
        ([{"type": "conv2d", "filters": 2, "kernel_size": 5}, *HEAD], (4, 4, 1),
         (1, "conv2d", None)),  # the input is at fault, not a field
        ([{"type": "dense", "unit": 3}], (4,), (1, "dense", "unit")),
        ([{"type": "relu"}, {"type": "dense"}], (4,), (2, "dense", "units")),
        ([{"type": "dense", "units": 0}], (4,), (1, "dense", "units")),
        ([{"type": "conv2d", "filters": 2, "padding": "full"}], (4, 4, 1),
         (1, "conv2d", "padding")),
        ([{"type": "relu"}, {"type": "conv"}], (5, 5, 1), (2, None, "type")),
        ([{"type": "dense", "units": 3}, {"type": "softmax"}], (4,), (2, "softmax", None)),
        ([{"type": "flatten"}, {"type": "dense", "units": 4}], (3, 3, 1), (None, None, None)),
        ([], (4,), (None, None, None)),
    ],
)
def test_spec_errors_carry_the_layer_and_the_field(layers, shape, where):
    with pytest.raises(engine.SpecError) as refused:
        engine.build_model(layers, shape, 3)
    error = refused.value
    assert (error.layer, error.layer_type, error.field) == where
    if error.layer is not None:  # the message says the same, for people
        assert str(error).startswith(f"layer {error.layer}")
