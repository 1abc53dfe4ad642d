"""`python main.py explain`: where a model looks when it classifies one image.

The image is preprocessed as the app and `predict` do; the map (Grad-CAM, gradient
saliency or occlusion, see ``engine.explain``) is written as a PNG over the network's input
and, with ``--npy``, as the raw (H, W) float32 array. Both files are written atomically.
"""

from __future__ import annotations

import argparse
import io
import sys
from pathlib import Path
from typing import TextIO

import numpy as np

PNG_SCALE = 8  # a 28x28 input becomes a 224x224 picture


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "explain", help="show where a model looks when it classifies an image",
        description="Explain one image's prediction with a heat map over the network's input.")
    p.add_argument("model", help="model file (.pkl, or .npz with its .json)")
    p.add_argument("image", help="image file")
    p.add_argument("--method", choices=("gradcam", "gradient", "occlusion"), default="gradcam",
                   help="Grad-CAM, gradient saliency or occlusion [gradcam]")
    p.add_argument("--class", dest="class_name", metavar="C",
                   help="class to explain, by name or number (default: the predicted one)")
    p.add_argument("--layer", metavar="L",
                   help="Grad-CAM's layer, by name (default: the last convolution)")
    p.add_argument("--smooth", type=int, default=0, metavar="N",
                   help="gradient method: average over N noisy copies (SmoothGrad) [0]")
    p.add_argument("--out", required=True, metavar="PNG", help="the overlay picture (.png)")
    p.add_argument("--npy", metavar="NPY", help="also save the raw map (.npy, H x W float32)")
    p.set_defaults(func=run)


def class_index(text: str, class_names: list[str]) -> int:
    """A class given by name or by number -> its index; ValueError naming the choices."""
    text = text.strip()
    if text in class_names:
        return class_names.index(text)
    if text.isdigit() and int(text) < len(class_names):
        return int(text)
    raise ValueError(f"--class {text!r} is neither a class name nor a number 0.."
                     f"{len(class_names) - 1} (classes: {', '.join(class_names)})")


def run(args: argparse.Namespace, out: TextIO | None = None) -> int:
    from engine.atomic_files import atomic_write_bytes
    from engine.data.images import read_image
    from engine.data.preprocess import image_to_input
    from engine.explain import (
        OodCalibrationError,
        encode_png,
        explain,
        familiarity_scores,
        heat_overlay,
        read_ood_calibration,
    )
    from engine.serialize import load_model

    out = out or sys.stdout
    png_path = Path(args.out)
    if png_path.suffix.lower() != ".png":
        raise ValueError(f"--out must name a .png file, got {png_path}")
    npy_path = Path(args.npy) if args.npy else None
    if npy_path is not None and npy_path.suffix.lower() != ".npy":
        raise ValueError(f"--npy must name a .npy file, got {npy_path}")
    trained = load_model(args.model)
    names = trained.class_names
    chosen = None if args.class_name is None else class_index(args.class_name, names)
    pixels = image_to_input(read_image(args.image), trained.input_shape, trained.kind)
    x = trained.normalize(pixels[None])[0]
    result = explain(trained.model, x, args.method, chosen, args.layer, smooth=args.smooth)

    picture = heat_overlay(pixels, result.normalized(), scale=PNG_SCALE)
    atomic_write_bytes(png_path, encode_png(picture))
    if npy_path is not None:
        buffer = io.BytesIO()
        np.save(buffer, result.values.astype(np.float32))
        atomic_write_bytes(npy_path, buffer.getvalue())

    predicted = result.predicted_class
    where = f" at layer {result.layer}" if result.layer else ""
    out.write(f"predicted {names[predicted]} ({result.probabilities[predicted]:.1%}); "
              f"explained {names[result.class_index]} with {result.method}{where}\n")
    try:
        calibration = read_ood_calibration(trained.meta)
    except OodCalibrationError as exc:
        # An optional field: the map is still worth having without the verdict.
        out.write(f"note: {exc}; no verdict on whether the image is like the training data\n")
        calibration = None
    if calibration is not None:
        score = float(familiarity_scores(trained.model, x[None], calibration.score)[0])
        verdict = ("UNLIKE the training data: this does not look like anything the model knows"
                   if calibration.is_unfamiliar(score) else "like the training data")
        out.write(f"familiarity {score:.2f} (threshold {calibration.threshold:.2f}): "
                  f"{verdict}\n")
    written = f"{png_path}" + (f" and {npy_path}" if npy_path else "")
    out.write(f"wrote {written}\n")
    return 0
