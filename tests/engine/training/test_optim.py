"""Optimizers against steps computed by hand."""

from __future__ import annotations

import numpy as np
import pytest

from engine.training.optimizers import SGD, Adam, make_optimizer


class TwoParams:
    """A stand-in model: a weight matrix (decayed) and a bias (never decayed)."""

    def __init__(self) -> None:
        self.W = np.array([[1.0, -2.0], [0.5, 3.0]])
        self.b = np.array([0.5, -0.5])
        self.gW = np.zeros_like(self.W)
        self.gb = np.zeros_like(self.b)

    def parameters(self):
        yield "layer.W", self.W, self.gW
        yield "layer.b", self.b, self.gb

    def set_grads(self, gW, gb):
        self.gW[...] = gW
        self.gb[...] = gb


G1 = (np.array([[0.1, 0.2], [-0.3, 0.4]]), np.array([1.0, -1.0]))
G2 = (np.array([[0.5, -0.1], [0.2, 0.0]]), np.array([0.5, 2.0]))


def test_plain_sgd():
    m = TwoParams()
    W0 = m.W.copy()
    opt = SGD(m, lr=0.1)
    m.set_grads(*G1)
    opt.step()
    np.testing.assert_allclose(m.W, W0 - 0.1 * G1[0])


def test_momentum_two_steps():
    m = TwoParams()
    W0 = m.W.copy()
    opt = SGD(m, lr=0.1, momentum=0.9)
    m.set_grads(*G1)
    opt.step()
    m.set_grads(*G2)
    opt.step()
    # v1 = g1, v2 = 0.9 g1 + g2; W2 = W0 - lr (v1 + v2)
    np.testing.assert_allclose(m.W, W0 - 0.1 * (G1[0] + 0.9 * G1[0] + G2[0]))


def test_nesterov_two_steps():
    m = TwoParams()
    W0 = m.W.copy()
    opt = SGD(m, lr=0.1, momentum=0.9, nesterov=True)
    m.set_grads(*G1)
    opt.step()
    step1 = G1[0] + 0.9 * G1[0]
    np.testing.assert_allclose(m.W, W0 - 0.1 * step1)
    m.set_grads(*G2)
    opt.step()
    v2 = 0.9 * G1[0] + G2[0]
    np.testing.assert_allclose(m.W, W0 - 0.1 * step1 - 0.1 * (G2[0] + 0.9 * v2))


def test_weight_decay_spares_biases():
    m = TwoParams()
    W0, b0 = m.W.copy(), m.b.copy()
    opt = SGD(m, lr=0.1, weight_decay=0.01)
    m.set_grads(*G1)
    opt.step()
    np.testing.assert_allclose(m.W, W0 - 0.1 * (G1[0] + 0.01 * W0))
    np.testing.assert_allclose(m.b, b0 - 0.1 * G1[1])


def test_adam_bias_correction():
    m = TwoParams()
    W0 = m.W.copy()
    opt = Adam(m, lr=0.01, betas=(0.9, 0.999), eps=1e-8)
    m.set_grads(*G1)
    opt.step()
    # First step: m_hat = g, v_hat = g^2, so the update is lr * g / (|g| + eps).
    np.testing.assert_allclose(m.W, W0 - 0.01 * G1[0] / (np.abs(G1[0]) + 1e-8))
    W1 = m.W.copy()
    m.set_grads(*G2)
    opt.step()
    m2 = 0.9 * 0.1 * G1[0] + 0.1 * G2[0]
    v2 = 0.999 * 0.001 * G1[0] ** 2 + 0.001 * G2[0] ** 2
    m_hat, v_hat = m2 / (1 - 0.9**2), v2 / (1 - 0.999**2)
    np.testing.assert_allclose(m.W, W1 - 0.01 * m_hat / (np.sqrt(v_hat) + 1e-8), rtol=1e-7)


def test_adam_weight_decay_is_added_to_weight_gradients_only():
    m = TwoParams()
    W0, b0 = m.W.copy(), m.b.copy()
    opt = Adam(m, lr=0.01, weight_decay=0.1)
    m.set_grads(np.zeros((2, 2)), np.zeros(2))
    opt.step()
    np.testing.assert_allclose(m.W, W0 - 0.01 * np.sign(W0), rtol=1e-6)
    np.testing.assert_array_equal(m.b, b0)


@pytest.mark.parametrize("kind", ["sgd", "adam"])
def test_state_dict_round_trip_continues_identically(kind):
    kw = {"momentum": 0.9} if kind == "sgd" else {}
    a, b = TwoParams(), TwoParams()
    opt_a = make_optimizer(kind, a, 0.05, **kw)
    a.set_grads(*G1)
    opt_a.step()
    state = opt_a.state_dict()
    assert isinstance(state["state"]["layer.W"], dict)
    b.W[...], b.b[...] = a.W, a.b
    opt_b = make_optimizer(kind, b, 0.05, **kw)
    opt_b.load_state_dict(state)
    for model, opt in ((a, opt_a), (b, opt_b)):
        model.set_grads(*G2)
        opt.step()
    np.testing.assert_array_equal(a.W, b.W)
    np.testing.assert_array_equal(a.b, b.b)


def test_load_state_dict_refuses_mismatch():
    opt = SGD(TwoParams(), 0.1, momentum=0.9)
    with pytest.raises(ValueError, match="optimizer state is for 'adam', not 'sgd'"):
        opt.load_state_dict(Adam(TwoParams()).state_dict())
    state = opt.state_dict()
    state["state"] = {"other.W": {"velocity": np.zeros(2)}}
    with pytest.raises(ValueError, match=r"unknown parameters: other\.W"):
        opt.load_state_dict(state)


def test_lr_is_settable_and_zero_grad_clears():
    m = TwoParams()
    opt = SGD(m, lr=0.1)
    opt.lr = 0.0
    m.set_grads(*G1)
    W0 = m.W.copy()
    opt.step()
    np.testing.assert_array_equal(m.W, W0)
    opt.zero_grad()
    assert not m.gW.any() and not m.gb.any()


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda m: make_optimizer("rmsprop", m, 0.1), "unknown optimizer 'rmsprop'"),
        (lambda m: SGD(m, lr=-1), "lr must be >= 0.0"),
        (lambda m: SGD(m, 0.1, momentum=1.0), r"momentum must be \[0.0, 1.0\)"),
        (lambda m: SGD(m, 0.1, nesterov=True), "nesterov needs a momentum"),
        (lambda m: make_optimizer("adam", m, 0.1, momentum=0.9), "bad options for optimizer"),
    ],
)
def test_validation(call, message):
    with pytest.raises(ValueError, match=message):
        call(TwoParams())


class BigParams:
    """Parameters spanning several update slices, one of them not C-contiguous."""

    def __init__(self, rng: np.random.Generator) -> None:
        self.W = rng.standard_normal((700, 300))  # 210,000 values: 4 slices
        self.T = np.asfortranarray(rng.standard_normal((40, 30)))
        self.b = rng.standard_normal(300)
        self.grads = [np.zeros_like(self.W), np.zeros_like(self.T), np.zeros_like(self.b)]

    def parameters(self):
        yield from zip(("l.W", "l.T", "l.b"), (self.W, self.T, self.b), self.grads, strict=True)


@pytest.mark.parametrize("nthreads", [1, 2, 3])
@pytest.mark.parametrize("kind", ["sgd", "adam"])
def test_sliced_update_equals_whole_array_formula(kind, nthreads, restore_threads):
    """Every slice of a large parameter (and a non-contiguous one) gets exactly its step."""
    from engine import threads

    threads.set_num_threads(nthreads)
    rng = np.random.default_rng(5)
    m = BigParams(rng)
    start = [p.copy() for _, p, _ in m.parameters()]
    kw = {"momentum": 0.9, "nesterov": True} if kind == "sgd" else {}
    opt = make_optimizer(kind, m, 0.1, weight_decay=0.01, **kw)
    g = [rng.standard_normal(p.shape) for p in start]
    for target, value in zip(m.grads, g, strict=True):
        target[...] = value
    opt.step()
    for p0, p, gi, decayed in zip(start, (m.W, m.T, m.b), g, (True, True, False), strict=True):
        gd = gi + 0.01 * p0 if decayed else gi
        if kind == "sgd":  # first step: v = g; p -= lr (g + 0.9 v)
            expected = p0 - 0.1 * (gd + 0.9 * gd)
        else:  # first Adam step moves every coordinate by lr * sign(g) (up to eps)
            expected = p0 - 0.1 * gd / (np.abs(gd) + 1e-8)
        np.testing.assert_allclose(p, expected, rtol=1e-12, atol=1e-12)
