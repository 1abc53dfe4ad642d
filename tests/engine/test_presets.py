"""Every preset: well-formed data, builds for its datasets, sensible recommended settings."""

from __future__ import annotations

import json

import numpy as np
import pytest

import engine
from engine.spec import MODELS_DIR
from engine.training.optimizers import make_optimizer
from engine.training.schedules import make_schedule

SHAPES = {
    "mnist": (28, 28, 1),
    "fashion-mnist": (28, 28, 1),
    "numtadb": (28, 28, 1),
    "cifar10": (32, 32, 3),
}
REQUIRED = ["seed-cifar-1epoch", "numpy-net1", "numpy-net2", "numpy-net3", "vgg-cifar", "lenet5"]
PRESETS = engine.list_presets()


def test_required_presets_exist():
    assert set(REQUIRED) <= set(PRESETS)
    assert len(PRESETS) >= len(REQUIRED) + 2  # plus our own digits and CIFAR-10 nets


@pytest.mark.parametrize("name", PRESETS)
def test_preset_is_plain_data_and_builds_for_its_datasets(name):
    raw = json.loads((MODELS_DIR / f"{name}.json").read_text(encoding="utf-8"))
    assert raw["name"] == name
    assert raw["note"] and "\n" not in raw["note"]
    assert raw["datasets"] and set(raw["datasets"]) <= set(SHAPES)
    # The classifier is explicit: the last dense layer, followed at most by a constant scale.
    last_dense = max(i for i, layer in enumerate(raw["layers"]) if layer["type"] == "dense")
    assert raw["layers"][last_dense]["units"] == "num_classes"
    assert all(layer["type"] == "scale" for layer in raw["layers"][last_dense + 1:])
    for dataset in raw["datasets"]:
        model = engine.build_model(name, SHAPES[dataset], 10)
        assert model.output_shapes[-1] == (10,)
        logits = model.forward(np.zeros((2, *SHAPES[dataset]), np.float32))
        assert logits.shape == (2, 10)


def _settings(name):
    """The preset's recommended settings, and each dataset's: its nested block overrides the
    shared settings (as engine.training.config reads them)."""
    rec = engine.load_preset(name)["recommended"]
    shared = {k: v for k, v in rec.items() if not isinstance(v, dict)}
    yield shared
    yield from ({**shared, **v} for v in rec.values() if isinstance(v, dict))


@pytest.mark.parametrize("name", PRESETS)
def test_recommended_settings_are_usable(name):
    preset = engine.load_preset(name)
    nested = {k for k, v in preset["recommended"].items() if isinstance(v, dict)}
    assert nested <= set(preset["datasets"])
    model = engine.build_model(name, SHAPES[preset["datasets"][0]], 10)
    for rec in _settings(name):
        assert {"epochs", "batch_size", "optimizer", "lr", "schedule", "augment"} <= set(rec)
        extra = {k: rec[k] for k in ("momentum", "nesterov", "weight_decay") if k in rec}
        if rec["optimizer"] == "adam":
            extra.pop("momentum", None)
        if rec["optimizer"] != "sgd":
            extra.pop("nesterov", None)
        make_optimizer(rec["optimizer"], model, rec["lr"], **extra)
        make_schedule(rec["schedule"], rec["lr"], 100)
        assert 0 <= rec.get("label_smoothing", 0) < 1


def test_lenet5_counts_by_hand():
    model = engine.build_model("lenet5", (28, 28, 1), 10)
    rows = {r["name"]: r for r in model.summary()}
    assert rows["conv1"]["output_shape"] == (24, 24, 6)
    assert rows["conv1"]["params"] == 5 * 5 * 1 * 6 + 6  # 156
    assert rows["conv2"]["params"] == 5 * 5 * 6 * 16 + 16  # 2,416
    assert rows["pool2"]["output_shape"] == (4, 4, 16)
    assert rows["dense1"]["params"] == 256 * 120 + 120  # 30,840
    assert rows["dense2"]["params"] == 120 * 84 + 84  # 10,164
    assert rows["dense3"]["params"] == 84 * 10 + 10  # 850
    assert model.num_params() == 156 + 2416 + 30840 + 10164 + 850


def test_seed_cifar_counts_by_hand():
    model = engine.build_model("seed-cifar-1epoch", (32, 32, 3), 10)
    # conv 3*3*3*32+32 = 896, BN 64, dense 16*16*32*100+100 = 819,300, dense 1,010
    assert model.num_params() == 896 + 64 + 819_300 + 1_010


def test_unknown_preset():
    with pytest.raises(ValueError, match="unknown architecture 'nope' \\(presets: "):
        engine.load_preset("nope")
