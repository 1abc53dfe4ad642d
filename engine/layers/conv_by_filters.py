"""Conv2D's im2col with the filters, not the batch, shared among the threads (the
"filters" parallel mode of ``engine.threads``; the batch mode is Conv2D's default).

The filters are cut into fixed groups of ``FILTER_GROUP`` and the groups dealt to the
threads, so the products, and the results, are the same whatever the thread count.
"""

from __future__ import annotations

from typing import Protocol

import numpy as np

from engine import threads
from engine.layers.im2col import col2im_cropped, im2col
from engine.layers.workspace import Workspace


class Conv2D(Protocol):
    """What this module reads of ``engine.layers.conv.Conv2D`` (which imports this module)."""

    params: dict[str, np.ndarray]
    grads: dict[str, np.ndarray]
    in_channels: int
    out_channels: int
    kh: int
    kw: int
    stride: int
    pads: tuple[int, int, int, int]
    workspace: Workspace

# Filters per matrix product (fixed, so results do not depend on the thread count).
FILTER_GROUP = 16


def _groups(n: int, width: int) -> list[tuple[int, int]]:
    return [(a, min(a + width, n)) for a in range(0, n, width)]


def _columns(conv: Conv2D, xp: np.ndarray, rows: int) -> np.ndarray:
    """im2col of the padded input xp: (rows = N * Ho * Wo, kh * kw * C_in)."""
    dtype = conv.params["W"].dtype
    out = conv.workspace.array(("by filters", "cols"), (rows, conv.params["W"].size //
                                                        conv.out_channels), dtype)
    return im2col(xp, conv.kh, conv.kw, conv.stride, out=out)


def forward(conv: Conv2D, xp: np.ndarray, y: np.ndarray) -> None:
    """y (N, Ho, Wo, C_out) = the convolution of the padded input xp (N, Hp, Wp, C_in)."""
    W, b = conv.params["W"], conv.params["b"]
    Wm = W.reshape(-1, conv.out_channels)
    y2 = y.reshape(-1, conv.out_channels)
    cols = _columns(conv, xp, len(y2))
    groups = _groups(conv.out_channels, FILTER_GROUP)

    def task(g_first: int, g_last: int) -> None:
        for f0, f1 in groups[g_first:g_last]:
            y2[:, f0:f1] = cols @ Wm[:, f0:f1]
            y2[:, f0:f1] += b[f0:f1]

    threads.parallel_map(task, threads.split_range(len(groups), threads.get_num_threads()))


def backward(conv: Conv2D, xp: np.ndarray, dout: np.ndarray, dx: np.ndarray | None) -> None:
    """Sets conv.grads["W"] from dout (N, Ho, Wo, C_out) (the bias gradient is the caller's);
    fills dx (N, H, W, C_in) unless None. xp: the padded input of the forward pass."""
    W = conv.params["W"]
    cout, cin, dtype = conv.out_channels, conv.in_channels, W.dtype
    K = W.size // cout
    d2 = dout.reshape(-1, cout)
    cols = _columns(conv, xp, len(d2))
    n_slabs = conv.kh * conv.kw
    dslabs = conv.workspace.array(("by filters", "dcols"), (n_slabs, len(d2), cin), dtype)
    W_slabs = W.reshape(n_slabs, cin, cout).transpose(0, 2, 1)
    dW = conv.grads["W"].reshape(K, cout)
    fgroups = _groups(cout, FILTER_GROUP)
    offsets = range(n_slabs) if dx is not None else range(0)
    nthreads = threads.get_num_threads()

    def task(part: int) -> None:
        # Fixed groups, dealt round-robin: the same products whatever the thread count.
        for f0, f1 in fgroups[part::nthreads]:
            dW[:, f0:f1] = np.dot(cols.T, d2[:, f0:f1])  # see engine.threads
        for k in offsets[part::nthreads]:
            np.matmul(d2, W_slabs[k], out=dslabs[k])

    threads.parallel_map(task, [(k,) for k in range(nthreads)])
    if dx is not None:
        scratch = (conv.workspace.array(("by filters", "dxp"), xp.shape, dtype)
                   if any(conv.pads) else None)
        col2im_cropped(dslabs, conv.kh, conv.kw, conv.stride, conv.pads, dx, scratch)
