"""What the fused-run tests share: a model with non-trivial BatchNorm parameters, training
steps, and comparisons scaled to each layer's largest gradient."""

from __future__ import annotations

import numpy as np

from engine.losses import softmax_cross_entropy
from engine.spec import build_model


def model_for(spec, input_shape, dtype, seed=0):
    model = build_model(spec, input_shape=input_shape, num_classes=5, seed=seed).astype(dtype)
    rng = np.random.default_rng(seed + 1)
    for layer in model.layers:
        if "gamma" in layer.params:
            c = len(layer.params["gamma"])
            layer.params["gamma"][:] = rng.uniform(0.5, 1.5, c) * rng.choice([-1, 1], c)
            layer.params["beta"][:] = rng.standard_normal(c)
    return model


def train_steps(model, x, y, training=True, steps=2, input_grad=True):
    """Forward + backward; returns logits, dx, grads, state."""
    for _ in range(steps):
        logits = model.forward(x, training=training)
        _, d = softmax_cross_entropy(logits, y)
        dx = model.backward(d, input_grad=input_grad)
    grads = {name: g.copy() for name, _, g in model.parameters()}
    return logits, dx, grads, model.state_dict()


def assert_close(a, b, rtol, scale=None):
    scale = max(float(np.max(np.abs(a))) if scale is None else scale, 1e-30)
    np.testing.assert_allclose(a, b, rtol=rtol, atol=rtol * scale)


def assert_close_grads(expected, got, rtol):
    """Per layer, relative to the layer's largest gradient: a conv bias before BatchNorm has
    a true gradient of zero, so only its rounding noise is compared."""
    for name in expected:
        layer = name.split(".")[0]
        scale = max(np.abs(g).max() for k, g in expected.items() if k.split(".")[0] == layer)
        assert_close(expected[name], got[name], rtol, scale)


def training_loss(model, x, y):
    """The loss of a training-mode forward (fused), as a function of the arrays in place."""

    def loss() -> float:
        logits = model.forward(x, training=True)
        model.fused_done = []  # no backward follows
        return softmax_cross_entropy(logits, y)[0]

    return loss
