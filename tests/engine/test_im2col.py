"""im2col / col2im: layout against a loop build, and col2im as the exact adjoint of im2col."""

from __future__ import annotations

import numpy as np
import pytest

from engine.layers.im2col import col2im, col2im_slabs, im2col, output_size, same_padding


def _im2col_loops(xp, kh, kw, stride):
    n, hp, wp, _ = xp.shape
    ho, wo = (hp - kh) // stride + 1, (wp - kw) // stride + 1
    rows = []
    for i in range(n):
        for r in range(ho):
            for c in range(wo):
                window = xp[i, r * stride : r * stride + kh, c * stride : c * stride + kw, :]
                rows.append(window.reshape(-1))  # (ki, kj, c) order
    return np.array(rows)


@pytest.mark.parametrize(
    ("kh", "kw", "stride"), [(3, 3, 1), (3, 3, 2), (1, 1, 1), (5, 3, 2), (2, 2, 3)]
)
def test_im2col_matches_loops(kh, kw, stride):
    xp = np.random.default_rng(0).standard_normal((2, 7, 8, 3))
    np.testing.assert_array_equal(im2col(xp, kh, kw, stride), _im2col_loops(xp, kh, kw, stride))


def test_im2col_fills_a_larger_reused_buffer():
    xp = np.random.default_rng(1).standard_normal((2, 5, 5, 2))
    buf = np.full(1000, np.nan)
    cols = im2col(xp, 3, 3, 1, out=buf)
    assert cols.shape == (18, 18) and np.shares_memory(cols, buf)
    np.testing.assert_array_equal(cols, _im2col_loops(xp, 3, 3, 1))


@pytest.mark.parametrize(("kh", "kw", "stride"), [(3, 3, 1), (3, 3, 2), (5, 5, 2), (2, 3, 3)])
def test_col2im_is_the_adjoint_of_im2col(kh, kw, stride):
    rng = np.random.default_rng(2)
    xp = rng.standard_normal((2, 7, 9, 3))
    cols = im2col(xp, kh, kw, stride)
    d = rng.standard_normal(cols.shape)
    back = col2im(d, xp.shape, kh, kw, stride, out=np.full(xp.shape, 7.0))  # out is overwritten
    # <im2col(x), d> == <x, col2im(d)> for every x and d.
    np.testing.assert_allclose(np.sum(cols * d), np.sum(xp * back), rtol=1e-12)
    assert np.allclose(back, col2im(d, xp.shape, kh, kw, stride))


def test_padding_and_output_size():
    assert same_padding(3) == (1, 1)
    assert same_padding(4) == (1, 2)
    assert same_padding(1) == (0, 0)
    assert output_size(32, 3, 1, 1, 1) == 32
    assert output_size(31, 5, 2, 2, 2) == 16
    assert output_size(2, 3, 1) == 0


@pytest.mark.parametrize(("kh", "kw", "stride"), [(3, 3, 1), (3, 3, 2), (1, 1, 1), (2, 3, 3)])
def test_col2im_slabs_equals_col2im(kh, kw, stride):
    rng = np.random.default_rng(3)
    shape = (2, 7, 8, 3)
    rows = 2 * ((7 - kh) // stride + 1) * ((8 - kw) // stride + 1)
    d = rng.standard_normal((rows, kh * kw * 3))
    slabs = np.ascontiguousarray(d.reshape(rows, kh * kw, 3).transpose(1, 0, 2))
    np.testing.assert_allclose(col2im_slabs(slabs, shape, kh, kw, stride),
                               col2im(d, shape, kh, kw, stride), atol=1e-12)


def test_im2col_bias_column():
    xp = np.random.default_rng(4).standard_normal((2, 5, 6, 3))
    buf = np.full(10_000, np.nan)
    cols = im2col(xp, 3, 3, 2, out=buf, bias_column=True)
    np.testing.assert_array_equal(cols[:, :-1], _im2col_loops(xp, 3, 3, 2))
    np.testing.assert_array_equal(cols[:, -1], 1)
