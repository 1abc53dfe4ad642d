"""Loss functions: each returns ``(loss, dpred)``, the mean loss and its gradient."""

from __future__ import annotations

import numpy as np


def _check_labels(logits: np.ndarray, y: np.ndarray) -> np.ndarray:
    if logits.ndim != 2:
        raise ValueError(f"logits must be (N, K), got shape {logits.shape}")
    y = np.asarray(y)
    if y.shape != (logits.shape[0],):
        raise ValueError(f"labels must be ({logits.shape[0]},) integers, got shape {y.shape}")
    if not np.issubdtype(y.dtype, np.integer):
        raise ValueError(f"labels must be integers, got dtype {y.dtype}")
    if y.size and (y.min() < 0 or y.max() >= logits.shape[1]):
        raise ValueError(f"labels must lie in 0..{logits.shape[1] - 1}, got {y.min()}..{y.max()}")
    return y


def softmax_cross_entropy(
    logits: np.ndarray, y: np.ndarray, label_smoothing: float = 0.0
) -> tuple[float, np.ndarray]:
    """Softmax followed by cross-entropy, fused so it is stable for any logits.

    logits: (N, K) raw scores (no softmax applied before); y: (N,) integer labels.
    With ``label_smoothing = s`` the target is ``(1 - s) * one_hot + s / K``.
    Returns the mean loss over the batch (float) and dlogits (N, K), in the dtype of logits.
    log p = z - max(z) - log(sum(exp(z - max(z)))) never overflows.
    """
    y = _check_labels(logits, y)
    if not 0 <= label_smoothing < 1:
        raise ValueError(f"label_smoothing must be in [0, 1), got {label_smoothing!r}")
    n, k = logits.shape
    z = logits.astype(np.float64)
    z = z - z.max(axis=1, keepdims=True)
    logsum = np.log(np.exp(z).sum(axis=1, keepdims=True))
    log_p = z - logsum
    rows = np.arange(n)
    nll = -log_p[rows, y]
    if label_smoothing:
        loss = (1 - label_smoothing) * nll - label_smoothing * log_p.mean(axis=1)
    else:
        loss = nll
    dlogits = np.exp(log_p)
    dlogits[rows, y] -= 1 - label_smoothing
    if label_smoothing:
        dlogits -= label_smoothing / k
    dlogits /= n
    return float(loss.mean()), dlogits.astype(logits.dtype, copy=False)


def binary_cross_entropy(
    pred: np.ndarray, y: np.ndarray, from_logits: bool = True
) -> tuple[float, np.ndarray]:
    """Binary cross-entropy, mean over all elements.

    pred: any shape, logits (``from_logits=True``, stable: uses log(1 + exp(-|z|))) or
    probabilities in (0, 1); y: same shape, targets in [0, 1]. Returns (loss, dpred).
    """
    y = np.asarray(y, dtype=np.float64)
    if y.shape != pred.shape:
        raise ValueError(f"targets shape {y.shape} differs from predictions {pred.shape}")
    p = pred.astype(np.float64)
    count = p.size
    if from_logits:
        loss = np.maximum(p, 0) - p * y + np.log1p(np.exp(-np.abs(p)))
        grad = (0.5 * (1.0 + np.tanh(0.5 * p)) - y) / count
    else:
        eps = 1e-12
        q = np.clip(p, eps, 1 - eps)
        loss = -(y * np.log(q) + (1 - y) * np.log(1 - q))
        grad = (q - y) / (q * (1 - q)) / count
    return float(loss.mean()), grad.astype(pred.dtype, copy=False)


def mean_squared_error(pred: np.ndarray, target: np.ndarray) -> tuple[float, np.ndarray]:
    """mean((pred - target)^2) over all elements.

    pred, target: same shape. Returns (loss, dpred).
    """
    target = np.asarray(target)
    if target.shape != pred.shape:
        raise ValueError(f"target shape {target.shape} differs from predictions {pred.shape}")
    diff = pred.astype(np.float64) - target
    return float(np.mean(diff * diff)), (2.0 * diff / diff.size).astype(pred.dtype, copy=False)
