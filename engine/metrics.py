"""Classification metrics on integer labels: accuracy, top-k accuracy, confusion matrix, per-class
precision and recall.

Every function takes plain arrays so the Trainer, the command line and the GUI share one definition:
``y_true`` (N,) integer class indices, ``y_pred`` (N,) integer predictions, ``scores`` (N, K) logits
or probabilities (only their order within a row matters).
"""

from __future__ import annotations

import numpy as np


def _check_pair(y_true: np.ndarray, y_other: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    y_true = np.asarray(y_true)
    y_other = np.asarray(y_other)
    if y_true.ndim != 1:
        raise ValueError(f"labels must be one-dimensional (N,), got shape {y_true.shape}")
    if len(y_true) != len(y_other):
        raise ValueError(f"{len(y_true)} labels but {len(y_other)} predictions")
    return y_true, y_other


def accuracy(y_true: np.ndarray, y_pred: np.ndarray) -> float:
    """Fraction of ``y_pred`` (N,) equal to ``y_true`` (N,); 0.0 for empty input.

    ``y_pred`` may also be scores (N, K), in which case the arg-max of each row is used.
    """
    y_true, y_pred = _check_pair(y_true, y_pred)
    if y_pred.ndim == 2:
        y_pred = y_pred.argmax(axis=1)
    if len(y_true) == 0:
        return 0.0
    return float(np.mean(y_true == y_pred))


def top_k_accuracy(y_true: np.ndarray, scores: np.ndarray, k: int = 5) -> float:
    """Fraction of samples whose true class is among the ``k`` highest of ``scores`` (N, K).

    Ties are broken towards the lower class index, as ``argmax`` does, so top-1 equals accuracy.
    """
    y_true, scores = _check_pair(y_true, scores)
    if scores.ndim != 2:
        raise ValueError(f"scores must be (N, K), got shape {scores.shape}")
    if k < 1:
        raise ValueError(f"k must be at least 1, got {k}")
    if len(y_true) == 0:
        return 0.0
    k = min(k, scores.shape[1])
    # A stable sort of the negated scores keeps equal scores in index order.
    top = np.argsort(-scores, axis=1, kind="stable")[:, :k]
    return float(np.mean((top == y_true[:, None]).any(axis=1)))


def confusion_matrix(y_true: np.ndarray, y_pred: np.ndarray, num_classes: int | None = None
                     ) -> np.ndarray:
    """Counts (K, K) int64: row = true class, column = predicted class."""
    y_true, y_pred = _check_pair(y_true, y_pred)
    if num_classes is None:
        num_classes = int(max(y_true.max(initial=-1), y_pred.max(initial=-1))) + 1
    for name, y in (("labels", y_true), ("predictions", y_pred)):
        if len(y) and (y.min() < 0 or y.max() >= num_classes):
            raise ValueError(f"{name} must lie in 0..{num_classes - 1}, got {y.min()}..{y.max()}")
    flat = y_true.astype(np.int64) * num_classes + y_pred.astype(np.int64)
    return np.bincount(flat, minlength=num_classes * num_classes).reshape(num_classes, num_classes)


def precision_recall(cm: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-class precision and recall (K,) float64 from a confusion matrix (K, K).

    A class never predicted has precision 0; a class absent from the labels has recall 0
    (rather than NaN, so tables and JSON stay printable).
    """
    cm = np.asarray(cm, dtype=np.float64)
    tp = np.diag(cm)
    predicted = cm.sum(axis=0)
    actual = cm.sum(axis=1)
    precision = np.divide(tp, predicted, out=np.zeros_like(tp), where=predicted > 0)
    recall = np.divide(tp, actual, out=np.zeros_like(tp), where=actual > 0)
    return precision, recall


def classification_report(y_true: np.ndarray, scores_or_pred: np.ndarray,
                          class_names: list[str]) -> dict:
    """Everything `evaluate` prints, as plain data (JSON-able).

    Returns ``{"accuracy", "top3_accuracy" (when scores are given), "num_samples",
    "confusion_matrix" (K x K lists), "per_class": [{"class", "precision", "recall",
    "support"}, ...]}``.
    """
    scores_or_pred = np.asarray(scores_or_pred)
    k = len(class_names)
    y_pred = scores_or_pred.argmax(axis=1) if scores_or_pred.ndim == 2 else scores_or_pred
    cm = confusion_matrix(y_true, y_pred, num_classes=k)
    precision, recall = precision_recall(cm)
    report = {
        "accuracy": accuracy(y_true, y_pred),
        "num_samples": len(y_pred),
        "confusion_matrix": cm.tolist(),
        "per_class": [
            {"class": name, "precision": float(p), "recall": float(r), "support": int(s)}
            for name, p, r, s in zip(class_names, precision, recall, cm.sum(axis=1), strict=True)
        ],
    }
    if scores_or_pred.ndim == 2 and k > 3:
        report["top3_accuracy"] = top_k_accuracy(y_true, scores_or_pred, 3)
    return report


def format_report(report: dict) -> str:
    """The per-class table and the confusion matrix of :func:`classification_report`, as text."""
    names = [row["class"] for row in report["per_class"]]
    width = max(8, *(len(n) for n in names))
    lines = [f"accuracy: {report['accuracy'] * 100:.2f} % on {report['num_samples']} images"]
    if "top3_accuracy" in report:
        lines.append(f"top-3 accuracy: {report['top3_accuracy'] * 100:.2f} %")
    lines += ["", f"{'class':<{width}}  precision  recall  support"]
    for row in report["per_class"]:
        lines.append(f"{row['class']:<{width}}  {row['precision'] * 100:8.2f}%  "
                     f"{row['recall'] * 100:5.1f}%  {row['support']:7d}")
    cm = report["confusion_matrix"]
    cell = max(5, len(str(max((max(r) for r in cm), default=0))) + 1)
    short = [n[:cell - 1] for n in names]
    lines += ["", "confusion matrix (rows: true class, columns: predicted)"]
    lines.append(" " * width + "".join(f"{s:>{cell}}" for s in short))
    for name, row in zip(names, cm, strict=True):
        lines.append(f"{name:<{width}}" + "".join(f"{v:>{cell}}" for v in row))
    return "\n".join(lines)
