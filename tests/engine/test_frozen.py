"""Frozen parameters: untouched by every optimizer, kept by the spec, model files and resumed
runs; the whitening bias trains for its first epochs only."""

from __future__ import annotations

import numpy as np
import pytest

import engine
from engine.data.normalize import Normalizer
from engine.serialize import load_model, save_model
from engine.trained_model import TrainedModel
from engine.training.freezing import FreezeWhiteningBias
from engine.training.optimizers import make_optimizer
from engine.training.trainer import Trainer
from tests.engine.training_toys import toy_images

SPEC = [{"type": "whiten", "bias_epochs": 1}, {"type": "gelu"},
        {"type": "conv2d", "filters": 4, "padding": "same", "bias": False},
        {"type": "batchnorm", "scale": False}, {"type": "relu"}, {"type": "flatten"},
        {"type": "dense", "units": "num_classes", "frozen": ["W"]}]


def _model(seed=0):
    return engine.build_model(SPEC, (8, 8, 1), 3, seed=seed)


@pytest.mark.parametrize("name, options", [("sgd", {"momentum": 0.9, "weight_decay": 0.1}),
                                           ("adam", {"weight_decay": 0.1})])
def test_optimizers_leave_frozen_parameters_untouched(name, options):
    model = _model()
    before = model.state_dict()
    opt = make_optimizer(name, model, 0.1, **options)
    x = np.random.default_rng(0).standard_normal((4, 8, 8, 1)).astype(np.float32)
    for _ in range(2):
        model.zero_grad()
        logits = model.forward(x, training=True)
        model.backward(np.ones_like(logits))
        opt.step()
    after = model.state_dict()
    frozen = model.frozen_names()
    assert frozen == {"whiten1.W", "conv1.b", "bn1.gamma", "dense1.W"}
    for key in frozen:
        np.testing.assert_array_equal(after[key], before[key])
    for key in ("whiten1.b", "conv1.W", "bn1.beta", "dense1.b"):
        assert not np.array_equal(after[key], before[key]), key
    assert not set(opt.state) & frozen


def test_set_trainable_updates_the_spec_and_refuses_unknown_names():
    model = _model()
    model.set_trainable("whiten1.b", False)
    assert model.spec[0]["frozen"] == ["W", "b"]
    again = engine.build_model(model.spec, (8, 8, 1), 3)
    assert "whiten1.b" in again.frozen_names()
    model.set_trainable("dense1.W", True)
    assert "dense1.W" not in model.frozen_names() and model.spec[-1]["frozen"] == []
    assert "frozen" not in engine.build_model(SPEC, (8, 8, 1), 3).spec[2]  # only where given
    with pytest.raises(ValueError, match="no layer named 'conv9'"):
        model.set_trainable("conv9.W", False)
    with pytest.raises(ValueError, match="layer 'gelu1' has no parameter 'W'"):
        model.set_trainable("gelu1.W", False)


def test_model_files_restore_the_frozen_flags(tmp_path):
    model = _model()
    model.set_trainable("whiten1.b", False)
    meta = {"class_names": ["a", "b", "c"], "input_shape": [8, 8, 1],
            "preprocessing": {"normalizer": Normalizer([0.5], [0.25]).to_dict(),
                              "kind": "digits", "digit": None}}
    path = save_model(TrainedModel(model, meta), tmp_path / "m.pkl")
    loaded = load_model(path).model
    assert loaded.frozen_names() == model.frozen_names()


def _fit(epochs, stop_after=None, state=None):
    x, y = toy_images(24, 0)
    model = _model()
    opt = make_optimizer("sgd", model, 0.05, momentum=0.9)
    seen = []

    class Watch(FreezeWhiteningBias):
        def on_batch_end(self, batch, logs):
            seen.append((self.trainer.epoch, model.state_dict()["whiten1.b"].copy()))
            if stop_after is not None and len(seen) == stop_after:
                self.trainer.stop_training = True

    trainer = Trainer(model, opt, epochs=epochs, batch_size=8, callbacks=[Watch()])
    if state is not None:
        trainer.load_state_dict(state)
    trainer.fit(x, y)
    return trainer, seen


def test_the_whitening_bias_trains_its_epochs_then_stops_and_a_resume_agrees():
    trainer, seen = _fit(3)
    bias_by_epoch = [[b for e, b in seen if e == epoch] for epoch in range(3)]
    assert not np.array_equal(bias_by_epoch[0][0], bias_by_epoch[0][-1])
    for b in bias_by_epoch[1] + bias_by_epoch[2]:
        np.testing.assert_array_equal(b, bias_by_epoch[0][-1])
    assert "whiten1.b" in trainer.model.frozen_names()
    # Stopped in epoch 2 (bias frozen) and resumed from the state: the same bits at the end.
    stopped, _ = _fit(3, stop_after=5)
    resumed, _ = _fit(3, state=stopped.state_dict())
    for key, value in trainer.model.state_dict().items():
        np.testing.assert_array_equal(resumed.model.state_dict()[key], value)
    assert "whiten1.b" in resumed.model.frozen_names()


def test_a_training_backward_skips_the_frozen_layers_in_front_and_keeps_every_other_grad():
    x = np.random.default_rng(1).standard_normal((4, 8, 8, 1)).astype(np.float32)
    full, short = _model(), _model()
    for model in (full, short):
        model.set_trainable("whiten1.b", False)
        model.zero_grad()
        dlogits = np.ones_like(model.forward(x, training=True))
    assert full.backward(dlogits) is not None  # the whole chain, down to the input
    assert short.first_trainable_layer() == 2
    assert short.backward(dlogits, input_grad=False) is None
    for (name, _, g_full), (_, _, g_short) in zip(full.parameters(), short.parameters(),
                                                  strict=True):
        if name.startswith("whiten1"):  # skipped: its gradient was never computed
            assert not g_short.any(), name
        else:
            np.testing.assert_array_equal(g_short, g_full, err_msg=name)
    assert full.layers[0].grads["b"].any()
    # With the whitening bias trainable the backward reaches the first layer again.
    short.set_trainable("whiten1.b", True)
    short.forward(x, training=True)
    short.backward(dlogits, input_grad=False)
    assert short.layers[0].grads["b"].any()
