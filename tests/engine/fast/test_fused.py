"""Fused conv -> BatchNorm -> ReLU -> max-pool execution against the layer-by-layer path."""

from __future__ import annotations

import numpy as np
import pytest

from engine import threads
from engine.fast import fused
from engine.gradcheck import numerical_gradient, rel_error
from engine.losses import softmax_cross_entropy
from tests.engine.fast.fused_helpers import (
    assert_close,
    assert_close_grads,
    model_for,
    train_steps,
    training_loss,
)

SPEC = [
    {"type": "conv2d", "filters": 6, "kernel_size": 3, "padding": "same"},
    {"type": "batchnorm"},
    {"type": "relu"},
    {"type": "maxpool2d", "pool_size": 2},
    {"type": "conv2d", "filters": 8, "kernel_size": 3, "padding": "same"},
    {"type": "batchnorm"},
    {"type": "relu"},
    {"type": "maxpool2d", "pool_size": 2},
    {"type": "flatten"},
    {"type": "dense", "units": 5},
]


@pytest.fixture(autouse=True)
def _threads_and_fusion_restored(restore_threads):
    yield
    fused.set_fusion(True)


@pytest.mark.parametrize("dtype, rtol", [(np.float32, 2e-5), (np.float64, 1e-11)])
@pytest.mark.parametrize("n, size", [(7, 12), (64, 16), (1, 8)])
@pytest.mark.parametrize("nthreads", [1, 2])
@pytest.mark.parametrize("input_grad", [True, False])
def test_fused_equals_layer_by_layer(dtype, rtol, n, size, nthreads, input_grad):
    """Also without the input gradient (a training step), where the first conv's weight
    gradient comes from the Gram matrix of its columns instead of its output gradient."""
    rng = np.random.default_rng(n)
    x = (rng.standard_normal((n, size, size, 3)) * 2 + 0.5).astype(dtype)
    y = rng.integers(0, 5, n)
    threads.set_num_threads(1)
    plain = model_for(SPEC, (size, size, 3), dtype)
    plain.fusion = False
    expected = train_steps(plain, x, y, input_grad=input_grad)
    threads.set_num_threads(nthreads)
    model = model_for(SPEC, (size, size, 3), dtype)
    assert sorted(model.fused_runs) == [0, 4]
    got = train_steps(model, x, y, input_grad=input_grad)
    with pytest.raises(RuntimeError, match="without a training-mode forward"):
        model.fused_runs[0].backward(np.zeros((n, 1, 1, 8)))  # the cache was consumed
    assert_close(expected[0], got[0], rtol)
    if input_grad:
        assert_close(expected[1], got[1], rtol)
    else:
        assert got[1] is None
    assert_close_grads(expected[2], got[2], rtol)
    for name in expected[3]:
        assert_close(expected[3][name], got[3][name], rtol)


def test_thread_count_does_not_change_results():
    rng = np.random.default_rng(3)
    x = rng.standard_normal((64, 16, 16, 3)).astype(np.float32)
    y = rng.integers(0, 5, 64)
    results = []
    for nthreads in (1, 2, 3):
        threads.set_num_threads(nthreads)
        results.append(train_steps(model_for(SPEC, (16, 16, 3), np.float32), x, y))
    for other in results[1:]:
        np.testing.assert_array_equal(results[0][0], other[0])
        for name in results[0][2]:
            np.testing.assert_array_equal(results[0][2][name], other[2][name])


def test_eval_mode_and_set_fusion_off_go_layer_by_layer():
    rng = np.random.default_rng(4)
    x = rng.standard_normal((5, 8, 8, 3))
    model = model_for(SPEC, (8, 8, 3), np.float64)
    plain = model_for(SPEC, (8, 8, 3), np.float64)
    plain.fusion = False
    model.forward(x, training=True)
    assert model.fused_done == [0, 4]
    plain.forward(x, training=True)
    assert plain.fused_done == []
    for name, value in plain.state_dict().items():  # running statistics included
        np.testing.assert_allclose(model.state_dict()[name], value, rtol=1e-12)
    np.testing.assert_allclose(model.forward(x, training=False),
                               plain.forward(x, training=False), rtol=1e-12)
    assert model.fused_done == []
    fused.set_fusion(False)
    model.forward(x, training=True)
    assert model.fused_done == []


def test_without_a_registered_planner_the_model_runs_layer_by_layer():
    """The readable network does not need the fast path: a model built while no planner is
    registered has no fused runs and trains to the same numbers."""
    from engine.model import set_run_planner

    rng = np.random.default_rng(6)
    x, y = rng.standard_normal((4, 8, 8, 3)), rng.integers(0, 5, 4)
    set_run_planner(None)
    try:
        plain = model_for(SPEC, (8, 8, 3), np.float64)
    finally:
        set_run_planner(fused.PLANNER)
    model = model_for(SPEC, (8, 8, 3), np.float64)
    assert plain.fused_runs == {} and sorted(model.fused_runs) == [0, 4]
    expected, got = train_steps(plain, x, y), train_steps(model, x, y)
    assert_close(expected[0], got[0], 1e-11)
    assert_close_grads(expected[2], got[2], 1e-11)


def test_odd_sizes_and_other_pools_are_not_fused():
    odd = model_for(SPEC, (10, 10, 3), np.float64)  # second conv output 5x5: not fused there
    x = np.random.default_rng(5).standard_normal((3, 10, 10, 3))
    odd.forward(x, training=True)
    assert odd.fused_done == [0]
    plain = model_for(SPEC, (10, 10, 3), np.float64)
    plain.fusion = False
    a = train_steps(plain, x, np.array([0, 1, 2]))
    b = train_steps(odd, x, np.array([0, 1, 2]))
    assert_close_grads(a[2], b[2], 1e-11)
    spec3 = [dict(e, pool_size=3) if e["type"] == "maxpool2d" else e for e in SPEC[:4]]
    spec3 += [{"type": "flatten"}, {"type": "dense", "units": 5}]
    runs = model_for(spec3, (9, 9, 3), np.float64).fused_runs
    assert list(runs) == [2] and isinstance(runs[2], fused.ReLUMaxPool)  # ReLU, pool swapped


NO_BN = [
    {"type": "conv2d", "filters": 4, "kernel_size": 3, "padding": "same"},
    {"type": "relu"},
    {"type": "maxpool2d", "pool_size": 2},
    {"type": "conv2d", "filters": 5, "kernel_size": 3, "padding": "same"},
    {"type": "relu"},
    {"type": "maxpool2d", "pool_size": 3, "stride": 2},
    {"type": "flatten"},
    {"type": "dense", "units": 5},
]


@pytest.mark.parametrize("nthreads", [1, 2])
def test_relu_then_max_pool_runs_as_pool_then_relu(nthreads):
    threads.set_num_threads(nthreads)
    rng = np.random.default_rng(8)
    x = rng.standard_normal((5, 11, 11, 3))
    x[:, :4, :4] = -1.0  # flat negative regions: every window ties below zero
    y = rng.integers(0, 5, 5)
    plain = model_for(NO_BN, (11, 11, 3), np.float64)
    plain.fusion = False
    model = model_for(NO_BN, (11, 11, 3), np.float64)
    assert sorted(model.fused_runs) == [1, 4]
    expected, got = train_steps(plain, x, y), train_steps(model, x, y)
    assert model.fused_done == [] and model.timings["relu1"]["forward"] > 0
    np.testing.assert_allclose(got[0], expected[0], rtol=1e-12)
    np.testing.assert_allclose(got[1], expected[1], rtol=1e-12, atol=1e-15)
    assert_close_grads(expected[2], got[2], 1e-12)


def test_layers_api_and_timings_kept():
    model = model_for(SPEC, (8, 8, 3), np.float32)
    plain = model_for(SPEC, (8, 8, 3), np.float32)
    plain.fusion = False
    assert model.summary() == plain.summary()
    assert list(model.state_dict()) == list(plain.state_dict())
    x = np.random.default_rng(6).standard_normal((4, 8, 8, 3)).astype(np.float32)
    train_steps(model, x, np.arange(4))
    # Each layer of a fused run is timed with the phase that does its work.
    assert all(t["forward"] > 0 and t["backward"] > 0 for t in model.timings.values())


def test_centred_difference_gradients_of_the_fused_path():
    spec = [*SPEC[:4], {"type": "flatten"}, {"type": "dense", "units": 5}]
    model = model_for(spec, (6, 6, 2), np.float64, seed=2)
    rng = np.random.default_rng(7)
    x = rng.standard_normal((3, 6, 6, 2))
    y = rng.integers(0, 5, 3)

    loss = training_loss(model, x, y)
    logits = model.forward(x, training=True)
    assert model.fused_done == [0]
    dx = model.backward(softmax_cross_entropy(logits, y)[1], input_grad=True)
    grads = {name: g.copy() for name, _, g in model.parameters()}
    logits = model.forward(x, training=True)
    assert model.backward(softmax_cross_entropy(logits, y)[1], input_grad=False) is None
    grads_no_dx = {name: g.copy() for name, _, g in model.parameters()}
    state = model.state_dict()
    h = 1e-5
    for name, param, _ in model.parameters():
        numerical = numerical_gradient(loss, param, h)
        scale = max(np.abs(grads[name]).max(), np.abs(grads["dense1.W"]).max())
        assert rel_error(numerical, grads[name], scale) < 1e-6, name
        assert rel_error(numerical, grads_no_dx[name], scale) < 1e-6, name
    sampled = np.arange(0, x.size, 7)  # every 7th input entry
    numerical = numerical_gradient(loss, x, h, indices=sampled)
    errors = np.abs(numerical - dx.reshape(-1)[sampled])
    assert errors.max() < 1e-6 * max(np.abs(dx).max(), 1e-12)
    model.load_state_dict(state)


@pytest.mark.parametrize("path", ["folded", "chunk hook", "winograd", "filters"])
@pytest.mark.parametrize("input_grad", [True, False])
def test_each_statistics_path_equals_layer_by_layer(path, input_grad, monkeypatch):
    """Folded (columns kept), statistics from the conv's chunk hook (columns too large to
    keep), and a pass over the output (Winograd convs)."""
    from engine.layers import conv as conv_module

    if path == "chunk hook":
        monkeypatch.setattr(conv_module, "_KEEP_COLS_BYTES", 0)
    if path == "filters":
        monkeypatch.setattr(threads, "_parallel_mode", "filters")
    rng = np.random.default_rng(9)
    x = rng.standard_normal((6, 8, 8, 3))
    y = rng.integers(0, 5, 6)
    models = []
    for fusion in (False, True):
        model = model_for(SPEC, (8, 8, 3), np.float64)
        model.fusion = fusion
        if path == "winograd":
            for layer in model.layers:
                if hasattr(layer, "algorithm"):
                    layer.algorithm = "winograd"
        models.append(model)
    expected = train_steps(models[0], x, y, input_grad=input_grad)
    got = train_steps(models[1], x, y, input_grad=input_grad)
    assert_close(expected[0], got[0], 1e-10)
    assert_close_grads(expected[2], got[2], 1e-10)
    for name in expected[3]:
        assert_close(expected[3][name], got[3][name], 1e-10)


@pytest.mark.parametrize("path", ["folded", "chunk hook"])
def test_ties_in_a_pool_window_go_to_the_first_maximum(path, monkeypatch):
    """A flat patch of input makes the conv's outputs tie exactly inside pool windows: the
    fused run sends each window's gradient to its first maximum in row-major order, as
    MaxPool2D does (the layer-by-layer path)."""
    from engine.layers import conv as conv_module

    if path == "chunk hook":
        monkeypatch.setattr(conv_module, "_KEEP_COLS_BYTES", 0)
    rng = np.random.default_rng(11)
    x = rng.standard_normal((4, 8, 8, 3))
    x[:, 1:7, 1:7] = 0.7  # conv outputs at rows and columns 2..5 equal, per channel
    y = rng.integers(0, 5, 4)
    models = [model_for(SPEC, (8, 8, 3), np.float64) for _ in range(2)]
    models[0].fusion = False
    expected, got = (train_steps(model, x, y, steps=1) for model in models)
    conv_out = models[0].layers[0].forward(x, training=False)
    assert np.all(conv_out[:, 2, 2] == conv_out[:, 3, 3])  # the ties are exact
    assert_close(expected[1], got[1], 1e-10)
    assert_close_grads(expected[2], got[2], 1e-10)


@pytest.mark.parametrize("offset", [0.0, 50.0])
def test_float32_accuracy_with_input_far_from_zero_mean(offset):
    """The Gram matrix is taken of mean-shifted columns: float32 results stay as close to
    float64 ones as the layer-by-layer path's, also for input with mean 50, std 1."""
    rng = np.random.default_rng(10)
    x = rng.standard_normal((16, 16, 16, 3)) + offset
    y = rng.integers(0, 5, 16)
    model = model_for(SPEC, (16, 16, 3), np.float64)
    truth = train_steps(model, x, y, steps=1, input_grad=False)[2]
    for fusion in (False, True):
        model = model_for(SPEC, (16, 16, 3), np.float32)
        model.fusion = fusion
        grads = train_steps(model, x.astype(np.float32), y, steps=1, input_grad=False)[2]
        for name in ("conv1.W", "bn1.gamma", "conv2.W", "dense1.W"):
            err = np.abs(grads[name] - truth[name]).max() / np.abs(truth[name]).max()
            assert err < 1e-4, (fusion, name, err)
