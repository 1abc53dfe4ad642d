"""Normaliser, augmentation and the stratified split."""

from __future__ import annotations

import json

import numpy as np
import pytest

from engine.data import Augmenter, Normalizer, stratified_split


def test_normalizer_matches_numpy_and_round_trips():
    rng = np.random.default_rng(0)
    x = rng.integers(0, 256, size=(50, 6, 5, 3), dtype=np.uint8)
    norm = Normalizer.fit(x)
    scaled = x.astype(np.float64) / 255
    np.testing.assert_allclose(norm.mean, scaled.mean(axis=(0, 1, 2)), rtol=1e-6)
    np.testing.assert_allclose(norm.std, scaled.std(axis=(0, 1, 2)), rtol=1e-5)
    out = norm(x)
    assert out.dtype == np.float32 and out.shape == x.shape
    np.testing.assert_allclose(out.mean(axis=(0, 1, 2)), 0, atol=1e-5)
    np.testing.assert_allclose(out.std(axis=(0, 1, 2)), 1, atol=1e-4)
    again = Normalizer.from_dict(json.loads(json.dumps(norm.to_dict())))
    assert again == norm
    np.testing.assert_array_equal(again.denorm(out), x)


def test_normalizer_refuses_bad_input():
    with pytest.raises(ValueError, match="uint8"):
        Normalizer.fit(np.zeros((2, 3, 3, 1), np.float32))
    with pytest.raises(ValueError, match="channel"):
        Normalizer([0.5], [0.2]).norm(np.zeros((1, 2, 2, 3), np.uint8))
    constant = Normalizer.fit(np.full((2, 2, 2, 1), 7, np.uint8))
    assert np.isfinite(constant(np.zeros((1, 2, 2, 1), np.uint8))).all()


@pytest.mark.parametrize("kind", ["colour", "digits", "grey"])
def test_augmentation_is_deterministic_by_seed(kind):
    rng = np.random.default_rng(0)
    channels = 3 if kind == "colour" else 1
    x = rng.integers(0, 256, size=(16, 12, 12, channels), dtype=np.uint8)
    a = Augmenter(kind, seed=3).augment(x)
    b = Augmenter(kind, seed=3).augment(x)
    c = Augmenter(kind, seed=4).augment(x)
    assert a.shape == x.shape and a.dtype == np.uint8
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)


def test_colour_crop_and_flip_move_pixels_only():
    x = np.zeros((200, 8, 8, 3), np.uint8)
    x[:, 3, 2] = 255  # one bright pixel left of centre
    out = Augmenter("colour", seed=0, pad=2).augment(x)
    counts = (out[..., 0] == 255).reshape(200, -1).sum(axis=1)
    assert set(counts) <= {0, 1}  # moved (or cropped away), never duplicated or blurred
    cols = np.array([np.argwhere(o[..., 0] == 255)[0][1] for o in out if (o == 255).any()])
    assert (cols >= 5).any()  # some were flipped to the right half


def test_digit_augmentation_never_flips_and_keeps_content():
    x = np.zeros((64, 28, 28, 1), np.uint8)
    x[:, 6:22, 6:10] = 255  # a bar on the left
    out = Augmenter("digits", seed=1).augment(x)
    mass = out[..., 0].astype(float)
    cx = (mass.sum(axis=1) * np.arange(28)).sum(axis=1) / mass.sum(axis=(1, 2))
    assert (cx < 12).all()  # still on the left: no horizontal flips, small shifts only
    ratio = mass.sum(axis=(1, 2)) / x[..., 0].astype(float).sum(axis=(1, 2))
    assert ((ratio > 0.7) & (ratio < 1.3)).all()


def test_identity_settings_leave_images_unchanged():
    x = np.random.default_rng(2).integers(0, 256, size=(4, 10, 10, 1), dtype=np.uint8)
    aug = Augmenter("digits", seed=0, max_shift=0, max_degrees=0, scale=(1.0, 1.0))
    np.testing.assert_array_equal(aug.augment(x), x)


def test_stratified_split_proportions_and_determinism():
    y = np.repeat(np.arange(4), [100, 50, 30, 20])
    train, val = stratified_split(y, 0.2, seed=7)
    assert np.bincount(y[val]).tolist() == [20, 10, 6, 4]
    assert len(np.intersect1d(train, val)) == 0 and len(train) + len(val) == 200
    again = stratified_split(y, 0.2, seed=7)
    np.testing.assert_array_equal(again[1], val)
    other = stratified_split(y, 0.2, seed=8)
    assert not np.array_equal(other[1], val)


def test_stratified_split_largest_remainder_and_edges():
    y = np.array([0, 0, 0, 1, 1, 1, 2, 2, 2, 2])
    _, val = stratified_split(y, 0.25, seed=0)
    assert len(val) == round(0.25 * len(y))
    train, val = stratified_split(y, 0.0, seed=0)
    assert len(val) == 0 and len(train) == 10
    with pytest.raises(ValueError, match="val_fraction"):
        stratified_split(y, 1.0)
