"""Persistent work arrays: the one buffer helper of the layers and the fast path.

A training step allocates the same large temporaries batch after batch (im2col columns,
padded inputs, per-chunk partial sums). A :class:`Workspace` keeps each under a key chosen by
its owner and hands back a view of the right shape, growing the memory only when a batch
needs more. Each owner (a layer, a fused run) has its own workspace and its own keys: no
other object reads or writes them.
"""

from __future__ import annotations

import math
from collections.abc import Hashable

import numpy as np


class Workspace:
    """Named work arrays reused across calls.

    ``array(key, shape, dtype)`` returns a (shape) view of a flat buffer kept under ``key``,
    reallocated only when the dtype changes or the buffer is too small. The contents are
    whatever the last user left there: callers overwrite what they read.
    """

    def __init__(self) -> None:
        self._arrays: dict[Hashable, np.ndarray] = {}

    def array(self, key: Hashable, shape: tuple[int, ...], dtype: np.dtype) -> np.ndarray:
        """A (shape) array of dtype under ``key``; uninitialised when (re)allocated."""
        size = math.prod(shape)  # not np.prod: ~5 us on a tuple, called per chunk
        buf = self._arrays.get(key)
        if buf is None or buf.dtype != dtype or buf.size < size:
            buf = self._arrays[key] = np.empty(size, dtype)
        return buf[:size].reshape(shape)

    def ones(self, count: int, dtype: np.dtype) -> np.ndarray:
        """(count,) ones of dtype (for column sums as a product, which BLAS does fastest)."""
        key = ("ones", np.dtype(dtype).name)
        ones = self._arrays.get(key)
        if ones is None or len(ones) < count:
            ones = self._arrays[key] = np.ones(count, dtype)
        return ones[:count]

    def zero_bordered(self, key: Hashable, shape: tuple[int, ...], dtype: np.dtype) -> np.ndarray:
        """A (shape) array kept with this exact shape, zeros when (re)allocated: its
        borders stay zero between calls when callers only ever write its interior."""
        buf = self._arrays.get(key)
        if buf is None or buf.shape != tuple(shape) or buf.dtype != dtype:
            buf = self._arrays[key] = np.zeros(shape, dtype)
        return buf

    def nbytes(self) -> int:
        """Bytes held by all arrays of this workspace."""
        return sum(a.nbytes for a in self._arrays.values())

    def clear(self) -> None:
        """Release every array (they are allocated again on next use)."""
        self._arrays.clear()
