"""Winograd F(m x m, 3 x 3): 3x3 stride-1 convolution with far fewer multiplications.

Each m x m block of output is computed from the a x a input tile under it (a = m + 2),
Lavin & Gray (2015):

    Y = A^T [ (G g G^T) ⊙ (B^T d B) ] A        per tile d (a x a) and filter g (3 x 3)

With U = G g G^T per (C_in, C_out) pair and V = B^T d B per (tile, C_in), the sum over input
channels becomes a*a matrix products, one per position ξ of the transformed tile:
M[ξ] = V[ξ] @ U[ξ], V[ξ] (tiles, C_in), U[ξ] (C_in, C_out). F(4x4, 3x3) needs 36 products
per 16 outputs where a direct convolution needs 144: 4x fewer multiplications (F(2x2, 3x3):
2.25x). The tile transforms are small linear maps; written as one BLAS product each with the
Kronecker matrices kron(B^T, B^T) (a² x a²) and kron(A^T, A^T) (m² x a²), they run at matrix-
product speed instead of as dozens of element-wise NumPy passes.

Training uses the exact adjoints of the same linear maps:

    Q   = kron(A, A) dY                  per tile, from the m x m output-gradient blocks
    dU  = V[ξ]^T @ Q[ξ]   ->  dW = G^T dU G
    dV  = Q[ξ] @ U[ξ]^T   ->  dd = kron(B, B) dV, overlapping tiles added back at stride m

Layouts: the "tile buffer" is the zero-padded input (n, m*(Ty + 1), m*(Tx + 1), C) for
Ty x Tx output blocks (tile (ty, tx) starts at row m*ty, column m*tx); transformed arrays are
(a, a, n, Ty, Tx, C) or, equivalently, (a*a, n*Ty*Tx, C).
"""

from __future__ import annotations

from functools import cache

import numpy as np
from numpy.lib.stride_tricks import as_strided

# The classical interpolation points 0, ±1, (±2 for m = 4) and infinity.
_MATRICES = {
    2: (
        [[1, 0, -1, 0], [0, 1, 1, 0], [0, -1, 1, 0], [0, 1, 0, -1]],
        [[1, 0, 0], [1 / 2, 1 / 2, 1 / 2], [1 / 2, -1 / 2, 1 / 2], [0, 0, 1]],
        [[1, 1, 1, 0], [0, 1, -1, -1]],
    ),
    4: (
        [
            [4, 0, -5, 0, 1, 0],
            [0, -4, -4, 1, 1, 0],
            [0, 4, -4, -1, 1, 0],
            [0, -2, -1, 2, 1, 0],
            [0, 2, -1, -2, 1, 0],
            [0, 4, 0, -5, 0, 1],
        ],
        [
            [1 / 4, 0, 0],
            [-1 / 6, -1 / 6, -1 / 6],
            [-1 / 6, 1 / 6, -1 / 6],
            [1 / 24, 1 / 12, 1 / 6],
            [1 / 24, -1 / 12, 1 / 6],
            [0, 0, 1],
        ],
        [[1, 1, 1, 1, 1, 0], [0, 1, -1, 2, -2, 0], [0, 1, 1, 4, 4, 0], [0, 1, -1, 8, -8, 1]],
    ),
}


class Plan:
    """The transforms of F(m x m, 3 x 3) in one dtype. Use :func:`plan` to get a shared one."""

    def __init__(self, m: int, dtype: np.dtype) -> None:
        if m not in _MATRICES:
            raise ValueError(f"Winograd output tile must be one of {sorted(_MATRICES)}, got {m!r}")
        BT, G, AT = (np.array(a, dtype=np.float64) for a in _MATRICES[m])
        self.m, self.a = m, m + 2
        self.kfilter = np.kron(G, G).astype(dtype)  # (a², 9): U = G g G^T for every (c, f)
        self.kfilter_t = np.ascontiguousarray(self.kfilter.T)
        self.kin = np.kron(BT, BT).astype(dtype)  # (a², a²)
        self.kin_t = np.ascontiguousarray(self.kin.T)
        self.kout = np.kron(AT, AT).astype(dtype)  # (m², a²)
        self.kout_t = np.ascontiguousarray(self.kout.T)

    def tiles(self, out_h: int, out_w: int) -> tuple[int, int]:
        """Number of m x m output blocks (Ty, Tx) covering an out_h x out_w output."""
        return -(-out_h // self.m), -(-out_w // self.m)

    def filter_transform(self, W9: np.ndarray, U2: np.ndarray) -> None:
        """U = G g G^T for a block of filters: W9 (9, F) -> U2 (a*a, F), F columns of
        (C_in, C_out) pairs from W (3, 3, C_in, C_out) seen as (9, C_in * C_out)."""
        np.matmul(self.kfilter, W9, out=U2)

    def filter_grad(self, dU2: np.ndarray, dW9: np.ndarray) -> None:
        """dW9 (9, F) = G^T dU G, the adjoint of filter_transform: dU2 (a*a, F)."""
        np.matmul(self.kfilter_t, dU2, out=dW9)

    def input_transform(self, xb: np.ndarray, D: np.ndarray, V: np.ndarray) -> None:
        """V = B^T d B for every tile of the tile buffer.

        xb: (n, m*(Ty+1), m*(Tx+1), C); D: (a, a, n, Ty, Tx, C) scratch (gathered tiles);
        V: (a, a, n, Ty, Tx, C) output.
        """
        n, ty, tx, c = D.shape[2:]
        sn, sh, sw, sc = xb.strides
        m, a = self.m, self.a
        view = as_strided(xb, (a, a, n, ty, tx, c), (sh, sw, sn, m * sh, m * sw, sc),
                          writeable=False)
        np.copyto(D, view)
        np.matmul(self.kin, D.reshape(a * a, -1), out=V.reshape(a * a, -1))

    def output_transform(self, M: np.ndarray, Y: np.ndarray) -> None:
        """Y = A^T M A for every tile. M: (a*a, n*Ty*Tx, C_out) -> Y: (m, m, n, Ty, Tx, C_out)."""
        np.matmul(self.kout, M.reshape(self.a * self.a, -1), out=Y.reshape(self.m * self.m, -1))

    def scatter_output(self, Y: np.ndarray, b: np.ndarray, y: np.ndarray) -> None:
        """y (n, Ho, Wo, C_out) = the blocks Y (m, m, n, Ty, Tx, C_out) put in place, plus b."""
        m = self.m
        n, ty, tx, c = Y.shape[2:]
        blocks = Y.transpose(2, 3, 0, 4, 1, 5)  # (n, Ty, m, Tx, m, C_out)
        if y.shape[1:3] == (m * ty, m * tx):
            np.add(blocks, b, out=y.reshape(n, ty, m, tx, m, c))
        else:
            full = blocks.reshape(n, m * ty, m * tx, c)
            np.add(full[:, : y.shape[1], : y.shape[2]], b, out=y)

    def gather_grad_output(self, dy: np.ndarray, dYt: np.ndarray, pad: np.ndarray | None) -> None:
        """dYt (m, m, n, Ty, Tx, C_out) = the m x m blocks of dy (n, Ho, Wo, C_out).

        ``pad`` is an (n, m*Ty, m*Tx, C_out) scratch buffer, needed when the blocks overhang.
        """
        m = self.m
        n, ty, tx, c = dYt.shape[2:]
        if dy.shape[1:3] != (m * ty, m * tx):
            pad.fill(0)
            pad[:, : dy.shape[1], : dy.shape[2]] = dy
            dy = pad
        np.copyto(dYt, dy.reshape(n, ty, m, tx, m, c).transpose(2, 4, 0, 1, 3, 5))

    def grad_output_transform(self, dYt: np.ndarray, Q: np.ndarray) -> None:
        """Q = A dY A^T per tile. dYt: (m, m, n, Ty, Tx, C_out) -> Q: (a*a, n*Ty*Tx, C_out)."""
        np.matmul(self.kout_t, dYt.reshape(self.m * self.m, -1), out=Q.reshape(self.a**2, -1))

    def input_grad_transform(self, dV: np.ndarray, dD: np.ndarray) -> None:
        """dD = B dV B^T per tile, both (a*a, n*Ty*Tx, C_in) (adjoint of the input transform)."""
        np.matmul(self.kin_t, dV.reshape(self.a**2, -1), out=dD.reshape(self.a**2, -1))

    def scatter_add_tiles(self, dD: np.ndarray, dxb: np.ndarray) -> None:
        """dxb (n, m*(Ty+1), m*(Tx+1), C) = overlap-add of the tiles dD (a, a, n, Ty, Tx, C).

        Tile (ty, tx) position (i, j) lands on row m*ty + i, column m*tx + j. Split
        i = m*qi + ri: each quadrant (qi, qj) is one strided add.
        """
        m, a = self.m, self.a
        n, ty, tx, c = dD.shape[2:]
        d6 = dxb.reshape(n, ty + 1, m, tx + 1, m, c)
        # Quadrant (0, 0) covers every block but the last row and column of blocks exactly
        # once: it is copied, not added, and only what it leaves is zeroed first.
        d6[:, :ty, :, :tx] = dD[:m, :m].transpose(2, 3, 0, 4, 1, 5)
        d6[:, ty] = 0
        d6[:, :ty, :, tx] = 0
        for qi, rows in ((0, slice(0, m)), (1, slice(m, a))):
            for qj, cols in ((0, slice(0, m)), (1, slice(m, a))):
                if qi == qj == 0:
                    continue
                block = dD[rows, cols]  # (ri, rj, n, Ty, Tx, C)
                ri, rj = block.shape[:2]
                target = d6[:, qi : qi + ty, :ri, qj : qj + tx, :rj, :]
                target += block.transpose(2, 3, 0, 4, 1, 5)


@cache
def plan(m: int, dtype: str) -> Plan:
    """The shared :class:`Plan` for output tile m and a dtype name ("float32", "float64")."""
    return Plan(m, np.dtype(dtype))
