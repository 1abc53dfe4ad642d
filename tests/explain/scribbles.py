"""Random scribbles drawn like the app's canvas draws (280x280 white, black round pen 18 px):
input a digit model has never seen, for the "unlike the training data" figures."""

from __future__ import annotations

import numpy as np

CANVAS = 280
PEN = 18


def scribble(rng: np.random.Generator) -> np.ndarray:
    """(280, 280) uint8: 1-3 random strokes of 2-6 segments, dark ink on white."""
    from PIL import Image, ImageDraw

    image = Image.new("L", (CANVAS, CANVAS), 255)
    draw = ImageDraw.Draw(image)
    for _ in range(rng.integers(1, 4)):
        points = [tuple(rng.uniform(30, CANVAS - 30, 2))]
        for _ in range(rng.integers(2, 7)):
            step = rng.normal(0, 70, 2)
            points.append(tuple(np.clip(np.add(points[-1], step), 10, CANVAS - 10)))
        draw.line(points, fill=0, width=PEN, joint="curve")
        for x, y in points:  # round caps and joints, as the canvas's pen has
            draw.ellipse((x - PEN / 2, y - PEN / 2, x + PEN / 2, y + PEN / 2), fill=0)
    return np.asarray(image)


def scribble_inputs(count: int, seed: int = 0) -> np.ndarray:
    """(count, 28, 28, 1) uint8 scribbles preprocessed exactly as the canvas's drawings."""
    from engine.data.preprocess import image_to_input

    rng = np.random.default_rng(seed)
    return np.stack([image_to_input(scribble(rng), (28, 28, 1), "digits")
                     for _ in range(count)])
