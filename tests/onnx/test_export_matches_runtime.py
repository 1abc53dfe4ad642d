"""Every shipped model and every preset, exported and run by ONNX Runtime on 1,000 images:
the same top-1 class for every image and probabilities within 1e-5 of the engine's."""

from __future__ import annotations

import numpy as np
import onnx
import pytest

import engine
from engine.onnx import OPSET, build_onnx, opset_for
from engine.serialize import load_model
from tests.onnx.helpers import (
    ASSETS,
    COUNT,
    SHIPPED,
    dataset_of,
    preset_input,
    run_onnx,
    test_images,
    trained_from_spec,
)

pytest.importorskip("onnxruntime")


def _models():
    for name in SHIPPED:
        yield pytest.param(("asset", name), id=f"assets/{name}")
    for name in engine.list_presets():
        yield pytest.param(("preset", name), id=f"preset {name}")


@pytest.fixture(scope="module", params=list(_models()))
def case(request):
    source, name = request.param
    if source == "asset":
        trained = load_model(ASSETS / name)
        dataset = dataset_of(trained)
    else:
        shape, dataset = preset_input(name)
        trained = trained_from_spec(name, shape, seed=1)
    proto = build_onnx(trained)
    return trained, proto, test_images(trained.input_shape, dataset)


def test_runtime_gives_the_engine_predictions(case):
    trained, proto, images = case
    logits, probabilities = run_onnx(proto.SerializeToString(), images)
    expected = trained.predict_proba(images)
    assert probabilities.shape == expected.shape == (COUNT, trained.num_classes)
    np.testing.assert_array_equal(probabilities.argmax(axis=1), expected.argmax(axis=1))
    np.testing.assert_allclose(probabilities, expected, rtol=0, atol=1e-5)
    np.testing.assert_array_equal(logits.argmax(axis=1), expected.argmax(axis=1))


def test_graph_is_standard_with_dynamic_batch_and_no_training_parts(case):
    trained, proto, images = case
    onnx.checker.check_model(proto, full_check=True)
    # OPSET, or Gelu's opset 20 for a network with a GELU (the airbench presets).
    assert proto.opset_import[0].version == opset_for(trained.model) >= OPSET >= 17
    (image,) = proto.graph.input
    dims = image.type.tensor_type.shape.dim
    assert image.name == "image" and image.type.tensor_type.elem_type == onnx.TensorProto.FLOAT
    assert dims[0].dim_param and [d.dim_value for d in dims[1:]] == list(trained.input_shape)
    assert [o.name for o in proto.graph.output] == ["logits", "probabilities"]
    ops = [node.op_type for node in proto.graph.node]
    assert ops[:2] == ["Mul", "Add"]  # the normalisation comes first
    assert "Dropout" not in ops
    for node in proto.graph.node:
        if node.op_type == "BatchNormalization":
            assert len(node.output) == 1  # inference form: no running statistics out
    # A single image and an odd batch run too (the batch axis is dynamic).
    _, one = run_onnx(proto.SerializeToString(), images[:1])
    _, seven = run_onnx(proto.SerializeToString(), images[:7])
    np.testing.assert_allclose(one[0], seven[0], atol=1e-6)
