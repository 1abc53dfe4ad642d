"""`python main.py train`: train a network on a dataset, with checkpoints, and save the model."""

from __future__ import annotations

import argparse
import signal
import sys
import time
from pathlib import Path
from typing import Any, TextIO

from engine.training.callbacks import Callback
from engine.training.config import (
    FLIPS,
    MAX_TRANSLATE,
    OPTIMIZERS,
    SCHEDULES,
    TrainingConfig,
    config_for,
)
from engine.tta import TTA_MODES

DEFAULT_CHECKPOINT_ROOT = Path("checkpoints")


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "train", help="train a network on a dataset and save the model",
        description="Train a network on a dataset and save it as a model file. Without --arch "
        "and --epochs, the dataset's recommended preset and settings are used (the ones that "
        "reach the README's accuracy). Ctrl-C stops after the current batch, writes a "
        "checkpoint and prints how to resume.")
    p.add_argument("--dataset", help="mnist, fashion-mnist, cifar10, numtadb, or a path to an "
                   "image folder / zip (not needed with --resume)")
    p.add_argument("--arch", help="preset name (see `archs`) or a JSON file with a layer list")
    p.add_argument("--epochs", type=int)
    p.add_argument("--batch-size", type=int)
    p.add_argument("--lr", type=float, help="(peak) learning rate")
    p.add_argument("--optimizer", choices=OPTIMIZERS)
    p.add_argument("--momentum", type=float, help="SGD momentum")
    p.add_argument("--nesterov", action=argparse.BooleanOptionalAction, default=None,
                   help="Nesterov momentum (sgd)")
    p.add_argument("--weight-decay", type=float)
    p.add_argument("--schedule", choices=SCHEDULES, help="learning-rate schedule")
    p.add_argument("--warmup-epochs", type=float)
    p.add_argument("--label-smoothing", type=float, help="weight of the uniform target, in "
                   "[0, 1) (airbench: 0.2)")
    p.add_argument("--sum-loss", action=argparse.BooleanOptionalAction, default=None,
                   help="gradients of the loss summed over the batch, not its mean (airbench)")
    p.add_argument("--lookahead", action=argparse.BooleanOptionalAction, default=None,
                   help="a moving average of the weights every 5 steps, copied into the model "
                   "at the end (airbench)")
    p.add_argument("--grad-clip", type=float, help="clip the global gradient norm (0 = off)")
    p.add_argument("--augment", action=argparse.BooleanOptionalAction, default=None,
                   help="random shifts/rotations (digits) or crops/flips (colour)")
    p.add_argument("--translate", type=int, metavar="PIXELS",
                   help=f"random translation by up to PIXELS with reflection "
                   f"(0..{MAX_TRANSLATE}), instead "
                   "of --augment's (airbench: 2)")
    p.add_argument("--flip", choices=FLIPS, help="mirror training images: alternating (a "
                   "random half, the other half next epoch; airbench), random (each with "
                   "probability 1/2), none; colour images only; like --translate, a flip "
                   "replaces --augment's crops and flips")
    p.add_argument("--tta", choices=TTA_MODES, help="test-time augmentation stored with the "
                   "model: averaged predictions of the image and its mirror and/or 1-pixel "
                   "translations (mirrors for colour images only)")
    p.add_argument("--seed", type=int)
    p.add_argument("--threads", type=int, help="worker threads (default: all cores)")
    p.add_argument("--val-split", type=float, help="fraction of training images held out "
                   "for validation (stratified; default 0.1)")
    p.add_argument("--early-stopping", type=int, metavar="PATIENCE",
                   help="stop after PATIENCE epochs without a better validation loss")
    p.add_argument("--max-train-images", type=int, metavar="N",
                   help="train on a stratified subset of N images (quick tries)")
    p.add_argument("--data-dir", help="folder holding the datasets (default: $CNN_STUDIO_DATA "
                   "or the per-user data folder)")
    p.add_argument("--out", default="model.pkl",
                   help="model file to write (.pkl; .npz writes .npz + .json) [model.pkl]")
    p.add_argument("--checkpoint-dir", help="where checkpoints go "
                   "[checkpoints/<dataset>-<arch>]")
    p.add_argument("--checkpoint-every", type=int, metavar="N",
                   help="write a checkpoint every N batches as well as at each epoch end "
                   "[100; 0 = epoch ends only]")
    p.add_argument("--resume", metavar="CKPT", help="continue the run saved in this checkpoint "
                   "(file or folder) with its settings; only --lr, --epochs and --schedule may "
                   "change them (recorded in the model file's resumes), other settings are "
                   "refused")
    p.set_defaults(func=run)


_OPTION_FIELDS = ("epochs", "batch_size", "lr", "optimizer", "momentum", "nesterov",
                  "weight_decay", "schedule", "warmup_epochs", "label_smoothing", "sum_loss",
                  "lookahead", "grad_clip", "augment", "translate", "tta", "seed", "threads",
                  "val_split", "early_stopping", "max_train_images", "checkpoint_every")


def _arch_value(arch: str | None) -> Any:
    """A preset name as is; a path to a JSON file -> its checked layer list."""
    if arch is None or not arch.lower().endswith(".json"):
        return arch
    from engine.arch_file import read_arch_file

    return read_arch_file(arch).layers


def config_from_args(args: argparse.Namespace, kind: str | None = None) -> TrainingConfig:
    """The run's settings: the recommended (or the --arch preset's) ones, then the options."""
    base = config_for(args.dataset, _arch_value(args.arch), kind=kind)
    flips = FLIPS[args.flip] if args.flip else {}
    return base.replace(**{name: getattr(args, name) for name in _OPTION_FIELDS}, **flips)


def _load_dataset(name: str, data_dir: str | None, out: TextIO) -> Any:
    from engine import data

    out.write(f"loading {name} ...\n")
    out.flush()
    start = time.perf_counter()
    ds = data.load(name, data_dir=data_dir)
    out.write(f"{ds.name}: {len(ds.y_train)} training and {len(ds.y_test)} test images, "
              f"{'x'.join(map(str, ds.input_shape))}, {len(ds.class_names)} classes "
              f"({time.perf_counter() - start:.1f} s)\n")
    return ds


def _fmt_seconds(seconds: float) -> str:
    seconds = max(0, round(seconds))
    if seconds >= 3600:
        return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m"
    if seconds >= 60:
        return f"{seconds // 60}m{seconds % 60:02d}s"
    return f"{seconds}s"


class ProgressPrinter(Callback):
    """The command line's view of training: a live progress line and one line per epoch.

    On a terminal the progress line is rewritten in place (at most 5 times a second);
    otherwise a progress line is printed every ``log_every`` seconds.
    """

    def __init__(self, out: TextIO | None = None, log_every: float = 10.0) -> None:
        self.out = out or sys.stdout
        self.live = bool(getattr(self.out, "isatty", lambda: False)())
        self.interval = 0.2 if self.live else log_every
        self._last = 0.0
        self._width = 0

    def _write_live(self, text: str) -> None:
        pad = max(0, self._width - len(text))
        self.out.write("\r" + text + " " * pad)
        self._width = len(text)
        self.out.flush()

    def _end_live(self) -> None:
        if self.live and self._width:
            self.out.write("\r" + " " * self._width + "\r")
            self._width = 0

    def on_train_begin(self, logs: dict) -> None:
        self._last = time.perf_counter()
        if logs["step"]:
            self.out.write(f"resuming epoch {logs['epoch'] + 1} after batch {logs['batch']}\n")

    def on_batch_end(self, batch: int, logs: dict) -> None:
        now = time.perf_counter()
        if now - self._last < self.interval and batch + 1 < logs["batches_per_epoch"]:
            return
        self._last = now
        text = (f"epoch {logs['epoch'] + 1}/{logs['epochs']}  batch {batch + 1}/"
                f"{logs['batches_per_epoch']}  loss {logs['loss']:.4f}  "
                f"acc {logs['accuracy'] * 100:.2f}%  {logs['images_per_sec']:.0f} img/s  "
                f"ETA {_fmt_seconds(logs['eta_seconds'])}")
        if self.live:
            self._write_live(text)
        else:
            self.out.write(text + "\n")
            self.out.flush()

    def on_epoch_end(self, epoch: int, logs: dict) -> None:
        self._end_live()
        text = (f"epoch {epoch + 1}/{logs['epochs']}: loss {logs['loss']:.4f}  "
                f"acc {logs['accuracy'] * 100:.2f}%")
        if "val_loss" in logs:
            text += f"  val_loss {logs['val_loss']:.4f}  val_acc {logs['val_accuracy'] * 100:.2f}%"
        text += (f"  lr {logs['lr']:.2g}  {logs['images_per_sec']:.0f} img/s  "
                 f"{logs['epoch_seconds']:.1f} s")
        self.out.write(text + "\n")
        self.out.flush()

    def on_train_end(self, logs: dict) -> None:
        self._end_live()


class _InterruptToStop:
    """First Ctrl-C (or SIGTERM, what a desktop session or ``kill`` sends) asks the trainer to
    stop after the current batch and write a checkpoint; a second one aborts."""

    def __init__(self, control: Any, out: TextIO) -> None:
        self.control = control
        self.out = out
        self._previous = None

    def _handle(self, signum: int, frame: Any) -> None:
        if self.control.stop_requested:
            raise KeyboardInterrupt
        what = "terminate signal" if signum == signal.SIGTERM else "Ctrl-C"
        self.out.write(f"\n{what}: stopping after this batch and writing a checkpoint "
                       "(Ctrl-C again to abort without one) ...\n")
        self.out.flush()
        self.control.stop()

    def __enter__(self) -> _InterruptToStop:
        self._previous = {}
        for signum in (signal.SIGINT, signal.SIGTERM):
            try:
                self._previous[signum] = signal.signal(signum, self._handle)
            except ValueError:  # not the main thread: leave the signals alone
                break
        return self

    def __exit__(self, *exc: Any) -> None:
        for signum, handler in self._previous.items():
            signal.signal(signum, handler)


def _resume_command(checkpoint: str, out_path: str, data_dir: str | None) -> str:
    parts = ["python main.py train --resume", _quote(checkpoint)]
    if out_path != "model.pkl":
        parts += ["--out", _quote(out_path)]
    if data_dir:
        parts += ["--data-dir", _quote(data_dir)]
    return " ".join(parts)


def _quote(text: str) -> str:
    import shlex

    return shlex.quote(text)


def _resume_overrides(args: argparse.Namespace) -> dict:
    """--lr, --epochs, --schedule given with --resume; any other setting is refused."""
    from engine.training.run import RESUME_OVERRIDES

    fixed = [name for name in (*_OPTION_FIELDS, "flip")
             if name not in (*RESUME_OVERRIDES, "threads") and getattr(args, name) is not None]
    for name in ("dataset", "arch"):
        if getattr(args, name) is not None:
            fixed.insert(0, name)
    if fixed:
        options = ", ".join("--" + name.replace("_", "-") for name in fixed)
        raise ValueError(f"a resumed run keeps the settings in its checkpoint; only --lr, "
                         f"--epochs and --schedule can change: remove {options}")
    return {name: getattr(args, name) for name in RESUME_OVERRIDES}


def _prepare_folders(out_path: Path, checkpoint_dir: Path) -> None:
    """Before training: both folders must be writable, and leftovers of killed writes go."""
    from engine.atomic_files import check_writable_folder, remove_stale_temps
    from engine.training.checkpoint import CHECKPOINT_NAME

    if out_path.is_dir():
        raise IsADirectoryError(f"--out {out_path} is a folder; give a file name such as "
                                f"{out_path / 'model.pkl'}")
    check_writable_folder(out_path.parent, "--out")
    check_writable_folder(checkpoint_dir, "--checkpoint-dir")
    remove_stale_temps(out_path.parent, [out_path.name, out_path.with_suffix(".json").name,
                                         out_path.with_suffix(".npz").name])
    remove_stale_temps(checkpoint_dir, [CHECKPOINT_NAME])


def run(args: argparse.Namespace, out: TextIO | None = None) -> int:
    from engine.serialize import save_model
    from engine.training.checkpoint import read_checkpoint
    from engine.training.run import resumed_config, train_model
    from engine.training.trainer import TrainingControl

    out = out or sys.stdout

    overrides = None
    if args.resume:
        overrides = _resume_overrides(args)
        config = resumed_config(read_checkpoint(args.resume), None, overrides)
        if args.threads is not None:
            config.threads = args.threads
        dataset = _load_dataset(config.dataset, args.data_dir, out)
        resume = Path(args.resume)
        checkpoint_dir = Path(args.checkpoint_dir) if args.checkpoint_dir else (
            resume if resume.is_dir() else resume.parent)
    else:
        if not args.dataset:
            raise ValueError("say which data to train on: --dataset mnist (or cifar10, "
                             "numtadb, fashion-mnist, a folder), or --resume a checkpoint")
        dataset = _load_dataset(args.dataset, args.data_dir, out)
        config = config_from_args(args, kind=dataset.kind)
        checkpoint_dir = Path(args.checkpoint_dir) if args.checkpoint_dir else (
            DEFAULT_CHECKPOINT_ROOT / f"{Path(args.dataset).name}-{config.arch_label}")
    out_path = Path(args.out)
    if out_path.suffix.lower() not in (".pkl", ".npz"):
        raise ValueError(f"--out must end in .pkl or .npz, got {out_path}")
    _prepare_folders(out_path, checkpoint_dir)

    recipe = "".join(f", {part}" for part in config.recipe_parts())
    out.write(f"training {config.arch_label} on {config.dataset}: {config.epochs} epochs, batch "
              f"{config.batch_size}, {config.optimizer} lr {config.lr:g} ({config.schedule}), "
              f"augment {'on' if config.augment else 'off'}{recipe}, seed {config.seed}\n")
    control = TrainingControl()
    with _InterruptToStop(control, out):
        trained = train_model(config, dataset, callbacks=[ProgressPrinter(out)],
                              checkpoint_dir=checkpoint_dir,
                              resume_from=args.resume, control=control,
                              evaluate_if_stopped=False, resume_overrides=overrides)
    meta = trained.meta
    if not meta["completed"]:
        epoch, batch = meta["stopped_at"]
        where = (f"after batch {batch} of epoch {epoch + 1}" if batch
                 else f"at the end of epoch {epoch}")
        checkpoint = meta["checkpoint"] or str(checkpoint_dir)
        out.write(f"stopped {where}; checkpoint: {checkpoint}\n"
                  f"resume with: {_resume_command(checkpoint, args.out, args.data_dir)}\n")
        return 130
    metrics = meta["metrics"]
    out.write(f"test accuracy: {metrics['test_accuracy'] * 100:.2f} % on {len(dataset.y_test)} "
              f"images; training took {metrics['train_seconds']:.1f} s\n")
    saved = save_model(trained, out_path)
    out.write(f"saved {saved} ({saved.stat().st_size / 1e6:.2f} MB)\n")
    return 0
