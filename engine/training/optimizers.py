"""Optimizers: classes with ``step()`` and ``zero_grad()``, state kept per parameter name.

An optimizer works on anything with ``parameters()`` yielding ``(name, param, grad)``
triples (``engine.model.Sequential``); it reads the triples afresh at every step, because
layers set new gradient arrays in ``backward``. Parameters are updated in place.

Parameters the model reports frozen (``model.frozen_names()``: a whitening filter, a disabled
bias, a fixed BatchNorm scale) are skipped: no step, no decay, no state.

Weight decay is L2 regularisation added to the gradient (``g + weight_decay * p``) and is
applied only to weight matrices and kernels (parameters with 2 or more dimensions): never to
biases or BatchNorm's gamma / beta, whose decay only hurts.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from engine import threads

# Elements per slice of an element-wise update (256 KB of float32): an update's several passes
# over a slice run in cache, and the slices of a large parameter are shared among the
# engine's threads. Element-wise, so results do not depend on the slicing.
_SLICE = 65536


def _check_number(name: str, value: Any, low: float, high: float | None = None) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float | np.floating):
        raise ValueError(f"{name} must be a number, got {value!r}")
    if value < low or (high is not None and value >= high):
        bounds = f"[{low}, {high})" if high is not None else f">= {low}"
        raise ValueError(f"{name} must be {bounds}, got {value!r}")
    return float(value)


def decays(name: str, param: np.ndarray) -> bool:
    """Whether weight decay applies to this parameter (weights and kernels, not biases / BN)."""
    return param.ndim >= 2


class Optimizer:
    """Shared plumbing: parameter access, lr, and a plain-data state dict."""

    kind = "optimizer"

    def __init__(self, model: Any, lr: float, weight_decay: float = 0.0) -> None:
        if not hasattr(model, "parameters"):
            raise ValueError(f"model must offer parameters(), got {type(model).__name__}")
        self.model = model
        self.lr = _check_number("lr", lr, 0.0)
        self.weight_decay = _check_number("weight_decay", weight_decay, 0.0)
        self.steps = 0
        self.state: dict[str, dict[str, np.ndarray]] = {}

    def zero_grad(self) -> None:
        for _, _, grad in self.model.parameters():
            grad.fill(0)

    def trainable(self) -> list[tuple[str, np.ndarray, np.ndarray]]:
        """The model's (name, param, grad) triples, without the frozen ones."""
        frozen = self.model.frozen_names() if hasattr(self.model, "frozen_names") else set()
        return [t for t in self.model.parameters() if t[0] not in frozen]

    def step(self) -> None:
        self.steps += 1
        slices = []  # (update, param, grad, slots) per slice of every parameter
        for name, param, grad in self.trainable():
            update = self._slice_update(name, param)
            slots = self._slots(name, param)
            if not (param.flags.c_contiguous and grad.flags.c_contiguous):
                update(param, np.ascontiguousarray(grad), slots)  # rare: in place, whole
                continue
            flat = [param.reshape(-1), grad.reshape(-1), *(v.reshape(-1) for v in slots)]
            for a in range(0, param.size, _SLICE):
                piece = [v[a : a + _SLICE] for v in flat]
                slices.append((update, piece[0], piece[1], piece[2:]))

        def run(part: int, i: int) -> None:
            update, param, grad, slots = slices[i]
            update(param, grad, slots)

        threads.parallel_chunks(run, len(slices))

    def _slots(self, name: str, param: np.ndarray) -> list[np.ndarray]:
        """The per-parameter state arrays the update works on, created (zeros) on first use."""
        raise NotImplementedError

    def _slice_update(self, name: str, param: np.ndarray) -> Callable[..., None]:
        """``update(param, grad, slots)`` applying one step in place to matching slices."""
        raise NotImplementedError

    def _gradient_fn(self, name: str, param: np.ndarray) -> Callable[..., np.ndarray]:
        """``gradient(p, grad)`` for slices of ``param``: the gradient, plus weight decay
        (``grad + weight_decay * p``) for the parameters it applies to, in a new array."""
        if not (self.weight_decay and decays(name, param)):
            return lambda p, grad: grad
        wd = param.dtype.type(self.weight_decay)

        def gradient(p: np.ndarray, grad: np.ndarray) -> np.ndarray:
            g = np.multiply(p, wd)
            g += grad
            return g

        return gradient

    def hyperparameters(self) -> dict[str, Any]:
        return {"lr": self.lr, "weight_decay": self.weight_decay}

    def state_dict(self) -> dict[str, Any]:
        """Plain data: name, hyper-parameters, step count and per-parameter arrays (copies)."""
        return {
            "kind": self.kind,
            "hyperparameters": self.hyperparameters(),
            "steps": self.steps,
            "state": {
                name: {key: value.copy() for key, value in slots.items()}
                for name, slots in self.state.items()
            },
        }

    def load_state_dict(self, d: dict[str, Any]) -> None:
        """Restore what :meth:`state_dict` returned; ValueError if it does not fit the model."""
        if d.get("kind") != self.kind:
            raise ValueError(f"optimizer state is for {d.get('kind')!r}, not {self.kind!r}")
        params = {name: param for name, param, _ in self.model.parameters()}
        unknown = sorted(set(d["state"]) - set(params))
        if unknown:
            raise ValueError(f"optimizer state has unknown parameters: {', '.join(unknown)}")
        state = {}
        for name, slots in d["state"].items():
            for key, value in slots.items():
                if np.shape(value) != params[name].shape:
                    raise ValueError(
                        f"optimizer state {name}.{key} has shape {np.shape(value)}, "
                        f"the parameter has {params[name].shape}"
                    )
            state[name] = {
                key: np.array(value, dtype=params[name].dtype) for key, value in slots.items()
            }
        for key, value in d["hyperparameters"].items():
            setattr(self, key, tuple(value) if isinstance(value, list) else value)
        self.steps = int(d["steps"])
        self.state = state

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.hyperparameters().items())
        return f"{type(self).__name__}({args})"


class SGD(Optimizer):
    """Stochastic gradient descent with optional (Nesterov) momentum.

    v <- momentum * v + g;  p <- p - lr * v  (or, Nesterov, p <- p - lr * (g + momentum * v)),
    where g includes the weight-decay term (see the module docstring).
    """

    kind = "sgd"

    def __init__(
        self,
        model: Any,
        lr: float,
        momentum: float = 0.0,
        nesterov: bool = False,
        weight_decay: float = 0.0,
    ) -> None:
        super().__init__(model, lr, weight_decay)
        self.momentum = _check_number("momentum", momentum, 0.0, 1.0)
        if nesterov and not self.momentum:
            raise ValueError("nesterov needs a momentum > 0")
        self.nesterov = bool(nesterov)

    def hyperparameters(self) -> dict[str, Any]:
        return {**super().hyperparameters(), "momentum": self.momentum, "nesterov": self.nesterov}

    def _slots(self, name: str, param: np.ndarray) -> list[np.ndarray]:
        if not self.momentum:
            return []
        slots = self.state.get(name)
        if slots is None:
            slots = self.state[name] = {"velocity": np.zeros_like(param)}
        return [slots["velocity"]]

    def _slice_update(self, name: str, param: np.ndarray) -> Callable[..., None]:
        dt = param.dtype.type
        lr, mu = dt(self.lr), dt(self.momentum)
        gradient = self._gradient_fn(name, param)

        def update(p: np.ndarray, grad: np.ndarray, slots: list[np.ndarray]) -> None:
            g = gradient(p, grad)
            if not slots:  # no momentum
                p -= np.multiply(g, lr)
                return
            (v,) = slots
            v *= mu
            v += g
            if self.nesterov:
                step = np.multiply(v, mu)
                step += g
                step *= lr
            else:
                step = np.multiply(v, lr)
            p -= step

        return update


class Adam(Optimizer):
    """Adam with bias correction (Kingma & Ba, 2015).

    m <- b1 m + (1 - b1) g;  v <- b2 v + (1 - b2) g^2;
    p <- p - lr * (m / (1 - b1^t)) / (sqrt(v / (1 - b2^t)) + eps),
    with g including the (L2) weight-decay term for weights, as in the module docstring.
    """

    kind = "adam"

    def __init__(
        self,
        model: Any,
        lr: float = 1e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 0.0,
    ) -> None:
        super().__init__(model, lr, weight_decay)
        if len(betas) != 2:
            raise ValueError(f"betas must be a pair, got {betas!r}")
        self.betas = (
            _check_number("betas[0]", betas[0], 0.0, 1.0),
            _check_number("betas[1]", betas[1], 0.0, 1.0),
        )
        self.eps = _check_number("eps", eps, 0.0)

    def hyperparameters(self) -> dict[str, Any]:
        return {**super().hyperparameters(), "betas": list(self.betas), "eps": self.eps}

    def _slots(self, name: str, param: np.ndarray) -> list[np.ndarray]:
        slots = self.state.get(name)
        if slots is None:
            slots = self.state[name] = {"m": np.zeros_like(param), "v": np.zeros_like(param)}
        return [slots["m"], slots["v"]]

    def _slice_update(self, name: str, param: np.ndarray) -> Callable[..., None]:
        b1, b2 = self.betas
        dt = param.dtype.type
        t = self.steps
        step_size = dt(self.lr / (1 - b1**t))
        correction, eps = dt(1 - b2**t), dt(self.eps)
        gradient = self._gradient_fn(name, param)

        def update(p: np.ndarray, grad: np.ndarray, slots: list[np.ndarray]) -> None:
            g = gradient(p, grad)
            m, v = slots
            m *= dt(b1)
            m += dt(1 - b1) * g
            v *= dt(b2)
            v += dt(1 - b2) * (g * g)
            denom = np.sqrt(v / correction)
            denom += eps
            p -= step_size * (m / denom)

        return update


def kilostep_scale(momentum: float) -> float:
    """1024 (1 + 1 / (1 - momentum)): how much larger than one example's gradient a Nesterov
    step of 1024 examples is, for gradients constant in time (airbench's normaliser)."""
    return 1024.0 * (1.0 + 1.0 / (1.0 - momentum))


class DecoupledSGD(Optimizer):
    """Nesterov SGD in airbench's decoupled form (Jordan 2024, after Page's "How to train your
    ResNet"): learning rate and weight decay are given per 1024 examples, independent of the
    momentum and of each other.

    With k = :func:`kilostep_scale` (momentum), the plain Nesterov step uses ``lr_t / k`` (``lr_t``
    the scheduled ``lr``) and adds ``c p`` to the gradient, c = weight_decay * batch_size /
    base_lr (base_lr: the ``lr`` given here), so the decay per step is
    weight_decay * batch_size / k scaled by the schedule, whatever the learning rate. BatchNorm
    betas (parameters named ``*.beta``) step ``bias_scale`` times further with c / bias_scale,
    the same decay. Every trainable parameter decays, biases too, as in airbench. The gradient
    is expected of a loss summed over the batch (``Trainer(sum_loss=True)``).

    Per parameter, v <- momentum v + g; p <- p - step (g + momentum v), g = grad + c p.
    """

    kind = "decoupled_sgd"

    def __init__(self, model: Any, lr: float, momentum: float = 0.85, weight_decay: float = 0.0,
                 batch_size: int = 1024, bias_scale: float = 64.0,
                 base_lr: float | None = None) -> None:
        super().__init__(model, lr, weight_decay)
        self.momentum = _check_number("momentum", momentum, 0.0, 1.0)
        if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
            raise ValueError(f"batch_size must be a positive integer, got {batch_size!r}")
        self.batch_size = batch_size
        self.bias_scale = _check_number("bias_scale", bias_scale, 0.0)
        if not self.bias_scale:
            raise ValueError("bias_scale must be positive, got 0")
        self.base_lr = self.lr if base_lr is None else _check_number("base_lr", base_lr, 0.0)
        if not self.base_lr:
            raise ValueError("lr must be positive for the decoupled weight decay, got 0")

    def hyperparameters(self) -> dict[str, Any]:
        return {**super().hyperparameters(), "momentum": self.momentum,
                "batch_size": self.batch_size, "bias_scale": self.bias_scale,
                "base_lr": self.base_lr}

    def _slots(self, name: str, param: np.ndarray) -> list[np.ndarray]:
        slots = self.state.get(name)
        if slots is None:
            slots = self.state[name] = {"velocity": np.zeros_like(param)}
        return [slots["velocity"]]

    def _slice_update(self, name: str, param: np.ndarray) -> Callable[..., None]:
        dt = param.dtype.type
        scale = self.bias_scale if name.endswith(".beta") else 1.0
        step = dt(self.lr / kilostep_scale(self.momentum) * scale)
        decay = dt(self.weight_decay * self.batch_size / self.base_lr / scale)
        mu = dt(self.momentum)

        def update(p: np.ndarray, grad: np.ndarray, slots: list[np.ndarray]) -> None:
            (v,) = slots
            g = np.multiply(p, decay)
            g += grad
            v *= mu
            v += g
            g += v * mu
            g *= step
            p -= g

        return update


OPTIMIZERS = {"sgd": SGD, "adam": Adam, "decoupled_sgd": DecoupledSGD}


def make_optimizer(name: str, model: Any, lr: float, **kw: Any) -> Optimizer:
    """Build an optimizer by name ("sgd", "adam" or "decoupled_sgd"); ``kw`` are its keyword
    arguments."""
    key = str(name).lower()
    if key not in OPTIMIZERS:
        raise ValueError(f"unknown optimizer {name!r} (choose from: {', '.join(OPTIMIZERS)})")
    try:
        return OPTIMIZERS[key](model, lr, **kw)
    except TypeError as exc:
        raise ValueError(f"bad options for optimizer {key!r}: {exc}") from exc
