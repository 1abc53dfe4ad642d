"""Explaining never changes the model: outputs, BatchNorm statistics, random state, timings,
and a training step that was under way when the explanation ran."""

from __future__ import annotations

import copy

import numpy as np
import pytest

from engine.explain import ShadowNetwork, grad_cam, gradient_saliency, occlusion
from engine.spec import build_model, list_presets
from tests.explain.nets import NETS, float64_net


def preset_model(name: str):
    if name in NETS:  # every layer type, the airbench pieces included
        return float64_net(name).astype(np.float32)
    for shape in ((28, 28, 1), (32, 32, 3)):
        try:
            return build_model(name, shape, 10, seed=0)
        except ValueError:
            continue
    raise AssertionError(f"{name} builds for neither 28x28x1 nor 32x32x3")


def training_step_grads(model, x, dlogits_seed: int) -> dict[str, np.ndarray]:
    logits = model.forward(x, training=True)
    d = np.random.default_rng(dlogits_seed).normal(size=logits.shape).astype(logits.dtype)
    model.backward(d, input_grad=False)
    return {name: grad.copy() for name, _, grad in model.parameters()}


def explain_all(model, image: np.ndarray) -> None:
    network = ShadowNetwork(model)
    grad_cam(model, image)
    grad_cam(network, image, class_index=model.num_classes - 1)
    gradient_saliency(network, image, smooth=3)
    size = model.input_shape[0]
    occlusion(network, image, patch=size // 2, stride=size // 2)
    grad_cam(network, image, layer=0)


@pytest.mark.parametrize("preset", [*list_presets(), *NETS])
def test_explaining_mid_training_step_changes_nothing(preset):
    model = preset_model(preset)
    rng = np.random.default_rng(0)
    batch = rng.normal(size=(4, *model.input_shape)).astype(np.float32)
    image = rng.normal(size=model.input_shape).astype(np.float32)
    # A first step leaves caches, workspaces, moved BatchNorm statistics, first-layer
    # needs_input_grad = False: the state of a model being trained.
    training_step_grads(model, batch, 0)
    twin = copy.deepcopy(model)

    # Both start a training step (fused where the preset allows); only one is explained in
    # the middle of it, between its forward and backward.
    out = model.forward(batch, training=True)
    out_twin = twin.forward(batch, training=True)
    np.testing.assert_array_equal(out, out_twin)
    state_before = model.state_dict()
    timings_before = copy.deepcopy(model.timings)
    random_before = copy.deepcopy(model.random_state())
    explain_all(model, image)
    after = model.state_dict()
    for name, value in state_before.items():
        np.testing.assert_array_equal(after[name], value, err_msg=name)
    assert model.timings == timings_before
    assert model.random_state() == random_before

    d = rng.normal(size=out.shape).astype(np.float32)
    model.backward(d, input_grad=False)
    twin.backward(d, input_grad=False)
    grads = {name: g for name, _, g in model.parameters()}
    for name, _, g in twin.parameters():
        np.testing.assert_array_equal(grads[name], g, err_msg=name)
    # Evaluation outputs and the next step (dropout masks) agree too.
    np.testing.assert_array_equal(model.forward(batch), twin.forward(batch))
    a, b = training_step_grads(model, batch, 1), training_step_grads(twin, batch, 1)
    for name in a:
        np.testing.assert_array_equal(a[name], b[name], err_msg=name)


def test_maps_are_float32_for_a_float32_model():
    model = preset_model("digits-bn")
    image = np.random.default_rng(0).normal(size=(28, 28, 1)).astype(np.float32)
    for result in (grad_cam(model, image), gradient_saliency(model, image),
                   occlusion(model, image)):
        assert result.values.dtype == np.float32
        assert result.values.shape == (28, 28)
        assert np.isfinite(result.values).all()
