"""Decoding many image files into one uint8 array, on a small thread pool.

Pillow releases the GIL while it decodes, so threads give a real speed-up; the bytes are read on
the calling thread (zip archives are not safe to read from several threads), in chunks that are
handed to the pool as soon as they are read.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from engine.data.images import decode_image

_CHUNK = 500


def _decode_chunk(items: list[tuple[str, bytes]], transform: Callable[[np.ndarray], np.ndarray]
                  ) -> list[np.ndarray]:
    return [transform(decode_image(data, name)) for name, data in items]


def decode_all(names: Sequence[str], read_bytes: Callable[[str], bytes],
               transform: Callable[[np.ndarray], np.ndarray],
               progress: Callable[[int, int, str], None] | None = None,
               message: str = "decoding images") -> np.ndarray:
    """Decode every file in ``names`` and apply ``transform`` (image -> (H, W, C) uint8).

    Returns (N, H, W, C) uint8 in the order of ``names``; every transformed image must have the
    same shape. The first unreadable file raises DatasetError naming it.
    """
    total = len(names)
    if total == 0:
        raise ValueError("no images to decode")
    workers = max(1, min(4, os.cpu_count() or 1))
    done = 0
    results: list[list[np.ndarray]] = []
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="decode") as pool:
        futures = []
        for start in range(0, total, _CHUNK):
            chunk = [(name, read_bytes(name)) for name in names[start:start + _CHUNK]]
            futures.append(pool.submit(_decode_chunk, chunk, transform))
        try:
            for future in futures:
                part = future.result()
                results.append(part)
                done += len(part)
                if progress:
                    progress(done, total, message)
        finally:
            for future in futures:
                future.cancel()
    return np.stack([image for part in results for image in part])
