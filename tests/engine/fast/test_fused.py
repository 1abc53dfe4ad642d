"""Fused conv -> BatchNorm -> ReLU -> max-pool execution against the layer-by-layer path."""

from __future__ import annotations

import numpy as np
import pytest

from engine import threads
from engine.fast import fused
from engine.gradcheck import numerical_gradient, rel_error
from engine.losses import softmax_cross_entropy
from engine.spec import build_model

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


def _model(spec, input_shape, dtype, seed=0):
    model = build_model(spec, input_shape=input_shape, num_classes=5, seed=seed).astype(dtype)
    rng = np.random.default_rng(seed + 1)
    for layer in model.layers:
        if "gamma" in layer.params:
            c = len(layer.params["gamma"])
            layer.params["gamma"][:] = rng.uniform(0.5, 1.5, c) * rng.choice([-1, 1], c)
            layer.params["beta"][:] = rng.standard_normal(c)
    return model


def _step(model, x, y, training=True, steps=2, input_grad=True):
    """Forward + backward; returns logits, dx, grads, state."""
    for _ in range(steps):
        logits = model.forward(x, training=training)
        _, d = softmax_cross_entropy(logits, y)
        dx = model.backward(d, input_grad=input_grad)
    grads = {name: g.copy() for name, _, g in model.parameters()}
    return logits, dx, grads, model.state_dict()


def _close(a, b, rtol, scale=None):
    scale = max(float(np.max(np.abs(a))) if scale is None else scale, 1e-30)
    np.testing.assert_allclose(a, b, rtol=rtol, atol=rtol * scale)


def _close_grads(expected, got, rtol):
    """Per layer, relative to the layer's largest gradient: a conv bias before BatchNorm has
    a true gradient of zero, so only its rounding noise is compared."""
    for name in expected:
        layer = name.split(".")[0]
        scale = max(np.abs(g).max() for k, g in expected.items() if k.split(".")[0] == layer)
        _close(expected[name], got[name], rtol, scale)


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
    plain = _model(SPEC, (size, size, 3), dtype)
    plain.fusion = False
    expected = _step(plain, x, y, input_grad=input_grad)
    threads.set_num_threads(nthreads)
    model = _model(SPEC, (size, size, 3), dtype)
    assert sorted(model.fused_runs) == [0, 4]
    got = _step(model, x, y, input_grad=input_grad)
    with pytest.raises(RuntimeError, match="without a training-mode forward"):
        model.fused_runs[0].backward(np.zeros((n, 1, 1, 8)))  # the cache was consumed
    _close(expected[0], got[0], rtol)
    if input_grad:
        _close(expected[1], got[1], rtol)
    else:
        assert got[1] is None
    _close_grads(expected[2], got[2], rtol)
    for name in expected[3]:
        _close(expected[3][name], got[3][name], rtol)


def test_thread_count_does_not_change_results():
    rng = np.random.default_rng(3)
    x = rng.standard_normal((64, 16, 16, 3)).astype(np.float32)
    y = rng.integers(0, 5, 64)
    results = []
    for nthreads in (1, 2, 3):
        threads.set_num_threads(nthreads)
        results.append(_step(_model(SPEC, (16, 16, 3), np.float32), x, y))
    for other in results[1:]:
        np.testing.assert_array_equal(results[0][0], other[0])
        for name in results[0][2]:
            np.testing.assert_array_equal(results[0][2][name], other[2][name])


def test_eval_mode_and_set_fusion_off_go_layer_by_layer():
    rng = np.random.default_rng(4)
    x = rng.standard_normal((5, 8, 8, 3))
    model = _model(SPEC, (8, 8, 3), np.float64)
    plain = _model(SPEC, (8, 8, 3), np.float64)
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
        plain = _model(SPEC, (8, 8, 3), np.float64)
    finally:
        set_run_planner(fused.PLANNER)
    model = _model(SPEC, (8, 8, 3), np.float64)
    assert plain.fused_runs == {} and sorted(model.fused_runs) == [0, 4]
    expected, got = _step(plain, x, y), _step(model, x, y)
    _close(expected[0], got[0], 1e-11)
    _close_grads(expected[2], got[2], 1e-11)


def test_odd_sizes_and_other_pools_are_not_fused():
    odd = _model(SPEC, (10, 10, 3), np.float64)  # second conv output 5x5: not fused there
    x = np.random.default_rng(5).standard_normal((3, 10, 10, 3))
    odd.forward(x, training=True)
    assert odd.fused_done == [0]
    plain = _model(SPEC, (10, 10, 3), np.float64)
    plain.fusion = False
    a = _step(plain, x, np.array([0, 1, 2]))
    b = _step(odd, x, np.array([0, 1, 2]))
    _close_grads(a[2], b[2], 1e-11)
    spec3 = [dict(e, pool_size=3) if e["type"] == "maxpool2d" else e for e in SPEC[:4]]
    spec3 += [{"type": "flatten"}, {"type": "dense", "units": 5}]
    runs = _model(spec3, (9, 9, 3), np.float64).fused_runs
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
    plain = _model(NO_BN, (11, 11, 3), np.float64)
    plain.fusion = False
    model = _model(NO_BN, (11, 11, 3), np.float64)
    assert sorted(model.fused_runs) == [1, 4]
    expected, got = _step(plain, x, y), _step(model, x, y)
    assert model.fused_done == [] and model.timings["relu1"]["forward"] > 0
    np.testing.assert_allclose(got[0], expected[0], rtol=1e-12)
    np.testing.assert_allclose(got[1], expected[1], rtol=1e-12, atol=1e-15)
    _close_grads(expected[2], got[2], 1e-12)


def test_layers_api_and_timings_kept():
    model = _model(SPEC, (8, 8, 3), np.float32)
    plain = _model(SPEC, (8, 8, 3), np.float32)
    plain.fusion = False
    assert model.summary() == plain.summary()
    assert list(model.state_dict()) == list(plain.state_dict())
    x = np.random.default_rng(6).standard_normal((4, 8, 8, 3)).astype(np.float32)
    _step(model, x, np.arange(4))
    # Each layer of a fused run is timed with the phase that does its work.
    assert all(t["forward"] > 0 and t["backward"] > 0 for t in model.timings.values())


def _training_loss(model, x, y):
    """The loss of a training-mode forward (fused), as a function of the arrays in place."""

    def loss() -> float:
        logits = model.forward(x, training=True)
        model.fused_done = []  # no backward follows
        return softmax_cross_entropy(logits, y)[0]

    return loss


def test_centred_difference_gradients_of_the_fused_path():
    spec = [*SPEC[:4], {"type": "flatten"}, {"type": "dense", "units": 5}]
    model = _model(spec, (6, 6, 2), np.float64, seed=2)
    rng = np.random.default_rng(7)
    x = rng.standard_normal((3, 6, 6, 2))
    y = rng.integers(0, 5, 3)

    loss = _training_loss(model, x, y)
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
        model = _model(SPEC, (8, 8, 3), np.float64)
        model.fusion = fusion
        if path == "winograd":
            for layer in model.layers:
                if hasattr(layer, "algorithm"):
                    layer.algorithm = "winograd"
        models.append(model)
    expected = _step(models[0], x, y, input_grad=input_grad)
    got = _step(models[1], x, y, input_grad=input_grad)
    _close(expected[0], got[0], 1e-10)
    _close_grads(expected[2], got[2], 1e-10)
    for name in expected[3]:
        _close(expected[3][name], got[3][name], 1e-10)


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
    models = [_model(SPEC, (8, 8, 3), np.float64) for _ in range(2)]
    models[0].fusion = False
    expected, got = (_step(model, x, y, steps=1) for model in models)
    conv_out = models[0].layers[0].forward(x, training=False)
    assert np.all(conv_out[:, 2, 2] == conv_out[:, 3, 3])  # the ties are exact
    _close(expected[1], got[1], 1e-10)
    _close_grads(expected[2], got[2], 1e-10)


@pytest.mark.parametrize("offset", [0.0, 50.0])
def test_float32_accuracy_with_input_far_from_zero_mean(offset):
    """The Gram matrix is taken of mean-shifted columns: float32 results stay as close to
    float64 ones as the layer-by-layer path's, also for input with mean 50, std 1."""
    rng = np.random.default_rng(10)
    x = rng.standard_normal((16, 16, 16, 3)) + offset
    y = rng.integers(0, 5, 16)
    truth = _step(_model(SPEC, (16, 16, 3), np.float64), x, y, steps=1, input_grad=False)[2]
    for fusion in (False, True):
        model = _model(SPEC, (16, 16, 3), np.float32)
        model.fusion = fusion
        grads = _step(model, x.astype(np.float32), y, steps=1, input_grad=False)[2]
        for name in ("conv1.W", "bn1.gamma", "conv2.W", "dense1.W"):
            err = np.abs(grads[name] - truth[name]).max() / np.abs(truth[name]).max()
            assert err < 1e-4, (fusion, name, err)


VGG_SPEC = [
    {"type": "conv2d", "filters": 8, "kernel_size": 3, "padding": "same"},
    {"type": "relu"},
    {"type": "conv2d", "filters": 6, "kernel_size": 3, "padding": "same"},
    {"type": "relu"},
    {"type": "maxpool2d", "pool_size": 2},
    {"type": "flatten"},
    {"type": "dense", "units": 5},
]


def _conv_pool_spec(relu_before: bool, relu_after: bool) -> list[dict]:
    """conv (3 -> 8), [ReLU,] Winograd conv (8 -> 6), [ReLU,] max-pool, dense."""
    spec = [VGG_SPEC[0], *VGG_SPEC[1:2] * relu_before, VGG_SPEC[2],
            *VGG_SPEC[3:4] * relu_after, *VGG_SPEC[4:]]
    return spec


@pytest.mark.parametrize("tile", [2, 4])
# Whole 4x4 blocks; 2x2 only; neither (9, 15 and 7 like airbench's 31, 15 and 7: the blocks
# overhang the output and the pool drops its last row and column).
@pytest.mark.parametrize("size", [16, 10, 9, 15, 7])
@pytest.mark.parametrize("nthreads", [1, 2])
@pytest.mark.parametrize("input_grad", [True, False])
@pytest.mark.parametrize("relu_before, relu_after", [(True, True), (False, True), (False, False)])
def test_winograd_conv_pool_equals_layer_by_layer(tile, size, nthreads, input_grad,
                                                  relu_before, relu_after, monkeypatch):
    """The Winograd conv's blocks pooled in cache, overhanging blocks cropped, the ReLU
    before the conv applied as it pads its input, and airbench's conv -> pool with no ReLU."""
    from engine.fast import conv_winograd
    from engine.fast.conv_pool import ConvPool

    monkeypatch.setattr(conv_winograd, "TILE", tile)
    monkeypatch.setattr(conv_winograd, "_CHUNK_BYTES", 30000)  # several chunks
    spec = _conv_pool_spec(relu_before, relu_after)
    conv_index = 2 if relu_before else 1
    rng = np.random.default_rng(size)
    x = rng.standard_normal((7, size, size, 3))
    y = rng.integers(0, 5, 7)
    models = [_model(spec, (size, size, 3), np.float64) for _ in range(2)]
    for model in models:  # biases too (they start at zero)
        model.layers[conv_index].params["b"][:] = np.random.default_rng(1).standard_normal(6)
    plain, model = models
    threads.set_num_threads(1)
    plain.fusion = False
    expected = _step(plain, x, y, input_grad=input_grad)
    threads.set_num_threads(nthreads)
    run = model.fused_runs[1]
    assert isinstance(run, ConvPool)
    assert model.layers[conv_index].algorithm_name() == "winograd"
    assert run.relu_in is (model.layers[1] if relu_before else None)
    assert run.relu is (model.layers[conv_index + 1] if relu_after else None)
    assert run.size == 2 + relu_before + relu_after
    model.forward(x, training=True)
    assert model.fused_done == [1]  # the run, not the layers, did the work
    got = _step(model, x, y, input_grad=input_grad)
    with pytest.raises(RuntimeError, match="without a training-mode forward"):
        model.fused_runs[1].backward(np.zeros((7, size // 2, size // 2, 6)))
    for e, g in zip(expected[:2], got[:2], strict=True):
        if e is not None:
            _close(e, g, 1e-11)
    _close_grads(expected[2], got[2], 1e-11)


@pytest.mark.parametrize("relu_after", [True, False])
def test_conv_pool_without_winograd_runs_conv_then_pool(relu_after):
    """A conv forced to im2col in the run: conv, then [ReLU ->] pool, the same results."""
    spec = _conv_pool_spec(False, relu_after)
    rng = np.random.default_rng(3)
    x = rng.standard_normal((4, 9, 9, 3))
    y = rng.integers(0, 5, 4)
    plain, model = (_model(spec, (9, 9, 3), np.float64) for _ in range(2))
    plain.fusion = False
    model.layers[1].algorithm = "im2col"
    assert not model.fused_runs[1].fits(x)
    model.forward(x, training=True)
    assert model.fused_done == [1]
    expected = _step(plain, x, y, input_grad=True)
    got = _step(model, x, y, input_grad=True)
    for e, g in zip(expected[:2], got[:2], strict=True):
        _close(e, g, 1e-11)
    _close_grads(expected[2], got[2], 1e-11)
    assert all(t >= 0 for t in model.fused_runs[1].times)
    assert len(model.fused_runs[1].times) == 2 + relu_after


@pytest.mark.parametrize("relu_before, relu_after, size",
                         [(False, True, 8), (True, True, 8), (False, False, 7)])
def test_centred_difference_gradients_of_the_winograd_conv_pool(relu_before, relu_after, size):
    from engine.fast.conv_pool import ConvPool

    # conv (3 -> 8), [ReLU,] then Winograd conv, [ReLU,] pool: one run from index 1.
    spec = _conv_pool_spec(relu_before, relu_after)
    model = _model(spec, (size, size, 3), np.float64, seed=4)
    model.layers[2 if relu_before else 1].params["b"][:] = np.linspace(-0.5, 0.5, 6)
    rng = np.random.default_rng(9)
    x = rng.standard_normal((2, size, size, 3))
    y = rng.integers(0, 5, 2)

    loss = _training_loss(model, x, y)
    logits = model.forward(x, training=True)
    assert isinstance(model.fused_runs[1], ConvPool) and model.fused_done == [1]
    dx = model.backward(softmax_cross_entropy(logits, y)[1], input_grad=True)
    grads = {name: g.copy() for name, _, g in model.parameters()}
    for name, param, _ in model.parameters():
        numerical = numerical_gradient(loss, param, 1e-5)
        scale = max(np.abs(grads[name]).max(), 1e-12)
        assert rel_error(numerical, grads[name], scale) < 1e-6, name
    numerical = numerical_gradient(loss, x, 1e-5)
    assert np.abs(numerical - dx).max() < 1e-6 * np.abs(dx).max()
