"""Loop-based convolution and pooling: slow, obvious oracles used only by the tests.

Everything here is written window by window with plain Python loops, independent of
``engine.layers.im2col`` and the layers' vectorised paths, so that agreement means something.
"""

from __future__ import annotations

import numpy as np


def conv2d_forward(
    x: np.ndarray, W: np.ndarray, b: np.ndarray, stride: int, pads: tuple[int, int, int, int]
) -> np.ndarray:
    """x: (N, H, W, C_in), W: (kh, kw, C_in, C_out), b: (C_out,) -> (N, Ho, Wo, C_out).

    pads = (top, bottom, left, right) zeros around the input.
    """
    top, bottom, left, right = pads
    xp = np.pad(x, ((0, 0), (top, bottom), (left, right), (0, 0)))
    n, hp, wp, _ = xp.shape
    kh, kw, _, cout = W.shape
    ho, wo = (hp - kh) // stride + 1, (wp - kw) // stride + 1
    y = np.zeros((n, ho, wo, cout), dtype=np.result_type(x, W))
    for i in range(n):
        for r in range(ho):
            for c in range(wo):
                window = xp[i, r * stride : r * stride + kh, c * stride : c * stride + kw, :]
                for f in range(cout):
                    y[i, r, c, f] = np.sum(window * W[:, :, :, f]) + b[f]
    return y


def conv2d_backward(
    x: np.ndarray, W: np.ndarray, dout: np.ndarray, stride: int, pads: tuple[int, int, int, int]
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Gradients (dx, dW, db) of sum(dout * conv2d_forward(x, W, b)), window by window."""
    top, bottom, left, right = pads
    xp = np.pad(x, ((0, 0), (top, bottom), (left, right), (0, 0)))
    dxp = np.zeros_like(xp)
    dW = np.zeros_like(W)
    kh, kw, _, cout = W.shape
    n, ho, wo, _ = dout.shape
    for i in range(n):
        for r in range(ho):
            for c in range(wo):
                rs, cs = r * stride, c * stride
                window = xp[i, rs : rs + kh, cs : cs + kw, :]
                for f in range(cout):
                    g = dout[i, r, c, f]
                    dW[:, :, :, f] += g * window
                    dxp[i, rs : rs + kh, cs : cs + kw, :] += g * W[:, :, :, f]
    h, w = x.shape[1:3]
    dx = dxp[:, top : top + h, left : left + w, :]
    db = dout.sum(axis=(0, 1, 2))
    return dx, dW, db


def pool2d_forward(x: np.ndarray, pool: int, stride: int, mode: str) -> np.ndarray:
    """Max ("max") or mean ("avg") over each pool x pool window. x: (N, H, W, C)."""
    n, h, w, ch = x.shape
    ho, wo = (h - pool) // stride + 1, (w - pool) // stride + 1
    y = np.zeros((n, ho, wo, ch), dtype=x.dtype)
    for i in range(n):
        for r in range(ho):
            for c in range(wo):
                for k in range(ch):
                    win = x[i, r * stride : r * stride + pool, c * stride : c * stride + pool, k]
                    y[i, r, c, k] = win.max() if mode == "max" else win.mean()
    return y


def pool2d_backward(
    x: np.ndarray, dout: np.ndarray, pool: int, stride: int, mode: str
) -> np.ndarray:
    """dx for pool2d_forward: max sends each window's gradient to its first argmax only."""
    dx = np.zeros_like(x)
    n, ho, wo, ch = dout.shape
    for i in range(n):
        for r in range(ho):
            for c in range(wo):
                rs, cs = r * stride, c * stride
                for k in range(ch):
                    g = dout[i, r, c, k]
                    if mode == "max":
                        win = x[i, rs : rs + pool, cs : cs + pool, k]
                        a, b = np.unravel_index(np.argmax(win), win.shape)
                        dx[i, rs + a, cs + b, k] += g
                    else:
                        dx[i, rs : rs + pool, cs : cs + pool, k] += g / (pool * pool)
    return dx


def numerical_gradient(f, x: np.ndarray, h: float = 1e-5) -> np.ndarray:
    """Centred differences of the scalar f() with respect to every element of x (in place)."""
    grad = np.zeros_like(x)
    it = np.nditer(x, flags=["multi_index"], op_flags=[["readwrite"]])
    for _ in it:
        idx = it.multi_index
        old = x[idx]
        x[idx] = old + h
        plus = f()
        x[idx] = old - h
        minus = f()
        x[idx] = old
        grad[idx] = (plus - minus) / (2 * h)
    return grad


def rel_error(a: np.ndarray, b: np.ndarray) -> float:
    """Largest elementwise relative error, |a - b| / max(|a| + |b|, 1e-8) (cs231n's rel_error)."""
    return float(np.max(np.abs(a - b) / np.maximum(1e-8, np.abs(a) + np.abs(b))))


def check_layer_gradients(layer, x: np.ndarray, seed: int = 0) -> dict[str, float]:
    """Relative errors of the layer's analytic gradients (input and every parameter).

    The loss is sum(forward(x) * g) for a fixed random g, so its gradient w.r.t. the output is g.
    Everything is float64; the layer is cast with astype(np.float64) by the caller.
    """
    rng = np.random.default_rng(seed)
    y = layer.forward(x, training=True)
    g = rng.standard_normal(y.shape)
    dx = layer.backward(g)
    analytic = {"x": dx, **{k: v.copy() for k, v in layer.grads.items()}}

    def loss() -> float:
        return float(np.sum(layer.forward(x, training=True) * g))

    errors = {"x": rel_error(dx, numerical_gradient(loss, x))}
    for key, param in layer.params.items():
        errors[key] = rel_error(analytic[key], numerical_gradient(loss, param))
    return errors
