"""Test-time augmentation: the averaged views against a plain reference, and the model file
carries the mode to every prediction."""

from __future__ import annotations

import numpy as np
import pytest

import engine
from engine.data.normalize import Normalizer
from engine.layers.activations import softmax
from engine.serialize import load_model, save_model
from engine.trained_model import TrainedModel
from engine.tta import tta_logits

SPEC = [{"type": "conv2d", "filters": 3}, {"type": "relu"}, {"type": "flatten"},
        {"type": "dense", "units": "num_classes"}]


def _shift(x, dy, dx):
    """Each output pixel (r, c) takes input (r - dy, c - dx), reflected at the border."""
    h, w = x.shape[1:3]
    out = np.empty_like(x)

    def ref(i, size):
        return -i if i < 0 else (2 * (size - 1) - i if i >= size else i)

    for r in range(h):
        for col in range(w):
            out[:, r, col] = x[:, ref(r - dy, h), ref(col - dx, w)]
    return out


@pytest.mark.parametrize("mode", ["none", "mirror", "translate", "mirror_translate"])
def test_views_and_weights_match_airbench(mode):
    model = engine.build_model(SPEC, (6, 6, 2), 4, seed=1)
    x = np.random.default_rng(0).standard_normal((5, 6, 6, 2)).astype(np.float32)

    def f(v):
        return model.forward(v, training=False).astype(np.float64)

    def mirror(v):
        return 0.5 * f(v) + 0.5 * f(v[:, :, ::-1])

    view = mirror if "mirror" in mode else f
    expected = view(x)
    if "translate" in mode:
        expected = 0.5 * expected + 0.5 * (view(_shift(x, 1, 1)) + view(_shift(x, -1, -1))) / 2
    np.testing.assert_allclose(tta_logits(model, x, mode, batch_size=2), expected, rtol=1e-6)


def test_unknown_mode_is_refused():
    model = engine.build_model(SPEC, (6, 6, 2), 4)
    with pytest.raises(ValueError, match="test-time augmentation must be one of none, mirror"):
        tta_logits(model, np.zeros((1, 6, 6, 2)), "rotate")


def test_the_model_file_carries_tta_to_predict_proba(tmp_path):
    model = engine.build_model(SPEC, (6, 6, 1), 3, seed=2)
    meta = {"class_names": ["a", "b", "c"], "input_shape": [6, 6, 1], "tta": "translate",
            "preprocessing": {"normalizer": Normalizer([0.5], [0.25]).to_dict(),
                              "kind": "digits", "digit": None}}
    trained = TrainedModel(model, meta)
    x = np.random.default_rng(1).integers(0, 256, (4, 6, 6, 1)).astype(np.uint8)
    probs = trained.predict_proba(x)
    expected = softmax(tta_logits(model, trained.normalize(x), "translate"))
    np.testing.assert_allclose(probs, expected, rtol=1e-12)
    assert not np.allclose(probs, model.predict_proba(trained.normalize(x)))
    loaded = load_model(save_model(trained, tmp_path / "m.pkl"))
    assert loaded.tta == "translate"
    np.testing.assert_allclose(loaded.predict_proba(x), probs, rtol=1e-6)
