"""Where the network input lies in the original picture (for drawing the map over it)."""

from __future__ import annotations

from itertools import pairwise

import numpy as np
import pytest

from engine.data.images import resize
from engine.data.preprocess import image_to_input
from gui.input_region import input_region


def _frame(original, shape, kind):
    shown, (top, left, h, w) = input_region(original, shape, kind)
    assert top >= 0 and left >= 0 and top + h <= shown.shape[0] and left + w <= shown.shape[1]
    return shown[top:top + h, left:left + w]


@pytest.mark.parametrize("size", [(40, 64), (64, 40), (32, 32), (100, 101)])
def test_the_colour_frame_is_the_centre_crop_the_model_receives(size):
    rng = np.random.default_rng(0)
    photo = rng.integers(0, 256, (*size, 3)).astype(np.uint8)
    photo = np.round(resize(resize(photo, (8, 8)), size)).astype(np.uint8)  # smooth content
    frame = _frame(photo, (32, 32, 3), "colour")
    expected = image_to_input(photo, (32, 32, 3), "colour").astype(np.float64)
    got = resize(frame, (32, 32)).astype(np.float64)
    assert np.abs(got - expected).mean() < 6  # the same picture (up to resampling)


def _drawing(points: list[tuple[int, int]], offset=(0, 0)) -> np.ndarray:
    """A 280x280 white canvas with a thick black polyline."""
    canvas = np.full((280, 280), 255, np.uint8)
    yy, xx = np.mgrid[:280, :280]
    for (y0, x0), (y1, x1) in pairwise(points):
        for t in np.linspace(0, 1, 60):
            y, x = y0 + t * (y1 - y0) + offset[0], x0 + t * (x1 - x0) + offset[1]
            canvas[(yy - y) ** 2 + (xx - x) ** 2 <= 81] = 0
    return canvas


@pytest.mark.parametrize("offset", [(0, 0), (-40, -50), (20, 45)])
def test_the_digit_frame_shows_what_the_network_receives(offset):
    seven = _drawing([(50, 60), (50, 220), (250, 120)], offset)
    frame = _frame(seven, (28, 28, 1), "digits")
    expected = image_to_input(seven, (28, 28, 1), "digits")[..., 0].astype(np.float64)
    got = 255 - resize(frame[..., 0], (28, 28)).astype(np.float64)  # ink is light in the input
    corr = np.corrcoef(got.ravel(), expected.ravel())[0, 1]
    assert corr > 0.8
    # A frame shifted by 3 of the 28 pixels matches clearly worse: the test can tell.
    shifted = np.roll(got, 3, axis=1)
    assert np.corrcoef(shifted.ravel(), expected.ravel())[0, 1] < corr - 0.2


def test_a_blank_original_gives_its_whole_self():
    blank = np.full((50, 70), 255, np.uint8)
    shown, box = input_region(blank, (28, 28, 1), "digits")
    assert box[2] > 0 and box[3] > 0 and shown.shape[0] >= 50
