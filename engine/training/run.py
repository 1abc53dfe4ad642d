"""One training run from a TrainingConfig and a Dataset: the function the CLI and the GUI share.

:func:`train_model` does, in order: hold out a stratified validation split of the training
images, fit the Normalizer on what is left, build the model, optimizer, schedule and augmenter,
train (resuming from a checkpoint if asked), evaluate on the test split, and return a
:class:`~engine.serialize.TrainedModel` whose ``meta`` is ready for ``save_model``.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import math
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np

from engine.layers.whitening import fit_whitening_layers, fitting_sample
from engine.metrics import classification_report
from engine.trained_model import TrainedModel
from engine.training.callbacks import Callback, EarlyStopping
from engine.training.checkpoint import (
    Checkpoint,
    CheckpointError,
    checkpoint_path,
    read_checkpoint,
)
from engine.training.config import TrainingConfig, recommended_config
from engine.training.freezing import FreezeWhiteningBias
from engine.training.lookahead import Lookahead
from engine.training.trainer import Trainer, TrainingControl

__all__ = ["TrainingConfig", "dataset_fingerprint", "evaluate_model", "recommended_config",
           "train_model"]

# What the app's digit preprocessing does (engine.data.preprocess.digit_to_mnist), recorded in
# model files so a reader outside the app can reproduce it.
DIGIT_SETTINGS = {"function": "engine.data.preprocess.digit_to_mnist", "invert_light_background":
                  True, "crop_to_ink": True, "box": 20, "centre": "mass"}


def dataset_fingerprint(dataset: Any) -> str:
    """A SHA-256 over the dataset's arrays, shapes and class names: same data, same value."""
    h = hashlib.sha256()
    for name in ("x_train", "y_train", "x_test", "y_test"):
        array = np.ascontiguousarray(getattr(dataset, name))
        h.update(f"{name}:{array.dtype.str}:{array.shape};".encode())
        h.update(memoryview(array).cast("B"))
    h.update("\n".join(dataset.class_names).encode("utf-8"))
    return h.hexdigest()


RESUME_OVERRIDES = ("lr", "epochs", "schedule")


def resumed_config(checkpoint: Checkpoint, config: TrainingConfig | None,
                   overrides: dict | None = None) -> TrainingConfig:
    """The settings stored in ``checkpoint``; of ``config`` only ``threads`` is taken.

    ``overrides``: new values for the settings of RESUME_OVERRIDES (None values are ignored);
    ``epochs`` may not go below the epochs the checkpoint has already started.
    Raises CheckpointError / ValueError with one line.
    """
    if not checkpoint.run.config:
        raise CheckpointError(f"{checkpoint.path} is incomplete: it does not hold the run's "
                              "settings")
    try:
        stored = TrainingConfig.from_dict(checkpoint.run.config)
    except (ValueError, TypeError, KeyError) as exc:
        raise CheckpointError(f"{checkpoint.path}: its stored settings are malformed "
                              f"({str(exc).splitlines()[0][:200] if str(exc) else 'error'})"
                              ) from None
    changes = resume_changes(stored, overrides)
    if "epochs" in changes:
        started = checkpoint.epoch + (1 if checkpoint.batch else 0)
        if changes["epochs"][1] < max(started, 1):
            raise ValueError(f"the checkpoint has already started epoch {started}; --epochs "
                             f"must be at least {max(started, 1)}")
    stored = stored.replace(**{name: new for name, (_, new) in changes.items()})
    stored.validate()
    if config is not None:
        stored.threads = config.threads
    return stored


def resume_changes(stored: TrainingConfig, overrides: dict | None) -> dict:
    """{setting: [stored value, new value]} for the overrides that change something."""
    changes = {}
    for name, value in (overrides or {}).items():
        if name not in RESUME_OVERRIDES:
            raise ValueError(f"only {', '.join(RESUME_OVERRIDES)} can change when a run is "
                             f"resumed, not {name}")
        if value is not None and value != getattr(stored, name):
            changes[name] = [getattr(stored, name), value]
    return changes


def _subset(y: np.ndarray, size: int, seed: int) -> np.ndarray:
    """Indices of a stratified subset of ``size`` labels (all of them if size is 0 or larger)."""
    from engine.data.split import stratified_split

    if not size or size >= len(y):
        return np.arange(len(y))
    _, keep = stratified_split(y, size / len(y), seed=seed + 7919)
    return keep


def _build(config: TrainingConfig, dataset: Any, steps_per_epoch: int):
    from engine.spec import build_model
    from engine.training.optimizers import make_optimizer
    from engine.training.schedules import make_schedule

    model = build_model(config.arch, input_shape=dataset.input_shape,
                        num_classes=len(dataset.class_names), seed=config.seed)
    options: dict[str, Any] = {"weight_decay": config.weight_decay}
    if config.optimizer == "sgd":
        options.update(momentum=config.momentum, nesterov=config.nesterov and config.momentum > 0)
    elif config.optimizer == "decoupled_sgd":
        options.update(momentum=config.momentum, batch_size=config.batch_size)
    optimizer = make_optimizer(config.optimizer, model, config.lr, **options)
    total = config.epochs * steps_per_epoch
    warmup = min(round(config.warmup_epochs * steps_per_epoch), total - 1)
    schedule = make_schedule(config.schedule, config.lr, total, warmup_steps=warmup)
    return model, optimizer, schedule


def _augmenter(config: TrainingConfig, dataset: Any, num_images: int):
    if config.translate or config.alternating_flip or config.random_flip:
        from engine.data.augment import TranslateFlip

        return TranslateFlip(num_images, config.seed, config.translate, config.alternating_flip,
                             config.random_flip)
    if not config.augment:
        return None
    from engine.data import Augmenter

    return Augmenter(dataset.kind, seed=config.seed).augment


def train_model(config: TrainingConfig | None, dataset: Any, callbacks: Iterable[Callback] = (),
                checkpoint_dir: str | Path | None = None, resume_from: str | Path | None = None,
                control: TrainingControl | None = None, evaluate_if_stopped: bool = True,
                resume_overrides: dict | None = None) -> TrainedModel:
    """Train per ``config`` on ``dataset`` (an engine.data Dataset) and evaluate on its test split.

    ``callbacks`` receive the Trainer's hooks; ``control`` carries the stop / pause flags another
    thread may set. With ``checkpoint_dir`` a checkpoint is written every
    ``config.checkpoint_every`` batches, at each epoch end and when stopped. ``resume_from``
    (a checkpoint file or folder) continues that run with the configuration stored in it
    (``config`` may then be None; only its ``threads`` is taken), with ``resume_overrides``
    ({"lr": ..., "epochs": ..., "schedule": ...}) applied and recorded in ``meta["resumes"]``.
    A run stopped early is still evaluated unless ``evaluate_if_stopped`` is False;
    ``meta["completed"]`` tells which.

    Returns a TrainedModel whose ``meta`` holds everything :func:`engine.serialize.save_model`
    stores; ``meta["checkpoint"]`` is the last checkpoint written (or None).
    """
    from engine.data.normalize import Normalizer
    from engine.data.split import stratified_split
    from engine.threads import set_num_threads

    fingerprint = dataset_fingerprint(dataset)
    checkpoint = None
    resumes: list = []
    if resume_from is not None:
        checkpoint = read_checkpoint(resume_from)
        config = resumed_config(checkpoint, config, resume_overrides)
        resumes = list(checkpoint.run.resumes)
        changes = resume_changes(TrainingConfig.from_dict(checkpoint.run.config),
                                 resume_overrides)
        if changes:
            resumes.append({"at": [checkpoint.epoch, checkpoint.batch], "changes": changes})
        if checkpoint.run.fingerprint != fingerprint:
            raise CheckpointError(
                f"the checkpoint {resume_from} was made on other data "
                f"({checkpoint.run.dataset_name}); resume it with the same dataset it was "
                "trained on")
    if config is None:
        raise ValueError("train_model needs a TrainingConfig (or a checkpoint to resume)")
    config.validate()
    config.validate_for_kind(dataset.kind)
    if config.threads:
        set_num_threads(config.threads)

    keep = _subset(dataset.y_train, config.max_train_images, config.seed)
    train_idx, val_idx = stratified_split(dataset.y_train[keep], config.val_split, seed=config.seed)
    train_idx, val_idx = keep[train_idx], keep[val_idx]
    x_train, y_train = dataset.x_train[train_idx], dataset.y_train[train_idx]
    x_val, y_val = dataset.x_train[val_idx], dataset.y_train[val_idx]
    if len(x_train) == 0:
        raise ValueError("no training images are left after the validation split")
    normalizer = Normalizer.fit(x_train)
    steps_per_epoch = math.ceil(len(x_train) / config.batch_size)
    model, optimizer, schedule = _build(config, dataset, steps_per_epoch)

    dataset_info = {"name": dataset.name, "fingerprint": fingerprint, "kind": dataset.kind,
                    "source": str(getattr(dataset, "source", "")), "num_train": len(x_train),
                    "num_val": len(x_val), "num_test": len(dataset.y_test)}
    all_callbacks = list(callbacks)
    if config.early_stopping:
        all_callbacks.insert(0, EarlyStopping("val_loss", patience=config.early_stopping))
    all_callbacks.insert(0, FreezeWhiteningBias())
    if config.lookahead:
        all_callbacks.insert(0, Lookahead())
    trainer = Trainer(
        model, optimizer, epochs=config.epochs, batch_size=config.batch_size, seed=config.seed,
        label_smoothing=config.label_smoothing, schedule=schedule,
        augment=_augmenter(config, dataset, len(x_train)), transform=normalizer.norm,
        sum_loss=config.sum_loss,
        grad_clip=config.grad_clip or None, callbacks=all_callbacks,
        checkpoint_path=checkpoint_path(checkpoint_dir) if checkpoint_dir else None,
        checkpoint_every=config.checkpoint_every, control=control,
        extra_state={"config": config.to_dict(), "dataset": dataset_info,
                     "normalizer": normalizer.to_dict(), "resumes": resumes})
    if checkpoint is not None:
        try:
            trainer.load_state_dict(checkpoint.state)
        except (ValueError, KeyError, TypeError, IndexError, AttributeError) as exc:
            text = str(exc).splitlines()[0][:200] if str(exc) else type(exc).__name__
            raise CheckpointError(f"{checkpoint.path} does not fit its own run settings "
                                  f"(it may be damaged): {text}") from None

    start = time.perf_counter()
    if checkpoint is None:
        sample = fitting_sample(len(x_train), config.seed)
        fit_whitening_layers(model, normalizer.norm(x_train[sample]))
    trainer.fit(x_train, y_train, validation_data=(x_val, y_val) if len(x_val) else None)
    train_seconds = time.perf_counter() - start

    trained = TrainedModel(model, {
        "arch_name": config.arch_label,
        "class_names": list(dataset.class_names),
        "ascii_names": list(getattr(dataset, "ascii_names", None) or dataset.class_names),
        "input_shape": list(dataset.input_shape),
        "preprocessing": {"normalizer": normalizer.to_dict(), "kind": dataset.kind,
                          "digit": dict(DIGIT_SETTINGS) if dataset.kind == "digits" else None},
        "training": config.to_dict(),
        "dataset": dataset_info,
        "history": trainer.history.state_dict()["history"],
        "completed": trainer.completed,
        "stopped_at": [trainer.epoch, trainer.batch],
        "checkpoint": str(trainer.last_checkpoint) if trainer.last_checkpoint else None,
        "created": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
        "tta": config.tta,
        "resumes": resumes,
    })
    metrics: dict[str, Any] = {"train_seconds": train_seconds,
                               "epochs_run": trainer.epoch + (trainer.batch > 0)}
    history = trainer.history.history
    if history.get("val_accuracy"):
        metrics["val_accuracy"] = history["val_accuracy"][-1]
    if trainer.completed or evaluate_if_stopped:
        report = evaluate_model(trained, dataset.x_test, dataset.y_test)
        metrics.update(test_accuracy=report["accuracy"],
                       confusion_matrix=report["confusion_matrix"],
                       per_class=report["per_class"])
        if "top3_accuracy" in report:
            metrics["test_top3_accuracy"] = report["top3_accuracy"]
        _calibrate_familiarity(trained, dataset)
    trained.meta["metrics"] = metrics
    return trained


def _calibrate_familiarity(trained: TrainedModel, dataset: Any) -> None:
    """Store the "unlike the training data" threshold, calibrated on the test split, in
    ``trained.meta`` (engine.explain.ood), so every model trained here can warn about inputs
    unlike anything it was trained on. Nothing is stored without test images or when the
    network's scores are not finite."""
    from engine.explain.ood import calibrate_ood, store_ood_calibration

    if len(dataset.y_test) == 0:
        return
    calibration = calibrate_ood(trained.model, trained.normalize(dataset.x_test),
                                dataset=dataset.name, split="test")
    if np.isfinite(calibration.threshold):
        store_ood_calibration(trained.meta, calibration)


def evaluate_model(trained: TrainedModel, x: np.ndarray, y: np.ndarray,
                   batch_size: int = 500) -> dict:
    """:func:`engine.metrics.classification_report` of ``trained`` on x (N, H, W, C) uint8 and
    y (N,); the report also carries ``"probabilities"`` (N, K)."""
    trained.check_images(x)
    probs = np.concatenate([trained.predict_proba(x[i:i + batch_size])
                            for i in range(0, len(x), batch_size)]) if len(x) else np.zeros(
        (0, trained.num_classes), dtype=np.float32)
    report = classification_report(y, probs, trained.class_names)
    report["probabilities"] = probs
    return report
