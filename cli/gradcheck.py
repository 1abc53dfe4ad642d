"""`python main.py gradcheck --arch NAME`: prove a preset's gradients to yourself."""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import engine
from cli.archs import parse_shape
from engine.gradcheck import check_model, default_channels, smallest_input_shape


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "gradcheck",
        help="check a network's gradients against centred differences",
        description="Build a preset (or a JSON spec file) in float64 on a small input, feed "
        "random data and compare every layer's backward pass with centred finite "
        "differences. Prints the largest relative error per layer and PASS/FAIL; the exit "
        "code is 1 when any layer exceeds the tolerance.",
    )
    parser.add_argument(
        "--arch",
        default="digits-bn",
        help="preset name or path to a JSON spec (default: digits-bn)",
    )
    parser.add_argument(
        "--input-shape",
        type=parse_shape,
        metavar="H,W,C",
        help="input shape (default: the smallest square input the network takes)",
    )
    parser.add_argument("--num-classes", type=int, default=10, help="classes (default 10)")
    parser.add_argument("--batch-size", type=int, default=4, help="images in the batch (4)")
    parser.add_argument(
        "--samples", type=int, default=12, help="entries checked per input/parameter (12)"
    )
    parser.add_argument("--seed", type=int, default=0, help="random seed (0)")
    parser.add_argument(
        "--tolerance", type=float, default=1e-6, help="largest relative error allowed (1e-6)"
    )
    parser.set_defaults(func=run)


def _load_arch(arch: str) -> object:
    if arch in engine.list_presets():
        return arch
    path = Path(arch)
    if path.suffix == ".json" and path.is_file():
        data = json.loads(path.read_text(encoding="utf-8"))
        return data
    raise ValueError(
        f"unknown architecture {arch!r}: give a preset ({', '.join(engine.list_presets())}) "
        "or a .json spec file"
    )


def run(args: argparse.Namespace) -> int:
    if args.batch_size < 2:
        raise ValueError("batch size must be at least 2 (BatchNorm needs a batch)")
    if args.samples < 1:
        raise ValueError("samples must be at least 1")
    spec = _load_arch(args.arch)
    shape = args.input_shape or smallest_input_shape(spec, default_channels(spec), args.num_classes)
    model = engine.build_model(spec, shape, args.num_classes, seed=args.seed)
    types = [entry["type"] for entry in model.spec]
    print(
        f"gradient check of {args.arch}: float64, input {args.batch_size}x"
        f"{'x'.join(map(str, shape))}, {model.num_params():,} parameters, "
        f"up to {args.samples} entries per tensor"
    )
    start = time.perf_counter()
    errors = check_model(model, batch_size=args.batch_size, samples=args.samples, seed=args.seed)
    elapsed = time.perf_counter() - start
    width = max(len(name) for name in errors)
    type_width = max(len(t) for t in types)
    print(f"{'layer':<{width}}  {'type':<{type_width}}  max rel. error")
    for (name, error), kind in zip(errors.items(), types, strict=True):
        flag = "" if error < args.tolerance else "  <-- FAIL"
        print(f"{name:<{width}}  {kind:<{type_width}}  {error:.2e}{flag}")
    worst_name = max(errors, key=errors.get)
    worst = errors[worst_name]
    verdict = "PASS" if worst < args.tolerance else "FAIL"
    print(
        f"{verdict}: largest relative error {worst:.2e} ({worst_name}); tolerance "
        f"{args.tolerance:.0e}; {elapsed:.1f} s"
    )
    return 0 if verdict == "PASS" else 1
