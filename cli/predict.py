"""`python main.py predict`: classify image files or folders with a model file.

Each image goes through the same preprocessing as in the app (``engine.data.preprocess``:
digits like MNIST, colour images resized to the model's input). With ``--labels`` (a NumtaDB
CSV with ``filename`` and ``digit`` columns, or ``filename,label`` rows) it also prints the
accuracy and the confusion matrix, as the NumtaDB assignment's test script does.
"""

from __future__ import annotations

import argparse
import csv
import io
import os
import sys
from pathlib import Path
from typing import TextIO

import numpy as np

from engine.atomic_files import atomic_write_text


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "predict", help="classify image files or folders with a model",
        description="Classify images (files, or folders searched recursively) with a model "
        "file; writes filename,prediction,confidence,... rows.")
    p.add_argument("model", help="model file (.pkl, or .npz with its .json)")
    p.add_argument("paths", nargs="+", metavar="PATH", help="image files or folders")
    p.add_argument("--csv", metavar="OUT", help="write the predictions to this CSV file")
    p.add_argument("--labels", metavar="CSV", help="true labels: a NumtaDB CSV (filename, "
                   "digit columns) or filename,label rows; prints accuracy and confusion matrix")
    p.add_argument("--top-k", type=int, default=1, metavar="K",
                   help="also list the K most likely classes [1]")
    p.add_argument("--threads", type=int, help="worker threads (default: all cores)")
    p.set_defaults(func=run)


def display_name(path: Path | str) -> str:
    """``path`` as printable text: bytes that are not UTF-8 (a file name from another system)
    are shown as \\xNN escapes, so every name can be printed and written to a CSV file."""
    return os.fsencode(path).decode("utf-8", "backslashreplace")


def find_images(paths: list[str], err: TextIO) -> tuple[list[Path], int]:
    """The image files named, plus those inside named folders (recursively, sorted), and how
    many of the paths were missing (each reported on ``err`` and skipped)."""
    from engine.data.images import is_image_name

    found: list[Path] = []
    missing = 0
    for name in paths:
        path = Path(name)
        try:
            if path.is_dir():
                found += sorted(p for p in path.rglob("*")
                                if p.is_file() and is_image_name(p.name))
                continue
            if path.is_file():
                found.append(path)
                continue
        except OSError as exc:
            err.write(f"skipped {display_name(path)}: {exc.strerror or 'cannot be read'}\n")
            missing += 1
            continue
        err.write(f"skipped {display_name(path)}: no such file or folder\n")
        missing += 1
    return found, missing


def _label_index(text: str, class_names: list[str]) -> int:
    text = text.strip()
    if text in class_names:
        return class_names.index(text)
    try:
        value = float(text)
    except ValueError:
        value = None
    if value is not None and value.is_integer() and 0 <= value < len(class_names):
        return int(value)
    raise ValueError(f'label "{text}" is neither a class name nor a class number 0..'
                     f"{len(class_names) - 1}")


def read_labels(path: str | Path, class_names: list[str]) -> dict[str, int]:
    """File name (without folders) -> class index, from a NumtaDB-style CSV (``filename`` and
    ``digit`` columns) or plain ``filename,label`` rows (with or without a header)."""
    path = Path(path)
    try:
        with open(path, newline="", encoding="utf-8-sig") as f:
            rows = [row for row in csv.reader(f) if row and any(cell.strip() for cell in row)]
    except FileNotFoundError:
        raise FileNotFoundError(f"no such labels file: {path}") from None
    if not rows:
        raise ValueError(f"{path} is empty")
    header = [cell.strip().lower() for cell in rows[0]]
    file_col, label_col = 0, 1
    if "filename" in header:
        file_col = header.index("filename")
        label_col = next((header.index(k) for k in ("digit", "label", "class") if k in header),
                         None)
        if label_col is None:
            raise ValueError(f"{path}: found a 'filename' column but no 'digit' or 'label' "
                             "column")
        rows = rows[1:]
    labels = {}
    for line, row in enumerate(rows, start=2 if "filename" in header else 1):
        if len(row) <= max(file_col, label_col):
            raise ValueError(f"{path}, line {line}: expected filename,label, got "
                             f"{','.join(row)}")
        try:
            labels[Path(row[file_col].strip()).name] = _label_index(row[label_col], class_names)
        except ValueError as exc:
            raise ValueError(f"{path}, line {line}: {exc}") from None
    return labels


def preprocess_files(files: list[Path], input_shape: tuple, kind: str, err: TextIO
                     ) -> tuple[np.ndarray, list[Path]]:
    """Read and preprocess each file -> (N, H, W, C) uint8 and the files that could be read;
    unreadable files are reported on ``err`` and skipped (none readable: ValueError)."""
    from engine.data.errors import DatasetError
    from engine.data.images import read_image
    from engine.data.preprocess import image_to_input

    images, kept = [], []
    for path in files:
        try:
            images.append(image_to_input(read_image(path), input_shape, kind))
            kept.append(path)
        except DatasetError as exc:
            # The data layer's message starts with the path; print it once, escaped.
            reason = str(exc).removeprefix(f"{path}: ")
            err.write(f"skipped {display_name(path)}: {reason}\n")
        except OSError as exc:
            err.write(f"skipped {display_name(path)}: {exc.strerror or 'cannot be read'}\n")
    if not images:
        raise ValueError("none of the images could be read")
    return np.stack(images), kept


def run(args: argparse.Namespace, out: TextIO | None = None, err: TextIO | None = None
        ) -> int:
    from engine.metrics import classification_report, format_report
    from engine.serialize import load_model

    out = out or sys.stdout
    err = err or sys.stderr

    if args.top_k < 1:
        raise ValueError(f"--top-k must be at least 1, got {args.top_k}")
    trained = load_model(args.model)
    if args.threads:
        from engine.threads import set_num_threads

        set_num_threads(args.threads)
    names = trained.class_names
    labels = read_labels(args.labels, names) if args.labels else None
    files, missing = find_images(args.paths, err)
    if not files:
        raise ValueError(f"no images found in {', '.join(map(display_name, args.paths))}")
    found = len(files)
    x, files = preprocess_files(files, trained.input_shape, trained.kind, err)
    failed = missing + found - len(files)
    probs = np.concatenate([trained.predict_proba(x[i:i + 256]) for i in range(0, len(x), 256)])
    k = min(args.top_k, len(names))
    top = np.argsort(-probs, axis=1, kind="stable")[:, :k]

    header = ["filename", "prediction", "confidence"]
    for rank in range(2, k + 1):
        header += [f"prediction_{rank}", f"confidence_{rank}"]
    if labels is not None:
        header += ["label", "correct"]
    rows = []
    truth, predicted = [], []
    for i, path in enumerate(files):
        row = [display_name(path)]
        for rank in range(k):
            row += [names[top[i, rank]], f"{probs[i, top[i, rank]]:.4f}"]
        if labels is not None:
            label = labels.get(path.name)
            row += ["" if label is None else names[label],
                    "" if label is None else str(int(label == top[i, 0]))]
            if label is not None:
                truth.append(label)
                predicted.append(i)
        rows.append(row)

    text = io.StringIO(newline="")
    writer = csv.writer(text, lineterminator="\n")  # quotes names with commas or newlines
    writer.writerow(header)
    writer.writerows(rows)
    if args.csv:
        atomic_write_text(args.csv, text.getvalue())  # whole or not at all (full disk)
        out.write(f"{len(rows)} predictions written to {display_name(args.csv)}\n")
    else:
        out.write(text.getvalue())

    if labels is not None:
        if not truth:
            raise ValueError(f"none of the {len(files)} images is named in {args.labels}")
        missing = len(files) - len(truth)
        if missing:
            out.write(f"{missing} of {len(files)} images have no label in {args.labels}\n")
        report = classification_report(np.array(truth), probs[predicted], names)
        out.write(format_report(report) + "\n")
    if failed:
        err.write(f"error: {failed} of {missing + found} paths could not be predicted "
                  "(see the lines above)\n")
        return 1
    return 0
