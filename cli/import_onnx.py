"""`python main.py import`: an ONNX network (from PyTorch, Keras, CNN Studio) as a model file."""

from __future__ import annotations

import argparse
import sys
from typing import TextIO


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "import", help="turn an ONNX classifier into a CNN Studio model file",
        description="Read an ONNX image classifier (a chain of Conv, MaxPool, AveragePool, "
        "GlobalAveragePool, Gemm / MatMul + Add, BatchNormalization, Relu, LeakyRelu, Sigmoid, "
        "Tanh, Flatten / Reshape, Softmax and layout-only Transpose nodes, NCHW as PyTorch "
        "exports them or NHWC) and save it as a model file the app and the other commands "
        "open. Its input is taken as pixel values in 0..1; constant Sub / Div / Mul / Add at "
        "its start become the model's normalisation.")
    p.add_argument("onnx", help="the ONNX file to read")
    p.add_argument("--out", required=True, metavar="MODEL.pkl",
                   help="model file to write (.pkl, or .npz with a .json beside it)")
    p.add_argument("--class-names", metavar="A,B,...",
                   help="the class names, comma-separated, in output order (default: the "
                   "file's metadata, else 0..N-1)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace, out: TextIO | None = None) -> int:
    from engine.serialize import save_model

    out = out or sys.stdout
    try:
        from engine.onnx import import_onnx
    except ImportError:
        raise ValueError("ONNX import needs the onnx package (pip install onnx)") from None
    trained = import_onnx(args.onnx)
    if args.class_names:
        trained = trained.with_class_names(args.class_names.split(","))
    path = save_model(trained, args.out)
    out.write(trained.model.summary_text() + "\n")
    names = trained.class_names
    shown = ", ".join(names[:10]) + (", ..." if len(names) > 10 else "")
    norm = trained.normalizer
    mean = ", ".join(f"{v:.4g}" for v in norm.mean)
    std = ", ".join(f"{v:.4g}" for v in norm.std)
    out.write(f"classes: {shown}\ninput: {trained.kind} images "
              f"{'x'.join(map(str, trained.input_shape))}, normalised with mean {mean}, "
              f"std {std}\nwrote {path}\n")
    return 0
