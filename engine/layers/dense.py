"""Fully connected layer: out = x @ W + b."""

from __future__ import annotations

import numpy as np

from engine import threads
from engine.layers.base import Layer

INITS = ("he", "glorot", "uniform")
# Products of at least this many multiply-adds are split into _BLOCKS fixed blocks on the
# engine's threads (BLAS itself runs single-threaded, see engine.threads). The blocks do not
# depend on the thread count, so neither do the results. seed-cifar-1epoch's Dense(8192, 100)
# at batch 64, 2 threads: forward 1.9 -> 1.45 ms, backward 4.4 -> 2.0 ms per step (split by
# batch rows then; the forward's blocks of in_features since took it from 1.61 to 1.51 ms).
_PARALLEL_MIN_MACS = 1 << 22
# A head of a few outputs (a classifier's 10 classes) stays on one thread: split, its products
# are too thin to pay for the hand-off (Dense(8192, 10) at batch 64: forward + backward 1.72 ms
# on 2 threads against 1.15 ms on one; Dense(1568, 128): 1.34 against 1.57 ms).
_PARALLEL_MIN_OUT = 32
_BLOCKS = 6


def _blocks(n: int) -> list[tuple[int, int]]:
    return threads.split_range(n, _BLOCKS)


def _on_threads(task, blocks: list[tuple[int, int]]) -> None:
    threads.parallel_chunks(lambda part, i: task(*blocks[i]), len(blocks))


class Dense(Layer):
    """Affine layer.

    Shapes: x (N, in_features) -> out (N, out_features); ``W`` (in_features, out_features),
    ``b`` (out_features,). ``init="he"`` (normal, std sqrt(2 / in), for layers followed by a
    ReLU) or ``"glorot"`` (uniform, limit sqrt(6 / (in + out)), for the others). Weights are
    drawn from ``rng`` (a seeded ``np.random.Generator``), never from global random state;
    ``"uniform"`` is PyTorch's default, U(-1/sqrt(in), 1/sqrt(in)). ``bias=False`` keeps ``b``
    a frozen array of zeros (listed in ``frozen``): an affine map without bias.
    """

    def __init__(
        self,
        in_features: int,
        out_features: int,
        *,
        rng: np.random.Generator | None = None,
        init: str = "he",
        bias: bool = True,
    ) -> None:
        super().__init__()
        if not isinstance(bias, bool):
            raise ValueError(f"bias must be true or false, got {bias!r}")
        for label, value in (("in_features", in_features), ("out_features", out_features)):
            if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < 1:
                raise ValueError(f"{label} must be a positive integer, got {value!r}")
        if init not in INITS:
            raise ValueError(f"init must be one of {INITS}, got {init!r}")
        self.in_features = int(in_features)
        self.out_features = int(out_features)
        self.init = init
        rng = np.random.default_rng(0) if rng is None else rng
        if init == "he":
            W = rng.standard_normal((self.in_features, self.out_features)) * np.sqrt(
                2.0 / self.in_features
            )
        elif init == "uniform":
            limit = 1.0 / np.sqrt(self.in_features)
            W = rng.uniform(-limit, limit, (self.in_features, self.out_features))
        else:
            limit = np.sqrt(6.0 / (self.in_features + self.out_features))
            W = rng.uniform(-limit, limit, (self.in_features, self.out_features))
        self.params = {
            "W": W.astype(np.float32),
            "b": np.zeros(self.out_features, dtype=np.float32),
        }
        self.grads = {k: np.zeros_like(v) for k, v in self.params.items()}
        self.bias = bias
        if not bias:
            self.frozen.add("b")
        self._x: np.ndarray | None = None

    def forward(self, x: np.ndarray, training: bool = True) -> np.ndarray:
        """x: (N, in_features) -> (N, out_features)."""
        self._x = x
        W, b = self.params["W"], self.params["b"]
        if not self.splits_over_threads(x):
            return x @ W + b
        # Fixed blocks of in_features, their partial products added in block order: each
        # block reads only its rows of W (split by batch rows, every block read all of W).
        blocks = _blocks(W.shape[0])
        partials = np.empty((len(blocks), x.shape[0], W.shape[1]), np.result_type(x, W))

        def features(part: int, i: int) -> None:
            f0, f1 = blocks[i]
            np.matmul(x[:, f0:f1], W[f0:f1], out=partials[i])

        threads.parallel_chunks(features, len(blocks))
        out = np.sum(partials, axis=0)
        out += b
        return out

    def backward(self, dout: np.ndarray) -> np.ndarray:
        """dout: (N, out_features) -> dx: (N, in_features); sets grads["W"], grads["b"]."""
        x = self._x
        W = self.params["W"]
        self.grads["b"] = dout.sum(axis=0)
        if not self.splits_over_threads(x):
            self.grads["W"] = x.T @ dout
            return dout @ W.T
        dtype = np.result_type(x, dout)
        dW = np.empty(W.shape, dtype)
        dx = np.empty(x.shape, np.result_type(dout, W))

        def features(f0: int, f1: int) -> None:
            # Both products split along in_features: no reduction crosses a block.
            np.dot(x[:, f0:f1].T, dout, out=dW[f0:f1])
            np.matmul(dout, W[f0:f1].T, out=dx[:, f0:f1])

        _on_threads(features, _blocks(W.shape[0]))
        self.grads["W"] = dW
        return dx

    def splits_over_threads(self, x: np.ndarray) -> bool:
        """Whether the products are split over the engine's threads (large enough to pay)."""
        W = self.params["W"]
        return (x.ndim == 2 and x.shape[0] * W.size >= _PARALLEL_MIN_MACS
                and W.shape[1] >= _PARALLEL_MIN_OUT)

    def output_shape(self, input_shape: tuple[int, ...]) -> tuple[int, ...]:
        if len(input_shape) != 1:
            shape = "x".join(str(d) for d in input_shape)
            raise ValueError(
                f"dense needs a flat (features,) input but gets {shape}; "
                'add {"type": "flatten"} before it'
            )
        if input_shape[0] != self.in_features:
            raise ValueError(f"expects {self.in_features} input features, gets {input_shape[0]}")
        return (self.out_features,)

    def num_params(self) -> int:
        """Weights, plus the bias when the layer has one (a disabled bias is no parameter)."""
        return int(self.params["W"].size + (self.out_features if self.bias else 0))

    def __repr__(self) -> str:
        options = "" if self.bias else ", bias=False"
        return f"Dense({self.in_features}, {self.out_features}, init={self.init!r}{options})"
