"""Preprocessing properties: MNIST-style digits, colour resizing, modes, dispatch."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from engine.data import preprocess
from engine.data.images import pil_to_array


def centre_of_mass(image: np.ndarray) -> tuple[float, float]:
    g = image[..., 0].astype(np.float64)
    total = g.sum()
    return (float((g.sum(axis=1) * np.arange(g.shape[0])).sum() / total),
            float((g.sum(axis=0) * np.arange(g.shape[1])).sum() / total))


def extent(image: np.ndarray) -> tuple[int, int]:
    mask = image[..., 0] > 0
    rows, cols = np.flatnonzero(mask.any(axis=1)), np.flatnonzero(mask.any(axis=0))
    return int(rows[-1] - rows[0] + 1), int(cols[-1] - cols[0] + 1)


def off_centre_seven(height: int = 120, width: int = 90, dark_on_light: bool = True):
    """A '7' drawn in the top-left corner: thick bar plus a diagonal."""
    ink, paper = (20, 235) if dark_on_light else (255, 0)
    img = np.full((height, width), paper, np.uint8)
    img[8:14, 6:40] = ink
    for r in range(14, 60):
        c = 40 - (r - 14) // 2
        img[r, c - 3:c + 3] = ink
    return img


@pytest.mark.parametrize(("height", "width"), [(120, 90), (64, 200), (200, 64)])
def test_digit_off_centre_dark_on_light_becomes_mnist_like(height, width):
    img = off_centre_seven(height, width)
    out = preprocess.digit_to_mnist(img)
    assert out.shape == (28, 28, 1) and out.dtype == np.uint8
    # light-on-dark: the background is black, the strokes are bright
    assert np.median(out) == 0 and out[:, 0].max() == 0 and out.max() == 255
    cy, cx = centre_of_mass(out)
    assert abs(cy - 14) <= 1 and abs(cx - 14) <= 1
    assert max(extent(out)) == 20


def test_light_on_dark_input_is_not_inverted():
    dark = preprocess.digit_to_mnist(off_centre_seven(dark_on_light=False))
    light = preprocess.digit_to_mnist(off_centre_seven(dark_on_light=True))
    assert dark[0, 0, 0] == 0 and np.abs(dark.astype(int) - light.astype(int)).mean() < 8


def test_aspect_ratio_is_kept():
    img = np.zeros((100, 100), np.uint8)
    img[10:90, 45:55] = 255  # a tall thin '1': 80 x 10
    h, w = extent(preprocess.digit_to_mnist(img))
    assert h == 20 and 2 <= w <= 4


def test_blank_image_gives_zeros():
    assert not preprocess.digit_to_mnist(np.full((40, 40), 250, np.uint8)).any()


def test_speck_noise_and_scan_border_do_not_change_the_crop():
    clean = off_centre_seven()
    noisy = clean.copy()
    noisy[100, 80] = 0  # an isolated speck far from the digit
    noisy[:, :2] = 0  # a dark border line along the left edge
    a, b = preprocess.digit_to_mnist(clean), preprocess.digit_to_mnist(noisy)
    assert extent(a) == extent(b)
    assert np.abs(a.astype(int) - b.astype(int)).max() <= 64


def test_accepts_rgb_rgba_float_and_pil():
    grey = off_centre_seven()
    expected = preprocess.digit_to_mnist(grey)
    rgb = np.repeat(grey[..., None], 3, axis=2)
    for image in (rgb, grey.astype(np.float32) / 255.0, Image.fromarray(grey),
                  grey.astype(np.uint16) * 257):
        np.testing.assert_allclose(preprocess.digit_to_mnist(image), expected, atol=2)
    rgba = np.dstack([rgb, np.full(grey.shape, 255, np.uint8)])
    np.testing.assert_allclose(preprocess.digit_to_mnist(rgba), expected, atol=2)


def test_white_strokes_on_transparent_canvas_stay_visible():
    alpha = np.zeros((64, 64), np.uint8)
    alpha[20:44, 30:34] = 255
    rgba = np.dstack([np.full((64, 64, 3), 255, np.uint8), alpha])
    out = preprocess.digit_to_mnist(rgba)
    assert out.max() == 255 and max(extent(out)) == 20


def test_colour_resize_and_centre_crop():
    img = np.zeros((64, 128, 3), np.uint8)
    img[:, 32:96] = (255, 0, 0)  # the central square is red, the sides black
    out = preprocess.colour_to_input(img)
    assert out.shape == (32, 32, 3) and out.dtype == np.uint8
    assert out[..., 0].min() >= 250 and out[..., 1:].max() == 0


@pytest.mark.parametrize("mode", ["RGBA", "P", "CMYK", "L", "I;16", "LA", "1"])
def test_colour_modes(mode):
    rng = np.random.default_rng(0)
    image = Image.fromarray(rng.integers(0, 256, (40, 50, 3), dtype=np.uint8)).convert(mode)
    out = preprocess.colour_to_input(image)
    assert out.shape == (32, 32, 3) and out.dtype == np.uint8


def test_sixteen_bit_grey_is_scaled_not_clipped():
    array = (np.arange(16, dtype=np.uint16).reshape(4, 4) * 4000)
    out = pil_to_array(Image.fromarray(array))
    assert out.dtype == np.uint8 and out.max() == round(60000 / 257) and out.min() == 0


def test_image_to_input_dispatches_on_kind():
    img = off_centre_seven()
    assert preprocess.image_to_input(img, (28, 28, 1), "digits").shape == (28, 28, 1)
    assert preprocess.image_to_input(img, (32, 32, 3), "colour").shape == (32, 32, 3)
    assert preprocess.image_to_input(img, (28, 28, 1), "grey").shape == (28, 28, 1)
    assert preprocess.image_to_input(img, (28, 28, 3), "digits").shape == (28, 28, 3)
    with pytest.raises(ValueError, match="kind must be"):
        preprocess.image_to_input(img, (28, 28, 1), "sound")


def test_grey_objects_fill_the_frame():
    img = np.full((100, 50), 255, np.uint8)
    img[10:90, 10:40] = 0
    h, _ = extent(preprocess.object_to_grey(img))
    assert h == 28


def test_bad_shapes_raise_value_error():
    with pytest.raises(ValueError, match="expected an image"):
        preprocess.digit_to_mnist(np.zeros((4, 4, 7)))
    with pytest.raises(ValueError, match="empty"):
        preprocess.colour_to_input(np.zeros((0, 4, 3), np.uint8))


def test_big_photo_of_a_digit_matches_a_small_one():
    small = off_centre_seven(120, 90)
    big = np.asarray(Image.fromarray(small).resize((900, 1200), Image.Resampling.NEAREST))
    a, b = preprocess.digit_to_mnist(small), preprocess.digit_to_mnist(big)
    assert extent(a) == extent(b)
    assert np.abs(a.astype(int) - b.astype(int)).mean() < 6


def test_a_stroke_touching_the_edge_is_not_mistaken_for_a_frame():
    img = np.full((60, 40), 230, np.uint8)
    img[0:6, :] = 20  # the bar of a tightly cropped 7, along the whole top edge
    img[:, 30:36] = 20  # its stem, down the right
    h, w = extent(preprocess.digit_to_mnist(img))
    assert h == 20 and w >= 12
