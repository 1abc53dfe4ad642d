"""`python main.py evaluate`: accuracy, per-class table and confusion matrix of a model file."""

from __future__ import annotations

import argparse
import io
import json
import sys
from pathlib import Path
from typing import TextIO

import numpy as np

from engine.atomic_files import atomic_write_bytes, atomic_write_text


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "evaluate", help="accuracy, per-class table and confusion matrix of a model",
        description="Evaluate a model file on a dataset split: accuracy, per-class precision "
        "and recall, and the confusion matrix.")
    p.add_argument("model", help="model file (.pkl, or .npz with its .json)")
    p.add_argument("--dataset", help="dataset name or path (default: the one the model was "
                   "trained on)")
    p.add_argument("--split", choices=("test", "train"), default="test",
                   help="which split to evaluate [test]")
    p.add_argument("--data-dir", help="folder holding the datasets")
    p.add_argument("--confusion-png", metavar="PNG", help="also draw the confusion matrix here")
    p.add_argument("--json", metavar="FILE", help="also write the results as JSON")
    p.add_argument("--threads", type=int, help="worker threads (default: all cores)")
    p.set_defaults(func=run)


def plot_labels(class_names: list[str], ascii_names: list[str] | None = None) -> list[str]:
    """Names matplotlib's default font can draw: the ASCII names for scripts it lacks (NumtaDB's
    "০ (0)" becomes "0"), else the ASCII part of each name, else the class number."""
    if all(name.isascii() for name in class_names):
        return list(class_names)
    if ascii_names and len(ascii_names) == len(class_names):
        return list(ascii_names)
    labels = []
    for i, name in enumerate(class_names):
        kept = "".join(ch for ch in name if ch.isascii() and ch not in "() ").strip()
        labels.append(kept or str(i))
    return labels


def save_confusion_png(cm: list[list[int]], class_names: list[str], path: str | Path,
                       title: str = "") -> Path:
    """Draw the confusion matrix (rows true, columns predicted) with counts into a PNG."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.figure import Figure

    cm_arr = np.asarray(cm)
    k = len(class_names)
    size = max(4.0, 0.5 * k + 2)
    fig = Figure(figsize=(size, size), dpi=100)
    ax = fig.add_subplot()
    image = ax.imshow(cm_arr, cmap="Blues")
    fig.colorbar(image, ax=ax, fraction=0.046, pad=0.04)
    ax.set_xticks(range(k), labels=class_names, rotation=45, ha="right")
    ax.set_yticks(range(k), labels=class_names)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    if title:
        ax.set_title(title)
    if k <= 20:
        threshold = cm_arr.max() / 2 if cm_arr.size else 0
        for i in range(k):
            for j in range(k):
                ax.text(j, i, str(cm_arr[i, j]), ha="center", va="center", fontsize=8,
                        color="white" if cm_arr[i, j] > threshold else "black")
    fig.tight_layout()
    path = Path(path)
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png")
    atomic_write_bytes(path, buffer.getvalue())  # whole or not at all
    return path


def class_names_warning(model_names: list[str], dataset_name: str, dataset_names: list[str]
                        ) -> str | None:
    """A warning showing both lists when a dataset names its classes differently from the
    model (same count, so the figures compare class numbers that may mean other things)."""
    if list(model_names) == list(dataset_names):
        return None
    return (f"warning: {dataset_name} names its classes differently from the model, so class "
            f"numbers are compared: model: {', '.join(model_names)}; {dataset_name}: "
            f"{', '.join(dataset_names)}")


def run(args: argparse.Namespace, out: TextIO | None = None, err: TextIO | None = None
        ) -> int:
    from engine import data
    from engine.metrics import format_report
    from engine.serialize import load_model
    from engine.training.run import evaluate_model

    out = out or sys.stdout
    err = err or sys.stderr

    trained = load_model(args.model)
    if args.threads:
        from engine.threads import set_num_threads

        set_num_threads(args.threads)
    name = args.dataset or trained.meta.get("training", {}).get("dataset") or trained.meta.get(
        "dataset", {}).get("name")
    if not name:
        raise ValueError("the model does not say which dataset it was trained on: add --dataset")
    dataset = data.load(name, data_dir=args.data_dir)
    trained.check_dataset(dataset)
    warning = class_names_warning(trained.class_names, dataset.name, dataset.class_names)
    if warning:
        err.write(warning + "\n")
    x, y = (dataset.x_test, dataset.y_test) if args.split == "test" else (
        dataset.x_train, dataset.y_train)
    report = evaluate_model(trained, x, y)
    report.pop("probabilities")
    out.write(f"{args.model} on {dataset.name} ({args.split} split)\n")
    out.write(format_report(report) + "\n")
    if args.confusion_png:
        labels = plot_labels(trained.class_names, trained.meta.get("ascii_names"))
        path = save_confusion_png(
            report["confusion_matrix"], labels, args.confusion_png,
            title=f"{dataset.name} {args.split}: {report['accuracy'] * 100:.2f} %")
        out.write(f"confusion matrix drawn to {path}\n")
    if args.json:
        path = Path(args.json)
        report = {"model": str(args.model), "dataset": dataset.name, "split": args.split,
                  "class_names": trained.class_names, **report}
        if warning:
            report["dataset_class_names"] = list(dataset.class_names)
        atomic_write_text(path, json.dumps(report, indent=1, ensure_ascii=False))
        out.write(f"results written to {path}\n")
    return 0
