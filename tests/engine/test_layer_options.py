"""Layer options airbench needs: conv/dense without bias, Dirac and uniform initialisation,
BatchNorm with a fixed scale and PyTorch-style momentum; each against a reference."""

from __future__ import annotations

import numpy as np
import pytest

import engine
from engine.gradcheck import check_layer, check_model
from engine.layers import BatchNorm, Conv2D, Dense


def test_conv_without_bias_keeps_a_frozen_zero_bias_and_is_gradient_checked():
    conv = Conv2D(3, 5, 3, padding="same", bias=False)
    assert conv.frozen == {"b"}
    assert not conv.params["b"].any()
    assert conv.num_params() == 3 * 3 * 3 * 5
    x = np.random.default_rng(0).standard_normal((2, 5, 5, 3))
    errors = check_layer(conv, x)
    assert max(errors.values()) < 1e-7, errors


def test_dirac_init_passes_the_first_channels_through():
    conv = Conv2D(4, 6, 3, padding="same", init="dirac", rng=np.random.default_rng(1))
    x = np.random.default_rng(2).standard_normal((2, 7, 7, 4)).astype(np.float32)
    y = conv.forward(x)
    np.testing.assert_allclose(y[..., :4], x, rtol=1e-6, atol=1e-6)
    W = conv.params["W"]
    assert np.abs(W[..., 4:]).max() <= 1 / np.sqrt(36) and np.abs(W[..., 4:]).min() > 0
    # Fewer filters than channels: each filter is one channel's identity.
    narrow = Conv2D(4, 2, 3, padding="same", init="dirac")
    np.testing.assert_allclose(narrow.forward(x), x[..., :2], rtol=1e-6, atol=1e-6)


def test_dirac_init_matches_torch():
    torch = pytest.importorskip("torch")
    conv = Conv2D(3, 5, 3, init="dirac")
    w = torch.zeros(5, 3, 3, 3)
    torch.nn.init.dirac_(w[:3])
    ours = conv.params["W"].transpose(3, 2, 0, 1)  # (kh, kw, in, out) -> (out, in, kh, kw)
    np.testing.assert_array_equal(ours[:3], w[:3].numpy())


def test_dense_without_bias_and_uniform_init():
    dense = Dense(20, 4, bias=False, init="uniform", rng=np.random.default_rng(3))
    assert dense.frozen == {"b"} and dense.num_params() == 80
    assert np.abs(dense.params["W"]).max() <= 1 / np.sqrt(20)
    x = np.random.default_rng(4).standard_normal((3, 20))
    np.testing.assert_allclose(dense.forward(x), x @ dense.params["W"].astype(np.float64),
                               rtol=1e-6)
    errors = check_layer(dense, x)
    assert max(errors.values()) < 1e-7


def test_batchnorm_fixed_scale_and_airbench_momentum_equal_torch():
    torch = pytest.importorskip("torch")
    bn = BatchNorm(4, momentum=0.6, eps=1e-12, scale=False)
    assert bn.frozen == {"gamma"} and bn.num_params() == 4
    ref = torch.nn.BatchNorm2d(4, eps=1e-12, momentum=1 - 0.6).double()  # airbench's mapping
    rng = np.random.default_rng(5)
    for _ in range(3):
        x = rng.standard_normal((6, 3, 3, 4)) * 2 + 1
        out = bn.astype(np.float64).forward(x, training=True)
        ref_out = ref(torch.tensor(x.transpose(0, 3, 1, 2))).detach().numpy()
        np.testing.assert_allclose(out, ref_out.transpose(0, 2, 3, 1), rtol=1e-9, atol=1e-9)
    np.testing.assert_allclose(bn.buffers["running_mean"], ref.running_mean.numpy(), rtol=1e-12)
    np.testing.assert_allclose(bn.buffers["running_var"], ref.running_var.numpy(), rtol=1e-12)


def test_spec_keys_build_the_options_and_refuse_bad_values():
    spec = [{"type": "whiten"}, {"type": "gelu"},
            {"type": "conv2d", "filters": 6, "padding": "same", "bias": False, "init": "dirac"},
            {"type": "batchnorm", "momentum": 0.6, "eps": 1e-12, "scale": False},
            {"type": "maxpool2d", "pool_size": 3}, {"type": "flatten"},
            {"type": "dense", "units": "num_classes", "bias": False, "init": "uniform"},
            {"type": "scale", "factor": 1 / 9}]
    model = engine.build_model(spec, (7, 7, 3), 10)
    assert model.layer_names == ["whiten1", "gelu1", "conv1", "bn1", "pool1", "flatten1",
                                 "dense1", "scale1"]
    assert model.frozen_names() == {"whiten1.W", "conv1.b", "bn1.gamma", "dense1.b"}
    assert model.output_shapes[0] == (6, 6, 24)
    conv = {"type": "conv2d", "filters": 4}
    bad = [
        ({**conv, "bias": "no"}, "layer 1 (conv2d): bias must be true or false, got 'no'"),
        ({**conv, "init": "xavier"},
         "layer 1 (conv2d): init must be one of he, uniform, dirac, got 'xavier'"),
        ({"type": "batchnorm", "scale": 0},
         "layer 1 (batchnorm): scale must be true or false, got 0"),
        ({**conv, "frozen": ["gamma"]},
         "layer 1 (conv2d): frozen names no parameter 'gamma' "
         "(this layer has: W, b)"),
        ({**conv, "frozen": "W"},
         "layer 1 (conv2d): frozen must be a list of parameter names (W, b), got 'W'"),
        ({"type": "scale"}, "layer 1 (scale): missing required key 'factor'"),
        ({"type": "scale", "factor": 0},
         "layer 1 (scale): factor must be a finite non-zero number, got 0"),
        ({"type": "whiten", "eps": -1}, "layer 1 (whiten): eps must be a positive number, got -1"),
        ({"type": "whiten", "bias_epochs": 1.5},
         "layer 1 (whiten): bias_epochs must be a whole number >= 0 or null, got 1.5"),
    ]
    for layer, message in bad:
        with pytest.raises(ValueError) as info:
            engine.build_model([layer, {"type": "flatten"},
                                {"type": "dense", "units": "num_classes"}], (8, 8, 3), 10)
        assert str(info.value) == message


def test_whole_airbench_shaped_model_passes_the_gradient_check():
    spec = [{"type": "whiten"}, {"type": "gelu"},
            {"type": "conv2d", "filters": 4, "padding": "same", "bias": False, "init": "dirac"},
            {"type": "maxpool2d"},
            {"type": "batchnorm", "momentum": 0.6, "eps": 1e-12, "scale": False},
            {"type": "gelu"}, {"type": "maxpool2d", "pool_size": 3}, {"type": "flatten"},
            {"type": "dense", "units": "num_classes", "bias": False, "init": "uniform"},
            {"type": "scale", "factor": 1 / 9}]
    errors = check_model(spec, (7, 7, 3), 4, batch_size=3)
    assert max(errors.values()) < 1e-6, errors
