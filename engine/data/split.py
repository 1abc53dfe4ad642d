"""Deterministic, stratified hold-out splits (validation from training data, or a test split)."""

from __future__ import annotations

import numpy as np


def stratified_split(y: np.ndarray, val_fraction: float, seed: int = 0
                     ) -> tuple[np.ndarray, np.ndarray]:
    """Split indices 0..N-1 so that every class keeps its proportion in both parts.

    y: (N,) integer labels. Returns (train_idx, val_idx), each sorted int64. The validation part
    has round(val_fraction * N) samples, shared out over classes by largest remainder; the same
    (y, val_fraction, seed) always gives the same split.
    """
    y = np.asarray(y)
    if y.ndim != 1:
        raise ValueError(f"labels must be 1-D, got shape {y.shape}")
    if not 0.0 <= val_fraction < 1.0:
        raise ValueError(f"val_fraction must be in [0, 1), got {val_fraction!r}")
    n = len(y)
    if n == 0 or val_fraction == 0.0:
        return np.arange(n, dtype=np.int64), np.zeros(0, dtype=np.int64)
    _, inverse, counts = np.unique(y, return_inverse=True, return_counts=True)
    wanted = counts * val_fraction
    per_class = np.floor(wanted).astype(np.int64)
    extra = round(val_fraction * n) - int(per_class.sum())
    if extra > 0:
        order = np.argsort(-(wanted - per_class), kind="stable")
        per_class[order[:extra]] += 1
    per_class = np.minimum(per_class, counts)
    rng = np.random.default_rng(seed)
    # Group indices by class, shuffled within each class.
    order = np.lexsort((rng.random(n), inverse))
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
    rank = np.empty(n, dtype=np.int64)
    rank[order] = np.arange(n) - np.repeat(starts, counts)
    is_val = rank < per_class[inverse]
    return np.flatnonzero(~is_val).astype(np.int64), np.flatnonzero(is_val).astype(np.int64)
