"""Grad-CAM against a reference built from the layer's activations and centred differences."""

from __future__ import annotations

import numpy as np
import pytest

from engine.explain import ShadowNetwork, default_cam_layer, grad_cam, upsample_bilinear
from engine.spec import build_model
from tests.explain.nets import centred_gradient, float64_net, image_for, logits_from


def reference_cam(model, x: np.ndarray, index: int, class_index: int) -> np.ndarray:
    """ReLU(sum_c mean_hw(dA)[c] A[..., c]) with dA from centred differences (float64)."""
    activation = dict(model.activations(x[None]))[model.layer_names[index]].copy()
    d_act = centred_gradient(
        lambda a: logits_from(model, index, a)[0, class_index], activation)
    weights = d_act[0].mean(axis=(0, 1))
    return np.maximum(np.einsum("hwc,c->hw", activation[0], weights), 0)


@pytest.mark.parametrize("net, layer, class_index", [
    ("pooled", None, None),
    ("pooled", None, 2),
    ("pooled", "conv1", 1),
    ("pooled", "relu1", None),  # lrelu: the spec names it after its type prefix
    ("pooled", "avgpool1", 3),
    ("global", None, None),
    ("global", "relu1", 0),
    ("airbench", None, 1),
    ("airbench", "whiten1", None),
    ("airbench", "gelu2", 2),
])
def test_grad_cam_equals_centred_difference_reference(net, layer, class_index):
    model = float64_net(net)
    if layer == "relu1" and net == "pooled":
        layer = "lrelu1"
    x = image_for(model)
    result = grad_cam(model, x, class_index, layer)
    index = model.layer_names.index(result.layer)
    expected_class = (int(np.argmax(model.forward(x[None])[0])) if class_index is None
                      else class_index)
    assert result.class_index == expected_class
    expected = reference_cam(model, x, index, expected_class)
    assert result.coarse.shape == expected.shape
    assert np.abs(expected).max() > 0  # the comparison is not between two empty maps
    np.testing.assert_allclose(result.coarse, expected, rtol=1e-6, atol=1e-9)
    np.testing.assert_allclose(result.values, upsample_bilinear(expected, x.shape[:2]),
                               rtol=1e-6, atol=1e-9)
    assert result.values.shape == x.shape[:2]


def test_default_layer_is_the_last_convolution_else_the_last_spatial_map():
    assert float64_net("pooled").layer_names[default_cam_layer(
        ShadowNetwork(float64_net("pooled")))] == "conv2"
    assert grad_cam(float64_net("global"), image_for(float64_net("global"))).layer == "conv2"
    pool_only = build_model([{"type": "avgpool2d"}, {"type": "flatten"},
                             {"type": "dense", "units": 3}], (4, 4, 1), 3)
    assert grad_cam(pool_only, np.ones((4, 4, 1), np.float32)).layer == "avgpool1"
    dense_only = build_model([{"type": "flatten"}, {"type": "dense", "units": 3}], (4, 4, 1), 3)
    with pytest.raises(ValueError, match="has none; use the gradient or occlusion method"):
        grad_cam(dense_only, np.zeros((4, 4, 1), np.float32))


def test_grad_cam_refuses_layers_without_a_spatial_map_and_unknown_names():
    model = float64_net("pooled")
    x = image_for(model)
    with pytest.raises(ValueError, match="spatial map"):
        grad_cam(model, x, layer="dense1")
    with pytest.raises(ValueError, match="no layer named 'nope'"):
        grad_cam(model, x, layer="nope")
    with pytest.raises(ValueError, match="class 4 is out of range"):
        grad_cam(model, x, class_index=4)
    with pytest.raises(ValueError, match="12x12x2"):
        grad_cam(model, np.zeros((10, 10, 2)))


def loop_bilinear(values: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Half-pixel-centre bilinear resize, one output pixel at a time (edges clamped)."""
    h, w = values.shape
    out = np.zeros(size)
    for i in range(size[0]):
        for j in range(size[1]):
            y = min(max((i + 0.5) * h / size[0] - 0.5, 0), h - 1)
            x = min(max((j + 0.5) * w / size[1] - 0.5, 0), w - 1)
            y0, x0 = int(y), int(x)
            y1, x1 = min(y0 + 1, h - 1), min(x0 + 1, w - 1)
            fy, fx = y - y0, x - x0
            out[i, j] = ((1 - fy) * ((1 - fx) * values[y0, x0] + fx * values[y0, x1])
                         + fy * ((1 - fx) * values[y1, x0] + fx * values[y1, x1]))
    return out


def test_upsample_bilinear_equals_a_plain_loop():
    rng = np.random.default_rng(0)
    for source, target in [((7, 7), (28, 28)), ((3, 5), (12, 9)), ((1, 1), (4, 4)),
                           ((8, 8), (8, 8))]:
        values = rng.normal(size=source)
        np.testing.assert_allclose(upsample_bilinear(values, target),
                                   loop_bilinear(values, target), atol=1e-12)
    # Two samples stretched to four pixels: a, 3/4 a + 1/4 b, 1/4 a + 3/4 b, b.
    np.testing.assert_allclose(upsample_bilinear(np.array([[0.0, 4.0]]), (1, 4)),
                               [[0.0, 1.0, 3.0, 4.0]])
