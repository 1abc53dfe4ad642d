"""Winograd F(2x2, 3x3): a 3x3 stride-1 convolution with 2.25x fewer multiplications.

Each 2x2 block of output is computed from the 4x4 input tile under it (Lavin & Gray, 2015):

    Y = A^T [ (G g G^T) ⊙ (B^T d B) ] A        per tile d (4x4) and filter g (3x3)

With U = G g G^T per (C_in, C_out) pair and V = B^T d B per (tile, C_in), the sum over input
channels becomes 16 matrix products, one per position ξ of the 4x4 transformed tile:
M[ξ] = V[ξ] @ U[ξ] with V[ξ] (tiles, C_in) and U[ξ] (C_in, C_out). Transforms need only adds.

The backward pass is the exact adjoint of these linear maps, reusing the same 16 products:

    Q   = A dY A^T                    (tiles, C_out) per ξ, from the 2x2 output-gradient tiles
    dU  = V[ξ]^T @ Q[ξ]   ->  dW = G^T dU G
    dV  = Q[ξ] @ U[ξ]^T   ->  dx += B dV B^T, overlapping 4x4 tiles added at stride 2

Tensors use NHWC. A "tile buffer" is the zero-padded input (n, 2*Ty + 2, 2*Tx + 2, C) for
Ty x Tx output tiles; the 4x4 tiles start at every even row and column. Transformed arrays
are (4, 4, n, Ty, Tx, C): the first two axes index ξ = (row, column) of the 4x4 tile.
"""

from __future__ import annotations

import numpy as np

# G (4x3) maps a 3x3 filter to the 4x4 Winograd domain.
G = np.array([[1.0, 0.0, 0.0], [0.5, 0.5, 0.5], [0.5, -0.5, 0.5], [0.0, 0.0, 1.0]])


def tiles(out_h: int, out_w: int) -> tuple[int, int]:
    """Number of 2x2 output tiles (Ty, Tx) covering an out_h x out_w output."""
    return (out_h + 1) // 2, (out_w + 1) // 2


def filter_transform(W: np.ndarray) -> np.ndarray:
    """W: (3, 3, C_in, C_out) -> U: (16, C_in, C_out), U[ξ] = (G g G^T)[ξ] per channel pair."""
    g = G.astype(W.dtype)
    U = np.einsum("ai,ijcf,bj->abcf", g, W, g, optimize=True)
    return np.ascontiguousarray(U.reshape(16, *W.shape[2:]))


def filter_grad(dU: np.ndarray) -> np.ndarray:
    """dU: (16, C_in, C_out) -> dW: (3, 3, C_in, C_out) (adjoint of :func:`filter_transform`)."""
    g = G.astype(dU.dtype)
    return np.einsum("ai,abcf,bj->ijcf", g, dU.reshape(4, 4, *dU.shape[1:]), g, optimize=True)


def input_transform(xb: np.ndarray, V: np.ndarray, tmp: np.ndarray) -> None:
    """V = B^T d B for every 4x4 tile of xb.

    xb: (n, 2*Ty + 2, 2*Tx + 2, C) tile buffer; V: (4, 4, n, Ty, Tx, C) output;
    tmp: (4, n, Ty, 2*Tx + 2, C) scratch for the row stage.
    """
    n, hb, wb, c = xb.shape
    ty, tx = (hb - 2) // 2, (wb - 2) // 2
    rows = xb.reshape(n, ty + 1, 2, wb, c)
    x0, x1 = rows[:, :ty, 0], rows[:, :ty, 1]
    x2, x3 = rows[:, 1:, 0], rows[:, 1:, 1]
    # Rows: B^T = [[1, 0, -1, 0], [0, 1, 1, 0], [0, -1, 1, 0], [0, 1, 0, -1]].
    np.subtract(x0, x2, out=tmp[0])
    np.add(x1, x2, out=tmp[1])
    np.subtract(x2, x1, out=tmp[2])
    np.subtract(x1, x3, out=tmp[3])
    cols = tmp.reshape(4, n, ty, tx + 1, 2, c)
    c0, c1 = cols[:, :, :, :tx, 0], cols[:, :, :, :tx, 1]
    c2, c3 = cols[:, :, :, 1:, 0], cols[:, :, :, 1:, 1]
    np.subtract(c0, c2, out=V[:, 0])
    np.add(c1, c2, out=V[:, 1])
    np.subtract(c2, c1, out=V[:, 2])
    np.subtract(c1, c3, out=V[:, 3])


def output_transform(M: np.ndarray, yb: np.ndarray, tmp: np.ndarray) -> None:
    """yb = A^T M A, written tile by tile.

    M: (4, 4, n, Ty, Tx, C_out); yb: (n, 2*Ty, 2*Tx, C_out) output (overwritten);
    tmp: (2, 4, n, Ty, Tx, C_out) scratch. A^T = [[1, 1, 1, 0], [0, 1, -1, -1]].
    """
    np.add(M[0], M[1], out=tmp[0])
    tmp[0] += M[2]
    np.subtract(M[1], M[2], out=tmp[1])
    tmp[1] -= M[3]
    n, ty, tx, c = M.shape[2:]
    # yb[n, 2*ty + a, 2*tx + b, c] as (a, n, ty, tx, c) views for b = 0 and 1.
    y6 = yb.reshape(n, ty, 2, tx, 2, c)
    out0 = y6[:, :, :, :, 0, :].transpose(2, 0, 1, 3, 4)
    out1 = y6[:, :, :, :, 1, :].transpose(2, 0, 1, 3, 4)
    np.add(tmp[:, 0], tmp[:, 1], out=out0)
    out0 += tmp[:, 2]
    np.subtract(tmp[:, 1], tmp[:, 2], out=out1)
    out1 -= tmp[:, 3]


def grad_output_transform(dyb: np.ndarray, Q: np.ndarray, tmp: np.ndarray) -> None:
    """Q = A dY A^T for every 2x2 tile of the output gradient (adjoint of the output transform).

    dyb: (n, 2*Ty, 2*Tx, C_out); Q: (4, 4, n, Ty, Tx, C_out) output;
    tmp: (4, n, Ty, 2*Tx, C_out) scratch. A = [[1, 0], [1, 1], [1, -1], [0, -1]].
    """
    n, hb, wb, c = dyb.shape
    ty, tx = hb // 2, wb // 2
    rows = dyb.reshape(n, ty, 2, wb, c)
    y0, y1 = rows[:, :, 0], rows[:, :, 1]
    tmp[0] = y0
    np.add(y0, y1, out=tmp[1])
    np.subtract(y0, y1, out=tmp[2])
    np.negative(y1, out=tmp[3])
    cols = tmp.reshape(4, n, ty, tx, 2, c)
    c0, c1 = cols[:, :, :, :, 0], cols[:, :, :, :, 1]
    Q[:, 0] = c0
    np.add(c0, c1, out=Q[:, 1])
    np.subtract(c0, c1, out=Q[:, 2])
    np.negative(c1, out=Q[:, 3])


def input_grad_transform(dV: np.ndarray, dxb: np.ndarray, tmp: np.ndarray) -> None:
    """dxb = sum over tiles of B dV B^T, tiles overlapping at stride 2 (adjoint of input_transform).

    dV: (4, 4, n, Ty, Tx, C) (overwritten as scratch); dxb: (n, 2*Ty + 2, 2*Tx + 2, C) output
    (overwritten); tmp: (4, 4, n, Ty, Tx, C) scratch.
    B = [[1, 0, 0, 0], [0, 1, -1, 1], [-1, 1, 1, 0], [0, 0, 0, -1]].
    """
    # Rows.
    R = tmp
    R[0] = dV[0]
    np.subtract(dV[1], dV[2], out=R[1])
    R[1] += dV[3]
    np.add(dV[1], dV[2], out=R[2])
    R[2] -= dV[0]
    np.negative(dV[3], out=R[3])
    # Columns, into dV's memory (no longer needed).
    D = dV
    D[:, 0] = R[:, 0]
    np.subtract(R[:, 1], R[:, 2], out=D[:, 1])
    D[:, 1] += R[:, 3]
    np.add(R[:, 1], R[:, 2], out=D[:, 2])
    D[:, 2] -= R[:, 0]
    np.negative(R[:, 3], out=D[:, 3])
    # Scatter: tile (ty, tx) position (i, j) lands on row 2*ty + i, column 2*tx + j. Split
    # i = 2*qi + ri and j = 2*qj + rj: each quadrant (qi, qj) is one strided add.
    n, ty, tx, c = dV.shape[2:]
    d6 = dxb.reshape(n, ty + 1, 2, tx + 1, 2, c)
    dxb.fill(0)
    for qi in (0, 1):
        for qj in (0, 1):
            block = D[2 * qi : 2 * qi + 2, 2 * qj : 2 * qj + 2]  # (ri, rj, n, ty, tx, c)
            d6[:, qi : qi + ty, :, qj : qj + tx, :, :] += block.transpose(2, 3, 0, 4, 1, 5)
