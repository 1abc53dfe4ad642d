"""`python main.py archs`: the architecture presets with notes, output shapes and sizes."""

from __future__ import annotations

import argparse

import engine
from engine.data.dataset import KIND_INPUT_SHAPES
from engine.data.registry import DATASETS

# Per-sample input shape of each dataset a preset may name (the first one is the default).
DATASET_SHAPES = {name: spec.input_shape for name, spec in DATASETS.items()}


def parse_shape(text: str) -> tuple[int, ...]:
    """ "28,28,1" or "28x28x1" -> (28, 28, 1)."""
    parts = text.replace("x", ",").split(",")
    try:
        shape = tuple(int(p) for p in parts if p.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"input shape must look like 28,28,1 (H,W,C), got {text!r}"
        ) from None
    if len(shape) != 3 or min(shape) < 1:
        raise argparse.ArgumentTypeError(
            f"input shape must be three positive integers H,W,C, got {text!r}"
        )
    return shape


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "archs",
        help="list the architecture presets",
        description="List the architecture presets (models/*.json) with their notes, parameter "
        "counts and, with --details or a name, every layer's output shape. Each preset is "
        "shown for the input shape of its first dataset unless --dataset/--input-shape says "
        "otherwise.",
    )
    parser.add_argument("names", nargs="*", metavar="NAME", help="presets to show in detail")
    parser.add_argument(
        "--dataset", choices=sorted(DATASET_SHAPES), help="show every preset for this dataset"
    )
    parser.add_argument(
        "--input-shape", type=parse_shape, metavar="H,W,C", help="show presets for this input"
    )
    parser.add_argument("--num-classes", type=int, default=10, help="classes (default 10)")
    parser.add_argument("--details", action="store_true", help="print every preset's layer table")
    parser.set_defaults(func=run)


def _input_shape(preset: dict, args: argparse.Namespace) -> tuple[int, ...]:
    if args.input_shape:
        return args.input_shape
    if args.dataset:
        return DATASET_SHAPES[args.dataset]
    for name in preset.get("datasets", []):
        if name in DATASET_SHAPES:
            return DATASET_SHAPES[name]
    return KIND_INPUT_SHAPES["digits"]


def run(args: argparse.Namespace) -> int:
    names = args.names or engine.list_presets()
    for name in names:
        preset = engine.load_preset(name)
        shape = _input_shape(preset, args)
        shape_text = "x".join(map(str, shape))
        datasets = ", ".join(preset.get("datasets", [])) or "any"
        try:
            model = engine.build_model(name, shape, args.num_classes)
        except ValueError as exc:
            if args.names:
                raise
            print(f"{name}  (input {shape_text}: does not fit: {exc})")
            print(f"    {preset['note']}")
            continue
        print(
            f"{name}  ({model.num_params():,} parameters for {shape_text} input; "
            f"datasets: {datasets})"
        )
        print(f"    {preset['note']}")
        if args.details or args.names:
            print()
            print("\n".join("    " + line for line in model.summary_text().splitlines()))
            rec = preset.get("recommended")
            if rec:
                settings = ", ".join(f"{k}={v}" for k, v in rec.items())
                print(f"    recommended: {settings}")
            print()
        else:
            shapes = " -> ".join(
                [
                    shape_text,
                    *("x".join(map(str, s)) for s in model.output_shapes[:-1]),
                    f"{args.num_classes} logits",
                ]
            )
            print(f"    {_compact(shapes)}")
    return 0


def _compact(chain: str) -> str:
    """Drop consecutive repeats (activation layers keep the shape) from a shape chain."""
    parts = chain.split(" -> ")
    kept = [p for i, p in enumerate(parts) if i == 0 or p != parts[i - 1]]
    return " -> ".join(kept)
