"""Gradient saliency and SmoothGrad against centred differences of the logit."""

from __future__ import annotations

import numpy as np
import pytest

from engine.explain import gradient_saliency, input_gradient
from engine.explain.gradient import SMOOTHGRAD_NOISE
from tests.explain.nets import centred_gradient, float64_net, image_for, logits_from


@pytest.mark.parametrize("net", ["pooled", "global", "airbench"])
@pytest.mark.parametrize("class_index", [None, 0, 2])
def test_input_gradient_equals_centred_differences(net, class_index):
    model = float64_net(net)
    x = image_for(model)
    grad, c, _ = input_gradient(model, x, class_index)
    expected_class = (int(np.argmax(logits_from(model, -1, x[None])[0])) if class_index is None
                      else class_index)
    assert c == expected_class
    expected = centred_gradient(lambda v: logits_from(model, -1, v[None])[0, c], x.copy())
    np.testing.assert_allclose(grad, expected, rtol=1e-6, atol=1e-9)
    saliency = gradient_saliency(model, x, class_index)
    np.testing.assert_array_equal(saliency.values, np.abs(grad).max(axis=-1))
    assert saliency.method == "gradient"


def test_smoothgrad_is_the_mean_gradient_magnitude_over_seeded_noisy_copies():
    model = float64_net("pooled")
    x = image_for(model)
    result = gradient_saliency(model, x, 1, smooth=5, seed=7)
    rng = np.random.default_rng(7)
    sigma = SMOOTHGRAD_NOISE * float(x.max() - x.min())
    noise = rng.normal(0.0, sigma, (5, *x.shape))
    expected = np.mean([np.abs(input_gradient(model, x + n, 1)[0]) for n in noise], axis=0)
    np.testing.assert_allclose(result.values, expected.max(axis=-1), rtol=1e-12)
    assert result.method == "smoothgrad"
    again = gradient_saliency(model, x, 1, smooth=5, seed=7)
    np.testing.assert_array_equal(result.values, again.values)
    other = gradient_saliency(model, x, 1, smooth=5, seed=8)
    assert not np.array_equal(result.values, other.values)
    # Batches of noisy copies give what one batch gives.
    split = gradient_saliency(model, x, 1, smooth=5, seed=7, batch_size=2)
    np.testing.assert_allclose(split.values, result.values, rtol=1e-12)


def test_smooth_must_be_a_count():
    model = float64_net("global")
    with pytest.raises(ValueError, match="smooth"):
        gradient_saliency(model, image_for(model), smooth=-1)
