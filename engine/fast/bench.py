"""Training-step benchmark of the NumPy engine, side by side with PyTorch CPU when installed.

    python -m engine.fast.bench                              # seed-cifar-1epoch and vgg-cifar
    python -m engine.fast.bench --arch vgg-cifar --runs 7 --threads 2 --mode both
    python -m engine.fast.bench --arch airbench94 --arch airbench93 --batch 1024 --whitening-frozen

For each network: images/s of a full training step (forward + backward + SGD with momentum,
float32, batch 64 on random 32x32x3 input), the median over ``--runs`` timed runs of
``--steps`` steps each (each after one untimed step); a per-layer forward/backward table; peak
memory. When ``torch`` is importable the same network is timed in PyTorch CPU with the same
thread count (its twin from engine.fast.torch_twin: every layer type, GELU in its tanh form in
both, the same weights, frozen parameters left out of its SGD), its runs interleaved with ours
so that load from other processes hits both alike, and the ratio of the medians is printed
(above 1.0 means the engine is faster). PyTorch is a benchmark-only tool, never a dependency
of the app.

Training steps run conv/BatchNorm/ReLU/max-pool and ReLU/max-pool runs fused (engine.fast.fused);
the table then times each layer with the fused phase that does its work.

OpenBLAS picks its kernels by CPU model unless ``OPENBLAS_CORETYPE`` says otherwise; the value
in effect is printed, because it changes the engine's figures (PyTorch's are unaffected).
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import sys
import time
import tracemalloc
from collections.abc import Callable
from typing import Any

import numpy as np

from engine import threads
from engine.losses import softmax_cross_entropy
from engine.spec import build_model, load_preset
from engine.training.freezing import set_whitening_biases_for
from engine.training.optimizers import SGD

DEFAULT_ARCHS = ("seed-cifar-1epoch", "vgg-cifar")


def engine_step(model: Any, optimizer: SGD, x: np.ndarray, y: np.ndarray) -> Callable[[], None]:
    """A closure running one training step of the engine model on (x, y)."""

    def step() -> None:
        logits = model.forward(x, training=True)
        _, dlogits = softmax_cross_entropy(logits, y)
        model.backward(dlogits, input_grad=False)  # as engine.training.trainer does
        optimizer.step()

    return step


def torch_step(model: Any, x: np.ndarray, y: np.ndarray):
    """The engine model's PyTorch twin (engine.fast.torch_twin: same layers, weights and
    frozen parameters, NCHW), one SGD step per call over its trainable parameters; None
    without torch."""
    try:
        import torch
        from torch import nn
    except ImportError:
        return None
    from engine.fast.torch_twin import torch_twin

    net = torch_twin(model)
    xt = torch.from_numpy(np.ascontiguousarray(x.transpose(0, 3, 1, 2)))
    yt = torch.from_numpy(y)
    trainable = [p for p in net.parameters() if p.requires_grad]
    opt = torch.optim.SGD(trainable, lr=0.01, momentum=0.9)
    loss_fn = nn.CrossEntropyLoss()

    def step() -> None:
        opt.zero_grad(set_to_none=False)
        loss_fn(net(xt), yt).backward()
        opt.step()

    return step


def time_steps(step: Callable[[], None], steps: int, clock: Callable[[], float]) -> float:
    """Seconds for ``steps`` steps, after one untimed step: runs of the two frameworks
    alternate, and the first step after a switch pays for the other's cache contents and
    threads (measured here: both frameworks' medians 10-15 % lower when it is counted),
    which no epoch of real training does."""
    step()
    start = clock()
    for _ in range(steps):
        step()
    return clock() - start


def _peak_bytes(step: Callable[[], None]) -> tuple[int, int]:
    """Peak NumPy allocation (bytes traced) during the first and during the second step, the
    engine's work buffers included. The second counts what the first allocated and kept: the
    steady state of training, which the first step alone can under-state (buffers of later
    layers' backward passes do not exist yet during its forward pass)."""
    tracemalloc.start()
    try:
        step()
        first = tracemalloc.get_traced_memory()[1]
        tracemalloc.reset_peak()
        step()
        return first, tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def bench_arch(name: str, args: argparse.Namespace, out=None) -> dict[str, Any]:
    """Time one preset; prints its tables (to ``out``, default the current sys.stdout) and
    returns the figures."""
    out = sys.stdout if out is None else out
    rng = np.random.default_rng(0)
    n = args.batch
    x = rng.standard_normal((n, 32, 32, 3)).astype(np.float32)
    y = rng.integers(0, 10, n)
    preset = load_preset(name)
    model = build_model(name, input_shape=(32, 32, 3), num_classes=10, seed=0)
    if args.whitening_frozen:  # the step after airbench's bias epochs, in both engines
        set_whitening_biases_for(model, epoch=10**9)
    for layer in model.layers:
        if hasattr(layer, "algorithm"):
            layer.algorithm = args.conv_algorithm
    step = engine_step(model, SGD(model, lr=0.01, momentum=0.9), x, y)
    tstep = None if args.no_torch else torch_step(model, x, y)
    torch_mod = sys.modules.get("torch")
    peaks = _peak_bytes(step)  # the first step allocates the persistent buffers
    # "cpu" counts the process's CPU seconds: with --threads 1 it is immune to other load.
    clock = time.process_time if args.clock == "cpu" else time.perf_counter
    for _ in range(args.warmup):
        step()
        if tstep is not None:
            tstep()
    ours, theirs = [], []
    model.reset_timings()
    for _ in range(args.runs):
        ours.append(n * args.steps / time_steps(step, args.steps, clock))
        if tstep is not None:
            torch_mod.set_num_threads(threads.get_num_threads())
            theirs.append(n * args.steps / time_steps(tstep, args.steps, clock))
    timed_steps = args.runs * (args.steps + 1)  # the layer timings include each run's lead step

    result = {"arch": name, "engine": statistics.median(ours), "runs": ours}
    print(f"\n== {name}: {preset.get('note', '')}", file=out)
    print(f"{'layer':<10} {'output':>14} {'forward ms':>11} {'backward ms':>12}", file=out)
    total_f = total_b = 0.0
    for lname, shape in zip(model.layer_names, model.output_shapes, strict=True):
        t = model.timings[lname]
        f_ms, b_ms = 1e3 * t["forward"] / timed_steps, 1e3 * t["backward"] / timed_steps
        total_f, total_b = total_f + f_ms, total_b + b_ms
        shape_text = "x".join(map(str, shape))
        print(f"{lname:<10} {shape_text:>14} {f_ms:>11.2f} {b_ms:>12.2f}", file=out)
    print(f"{'total':<10} {'':>14} {total_f:>11.2f} {total_b:>12.2f}", file=out)
    for i, run in sorted(model.fused_runs.items()):
        names = model.layer_names[i : i + run.size]
        print(f"fused in training ({type(run).__name__}): {', '.join(names)}; each layer is "
              "timed with the fused phase that does its work", file=out)
    print(f"peak NumPy memory of a training step (work buffers included): first step "
          f"{peaks[0] / 2**20:.1f} MiB, second step {peaks[1] / 2**20:.1f} MiB", file=out)
    runs_text = " ".join(f"{v:.0f}" for v in ours)
    print(f"engine : {result['engine']:8.0f} img/s  (runs: {runs_text})", file=out)
    if theirs:
        result["torch"] = statistics.median(theirs)
        result["ratio"] = result["engine"] / result["torch"]
        runs_text = " ".join(f"{v:.0f}" for v in theirs)
        print(f"pytorch: {result['torch']:8.0f} img/s  (runs: {runs_text})", file=out)
        # Each engine run against the PyTorch run right after it: slow drifts in the machine's
        # load cancel within a pair, so the spread shows how far one run's ratio can be off.
        pairs = sorted(o / t for o, t in zip(ours, theirs, strict=True))
        print(f"ratio engine/pytorch: {result['ratio']:.2f}x (of the medians; per pair of "
              f"runs: median {statistics.median(pairs):.2f}x, {pairs[0]:.2f}-{pairs[-1]:.2f}x)",
              file=out)
    return result


def bench_inference(arch: str = "digits-bn", repeats: int = 50) -> float:
    """Median milliseconds to predict one 28x28 image (the canvas predicts while drawing)."""
    model = build_model(arch, input_shape=(28, 28, 1), num_classes=10, seed=0)
    x = np.random.default_rng(0).random((1, 28, 28, 1), dtype=np.float32)
    model.predict_proba(x)
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        model.predict_proba(x)
        times.append(time.perf_counter() - start)
    return 1e3 * statistics.median(times)


def _blas_info() -> str:
    try:
        from threadpoolctl import threadpool_info
    except ImportError:
        return "unknown"
    found = [
        f"{p.get('internal_api')} {p.get('version')} {p.get('architecture')}"
        for p in threadpool_info()
        if p["user_api"] == "blas"
    ]
    return ", ".join(found) or "none found"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m engine.bench", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--arch", action="append", help="preset name (repeatable)")
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--threads", type=int, default=None, help="default: all cores")
    parser.add_argument("--mode", choices=[*threads.PARALLEL_MODES, "both"], default=None,
                        help="how convolutions split work across threads (default: engine's)")
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--steps", type=int, default=5, help="training steps per timed run")
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--conv-algorithm", choices=["auto", "im2col", "winograd"], default="auto",
                        help="force one convolution algorithm (default: each layer's choice)")
    parser.add_argument("--clock", choices=["wall", "cpu"], default="wall",
                        help="wall time (default) or process CPU time (fair on a loaded machine "
                             "with --threads 1)")
    parser.add_argument("--no-torch", action="store_true", help="skip the PyTorch comparison")
    parser.add_argument("--whitening-frozen", action="store_true",
                        help="time the step airbench takes after its whitening bias freezes "
                             "(most of its epochs): nothing trains before the first conv")
    args = parser.parse_args(argv)
    # Also applies the engine's BLAS limit now, before torch loads its own libraries.
    threads.set_num_threads(args.threads or threads.get_num_threads())
    modes = [args.mode or threads.get_parallel_mode()]
    if args.mode == "both":
        modes = list(threads.PARALLEL_MODES)
    print(f"engine threads: {threads.get_num_threads()}, batch {args.batch}, float32, "
          f"32x32x3 input, {args.runs} runs x {args.steps} steps, {args.clock} clock", flush=True)
    coretype = os.environ.get("OPENBLAS_CORETYPE", "(unset)")
    print(f"OPENBLAS_CORETYPE={coretype}; BLAS: {_blas_info()}")
    try:
        import torch

        print(f"pytorch {torch.__version__}, {threads.get_num_threads()} threads")
    except ImportError:
        print("pytorch not importable: engine figures only")
    results = []
    for mode in modes:
        threads.set_parallel_mode(mode)
        print(f"\n### parallel mode: {mode}")
        for name in args.arch or DEFAULT_ARCHS:
            results.append({**bench_arch(name, args), "mode": mode})
    print("\nsummary")
    print(f"{'arch':<20} {'mode':<8} {'engine img/s':>13} {'pytorch img/s':>14} {'ratio':>7}")
    for r in results:
        torch_text = f"{r['torch']:14.0f}" if "torch" in r else f"{'-':>14}"
        ratio = f"{r['ratio']:6.2f}x" if "ratio" in r else f"{'-':>7}"
        print(f"{r['arch']:<20} {r['mode']:<8} {r['engine']:13.0f} {torch_text} {ratio}")
    print(f"one 28x28 image through digits-bn (inference): {bench_inference():.2f} ms "
          "(median of 50)")
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"process peak RSS: {rss:.0f} MiB")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
