"""Evaluation of a model on a test split for the Evaluate page, without Qt (runs on a worker
thread), plus the small array views it shows: filter mosaics and feature-map mosaics."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from engine.losses import softmax_cross_entropy
from engine.metrics import classification_report
from engine.trained_model import TrainedModel
from gui.imaging import tile_mosaic

CHUNK = 500
TIMING_BATCH = 64
MAX_FILTER_ROWS = 32
MAX_FILTER_COLUMNS = 32
MAX_MAPS = 64


@dataclass
class Evaluation:
    """probs: (N, K); y, pred: (N,); cm: (K, K) rows true, columns predicted."""

    probs: np.ndarray
    y: np.ndarray
    pred: np.ndarray
    cm: np.ndarray
    accuracy: float
    per_class: list[dict]
    layer_times: list[tuple[str, float, float]]  # name, forward s, backward s (per batch)
    timing_batch: int

    def cell_indices(self, true_class: int, predicted: int) -> np.ndarray:
        """Test images of ``true_class`` predicted as ``predicted``, most confident first."""
        idx = np.flatnonzero((self.y == true_class) & (self.pred == predicted))
        return idx[np.argsort(-self.probs[idx, predicted], kind="stable")]

    def confident_mistakes(self, limit: int = 48) -> np.ndarray:
        wrong = np.flatnonzero(self.pred != self.y)
        conf = self.probs[wrong, self.pred[wrong]]
        return wrong[np.argsort(-conf, kind="stable")][:limit]


def evaluate(trained: TrainedModel, x: np.ndarray, y: np.ndarray,
             progress: Callable[[float, str], None] | None = None) -> Evaluation:
    """trained: a model this thread owns (see gui.state.model_facts.clone_trained);
    x: (N, H, W, C) uint8, y: (N,)."""
    trained.check_images(x)
    parts = []
    for start in range(0, len(x), CHUNK):
        parts.append(trained.predict_proba(x[start:start + CHUNK]))
        if progress is not None:
            done = min(len(x), start + CHUNK)
            progress(done / max(1, len(x)), f"{done:,} / {len(x):,} test images")
    probs = np.concatenate(parts) if parts else np.zeros((0, trained.num_classes))
    report = classification_report(y, probs, trained.class_names)
    pred = probs.argmax(axis=1) if len(probs) else np.zeros(0, dtype=np.int64)
    return Evaluation(probs=probs, y=np.asarray(y), pred=pred,
                      cm=np.asarray(report["confusion_matrix"], dtype=np.int64),
                      accuracy=float(report["accuracy"]), per_class=report["per_class"],
                      layer_times=layer_times(trained, x[:TIMING_BATCH], y[:TIMING_BATCH]),
                      timing_batch=min(TIMING_BATCH, len(x)))


def layer_times(trained: TrainedModel, x: np.ndarray, y: np.ndarray
                ) -> list[tuple[str, float, float]]:
    """Forward and backward seconds of every layer for one training step on x (a copy of the
    model must be used: its BatchNorm statistics move)."""
    if len(x) == 0:
        return []
    model = trained.model
    model.reset_timings()
    logits = model.forward(trained.normalize(x), training=True)
    _, dlogits = softmax_cross_entropy(logits, np.asarray(y))
    model.backward(dlogits)
    times = [(name, model.timings[name]["forward"], model.timings[name]["backward"])
             for name in model.layer_names]
    model.reset_timings()
    return times


def conv_layers(trained: TrainedModel) -> list[tuple[str, np.ndarray]]:
    """(name, W (kh, kw, C_in, C_out)) of every convolution layer."""
    model = trained.model
    return [(name, layer.params["W"]) for name, layer in zip(model.layer_names, model.layers,
                                                             strict=True)
            if "W" in layer.params and layer.params["W"].ndim == 4]


def filter_mosaic(weights: np.ndarray) -> tuple[np.ndarray, str]:
    """W (kh, kw, C_in, C_out) -> a uint8 mosaic and a caption.

    Three input channels: one colour tile per filter; one: a grey tile per filter; more (deeper
    layers): a grid with one row per filter and one column per input channel.
    """
    kh, kw, cin, cout = weights.shape
    w = np.asarray(weights, dtype=np.float64)
    if cin in (1, 3):
        tiles = w.transpose(3, 0, 1, 2)
        tiles = tiles[..., 0] if cin == 1 else tiles
        mosaic = tile_mosaic(tiles, pad=1)
        what = "colour" if cin == 3 else "grey"
        return mosaic, f"{cout} filters of {kh}×{kw}, shown as {what} tiles"
    rows, cols = min(cout, MAX_FILTER_ROWS), min(cin, MAX_FILTER_COLUMNS)
    tiles = w[:, :, :cols, :rows].transpose(3, 2, 0, 1).reshape(rows * cols, kh, kw)
    mosaic = tile_mosaic(tiles, columns=cols, pad=1, normalise="all")
    shown = "" if (rows, cols) == (cout, cin) else f" (first {rows} × {cols} shown)"
    return mosaic, (f"{cout} filters of {kh}×{kw}×{cin}: one row per filter, one column per "
                    f"input channel{shown}")


def feature_maps(trained: TrainedModel, x: np.ndarray) -> list[tuple[str, np.ndarray]]:
    """Every layer's output for one input x (H, W, C) uint8: [(name, (h, w, c) or (f,))]."""
    acts = trained.model.activations(trained.normalize(x[None]))
    return [(name, out[0]) for name, out in acts]


def feature_map_mosaic(maps: np.ndarray) -> tuple[np.ndarray, str]:
    """maps: (h, w, c) -> mosaic of up to MAX_MAPS channels, each scaled to its own range."""
    h, w, c = maps.shape
    shown = min(c, MAX_MAPS)
    mosaic = tile_mosaic(np.asarray(maps[..., :shown]).transpose(2, 0, 1), pad=1)
    extra = "" if shown == c else f" (first {shown} shown)"
    return mosaic, f"{c} channels of {h}×{w}{extra}"
