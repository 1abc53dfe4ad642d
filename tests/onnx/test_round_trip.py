"""Export -> import gives back the very model: bit-identical parameters, identical predictions,
the same normalisation, class names and metadata; every layer type the engine has exports."""

from __future__ import annotations

import json

import numpy as np
import pytest

from engine.onnx import build_onnx, export_onnx, import_onnx
from engine.onnx.export_layers import EXPORTERS
from engine.serialize import load_model, save_model
from engine.spec import LAYER_TYPES
from tests.onnx.helpers import ASSETS, SHIPPED, run_onnx, trained_from_spec

pytest.importorskip("onnxruntime")

# Every layer type of engine.spec, with the settings that change the graph: odd kernels,
# stride 2, "same" / int / "valid" padding, a softmax inside the network, pools of each kind.
EVERY_LAYER = [
    {"type": "conv2d", "filters": 6, "kernel_size": 5, "padding": "same"},
    {"type": "batchnorm", "eps": 1e-3, "momentum": 0.8},
    {"type": "leaky_relu", "alpha": 0.2},
    {"type": "conv2d", "filters": 8, "kernel_size": 3, "stride": 2, "padding": 1},
    {"type": "tanh"},
    {"type": "maxpool2d", "pool_size": 2},
    {"type": "conv2d", "filters": 5, "kernel_size": 2, "padding": "valid"},
    {"type": "softmax"},
    {"type": "avgpool2d", "pool_size": 2, "stride": 1},
    {"type": "sigmoid"},
    {"type": "flatten"},
    {"type": "dropout", "rate": 0.3},
    {"type": "dense", "units": 12},
    {"type": "batchnorm"},
    {"type": "relu"},
    {"type": "dense", "units": "num_classes"},
]
GLOBAL_POOL = [
    {"type": "conv2d", "filters": 7, "kernel_size": 3},
    {"type": "relu"},
    {"type": "global_avgpool2d"},
    {"type": "dense", "units": "num_classes"},
]
# The CIFAR-10 recipe's layers (issue 17): patch whitening, GELU, a dirac-initialised conv
# without bias, BatchNorm with a fixed scale, a dense layer without bias, a logit scale.
AIRBENCH_LIKE = [
    {"type": "whiten", "kernel_size": 2},
    {"type": "gelu"},
    {"type": "conv2d", "filters": 8, "kernel_size": 3, "padding": "same", "bias": False,
     "init": "dirac"},
    {"type": "maxpool2d", "pool_size": 2},
    {"type": "batchnorm", "scale": False, "momentum": 0.6},
    {"type": "gelu"},
    {"type": "flatten"},
    {"type": "dense", "units": "num_classes", "bias": False},
    {"type": "scale", "factor": 1 / 9},
]
DENSE_ONLY = [{"type": "flatten"}, {"type": "dense", "units": 9}, {"type": "sigmoid"},
              {"type": "dense", "units": "num_classes"}]


def test_every_engine_layer_type_has_an_onnx_form():
    covered = {entry["type"] for entry in EVERY_LAYER + GLOBAL_POOL + AIRBENCH_LIKE}
    assert covered == set(LAYER_TYPES) == set(EXPORTERS)


@pytest.mark.parametrize("spec,shape", [(EVERY_LAYER, (17, 15, 3)), (GLOBAL_POOL, (9, 9, 2)),
                                        (DENSE_ONLY, (6, 5, 3)), (AIRBENCH_LIKE, (12, 11, 3))],
                         ids=["every layer", "global pool", "dense only", "airbench layers"])
def test_every_layer_runs_in_onnx_runtime_as_in_the_engine(spec, shape):
    trained = trained_from_spec(spec, shape, num_classes=4, seed=3)
    images = np.random.default_rng(1).integers(0, 256, (200, *shape), dtype=np.uint8)
    _, probabilities = run_onnx(build_onnx(trained).SerializeToString(), images)
    expected = trained.predict_proba(images)
    np.testing.assert_array_equal(probabilities.argmax(1), expected.argmax(1))
    np.testing.assert_allclose(probabilities, expected, atol=1e-5, rtol=0)


def _assert_same_model(original, back, images):
    a, b = original.model.state_dict(), back.model.state_dict()
    assert sorted(a) == sorted(b)
    for key in a:
        assert a[key].dtype == b[key].dtype and a[key].tobytes() == b[key].tobytes(), key
    np.testing.assert_array_equal(back.predict_proba(images), original.predict_proba(images))
    assert back.normalizer == original.normalizer
    assert back.class_names == original.class_names
    assert back.input_shape == original.input_shape and back.kind == original.kind
    # dropout, frozen flags, initialisers, momentum: back from the exporter's metadata
    assert back.model.spec == original.model.spec
    assert back.model.frozen_names() == original.model.frozen_names()


def _explicit(entry: dict) -> dict:
    """A spec entry with conv padding as (before, after) pairs: padding 1 and "same" are the
    same 3x3 convolution, and import cannot tell which one was written."""
    if entry["type"] != "conv2d":
        return entry
    k, padding = entry["kernel_size"], entry["padding"]
    pads = {"same": ((k - 1) // 2, k - 1 - (k - 1) // 2), "valid": (0, 0)}.get(
        padding, (padding, padding))
    return {**entry, "padding": pads}


@pytest.mark.parametrize("spec,shape", [(EVERY_LAYER, (17, 15, 3)), (GLOBAL_POOL, (9, 9, 2)),
                                        (DENSE_ONLY, (6, 5, 3)), (AIRBENCH_LIKE, (12, 11, 3))],
                         ids=["every layer", "global pool", "dense only", "airbench layers"])
def test_round_trip_of_every_layer_is_exact(spec, shape, tmp_path):
    trained = trained_from_spec(spec, shape, num_classes=4, seed=5)
    path = export_onnx(trained, tmp_path / "model.onnx")
    back = import_onnx(path)
    images = np.random.default_rng(2).integers(0, 256, (50, *shape), dtype=np.uint8)
    _assert_same_model(trained, back, images)


@pytest.mark.parametrize("name", SHIPPED)
def test_round_trip_of_the_shipped_models_through_a_model_file(name, tmp_path):
    trained = load_model(ASSETS / name)
    back = import_onnx(export_onnx(trained, tmp_path / "model.onnx"))
    reopened = load_model(save_model(back, tmp_path / "model.pkl"))
    images = np.random.default_rng(3).integers(0, 256, (100, *trained.input_shape),
                                               dtype=np.uint8)
    _assert_same_model(trained, reopened, images)
    meta = reopened.meta
    assert meta["metrics"]["test_accuracy"] == trained.meta["metrics"]["test_accuracy"]
    assert meta["training"] == trained.meta["training"]
    assert meta["arch_name"] == trained.meta["arch_name"]


@pytest.mark.parametrize("tta", ["mirror", "translate", "mirror_translate"])
def test_test_time_augmentation_is_in_the_graph_and_comes_back(tta, tmp_path):
    trained = trained_from_spec(AIRBENCH_LIKE, (12, 11, 3), num_classes=4, seed=7, tta=tta)
    images = np.random.default_rng(8).integers(0, 256, (200, 12, 11, 3), dtype=np.uint8)
    expected = trained.predict_proba(images)
    assert not np.allclose(expected, trained.model.predict_proba(trained.normalize(images)),
                           atol=1e-4)  # the views do change the prediction
    path = export_onnx(trained, tmp_path / "tta.onnx")
    _, probabilities = run_onnx(path.read_bytes(), images)
    np.testing.assert_array_equal(probabilities.argmax(1), expected.argmax(1))
    np.testing.assert_allclose(probabilities, expected, atol=1e-5, rtol=0)
    back = import_onnx(path)
    assert back.tta == tta
    _assert_same_model(trained, back, images[:50])


def test_without_the_engine_metadata_the_graph_alone_gives_the_same_computation(tmp_path):
    """A graph stripped of its metadata (as another tool might save it) still imports to the
    same parameters and predictions; only training settings such as dropout are gone."""
    trained = trained_from_spec(EVERY_LAYER, (17, 15, 3), num_classes=4, seed=5)
    proto = build_onnx(trained)
    del proto.metadata_props[:]
    path = tmp_path / "bare.onnx"
    path.write_bytes(proto.SerializeToString())
    back = import_onnx(path)
    a, b = trained.model.state_dict(), back.model.state_dict()
    assert sorted(a) == sorted(b) and all(a[k].tobytes() == b[k].tobytes() for k in a)
    images = np.random.default_rng(4).integers(0, 256, (50, 17, 15, 3), dtype=np.uint8)
    np.testing.assert_allclose(back.predict_proba(images), trained.predict_proba(images),
                               rtol=0, atol=1e-6)  # normalisation rebuilt from the constants
    kept = [e for e in trained.model.spec if e["type"] != "dropout"]
    assert [_explicit({k: v for k, v in e.items() if k not in ("init", "frozen")})
            for e in back.model.spec] == [
        _explicit({k: v for k, v in e.items() if k not in ("init", "frozen")}) for e in kept]
    assert back.class_names == ["0", "1", "2", "3"]


def test_metadata_that_disagrees_with_the_graph_is_not_believed(tmp_path):
    trained = trained_from_spec(AIRBENCH_LIKE, (12, 11, 3), num_classes=4, seed=5)
    proto = build_onnx(trained)
    props = {p.key: p for p in proto.metadata_props}
    spec = json.loads(props["engine_spec"].value)
    spec[-1]["factor"] = 0.5  # the graph multiplies by 1/9
    props["engine_spec"].value = json.dumps(spec)
    path = tmp_path / "tampered.onnx"
    path.write_bytes(proto.SerializeToString())
    back = import_onnx(path)
    assert back.model.layer_types[0] == "conv2d"  # the graph's own reading: a plain conv
    assert back.model.spec[-1]["factor"] == pytest.approx(1 / 9)
    images = np.random.default_rng(6).integers(0, 256, (50, 12, 11, 3), dtype=np.uint8)
    np.testing.assert_array_equal(back.predict_proba(images), trained.predict_proba(images))


def test_metadata_describes_the_model():
    trained = load_model(ASSETS / "numtadb.pkl")
    proto = build_onnx(trained)
    props = {p.key: p.value for p in proto.metadata_props}
    assert json.loads(props["class_names"]) == trained.class_names  # Bengali numerals kept
    assert json.loads(props["input_shape"]) == [28, 28, 1]
    assert props["preprocessing"].startswith("digit style")
    assert "divided by 255" in props["preprocessing"]
    assert float(props["test_accuracy"]) == trained.meta["metrics"]["test_accuracy"]
    assert json.loads(props["training"])["epochs"] == trained.meta["training"]["epochs"]
    assert props["engine_version"] == trained.meta["engine_version"]
    assert props["architecture"] == trained.meta["arch_name"]
    colour = {p.key: p.value for p in build_onnx(load_model(ASSETS / "cifar10.pkl")).metadata_props}
    assert colour["preprocessing"].startswith("photo style")
