"""The Train page's lines about a run, from the trainer's logs (see engine.training.callbacks)."""

from __future__ import annotations

import math

from gui.text import duration


def epoch_line(epoch: int, logs: dict) -> str:
    """"Epoch 2/5, loss 0.1234, accuracy 96.10 %, val_loss …, 12.3 s" (epoch 0-based)."""
    parts = [f"Epoch {epoch + 1}/{logs.get('epochs', '?')}",
             f"loss {logs.get('loss', math.nan):.4f}",
             f"accuracy {100 * logs.get('accuracy', math.nan):.2f} %"]
    if "val_loss" in logs:
        parts += [f"val_loss {logs['val_loss']:.4f}",
                  f"val_accuracy {100 * logs['val_accuracy']:.2f} %"]
    if "epoch_seconds" in logs:
        parts.append(f"{logs['epoch_seconds']:.1f} s")
    return ", ".join(parts)


def progress_line(logs: dict, paused: bool = False) -> str:
    """The progress line under the bar, from an on_batch_end ``logs``."""
    return (f"Epoch {logs['epoch'] + 1}/{logs['epochs']} · batch {logs['batch'] + 1}/"
            f"{logs['batches_per_epoch']} · loss {logs.get('loss', math.nan):.4f} · "
            f"acc {100 * logs.get('accuracy', math.nan):.1f} % · "
            f"{logs.get('images_per_sec', 0):,.0f} img/s · "
            f"ETA {duration(float(logs.get('eta_seconds', math.nan)))}"
            + (" · PAUSED" if paused else ""))


def run_line(dataset_name: str, config) -> str:
    """"<b>mnist</b> · lenet5 · 5 epochs · batch 64 · adam lr 0.001 (onecycle)"."""
    return (f"<b>{dataset_name}</b> · {config.arch_label} · {config.epochs} epochs · batch "
            f"{config.batch_size} · {config.optimizer} lr {config.lr:g} ({config.schedule})"
            f"{' · augmented' if config.augment else ''}"
            + "".join(f" · {part}" for part in config.recipe_parts()))
