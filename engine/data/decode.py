"""Decoding many image files into one uint8 array, on a small thread pool.

Pillow releases the GIL while it decodes, so threads help when cores are free; the bytes are read
on the calling thread (zip archives are not safe to read from several threads), in chunks handed
to the pool as they are read, with only a few chunks in flight so a folder of large photos never
has to fit in memory as encoded bytes.
"""

from __future__ import annotations

import os
from collections import deque
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor

import numpy as np

from engine.data.images import decode_image

_CHUNK = 256


def _decode_chunk(items: list[tuple[str, bytes]], transform: Callable[[np.ndarray], np.ndarray],
                  draft: int | None) -> list[np.ndarray]:
    return [transform(decode_image(data, name, draft=draft)) for name, data in items]


def decode_all(names: Sequence[str], read_bytes: Callable[[str], bytes],
               transform: Callable[[np.ndarray], np.ndarray],
               progress: Callable[[int, int, str], None] | None = None,
               message: str = "decoding images", draft: int | None = None) -> np.ndarray:
    """Decode every file in ``names`` and apply ``transform`` (image -> (H, W, C) uint8).

    draft: JPEGs may be decoded at a reduced scale, but at least this many pixels on each side.
    Returns (N, H, W, C) uint8 in the order of ``names``; every transformed image must have the
    same shape. The first unreadable file raises DatasetError naming it.
    """
    total = len(names)
    if total == 0:
        raise ValueError("no images to decode")
    workers = max(1, min(4, os.cpu_count() or 1))
    out: np.ndarray | None = None
    done = 0
    pending: deque[tuple[int, Future]] = deque()

    def collect(start: int, future: Future) -> None:
        nonlocal out, done
        part = future.result()
        if out is None:
            out = np.empty((total, *part[0].shape), dtype=np.uint8)
        out[start:start + len(part)] = np.stack(part)
        done += len(part)
        if progress:
            progress(done, total, message)

    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="decode") as pool:
        try:
            for start in range(0, total, _CHUNK):
                chunk = [(name, read_bytes(name)) for name in names[start:start + _CHUNK]]
                pending.append((start, pool.submit(_decode_chunk, chunk, transform, draft)))
                while len(pending) > 2 * workers:
                    collect(*pending.popleft())
            while pending:
                collect(*pending.popleft())
        finally:
            for _, future in pending:
                future.cancel()
    assert out is not None
    return out
