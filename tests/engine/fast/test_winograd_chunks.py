"""How the Winograd conv cuts a batch into chunks: wide layers at large batches get larger
chunks (fewer passes over their filter-sized arrays), never fewer than 6 for small batches."""

from __future__ import annotations

import numpy as np

from engine.fast import conv_winograd
from engine.layers.conv import Conv2D


def _chunks(cin: int, cout: int, size: int, n: int) -> list[tuple[int, int]]:
    layer = Conv2D(cin, cout, 3, padding="same", bias=False)
    x = np.zeros((n, size, size, cin), np.float32)
    state = conv_winograd.forward(layer, x, np.empty((n, size, size, cout), np.float32),
                                  "eval")
    return state[1]


def test_wide_layers_at_large_batches_take_larger_chunks():
    # airbench94's 256 -> 256 at 7x7, batch 1024: 442 KB of work arrays per image.
    wide = _chunks(256, 256, 7, 1024)
    narrow = _chunks(64, 64, 7, 1024)
    images_per_chunk = [c1 - c0 for c0, c1 in wide]
    assert min(images_per_chunk) >= 48  # ~38 MB chunks, not 8 MiB ones (18 images)
    assert max(c1 - c0 for c0, c1 in narrow) > max(images_per_chunk) / 2  # narrow: 8 MiB
    assert wide[0][0] == 0 and wide[-1][1] == 1024


def test_small_batches_keep_six_chunks_for_the_threads():
    chunks = _chunks(256, 256, 7, 64)  # 28 MB of work arrays: 6 chunks, not one
    assert len(chunks) >= 6
