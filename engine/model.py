"""Sequential model: a named list of layers with forward, backward, parameters and state.

The model runs layer by layer. A fast path may register a :class:`RunPlanner`
(:func:`set_run_planner`; ``engine.fast`` does, see ``engine.fast.install``) that finds runs
of layers it executes as one step in training; this module does not import it.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any, Protocol

import numpy as np

from engine.layers.activations import softmax
from engine.layers.base import Layer


class FusedRun(Protocol):
    """``size`` consecutive layers executed as one step in training. ``times``: seconds of
    the last forward or backward per layer of the run (the phase that does its work)."""

    size: int
    times: tuple[float, ...]

    def applies(self, x: np.ndarray, training: bool) -> bool: ...
    def forward(self, x: np.ndarray) -> np.ndarray: ...
    def backward(self, dout: np.ndarray) -> np.ndarray | None: ...


class RunPlanner(Protocol):
    """Finds a network's fused runs (by index of their first layer) and says whether
    fused execution is on for the process."""

    def find_runs(self, layers: list[Layer]) -> dict[int, FusedRun]: ...
    def enabled(self) -> bool: ...


_planner: RunPlanner | None = None


def set_run_planner(planner: RunPlanner | None) -> None:
    """Use ``planner`` for models built from now on; None runs every model layer by layer."""
    global _planner
    _planner = planner


class Sequential:
    """Layers applied in order; built by :func:`engine.spec.build_model`.

    Shapes: forward x (N, *input_shape) -> (N, num_classes) logits. Parameters are exposed
    with dotted names ("conv1.W"), state (parameters + buffers such as "bn1.running_mean")
    through :meth:`state_dict`. ``timings`` accumulates per-layer forward/backward seconds.
    """

    def __init__(
        self,
        layers: list[Layer],
        layer_names: list[str],
        *,
        input_shape: tuple[int, ...],
        num_classes: int,
        spec: list[dict[str, Any]] | None = None,
        arch_name: str = "custom",
        output_shapes: list[tuple[int, ...]] | None = None,
    ) -> None:
        if len(layers) != len(layer_names):
            raise ValueError("need one name per layer")
        if len(set(layer_names)) != len(layer_names):
            raise ValueError(f"layer names must be unique, got {layer_names}")
        self.layers = list(layers)
        self.layer_names = list(layer_names)
        self.input_shape = tuple(int(d) for d in input_shape)
        self.num_classes = int(num_classes)
        self.spec = spec if spec is not None else []
        self.arch_name = arch_name
        if output_shapes is None:
            output_shapes = []
            shape = self.input_shape
            for layer in self.layers:
                shape = layer.output_shape(shape)
                output_shapes.append(shape)
        self.output_shapes = [tuple(s) for s in output_shapes]
        self.timings: dict[str, dict[str, float]] = {}
        self.reset_timings()
        # Runs of layers executed fused in training, by index of their first layer (found by
        # the registered planner); False turns it off for this model. Each layer of a run is
        # timed with the fused phase that does its work (the runs' ``times``).
        self.fusion = True
        self._planner = _planner
        self.fused_runs: dict[int, FusedRun] = (
            _planner.find_runs(self.layers) if _planner is not None else {}
        )
        # The runs the last forward executed fused (their first layers' indices).
        self.fused_done: list[int] = []

    # -- computation ---------------------------------------------------------------------
    @property
    def dtype(self) -> np.dtype:
        for _, param, _ in self.parameters():
            return param.dtype
        return np.dtype(np.float32)

    def forward(self, x: np.ndarray, training: bool = False) -> np.ndarray:
        """x: (N, *input_shape) -> logits (N, num_classes). Cast to the parameters' dtype."""
        x = np.asarray(x, dtype=self.dtype)
        if x.shape[1:] != self.input_shape:
            raise ValueError(
                f"the model takes input of shape (N, {', '.join(map(str, self.input_shape))}), "
                f"got {x.shape}"
            )
        clock = time.perf_counter
        timings = self.timings
        fusing = self.fusion and self._planner is not None and self._planner.enabled()
        runs = self.fused_runs if fusing else {}
        done = self.fused_done = []
        names, layers = self.layer_names, self.layers
        i = 0
        while i < len(layers):
            start = clock()
            run = runs.get(i)
            if run is not None and run.applies(x, training):
                x = run.forward(x)
                done.append(i)
                for name, seconds in zip(names[i : i + run.size], run.times, strict=True):
                    timings[name]["forward"] += seconds
                i += run.size
            else:
                x = layers[i].forward(x, training)
                timings[names[i]]["forward"] += clock() - start
                i += 1
        return x

    def backward(self, dlogits: np.ndarray, input_grad: bool = True) -> np.ndarray | None:
        """dlogits: (N, num_classes) -> dx (N, *input_shape); sets every layer's grads.

        ``input_grad=False`` (a training step) stops at the first layer with a trainable
        parameter: the layers before it (airbench's whitening once its bias has frozen) are
        skipped, and that layer skips the input gradient nobody uses if it can (Conv2D's
        ``needs_input_grad``); dx is then None.
        """
        stop = 0 if input_grad else self.first_trainable_layer()
        for index, layer in enumerate(self.layers):
            if hasattr(layer, "needs_input_grad"):
                layer.needs_input_grad = input_grad or index != stop
        clock = time.perf_counter
        timings = self.timings
        # Runs the last forward executed fused, by index of their last layer.
        fused_ends = {i + self.fused_runs[i].size - 1: i for i in self.fused_done}
        self.fused_done = []
        d = dlogits
        i = len(self.layers) - 1
        while i >= stop:
            start = clock()
            head = fused_ends.get(i)
            if head is not None:
                run = self.fused_runs[head]
                d = run.backward(d)
                for name, seconds in zip(self.layer_names[head : i + 1], run.times, strict=True):
                    timings[name]["backward"] += seconds
            else:
                head = i
                d = self.layers[i].backward(d)
                timings[self.layer_names[i]]["backward"] += clock() - start
            i = head - 1
        return d if input_grad else None

    def first_trainable_layer(self) -> int:
        """Index of the first layer with a parameter training changes (0 if there is none)."""
        for index, layer in enumerate(self.layers):
            if any(key not in layer.frozen for key in layer.params):
                return index
        return 0

    def predict_proba(self, x: np.ndarray, batch_size: int = 256) -> np.ndarray:
        """x: (N, *input_shape) normalised input -> (N, num_classes) softmax probabilities."""
        if batch_size < 1:
            raise ValueError(f"batch_size must be positive, got {batch_size!r}")
        out = [
            softmax(self.forward(x[i : i + batch_size], training=False).astype(np.float64))
            for i in range(0, len(x), batch_size)
        ]
        if not out:
            return np.zeros((0, self.num_classes))
        return np.concatenate(out)

    def activations(self, x: np.ndarray) -> list[tuple[str, np.ndarray]]:
        """Every layer's output for x (N, *input_shape), in evaluation mode (feature maps)."""
        x = np.asarray(x, dtype=self.dtype)
        result = []
        for name, layer in zip(self.layer_names, self.layers, strict=True):
            x = layer.forward(x, training=False)
            result.append((name, x))
        return result

    def reset_timings(self) -> None:
        self.timings = {name: {"forward": 0.0, "backward": 0.0} for name in self.layer_names}

    # -- parameters and state --------------------------------------------------------------
    def parameters(self) -> Iterator[tuple[str, np.ndarray, np.ndarray]]:
        """Yield (dotted name, parameter, gradient) for every trainable array."""
        for lname, layer in zip(self.layer_names, self.layers, strict=True):
            for key, param in layer.params.items():
                yield f"{lname}.{key}", param, layer.grads[key]

    def frozen_names(self) -> set[str]:
        """Dotted names of the parameters training leaves untouched (layers' ``frozen``)."""
        return {f"{lname}.{key}" for lname, layer in zip(self.layer_names, self.layers,
                                                          strict=True) for key in layer.frozen}

    def set_trainable(self, name: str, trainable: bool) -> None:
        """Unfreeze or freeze the parameter ``name`` ("whiten1.b"). The layer's spec entry
        keeps its frozen list, so a model file written afterwards restores the flag."""
        lname, _, key = name.partition(".")
        if lname not in self.layer_names:
            raise ValueError(f"no layer named {lname!r} in this model")
        index = self.layer_names.index(lname)
        layer = self.layers[index]
        if key not in layer.params:
            raise ValueError(f"layer {lname!r} has no parameter {key!r}")
        (layer.frozen.discard if trainable else layer.frozen.add)(key)
        if len(self.spec) == len(self.layers):
            self.spec[index]["frozen"] = sorted(layer.frozen)

    def zero_grad(self) -> None:
        for layer in self.layers:
            layer.zero_grad()

    def num_params(self) -> int:
        return sum(layer.num_params() for layer in self.layers)

    def astype(self, dtype: Any) -> Sequential:
        """Cast every layer's parameters, gradients and buffers (float64 for gradient checks)."""
        for layer in self.layers:
            layer.astype(dtype)
        return self

    def _arrays(self) -> dict[str, tuple[dict[str, np.ndarray], str]]:
        found = {}
        for lname, layer in zip(self.layer_names, self.layers, strict=True):
            for store in (layer.params, layer.buffers):
                for key in store:
                    found[f"{lname}.{key}"] = (store, key)
        return found

    def state_dict(self) -> dict[str, np.ndarray]:
        """Copies of all parameters and buffers, keyed "conv1.W", "bn1.running_mean", ..."""
        return {name: store[key].copy() for name, (store, key) in self._arrays().items()}

    def load_state_dict(self, state: dict[str, np.ndarray]) -> None:
        """Copy arrays into the model (in place); ValueError naming any mismatch, loads nothing."""
        arrays = self._arrays()
        missing = sorted(set(arrays) - set(state))
        unexpected = sorted(set(state) - set(arrays))
        problems = []
        if missing:
            problems.append(f"missing keys: {', '.join(missing)}")
        if unexpected:
            problems.append(f"unexpected keys: {', '.join(unexpected)}")
        for name in sorted(set(arrays) & set(state)):
            store, key = arrays[name]
            have, got = store[key].shape, np.shape(state[name])
            if have != got:
                problems.append(f"{name} has shape {got}, the model needs {have}")
        if problems:
            raise ValueError("state does not fit the model: " + "; ".join(problems))
        for name, (store, key) in arrays.items():
            store[key][...] = state[name]

    def random_state(self) -> dict[str, dict]:
        """Bit-generator states of the layers that draw random numbers (dropout), by layer."""
        return {
            name: layer.rng.bit_generator.state
            for name, layer in zip(self.layer_names, self.layers, strict=True)
            if hasattr(layer, "rng")
        }

    def set_random_state(self, states: dict[str, dict]) -> None:
        """Restore what :meth:`random_state` returned."""
        layers = dict(zip(self.layer_names, self.layers, strict=True))
        for name, state in states.items():
            if name not in layers or not hasattr(layers[name], "rng"):
                raise ValueError(f"no random layer named {name!r} in this model")
            layers[name].rng.bit_generator.state = state

    # -- description -------------------------------------------------------------------------
    def summary(self) -> list[dict[str, Any]]:
        """One dict per layer: name, type, output_shape (per sample), params (count)."""
        return [
            {"name": name, "type": kind, "output_shape": shape, "params": layer.num_params()}
            for name, kind, shape, layer in zip(
                self.layer_names, self.layer_types, self.output_shapes, self.layers, strict=True
            )
        ]

    @property
    def layer_types(self) -> list[str]:
        """Each layer's spec type ("conv2d", ...); the class name for a model built by hand."""
        if len(self.spec) == len(self.layers):
            return [entry["type"] for entry in self.spec]
        return [type(layer).__name__.lower() for layer in self.layers]

    def summary_text(self) -> str:
        """A table of layers, output shapes and parameter counts with a total line."""
        rows = [("layer", "type", "output shape", "params")]
        rows.append(("input", "", shape_text(self.input_shape), ""))
        for entry in self.summary():
            rows.append(
                (
                    entry["name"],
                    entry["type"],
                    shape_text(entry["output_shape"]),
                    f"{entry['params']:,}",
                )
            )
        widths = [max(len(r[i]) for r in rows) for i in range(4)]
        lines = [
            f"{r[0]:<{widths[0]}}  {r[1]:<{widths[1]}}  {r[2]:<{widths[2]}}  {r[3]:>{widths[3]}}"
            for r in rows
        ]
        lines.insert(1, "-" * len(lines[0]))
        lines.append("-" * len(lines[0]))
        lines.append(f"{self.arch_name}: {self.num_params():,} parameters")
        return "\n".join(line.rstrip() for line in lines)

    def __repr__(self) -> str:
        return (
            f"Sequential({self.arch_name!r}, input_shape={self.input_shape}, "
            f"num_classes={self.num_classes}, layers={len(self.layers)}, "
            f"params={self.num_params()})"
        )


def shape_text(shape: tuple[int, ...]) -> str:
    """(28, 28, 1) -> "28x28x1"."""
    return "x".join(str(d) for d in shape)
