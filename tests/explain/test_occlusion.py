"""Occlusion against a plain loop that covers each patch and re-runs the model."""

from __future__ import annotations

import numpy as np
import pytest

from engine.explain import occlusion
from tests.explain.nets import float64_net, image_for


def loop_occlusion(model, x, c, patch, stride, fill):
    h, w = x.shape[:2]
    rows = list(range(0, h - patch + 1, stride))
    cols = list(range(0, w - patch + 1, stride))
    rows += [h - patch] if rows[-1] != h - patch else []
    cols += [w - patch] if cols[-1] != w - patch else []
    base = model.predict_proba(x[None])[0, c]
    total, counts = np.zeros((h, w)), np.zeros((h, w))
    for i in rows:
        for j in cols:
            covered = x.copy()
            covered[i:i + patch, j:j + patch, :] = fill
            drop = base - model.predict_proba(covered[None])[0, c]
            for a in range(i, i + patch):
                for b in range(j, j + patch):
                    total[a, b] += drop
                    counts[a, b] += 1
    return total / counts


@pytest.mark.parametrize("net, patch, stride, fill, class_index, batch", [
    ("pooled", 3, 3, 0.0, None, 64),
    ("pooled", 5, 3, None, 1, 7),  # 12 = 0, 3, 6 and a last patch flush at 7
    ("pooled", 12, 1, -1.0, 2, 64),
    ("global", 2, 1, 0.5, 0, 10),
    ("airbench", 4, 3, None, 2, 5),
])
def test_occlusion_equals_plain_loop(net, patch, stride, fill, class_index, batch):
    model = float64_net(net)
    x = image_for(model)
    result = occlusion(model, x, class_index, patch=patch, stride=stride, fill=fill,
                       batch_size=batch)
    c = int(np.argmax(model.predict_proba(x[None])[0])) if class_index is None else class_index
    assert result.class_index == c
    cover = x.mean(axis=(0, 1)) if fill is None else fill
    expected = loop_occlusion(model, x, c, patch, stride, cover)
    assert np.abs(expected).max() > 1e-6
    np.testing.assert_allclose(result.values, expected, rtol=1e-9, atol=1e-12)


def test_occlusion_refuses_bad_patches():
    model = float64_net("global")
    x = image_for(model)
    with pytest.raises(ValueError, match="larger than the 9x9 input"):
        occlusion(model, x, patch=10)
    with pytest.raises(ValueError, match="stride must be a positive"):
        occlusion(model, x, stride=0)
