"""The architecture editor handles every engine layer type and option: the airbench layers
(whiten, gelu, scale), conv/dense bias and init, BatchNorm momentum/eps/scale, frozen lists and
a whitening bias that never freezes (null) — added, edited and read back without losing a key."""

from __future__ import annotations

import pytest

from engine.spec import LAYER_TYPES, build_model, load_preset, resolve_layer
from gui.layer_shapes import infer_layers
from gui.widgets.architecture_editor import (
    LAYER_DEFAULTS,
    ArchitectureEditor,
    format_settings,
    parse_settings,
)


def _editor(qtbot, layers) -> ArchitectureEditor:
    editor = ArchitectureEditor()
    qtbot.addWidget(editor)
    editor.set_inferer(lambda spec: infer_layers(spec, (32, 32, 3), 10))
    editor.set_spec(layers)
    return editor


def _params(spec) -> int:
    return build_model(spec, input_shape=(32, 32, 3), num_classes=10).num_params()


def test_the_add_menu_offers_every_engine_layer_type_with_valid_defaults(qtbot):
    assert set(LAYER_DEFAULTS) == set(LAYER_TYPES)
    for kind, defaults in LAYER_DEFAULTS.items():
        resolve_layer({"type": kind, **defaults}, 10)  # raises on a bad default
    editor = ArchitectureEditor()
    qtbot.addWidget(editor)
    assert [a.text() for a in editor.add_button.menu().actions()] == list(LAYER_DEFAULTS)


@pytest.mark.parametrize("arch", ["airbench94", "airbench93"])
def test_a_preset_reads_back_from_the_table_without_losing_a_key(qtbot, arch):
    layers = load_preset(arch)["layers"]
    editor = _editor(qtbot, layers)
    assert editor.error() is None
    assert f"{_params(layers):,} parameters" in editor.summary_label.text()
    for row, layer in enumerate(layers):
        text = editor.table.item(row, 1).text()
        assert parse_settings(layer["type"], text) == layer, text
    assert editor.spec() == layers


def test_values_that_are_not_numbers_or_words_round_trip():
    layer = {"type": "whiten", "kernel_size": 2, "eps": 1e-12, "bias_epochs": None,
             "frozen": ["W", "b"]}
    assert format_settings(layer) == "kernel_size=2, eps=1e-12, bias_epochs=null, frozen=[W, b]"
    assert parse_settings("whiten", format_settings(layer)) == layer
    dense = {"type": "dense", "units": "num_classes", "bias": False, "frozen": []}
    assert parse_settings("dense", format_settings(dense)) == dense
    assert parse_settings("scale", "factor=0.1111111111111111") == {
        "type": "scale", "factor": 1 / 9}


def test_editing_every_new_option_reaches_the_spec_and_the_engine(qtbot):
    layers = load_preset("airbench93")["layers"]
    editor = _editor(qtbot, layers)
    before = _params(layers)
    edits = {
        0: "kernel_size=2, eps=0.001, bias_epochs=null, frozen=[W, b]",
        2: "filters=64, kernel_size=3, padding=same, bias=true, init=he, frozen=[W]",
        4: "momentum=0.9, eps=1e-05, scale=true",
        25: "units=num_classes, bias=true, init=glorot",
        26: "factor=0.125",
    }
    for row, text in edits.items():
        editor.set_layer_settings(row, text)
        assert editor.error() is None, editor.error()
    spec = editor.spec()
    assert spec[0] == {"type": "whiten", "kernel_size": 2, "eps": 0.001, "bias_epochs": None,
                       "frozen": ["W", "b"]}
    assert spec[2] == {"type": "conv2d", "filters": 64, "kernel_size": 3, "padding": "same",
                       "bias": True, "init": "he", "frozen": ["W"]}
    assert spec[4] == {"type": "batchnorm", "momentum": 0.9, "eps": 1e-05, "scale": True}
    assert spec[25]["bias"] is True and spec[26] == {"type": "scale", "factor": 0.125}
    assert spec[1:2] + spec[3:4] + spec[5:25] == layers[1:2] + layers[3:4] + layers[5:25]
    # A conv bias (64), a BatchNorm scale (64) and a dense bias (10) now count as parameters.
    assert _params(spec) == before + 64 + 64 + 10
    assert f"{before + 138:,} parameters" in editor.summary_label.text()
    model = build_model(spec, input_shape=(32, 32, 3), num_classes=10)
    assert model.layers[0].bias_epochs is None and model.layers[-1].factor == 0.125
    assert {"whiten1.W", "whiten1.b", "conv1.W"} <= model.frozen_names()
    assert "bn1.gamma" not in model.frozen_names()


def test_new_layers_are_added_and_bad_options_refused_in_one_line(qtbot):
    editor = _editor(qtbot, [{"type": "flatten"}, {"type": "dense", "units": "num_classes"}])
    editor.table.selectRow(-1)
    editor.table.clearSelection()
    editor.insert_layer("scale")
    editor.table.clearSelection()
    editor.insert_layer("gelu")
    assert [layer["type"] for layer in editor.spec()] == ["flatten", "dense", "scale", "gelu"]
    assert editor.error() is None
    editor.table.selectRow(-1)
    editor.table.clearSelection()
    editor.set_spec([{"type": "whiten"}, *editor.spec()])
    assert editor.error() is None
    editor.set_layer_settings(0, "frozen=[X]")
    assert editor.error().startswith("layer 1 (whiten): frozen names no parameter 'X'")
    assert "\n" not in editor.error()
    editor.set_layer_settings(0, "bias_epochs=-1")
    assert "bias_epochs must be a whole number >= 0 or null" in editor.error()
    editor.set_layer_settings(0, "bias_epochs=null")
    assert editor.error() is None and editor.spec()[0] == {"type": "whiten", "bias_epochs": None}
