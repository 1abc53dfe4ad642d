"""The architecture editor's shapes: the layers before a refused one are still shown."""

from __future__ import annotations

from gui.layer_shapes import infer_layers

CONV = {"type": "conv2d", "filters": 4, "kernel_size": 3}
HEAD = [{"type": "flatten"}, {"type": "dense", "units": "num_classes"}]


def test_a_valid_spec_gets_every_layers_shape():
    rows, error = infer_layers([CONV, {"type": "relu"}, *HEAD], (8, 8, 1), 3)
    assert error is None
    assert [row.output_shape for row in rows] == [(6, 6, 4), (6, 6, 4), (144,), (3,)]


def test_layers_before_the_refused_one_keep_their_shapes():
    spec = [CONV, {"type": "relu"}, CONV, {"type": "maxpool2d", "pool_size": 4}, *HEAD]
    rows, error = infer_layers(spec, (7, 7, 1), 3)
    assert error == "layer 4 (maxpool2d): input 3x3 is smaller than the 4x4 pool"
    assert [row.output_shape for row in rows] == [(5, 5, 4), (5, 5, 4), (3, 3, 4)]
    assert rows[0].params == 3 * 3 * 4 + 4


def test_a_spec_refused_as_a_whole_shows_all_its_layers():
    rows, error = infer_layers([CONV, {"type": "flatten"}], (5, 5, 1), 3)
    assert error.startswith("the spec's output is 36 but the dataset has 3 classes")
    assert [row.output_shape for row in rows] == [(3, 3, 4), (36,)]
