"""Sequential: forward/backward, parameters, state dicts, summaries, timings, predictions."""

from __future__ import annotations

import numpy as np
import pytest

import engine

SPEC = [
    {"type": "conv2d", "filters": 4, "kernel_size": 3, "padding": "same"},
    {"type": "batchnorm"},
    {"type": "relu"},
    {"type": "maxpool2d", "pool_size": 2},
    {"type": "flatten"},
    {"type": "dropout", "rate": 0.5},
    {"type": "dense", "units": 6},
    {"type": "relu"},
    {"type": "dense", "units": "num_classes"},
]


def _model(seed=0):
    return engine.build_model(SPEC, (6, 6, 2), 3, seed=seed)


def _x(n=5, seed=1):
    return np.random.default_rng(seed).standard_normal((n, 6, 6, 2)).astype(np.float32)


def test_names_and_parameters():
    model = _model()
    assert model.layer_names == [
        "conv1",
        "bn1",
        "relu1",
        "pool1",
        "flatten1",
        "dropout1",
        "dense1",
        "relu2",
        "dense2",
    ]
    names = [name for name, _, _ in model.parameters()]
    assert names == [
        "conv1.W",
        "conv1.b",
        "bn1.gamma",
        "bn1.beta",
        "dense1.W",
        "dense1.b",
        "dense2.W",
        "dense2.b",
    ]
    # conv 3*3*2*4 + 4, bn 2*4, dense 36*6 + 6, dense 6*3 + 3
    assert model.num_params() == 76 + 8 + 222 + 21
    assert (model.input_shape, model.num_classes, model.arch_name) == ((6, 6, 2), 3, "custom")


def test_forward_backward_shapes_and_grads():
    model = _model()
    x = _x()
    logits = model.forward(x, training=True)
    assert logits.shape == (5, 3) and logits.dtype == np.float32
    dx = model.backward(np.ones_like(logits))
    assert dx.shape == x.shape
    for name, param, grad in model.parameters():
        assert grad.shape == param.shape, name
    model.zero_grad()
    assert all(not grad.any() for _, _, grad in model.parameters())


def test_forward_refuses_wrong_input_shape():
    with pytest.raises(ValueError, match=r"takes input of shape \(N, 6, 6, 2\)"):
        _model().forward(np.zeros((2, 5, 6, 2)))


def test_state_dict_round_trip():
    a, b = _model(seed=0), _model(seed=1)
    x = _x()
    a.forward(x, training=True)  # move BN's running statistics away from their start
    state = a.state_dict()
    assert "bn1.running_mean" in state and "bn1.running_var" in state
    assert not np.array_equal(a.forward(x), b.forward(x))
    b.load_state_dict(state)
    np.testing.assert_array_equal(a.forward(x), b.forward(x))
    state["conv1.W"][...] = 0  # a copy: the model is untouched
    assert a.state_dict()["conv1.W"].any()


def test_load_state_dict_names_every_problem():
    model = _model()
    state = model.state_dict()
    del state["dense2.b"]
    state["extra.W"] = np.zeros(1)
    state["conv1.W"] = np.zeros((3, 3, 2, 5))
    before = model.state_dict()
    with pytest.raises(ValueError) as info:
        model.load_state_dict(state)
    message = str(info.value)
    assert "missing keys: dense2.b" in message
    assert "unexpected keys: extra.W" in message
    assert "conv1.W has shape (3, 3, 2, 5), the model needs (3, 3, 2, 4)" in message
    for key, value in model.state_dict().items():  # nothing was loaded
        np.testing.assert_array_equal(value, before[key])


def test_eval_is_deterministic_training_is_not():
    model = _model()
    x = _x()
    np.testing.assert_array_equal(model.forward(x), model.forward(x))
    assert not np.array_equal(model.forward(x, training=True), model.forward(x, training=True))


def test_predict_proba_batches_and_sums_to_one():
    model = _model()
    x = _x(7)
    p = model.predict_proba(x, batch_size=3)
    assert p.shape == (7, 3)
    np.testing.assert_allclose(p.sum(axis=1), 1, rtol=1e-6)
    np.testing.assert_allclose(p, model.predict_proba(x, batch_size=256), rtol=1e-5)
    logits = model.forward(x).astype(np.float64)
    np.testing.assert_allclose(p.argmax(1), logits.argmax(1))


def test_activations_are_every_layer_output():
    model = _model()
    acts = model.activations(_x(2))
    assert [name for name, _ in acts] == model.layer_names
    assert [a.shape[1:] for _, a in acts] == [tuple(s) for s in model.output_shapes]


def test_timings_accumulate_and_reset():
    model = _model()
    logits = model.forward(_x(), training=True)
    model.backward(np.ones_like(logits))
    assert set(model.timings) == set(model.layer_names)
    assert all(t["forward"] > 0 and t["backward"] > 0 for t in model.timings.values())
    model.reset_timings()
    assert all(t == {"forward": 0.0, "backward": 0.0} for t in model.timings.values())


def test_summary_numbers():
    rows = _model().summary()
    assert rows[0] == {"name": "conv1", "type": "conv2d", "output_shape": (6, 6, 4), "params": 76}
    assert rows[3]["output_shape"] == (3, 3, 4)
    assert rows[4] == {"name": "flatten1", "type": "flatten", "output_shape": (36,), "params": 0}
    assert rows[6]["params"] == 36 * 6 + 6
    assert sum(r["params"] for r in rows) == 327
    text = _model().summary_text()
    assert "custom: 327 parameters" in text and "3x3x4" in text


def test_random_state_round_trip():
    model = _model()
    x = _x()
    state = model.random_state()
    first = model.forward(x, training=True)
    model.set_random_state(state)
    np.testing.assert_array_equal(model.forward(x, training=True), first)
    with pytest.raises(ValueError, match="no random layer named 'conv1'"):
        model.set_random_state({"conv1": {}})


def test_float64_model():
    model = _model().astype(np.float64)
    assert model.forward(_x()).dtype == np.float64
