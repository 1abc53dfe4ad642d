"""The patch-whitening first layer: its filters from data, against airbench's torch recipe."""

from __future__ import annotations

import numpy as np
import pytest

from engine.gradcheck import check_layer
from engine.layers import PatchWhitening
from engine.layers.whitening import patches_of


def _images(n=40, seed=0):
    rng = np.random.default_rng(seed)
    base = rng.standard_normal((n, 9, 9, 3))
    # Correlated neighbours and channels, so the whitening has something to undo.
    smooth = base + np.roll(base, 1, axis=1) + 0.5 * np.roll(base, 1, axis=2)
    return smooth + 0.3 * smooth[..., :1]


def test_patches_are_the_kernel_ordered_windows():
    x = np.arange(2 * 3 * 4 * 2, dtype=float).reshape(2, 3, 4, 2)
    rows = patches_of(x, 2)
    assert rows.shape == (2 * 2 * 3, 8)
    np.testing.assert_array_equal(rows[4], x[0, 1:3, 1:3, :].reshape(-1))  # image 0, (1, 1)


def test_fit_whitens_the_patches_in_plus_minus_pairs():
    x = _images()
    layer = PatchWhitening(3, 2, eps=5e-4)
    eigenvalues = layer.fit(x)
    assert np.all(np.diff(eigenvalues) <= 0)
    W = layer.params["W"].astype(np.float64).reshape(12, 24)
    np.testing.assert_array_equal(W[:, 12:], -W[:, :12])
    p = patches_of(x, 2)
    out = p @ W[:, :12]
    cov = out.T @ out / len(p)
    np.testing.assert_allclose(cov, np.diag(eigenvalues / (eigenvalues + 5e-4)), atol=1e-5)
    assert layer.frozen == {"W"}


def test_fit_equals_airbench_torch_recipe_up_to_each_eigenvector_sign():
    torch = pytest.importorskip("torch")
    x = _images(seed=1)
    layer = PatchWhitening(3, 2, eps=5e-4)
    layer.fit(x)
    # airbench: get_patches / get_whitening_parameters / init_whitening_conv, NCHW, float64.
    t = torch.tensor(x.transpose(0, 3, 1, 2))
    c, h, w = 3, 2, 2
    patches = t.unfold(2, h, 1).unfold(3, w, 1).transpose(1, 3).reshape(-1, c, h, w)
    flat = patches.reshape(len(patches), -1)
    cov = flat.T @ flat / len(flat)
    eigenvalues, eigenvectors = torch.linalg.eigh(cov, UPLO="U")
    eigenvalues = eigenvalues.flip(0).view(-1, 1, 1, 1)
    eigenvectors = eigenvectors.T.reshape(c * h * w, c, h, w).flip(0)
    scaled = eigenvectors / torch.sqrt(eigenvalues + 5e-4)
    ref = torch.cat((scaled, -scaled)).numpy()  # (out, in, kh, kw)
    ours = layer.params["W"].astype(np.float64).transpose(3, 2, 0, 1)
    signs = np.sign(np.sum(ours[:12] * ref[:12], axis=(1, 2, 3)))
    assert np.all(np.abs(signs) == 1)
    np.testing.assert_allclose(ours[:12] * signs[:, None, None, None], ref[:12], rtol=2e-4,
                               atol=1e-6 * np.abs(ref).max())


def test_unfitted_layer_is_the_plus_minus_pixel_basis_and_gradients_check():
    layer = PatchWhitening(1, 2)
    x = np.random.default_rng(2).standard_normal((2, 3, 3, 1))
    y = layer.forward(x)
    assert y.shape == (2, 2, 2, 8)
    np.testing.assert_allclose(y[..., 0], x[:, :2, :2, 0], rtol=1e-6)
    np.testing.assert_allclose(y[..., 4], -x[:, :2, :2, 0], rtol=1e-6)
    layer.fit(_images()[..., :1])
    errors = check_layer(layer, x)
    assert max(errors.values()) < 1e-7, errors


def test_fit_refuses_images_of_the_wrong_shape():
    with pytest.raises(ValueError, match=r"whitening needs images \(N, H, W, 3\)"):
        PatchWhitening(3).fit(np.zeros((4, 8, 8, 1)))
