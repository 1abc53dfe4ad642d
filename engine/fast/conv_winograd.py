"""Conv2D's Winograd F(m x m, 3 x 3) path (3x3, stride 1): the layer glue around
``engine.fast.winograd``'s transforms, each thread its own chunks of images. Registered with
Conv2D as the algorithm ``"winograd"`` (:data:`ALGORITHM`, see ``engine.fast.install``);
it uses the layer's public interface and keeps its scratch in the layer's workspace under
its own keys.

Per chunk: the input tiles' transform V (kept from forward to backward in training), one
matrix product per transformed-tile position with the filters' transform U, the output
transform and the blocks put in place. Backward takes the exact adjoints of the same maps.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import numpy as np

from engine import threads
from engine.fast import winograd
from engine.layers.conv_algorithm import ConvAlgorithm
from engine.layers.im2col import column_sums

if TYPE_CHECKING:
    from engine.layers.conv import Conv2D

# Output block of the transform: F(4x4, 3x3) (4x fewer multiplications than direct).
TILE = 4
# Winograd pays off once its per-tile products are big enough; below this many input
# channels im2col is faster (3-channel first layers; measured with python -m engine.fast.bench).
_MIN_CHANNELS = 8
# Bytes of work arrays per chunk of images: at least _CHUNK_BYTES, and _CHUNK_PER_FILTERS times
# the filters' transform U (a*a * C_in * C_out values), at most _CHUNK_CEILING. Each chunk pays
# for a pass over U-sized arrays (its weight-gradient partial, dU), and its products have as
# many rows as its tiles: wide layers want larger chunks, narrow ones smaller, cache-sized ones.
# Measured at batch 1024 on 2 threads (forward + backward of one layer): 256 -> 256 at 7x7
# took 605 ms with 8 MiB chunks, 510 with 32 and 501 with 48; at 3x3 167 against 132;
# 128 -> 128 and 64 -> 256 at 8-32 MiB within 5 %. Narrower layers stay at 8 MiB: 4 MiB
# helped airbench's 64 -> 64 a little but cost the small seed nets ~20 % (more chunks).
_CHUNK_BYTES = 8 << 20
_CHUNK_PER_FILTERS = 4
_CHUNK_CEILING = 48 << 20
# (C_in, C_out) filter pairs per block of the filter transform. When the batch is shared
# among the threads, so are the blocks of a large layer (on one thread, vgg-cifar's
# 64 -> 128 conv spent ~1.3 ms per step there with the other idle). Less work
# than that does not pay for the hand-off (~0.15-0.2 ms for the other thread to start here):
# vgg-cifar's 32 -> 64 conv in 2 blocks took 0.43 ms of wall time for 0.18 ms of work, and
# threaded blocks made digits-bn's inference of one image (one chunk) 0.9 -> 1.4 ms.
_FILTER_BLOCK = 2048


def _chunk_bytes(filter_transform_bytes: int, batch_bytes: int) -> int:
    """Target bytes of work arrays per chunk of images, for a layer whose U is that large and
    a batch whose work arrays take batch_bytes. Larger chunks never leave fewer than 6
    (vgg-cifar's 256-channel convs at batch 64 in one chunk: one thread idle, 15 % slower)."""
    wide = min(_CHUNK_PER_FILTERS * filter_transform_bytes, _CHUNK_CEILING, batch_bytes // 6)
    return max(_CHUNK_BYTES, wide)


def _plan(dtype: np.dtype) -> winograd.Plan:
    return winograd.plan(TILE, np.dtype(dtype).name)


def _handles(layer: Conv2D) -> bool:
    return (layer.kh, layer.kw, layer.stride) == (3, 3, 1)


def _preferred(layer: Conv2D) -> bool:
    return layer.in_channels >= _MIN_CHANNELS


def computes(layer: Conv2D) -> bool:
    """Whether this layer computes with Winograd (registered, and chosen by its setting)."""
    return layer.algorithm_name() == ALGORITHM.name


def _scratch(layer: Conv2D, key: tuple, shape: tuple[int, ...], dtype: np.dtype) -> np.ndarray:
    return layer.workspace.array(("winograd", *key), shape, dtype)


def _in_chunks(task, n_chunks: int) -> None:
    """task(part, ci, ci + 1) for every chunk, the threads taking them as they come free."""
    threads.parallel_chunks(lambda part, ci: task(part, ci, ci + 1), n_chunks)


def _by_filter_blocks(task, pairs: int, threaded: bool) -> None:
    """Run task(f0, f1) over fixed blocks of range(pairs), on the engine's threads if
    ``threaded`` (the same blocks either way, so the same results)."""
    blocks = threads.split_range(pairs, -(-pairs // _FILTER_BLOCK))
    if threaded:
        threads.parallel_chunks(lambda part, i: task(*blocks[i]), len(blocks))
    else:
        for f0, f1 in blocks:
            task(f0, f1)


def _filter_transform(plan: winograd.Plan, W: np.ndarray, threaded: bool) -> np.ndarray:
    """U (a*a, C_in, C_out) of the filters W (3, 3, C_in, C_out)."""
    W9 = np.ascontiguousarray(W).reshape(9, -1)
    U2 = np.empty((plan.a * plan.a, W9.shape[1]), W.dtype)
    _by_filter_blocks(lambda f0, f1: plan.filter_transform(W9[:, f0:f1], U2[:, f0:f1]),
                      W9.shape[1], threaded)
    return U2.reshape(-1, *W.shape[2:])


def _chunk_padder(layer: Conv2D, x: np.ndarray, role: str, padded_hw: tuple[int, int],
                  chunks: list[tuple[int, int]], relu: bool):
    """``padded_chunk(part, c0, c1)``: images c0:c1 of x (N, H, W, C_in) in the zero-padded
    tile buffer (c1 - c0, *padded_hw, C_in), max(x, 0) if ``relu``.

    One buffer per role and thread, the size of the largest chunk, its borders zero since
    only the interior is ever written: the padded copy of the whole batch it replaces stayed
    allocated in every layer between steps (airbench94 at batch 1024: 673 MiB in six convs).
    """
    top, _, left, _ = layer.pads
    h, w = x.shape[1:3]
    rows = max(c1 - c0 for c0, c1 in chunks)

    def padded_chunk(part: int, c0: int, c1: int) -> np.ndarray:
        buf = layer.workspace.zero_bordered(("winograd", "pad", role, part),
                                            (rows, *padded_hw, x.shape[3]), x.dtype)
        inner = buf[: c1 - c0, top : top + h, left : left + w]
        if relu:
            np.maximum(x[c0:c1], 0, out=inner)
        else:
            inner[...] = x[c0:c1]
        return buf[: c1 - c0]

    return padded_chunk


def forward(layer: Conv2D, x: np.ndarray, y: np.ndarray | None, role: str,
            blocks_done=None, input_relu: bool = False) -> tuple:
    """y = the layer's convolution of x, each thread its own chunks of images; returns the
    state its backward needs. ``role`` ("train" or "eval") keeps their scratch apart.

    ``blocks_done(part, c0, c1, Y)``, if given, takes each chunk's output blocks Y
    (m, m, c1 - c0, Ty, Tx, C_out), bias not added, while they are in cache, instead of
    their being put in y (then None; the output is x's size, a multiple of m).
    ``input_relu`` convolves max(x, 0) (a ReLU before the conv, applied as x is padded).
    """
    W, b = layer.params["W"], layer.params["b"]
    cout = layer.out_channels
    n, ho, wo = y.shape[:3] if y is not None else (len(x), *layer.output_hw(*x.shape[1:3]))
    cin, dtype = layer.in_channels, W.dtype
    plan = _plan(dtype)
    m, a2 = plan.m, plan.a * plan.a
    ty, tx = plan.tiles(ho, wo)
    per_image = a2 * ty * tx * (2 * cin + cout) * dtype.itemsize
    u_bytes = a2 * cin * cout * dtype.itemsize
    chunks = threads.fixed_chunks(n, per_image, _chunk_bytes(u_bytes, n * per_image))
    U = _filter_transform(plan, W, threaded=len(chunks) > 1)
    padded_chunk = _chunk_padder(layer, x, role, (m * (ty + 1), m * (tx + 1)), chunks,
                                 input_relu)
    # In training, every chunk's V is kept for the backward pass, in one array that lives in
    # the returned state: freed as the backward consumes it, not held by the layer until the
    # next step (airbench94 at batch 1024: 828 MiB of V over six layers).
    per_image_v = a2 * ty * tx * cin
    kept = np.empty(n * per_image_v, dtype) if role == "train" else None

    def task(part: int, c_first: int, c_last: int) -> None:
        for ci in range(c_first, c_last):
            c0, c1 = chunks[ci]
            tiles = (c1 - c0, ty, tx)
            # Scratch per role and part: an evaluation pass never touches training state.
            D = _scratch(layer, ("D", role, part), (plan.a, plan.a, *tiles, cin), dtype)
            if kept is None:
                V = _scratch(layer, ("V", part), (plan.a, plan.a, *tiles, cin), dtype)
            else:
                V = kept[c0 * per_image_v : c1 * per_image_v].reshape(plan.a, plan.a, *tiles, cin)
            plan.input_transform(padded_chunk(part, c0, c1), D, V)
            M = _scratch(layer, ("M", role, part), (a2, math.prod(tiles), cout), dtype)
            np.matmul(V.reshape(a2, -1, cin), U, out=M)
            Y = _scratch(layer, ("Y", role, part), (m, m, *tiles, cout), dtype)
            plan.output_transform(M, Y)
            if blocks_done is None:
                plan.scatter_output(Y, b, y[c0:c1])
            else:
                blocks_done(part, c0, c1, Y)

    _in_chunks(task, len(chunks))
    return ("winograd", chunks, U, (ho, wo), kept)


def backward(layer: Conv2D, state: tuple, dout: np.ndarray | None, dx: np.ndarray | None,
             bias_partials: np.ndarray, grad_blocks=None, relu_input=None) -> None:
    """Sets the layer's grads["W"] and, per chunk, bias_partials; fills dx unless None.

    ``grad_blocks(part, ci, c0, c1, dYt)``, if given, fills each chunk's output-gradient
    blocks dYt (m, m, c1 - c0, Ty, Tx, C_out) and bias_partials[ci] in place of dout (then
    None), as ``forward``'s ``blocks_done`` received them. ``relu_input``, the x of a
    forward with ``input_relu``, makes dx the gradient with respect to it (zero where x <= 0).
    """
    _, chunks, U, (ho, wo), kept = state
    cout = layer.out_channels
    cin, dtype = layer.in_channels, U.dtype
    plan = _plan(dtype)
    m, a2 = plan.m, plan.a * plan.a
    ty, tx = plan.tiles(ho, wo)
    top, _, left, _ = layer.pads
    UT = U.transpose(0, 2, 1)  # a view: BLAS takes it transposed as fast as a copy
    per_image_v = a2 * ty * tx * cin
    # Per chunk, the weight gradient's share (9, C_in * C_out): each chunk takes the filter
    # transform's adjoint of its dU while that is in cache, so only these a*a / 9 times
    # smaller partials are left to add up after the pass. Allocated per call: kept in the
    # layer they stayed allocated in every conv between steps (airbench94, batch 1024: 390 MiB).
    partials = np.empty((len(chunks), 9, cin * cout), dtype)
    overhang = (ho, wo) != (m * ty, m * tx)

    def task(part: int, c_first: int, c_last: int) -> None:
        for ci in range(c_first, c_last):
            c0, c1 = chunks[ci]
            tiles = (c1 - c0, ty, tx)
            V = kept[c0 * per_image_v : c1 * per_image_v].reshape(a2, math.prod(tiles), cin)
            dYt = _scratch(layer, ("dYt", part), (m, m, *tiles, cout), dtype)
            if grad_blocks is not None:
                grad_blocks(part, ci, c0, c1, dYt)
            else:
                pad = (_scratch(layer, ("dy pad", part), (c1 - c0, m * ty, m * tx, cout), dtype)
                       if overhang else None)
                plan.gather_grad_output(dout[c0:c1], dYt, pad)
                column_sums(dout[c0:c1].reshape(-1, cout), bias_partials[ci])
            Q = _scratch(layer, ("Q", part), (a2, math.prod(tiles), cout), dtype)
            plan.grad_output_transform(dYt, Q)
            dU = _scratch(layer, ("dU", part), (a2, cin, cout), dtype)
            np.matmul(V.transpose(0, 2, 1), Q, out=dU)
            plan.filter_grad(dU.reshape(a2, -1), partials[ci])
            if dx is not None:
                dV = _scratch(layer, ("D", "train", part), V.shape, dtype)
                np.matmul(Q, UT, out=dV)
                plan.input_grad_transform(dV, V)  # V's memory is free now
                dxb = _scratch(layer, ("dxb", part),
                               (c1 - c0, m * (ty + 1), m * (tx + 1), cin), dtype)
                plan.scatter_add_tiles(V.reshape(plan.a, plan.a, *tiles, cin), dxb)
                h, w = dx.shape[1:3]
                inner = dxb[:, top : top + h, left : left + w]
                if relu_input is None:
                    dx[c0:c1] = inner
                else:  # the ReLU before the conv: its mask applied in the same pass
                    positive = _scratch(layer, ("relu mask", part), inner.shape, np.dtype(bool))
                    np.greater(relu_input[c0:c1], 0, out=positive)
                    np.multiply(inner, positive, out=dx[c0:c1])

    _in_chunks(task, len(chunks))
    np.sum(partials, axis=0, out=layer.grads["W"].reshape(9, -1))  # in chunk order


def _backward(layer: Conv2D, state: tuple, dout: np.ndarray, dx: np.ndarray | None) -> None:
    """The registered backward: grads W and b from dout (per-chunk bias sums taken while
    each chunk of dout is in cache, added in chunk order)."""
    bias_partials = np.empty((len(state[1]), layer.out_channels), dout.dtype)
    backward(layer, state, dout, dx, bias_partials)
    np.sum(bias_partials, axis=0, out=layer.grads["b"])


ALGORITHM = ConvAlgorithm("winograd", _handles, _preferred, forward, _backward)
