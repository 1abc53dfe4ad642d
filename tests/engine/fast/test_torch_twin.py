"""The benchmark's PyTorch twin computes what the engine computes, on the same weights: every
layer type and option of engine.spec, forward (training and evaluation), running statistics,
parameter gradients and which parameters train."""

from __future__ import annotations

import numpy as np
import pytest

from engine.layers import PatchWhitening
from engine.spec import LAYER_TYPES, build_model

torch = pytest.importorskip("torch")
from engine.fast.torch_twin import TORCH_PARAM, torch_twin  # noqa: E402

# Between them, every layer type and every option that changes what a layer computes.
IMAGE_SPEC = [
    {"type": "whiten", "kernel_size": 2, "eps": 0.01, "bias_epochs": None},
    {"type": "gelu"},
    {"type": "conv2d", "filters": 6, "kernel_size": 3, "padding": "same", "bias": False,
     "init": "dirac"},
    {"type": "batchnorm", "momentum": 0.6, "eps": 1e-12, "scale": False},
    {"type": "leaky_relu", "alpha": 0.1},
    {"type": "conv2d", "filters": 5, "kernel_size": 2, "padding": "same", "init": "uniform",
     "frozen": ["b"]},
    {"type": "maxpool2d", "pool_size": 3, "stride": 1},
    {"type": "tanh"},
    {"type": "conv2d", "filters": 4, "kernel_size": 3, "stride": 2, "padding": 2,
     "frozen": ["W"]},
    {"type": "batchnorm", "frozen": ["beta"]},
    {"type": "sigmoid"},
    {"type": "avgpool2d", "pool_size": 2, "stride": 1},
    {"type": "softmax"},
    {"type": "flatten"},
    {"type": "dense", "units": 7, "bias": False, "init": "uniform"},
    {"type": "batchnorm", "momentum": 0.8, "eps": 1e-3},
    {"type": "relu"},
    {"type": "dropout", "rate": 0.3},
    {"type": "dense", "units": "num_classes", "frozen": ["W"]},
    {"type": "scale", "factor": 1 / 9},
]
GAP_SPEC = [
    {"type": "conv2d", "filters": 4, "kernel_size": 3},
    {"type": "relu"},
    {"type": "global_avgpool2d"},
    {"type": "dense", "units": "num_classes", "init": "glorot"},
]


def _model(spec, seed=0):
    model = build_model(spec, input_shape=(9, 9, 3), num_classes=3, seed=seed).astype(np.float64)
    rng = np.random.default_rng(seed)
    for layer in model.layers:  # away from the initial values, so a mix-up of two shows
        for key, value in layer.params.items():
            if key not in layer.frozen or isinstance(layer, PatchWhitening):
                value += 0.1 * rng.standard_normal(value.shape)
        if "running_var" in layer.buffers:
            layer.buffers["running_mean"][...] = rng.standard_normal(layer.num_features)
            layer.buffers["running_var"][...] = rng.uniform(0.5, 2, layer.num_features)
        if isinstance(layer, PatchWhitening):
            layer.fit(rng.standard_normal((4, 9, 9, 3)))
    return model


def _nchw(x):
    return torch.from_numpy(np.ascontiguousarray(x.transpose(0, 3, 1, 2)))


def test_the_specs_cover_every_layer_type():
    used = {layer["type"] for layer in IMAGE_SPEC + GAP_SPEC}
    assert used == set(LAYER_TYPES)


@pytest.mark.parametrize("spec", [IMAGE_SPEC, GAP_SPEC], ids=["every-type", "global-pool"])
def test_same_logits_in_evaluation(spec):
    model = _model(spec)
    twin = torch_twin(model).eval()
    x = np.random.default_rng(1).standard_normal((5, 9, 9, 3))
    with torch.no_grad():
        theirs = twin(_nchw(x)).numpy()
    np.testing.assert_allclose(model.forward(x, training=False), theirs, rtol=1e-9, atol=1e-12)


def test_same_training_forward_gradients_and_running_statistics():
    spec = [layer for layer in IMAGE_SPEC if layer["type"] != "dropout"]  # random masks
    model = _model(spec)
    twin = torch_twin(model).train()
    rng = np.random.default_rng(2)
    x = rng.standard_normal((6, 9, 9, 3))
    dlogits = rng.standard_normal((6, 3))
    ours = model.forward(x, training=True)
    model.zero_grad()
    model.backward(dlogits)
    theirs = twin(_nchw(x))
    theirs.backward(torch.from_numpy(dlogits))
    np.testing.assert_allclose(ours, theirs.detach().numpy(), rtol=1e-9, atol=1e-12)

    modules = [m for m in twin if not isinstance(m, torch.nn.ZeroPad2d)]
    assert len(modules) == len(model.layers)
    trainable = {n for n, _, _ in model.parameters()} - model.frozen_names()
    checked = set()
    for name, layer, module in zip(model.layer_names, model.layers, modules, strict=True):
        for key, grad in layer.grads.items():
            param = getattr(module, TORCH_PARAM[key])
            if param is None:  # bias=False: no parameter in PyTorch, a frozen zero here
                assert key in layer.frozen and not layer.params[key].any()
                continue
            assert param.requires_grad == (f"{name}.{key}" in trainable), f"{name}.{key}"
            if param.requires_grad:
                np.testing.assert_allclose(param.grad.numpy().reshape(-1),
                                           _torch_layout(key, grad).reshape(-1),
                                           rtol=1e-7, atol=1e-10, err_msg=f"{name}.{key}")
                checked.add(f"{name}.{key}")
        if "running_mean" in layer.buffers:
            np.testing.assert_allclose(module.running_mean.numpy(),
                                       layer.buffers["running_mean"], rtol=1e-9, atol=1e-12)
            np.testing.assert_allclose(module.running_var.numpy(),
                                       layer.buffers["running_var"], rtol=1e-9, atol=1e-12)
    assert checked == trainable
    assert {"whiten1.W", "conv2.b", "conv3.W", "bn1.gamma", "bn2.beta"} <= model.frozen_names()


def _torch_layout(key, grad):
    if key == "W" and grad.ndim == 4:
        return grad.transpose(3, 2, 0, 1)
    return grad.T if key == "W" else grad


@pytest.mark.parametrize("arch", ["airbench94", "airbench93"])
def test_airbench_presets_have_a_twin_with_the_same_logits(arch):
    model = build_model(arch, input_shape=(32, 32, 3), num_classes=10, seed=0)
    twin = torch_twin(model).eval()
    x = np.random.default_rng(3).standard_normal((2, 32, 32, 3)).astype(np.float32)
    with torch.no_grad():
        theirs = twin(_nchw(x)).numpy()
    ours = model.forward(x, training=False)
    assert theirs.dtype == np.float32
    np.testing.assert_allclose(ours, theirs, rtol=1e-3, atol=1e-4)
    assert sum(isinstance(m, torch.nn.GELU) and m.approximate == "tanh" for m in twin) == 7


def test_the_twin_shares_no_memory_with_the_engine_model():
    model = _model(IMAGE_SPEC)
    before = {k: v.copy() for k, v in model.state_dict().items()}
    twin = torch_twin(model).train()
    with torch.no_grad():
        for param in twin.parameters():
            param.add_(1.0)
    twin(_nchw(np.random.default_rng(4).standard_normal((3, 9, 9, 3))))  # running statistics
    for key, value in model.state_dict().items():
        np.testing.assert_array_equal(value, before[key], err_msg=key)
