"""airbench's augmentation: reflection-padded translation and alternating flip, exactly."""

from __future__ import annotations

import numpy as np
import pytest

from engine.data.augment import TranslateFlip, random_translate


def _reflect(i: int, n: int) -> int:
    """Index i of a length-n axis reflected at its ends without repeating the edge."""
    if i < 0:
        return -i
    if i >= n:
        return 2 * (n - 1) - i
    return i


def _images(n=6, h=5, w=7, c=3, seed=0):
    return np.random.default_rng(seed).integers(0, 256, (n, h, w, c)).astype(np.uint8)


def test_translation_equals_a_pixel_loop_with_the_same_shifts():
    x = _images()
    out = random_translate(x, np.random.default_rng(3), pad=2)
    shifts = np.random.default_rng(3).integers(-2, 3, size=(len(x), 2))
    for i, (dy, dx) in enumerate(shifts):
        for r in range(5):
            for c in range(7):
                expected = x[i, _reflect(r + dy, 5), _reflect(c + dx, 7)]
                np.testing.assert_array_equal(out[i, r, c], expected)
    assert out.dtype == np.uint8 and {tuple(s) for s in shifts} != {(0, 0)}


def test_reflection_is_pytorchs():
    torch = pytest.importorskip("torch")
    x = _images(2, 6, 6, 1)
    ours = np.pad(x, ((0, 0), (2, 2), (2, 2), (0, 0)), mode="reflect")
    ref = torch.nn.functional.pad(torch.tensor(x).permute(0, 3, 1, 2).double(), (2,) * 4,
                                  mode="reflect").permute(0, 2, 3, 1).numpy()
    np.testing.assert_array_equal(ours, ref)


def test_alternating_flip_mirrors_each_image_in_every_other_epoch():
    x = _images(n=200, seed=1)
    aug = TranslateFlip(200, seed=4, translate=0)
    idx = np.arange(200)
    seen = []
    for epoch in range(4):
        out = aug.at(x, np.random.default_rng(epoch), epoch=epoch, indices=idx)
        flipped = np.array([np.array_equal(out[i], x[i, :, ::-1]) for i in idx])
        kept = np.array([np.array_equal(out[i], x[i]) for i in idx])
        assert np.all(flipped | kept)
        seen.append(flipped)
    np.testing.assert_array_equal(seen[0], seen[2])
    np.testing.assert_array_equal(seen[1], ~seen[0])
    np.testing.assert_array_equal(seen[0], aug.first_flip)
    assert 70 < seen[0].sum() < 130  # a random half
    # A batch in another order gets each image's own flip.
    order = np.random.default_rng(5).permutation(200)[:16]
    out = aug.at(x[order], np.random.default_rng(0), epoch=1, indices=order)
    for j, i in enumerate(order):
        np.testing.assert_array_equal(out[j], x[i, :, ::-1] if not aug.first_flip[i] else x[i])


def test_translation_without_flip_and_the_seed_decides():
    x = _images(n=50)
    a = TranslateFlip(50, seed=0, translate=2, alternating_flip=False)
    out = a.at(x, np.random.default_rng(7), epoch=1, indices=np.arange(50))
    np.testing.assert_array_equal(out, random_translate(x, np.random.default_rng(7), 2))
    assert not np.array_equal(TranslateFlip(50, seed=1).first_flip, a.first_flip)
    with pytest.raises(ValueError, match="translate must be a whole number of pixels"):
        TranslateFlip(5, translate=-1)


def test_random_flip_mirrors_about_half_of_each_batch_and_differs_between_batches():
    x = _images(n=400, h=4, w=5)
    augment = TranslateFlip(len(x), seed=0, translate=0, alternating_flip=False,
                            random_flip=True)
    rng = np.random.default_rng(5)
    flips = []
    for _ in range(2):
        out = augment.at(x, rng, epoch=0, indices=np.arange(len(x)))
        same = np.all(out == x, axis=(1, 2, 3))
        mirrored = np.all(out == x[:, :, ::-1], axis=(1, 2, 3))
        assert np.all(same | mirrored)
        flips.append(mirrored)
    assert all(150 < f.sum() < 250 for f in flips)
    assert (flips[0] != flips[1]).sum() > 100  # drawn per batch, not once per image
    plain = TranslateFlip(len(x), seed=0, translate=0, alternating_flip=False)
    assert np.array_equal(plain.at(x, rng, epoch=0, indices=np.arange(len(x))), x)


def test_one_flip_at_a_time():
    with pytest.raises(ValueError, match="choose one flip"):
        TranslateFlip(10, alternating_flip=True, random_flip=True)
