"""im2col / col2im for NHWC tensors, as pure functions with their shapes documented.

A convolution becomes one matrix product: every output position gets a row holding the
``kh * kw * C`` input values under the kernel, ordered ``(ki, kj, c)`` so that the row matches
``W.reshape(kh * kw * C_in, C_out)`` for weights of shape ``(kh, kw, C_in, C_out)``.
Channels are the innermost axis in NHWC, so each kernel offset is one contiguous run.
The loop-based oracle these are tested against lives in ``tests/engine/reference.py``.
"""

from __future__ import annotations

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

_ones_cache: dict[np.dtype, np.ndarray] = {}


def column_sums(a: np.ndarray, out: np.ndarray) -> None:
    """out = a.sum(axis=0) for a (rows, C), as a BLAS vector product: with few columns NumPy's
    axis-0 reduction is ~10x slower."""
    ones = _ones_cache.get(a.dtype)
    if ones is None or len(ones) < len(a):
        ones = _ones_cache[a.dtype] = np.ones(max(len(a), 1 << 16), a.dtype)
    np.dot(ones[: len(a)], a, out=out)  # np.dot, not np.matmul: see engine.threads


def same_padding(kernel: int) -> tuple[int, int]:
    """Zero padding (before, after) keeping the size at stride 1; output = ceil(size / stride)."""
    total = kernel - 1
    return total // 2, total - total // 2


def output_size(
    size: int, kernel: int, stride: int, pad_before: int = 0, pad_after: int = 0
) -> int:
    """Output length along one axis (floor mode); 0 or less means the kernel does not fit."""
    return (size + pad_before + pad_after - kernel) // stride + 1


def windows(xp: np.ndarray, kh: int, kw: int, stride: int) -> np.ndarray:
    """A read-only strided view of every kernel window, without copying.

    xp: (N, Hp, Wp, C) already padded -> (N, Ho, Wo, kh, kw, C)
    """
    hp, wp = xp.shape[1:3]
    ho = (hp - kh) // stride + 1
    wo = (wp - kw) // stride + 1
    view = sliding_window_view(xp, (kh, kw), axis=(1, 2))  # (N, Hp-kh+1, Wp-kw+1, C, kh, kw)
    view = view[:, : (ho - 1) * stride + 1 : stride, : (wo - 1) * stride + 1 : stride]
    return view.transpose(0, 1, 2, 4, 5, 3)


def im2col(
    xp: np.ndarray,
    kh: int,
    kw: int,
    stride: int,
    out: np.ndarray | None = None,
    bias_column: bool = False,
) -> np.ndarray:
    """Gather kernel windows into the rows of a matrix (one strided copy).

    xp: (N, Hp, Wp, C) already padded -> (N * Ho * Wo, kh * kw * C), rows in (n, i, j) order;
    with ``bias_column`` one more column of ones, so that ``cols @ [Wm; b]`` adds the bias and
    ``cols.T @ dy`` yields the bias gradient as its last row. ``out``, when given, is a
    C-contiguous buffer of at least that many elements and is filled and returned
    (reshaped), so that callers can reuse one allocation.
    """
    win = windows(xp, kh, kw, stride)
    n, ho, wo = win.shape[:3]
    rows, cols = n * ho * wo, kh * kw * xp.shape[3]
    width = cols + 1 if bias_column else cols
    if out is None:
        out = np.empty((rows, width), dtype=xp.dtype)
    else:
        out = out.reshape(-1)[: rows * width].reshape(rows, width)
    target = out[:, :cols].view()
    target.shape = win.shape  # a view, never a silent copy (raises if impossible)
    np.copyto(target, win)
    if bias_column:
        out[:, cols] = 1
    return out


def col2im(
    dcols: np.ndarray,
    padded_shape: tuple[int, int, int, int],
    kh: int,
    kw: int,
    stride: int,
    out: np.ndarray | None = None,
) -> np.ndarray:
    """Scatter-add column gradients back onto the padded input (adjoint of :func:`im2col`).

    dcols: (N * Ho * Wo, kh * kw * C) -> (N, Hp, Wp, C) with ``padded_shape = (N, Hp, Wp, C)``.
    Works by kernel offset: ``kh * kw`` strided adds of (N, Ho, Wo, C) slabs. ``out``, when
    given, has ``padded_shape`` and is overwritten.
    """
    n, hp, wp, c = padded_shape
    ho = (hp - kh) // stride + 1
    wo = (wp - kw) // stride + 1
    # Regroup by kernel offset and share col2im_slabs' scatter.
    slabs = dcols.reshape(n * ho * wo, kh * kw, c).transpose(1, 0, 2)
    return col2im_slabs(np.ascontiguousarray(slabs), padded_shape, kh, kw, stride, out)


def col2im_slabs(
    dslabs: np.ndarray,
    padded_shape: tuple[int, int, int, int],
    kh: int,
    kw: int,
    stride: int,
    out: np.ndarray | None = None,
) -> np.ndarray:
    """:func:`col2im` for column gradients stored one kernel offset after another.

    dslabs: (kh * kw, N * Ho * Wo, C), slab ``i * kw + j`` holding the gradient reaching input
    offset (i, j) of every window -> (N, Hp, Wp, C). Each slab is contiguous, so every one of
    the ``kh * kw`` strided adds runs over long rows instead of C-sized pieces.
    """
    n, hp, wp, c = padded_shape
    ho = (hp - kh) // stride + 1
    wo = (wp - kw) // stride + 1
    d = dslabs.reshape(kh, kw, n, ho, wo, c)
    if out is None:
        out = np.zeros(padded_shape, dtype=dslabs.dtype)
    else:
        out.fill(0)
    h_span = (ho - 1) * stride + 1
    w_span = (wo - 1) * stride + 1
    for i in range(kh):
        for j in range(kw):
            out[:, i : i + h_span : stride, j : j + w_span : stride, :] += d[i, j]
    return out


def col2im_cropped(
    dslabs: np.ndarray,
    kh: int,
    kw: int,
    stride: int,
    pads: tuple[int, int, int, int],
    dx: np.ndarray,
    scratch: np.ndarray | None = None,
) -> None:
    """:func:`col2im_slabs` into dx (N, H, W, C), the input gradient of a convolution whose
    input was padded by ``pads`` (top, bottom, left, right): through ``scratch``
    (N, H + top + bottom, W + left + right, C), cropped, when there is padding; straight
    into dx when there is none (scratch unused)."""
    top, _, left, _ = pads
    _, h, w, _ = dx.shape
    if any(pads):
        col2im_slabs(dslabs, scratch.shape, kh, kw, stride, out=scratch)
        dx[...] = scratch[:, top : top + h, left : left + w, :]
    else:
        col2im_slabs(dslabs, dx.shape, kh, kw, stride, out=dx)
