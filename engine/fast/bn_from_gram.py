"""BatchNorm after a convolution, from the Gram matrix of the conv's im2col columns.

With y = cols @ [W; b] (cols (M, K + 1) ending with a column of ones), the batch statistics
of y and BatchNorm's gradients reach the conv's weights through G = cols.T @ cols
(K + 1, K + 1) and products P = cols.T @ dz, without a pass over y. Columns shifted by a
constant ``shift`` (K,) (cols - shift, for conditioning) give the same y when the bias row
takes b + shift @ W. Shared by the fused conv/BN/ReLU/pool run and its folded path.
"""

from __future__ import annotations

import numpy as np

from engine.layers.conv import Conv2D
from engine.layers.norm import BatchNorm


def weights64(conv: Conv2D, shift: np.ndarray | None = None) -> np.ndarray:
    """The conv's [W; b] as (K + 1, C_out) float64; for columns shifted by ``shift`` (K,)
    (cols - shift), the bias row takes b + shift @ W, so the product is unchanged."""
    W = conv.params["W"].reshape(-1, conv.out_channels)
    Wb = np.concatenate([W, conv.params["b"][None]]).astype(np.float64)
    if shift is not None:
        Wb[-1] += shift @ Wb[:-1]
    return Wb


def stats_from_gram(conv: Conv2D, gram: np.ndarray, m: int,
                    shift: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Mean and variance (C_out,) of y = cols @ [W; b] over its m rows, from G = cols.T @ cols:
    mean = colmean @ [W; b], var = diag([W; b].T @ Cov(cols) @ [W; b])."""
    Wb = weights64(conv, shift)
    col_mean = gram[-1] / m  # the last column of cols is ones
    cov = gram / m - np.outer(col_mean, col_mean)
    return col_mean @ Wb, np.maximum(np.einsum("kc,kl,lc->c", Wb, cov, Wb), 0.0)


def weight_grad_from_gram(conv: Conv2D, bn: BatchNorm, P: np.ndarray, gram: np.ndarray,
                          mean: np.ndarray, inv_std: np.ndarray, dgamma: np.ndarray,
                          dbeta: np.ndarray, m: int, shift: np.ndarray | None = None) -> None:
    """The conv's grads W, b = [dW; db] from P = cols.T @ dz (K + 1, C) and G (of the columns
    shifted by ``shift``, if given: then dW = dW' + shift * db), BatchNorm's gradients
    dgamma, dbeta and statistics (C,) of its batch of m rows."""
    W = conv.params["W"]
    Wb = weights64(conv, shift)
    colsum = gram[:, -1]
    centred_cols = gram @ Wb - np.outer(colsum, mean)
    inv = inv_std.astype(np.float64)
    scale = bn.params["gamma"].astype(np.float64) * inv
    coef = scale * inv * dgamma / m
    const = scale * dbeta / m
    dWb = scale * P - coef * centred_cols - np.outer(colsum, const)
    if shift is not None:
        dWb[:-1] += np.outer(shift, dWb[-1])
    conv.grads["W"][...] = dWb[:-1].reshape(W.shape)
    conv.grads["b"][...] = dWb[-1]
