"""`python main.py export`: a model file in a format other programs read (ONNX)."""

from __future__ import annotations

import argparse
import sys
from typing import TextIO


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "export", help="write a model as ONNX, to run it with ONNX Runtime, OpenCV, PyTorch",
        description="Export a model file as a standard ONNX graph: input 'image' float32 "
        "[N, H, W, C] with pixel values in 0..1 (the model's normalisation is inside the "
        "graph), outputs 'logits' and 'probabilities'; class names, input shape, preprocessing, "
        "test accuracy and training settings go into its metadata.")
    p.add_argument("model", help="model file (.pkl, or .npz with its .json)")
    p.add_argument("--onnx", required=True, metavar="OUT.onnx", help="the ONNX file to write")
    p.set_defaults(func=run)


def run(args: argparse.Namespace, out: TextIO | None = None) -> int:
    from engine.serialize import load_model

    out = out or sys.stdout
    try:
        from engine.onnx import export_onnx, opset_for
    except ImportError:
        raise ValueError("ONNX export needs the onnx package (pip install onnx)") from None
    trained = load_model(args.model)
    path = export_onnx(trained, args.onnx)
    h, w, c = trained.input_shape
    size = path.stat().st_size / 1e6
    out.write(f"wrote {path} (ONNX opset {opset_for(trained.model)}, {size:.2f} MB): image "
              f"float32 [N, {h}, {w}, {c}] in 0..1 -> logits, probabilities over "
              f"{trained.num_classes} classes\n")
    return 0
