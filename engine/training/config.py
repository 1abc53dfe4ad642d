"""What a training run is asked to do, as one plain-data object shared by the CLI and the GUI.

:class:`TrainingConfig` is stored in checkpoints and model files (``to_dict``) and read back
(``from_dict``); :func:`recommended_config` gives the settings of a dataset's recommended
preset (``models/<name>.json``: ``"datasets"`` and ``"recommended"``), the ones that reach the
accuracy quoted in the README.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

from engine.tta import TTA_MODES

OPTIMIZERS = ("sgd", "adam", "decoupled_sgd")
SCHEDULES = ("constant", "step", "cosine", "onecycle", "triangle")

# Batches between checkpoints of a run (each epoch end and a stop write one too): the one
# cadence of the command line and the app.
CHECKPOINT_EVERY = 100
# The most pixels of random translation a run may ask for (airbench uses 2).
MAX_TRANSLATE = 8
# The training-image flip a user picks, as the two TrainingConfig fields that carry it.
FLIPS = {"alternating": {"alternating_flip": True, "random_flip": False},
         "random": {"alternating_flip": False, "random_flip": True},
         "none": {"alternating_flip": False, "random_flip": False}}


@dataclass
class TrainingConfig:
    """Settings of one training run (all plain data).

    ``arch``: preset name or a spec (list of layer dicts). ``warmup_epochs`` may be fractional.
    ``threads``: 0 = the engine's default. ``val_split``: fraction of the training split held
    out (stratified) for validation. ``early_stopping``: patience in epochs on val_loss (0 =
    off). ``checkpoint_every``: batches between checkpoints (0 = only at epoch ends; they are
    written only when a checkpoint folder is given).
    ``max_train_images``: train on a stratified subset of this size (0 = all), for quick runs.
    airbench's pieces: ``optimizer="decoupled_sgd"`` (lr and weight decay per 1024 examples),
    ``schedule="triangle"``, ``sum_loss`` (gradients of the summed loss), ``lookahead`` (EMA
    of the weights every 5 steps from epoch 3), ``translate`` (pixels of random translation
    with reflection; replaces the dataset's default augmentation), ``alternating_flip`` (or
    ``random_flip``: each image mirrored with probability 1/2 per batch; at most one) and
    ``tta`` (test-time augmentation stored with the model: "none", "mirror", "translate",
    "mirror_translate").
    """

    dataset: str = "mnist"
    arch: Any = "digits-bn"
    epochs: int = 5
    batch_size: int = 64
    optimizer: str = "adam"
    lr: float = 1e-3
    momentum: float = 0.9
    nesterov: bool = False
    weight_decay: float = 0.0
    schedule: str = "constant"
    warmup_epochs: float = 0.0
    label_smoothing: float = 0.0
    grad_clip: float = 0.0
    augment: bool = False
    seed: int = 0
    threads: int = 0
    val_split: float = 0.1
    early_stopping: int = 0
    checkpoint_every: int = CHECKPOINT_EVERY
    max_train_images: int = 0
    sum_loss: bool = False
    lookahead: bool = False
    translate: int = 0
    alternating_flip: bool = False
    random_flip: bool = False
    tta: str = "none"

    def __post_init__(self) -> None:
        self.validate()

    def validate(self) -> None:
        """Raise ValueError naming the first setting out of range."""
        def need(ok: bool, message: str) -> None:
            if not ok:
                raise ValueError(message)

        need(isinstance(self.epochs, int) and self.epochs >= 1,
             f"epochs must be a whole number of at least 1, got {self.epochs!r}")
        need(isinstance(self.batch_size, int) and self.batch_size >= 1,
             f"batch size must be a whole number of at least 1, got {self.batch_size!r}")
        need(isinstance(self.lr, int | float) and self.lr > 0,
             f"learning rate must be positive, got {self.lr!r}")
        need(str(self.optimizer).lower() in OPTIMIZERS,
             f"unknown optimizer {self.optimizer!r} (choose from: {', '.join(OPTIMIZERS)})")
        need(str(self.schedule).lower() in SCHEDULES,
             f"unknown schedule {self.schedule!r} (choose from: {', '.join(SCHEDULES)})")
        need(0 <= self.val_split < 1, f"validation split must be in [0, 1), got {self.val_split}")
        need(isinstance(self.momentum, int | float) and 0 <= self.momentum < 1,
             f"momentum must be in [0, 1), got {self.momentum!r}")
        need(isinstance(self.weight_decay, int | float) and self.weight_decay >= 0,
             f"weight decay must be >= 0, got {self.weight_decay!r}")
        need(0 <= self.label_smoothing < 1,
             f"label smoothing must be in [0, 1), got {self.label_smoothing}")
        need(self.warmup_epochs >= 0, f"warm-up must be >= 0 epochs, got {self.warmup_epochs}")
        need(self.grad_clip >= 0, f"gradient clipping must be >= 0, got {self.grad_clip}")
        need(isinstance(self.seed, int) and self.seed >= 0,
             f"seed must be a non-negative whole number, got {self.seed!r}")
        for name in ("threads", "early_stopping", "checkpoint_every", "max_train_images"):
            value = getattr(self, name)
            need(isinstance(value, int) and value >= 0,
                 f"{name.replace('_', ' ')} must be a whole number >= 0, got {value!r}")
        for name in ("sum_loss", "lookahead", "alternating_flip", "random_flip"):
            need(isinstance(getattr(self, name), bool),
                 f"{name.replace('_', ' ')} must be true or false, got {getattr(self, name)!r}")
        need(not (self.alternating_flip and self.random_flip),
             "choose one flip: alternating or random, not both")
        need(isinstance(self.translate, int) and not isinstance(self.translate, bool)
             and 0 <= self.translate <= MAX_TRANSLATE,
             f"translate must be a whole number of pixels in 0..{MAX_TRANSLATE}, "
             f"got {self.translate!r}")
        need(self.tta in TTA_MODES, f"unknown test-time augmentation {self.tta!r} (choose from: "
             f"{', '.join(TTA_MODES)})")
        self.optimizer = str(self.optimizer).lower()
        self.schedule = str(self.schedule).lower()

    def validate_for_kind(self, kind: str | None) -> None:
        """Raise ValueError when a setting does not suit images of this kind ("digits",
        "grey", "colour"; None = not known yet): a mirrored digit is another symbol."""
        if kind == "digits" and ("mirror" in self.tta or self.alternating_flip
                                 or self.random_flip):
            raise ValueError("a mirrored digit is another symbol: for digits use test-time "
                             "augmentation \"translate\" or \"none\" and no flip")

    @property
    def flip(self) -> str:
        """The flip as one of :data:`FLIPS` ("none", "alternating", "random")."""
        fields = {"alternating_flip": self.alternating_flip, "random_flip": self.random_flip}
        return next(name for name, flip in FLIPS.items() if flip == fields)

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> TrainingConfig:
        """Build from :meth:`to_dict` output; unknown keys are refused, missing ones default."""
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(d) - known)
        if unknown:
            raise ValueError(f"unknown training settings: {', '.join(unknown)}")
        return cls(**d)

    def replace(self, **changes: Any) -> TrainingConfig:
        """A copy with ``changes`` applied (None values are ignored, as unset CLI options)."""
        return dataclasses.replace(self, **{k: v for k, v in changes.items() if v is not None})

    @property
    def arch_label(self) -> str:
        return self.arch if isinstance(self.arch, str) else "custom"

    def recipe_parts(self) -> list[str]:
        """The airbench-style settings in effect, in words ("translate 2", "lookahead", ...),
        for the lines that announce a run (command line and Train page)."""
        parts = [f"translate {self.translate}" if self.translate else "",
                 "alternating flip" if self.alternating_flip else "",
                 "random flip" if self.random_flip else "",
                 f"label smoothing {self.label_smoothing:g}" if self.label_smoothing else "",
                 "summed loss" if self.sum_loss else "",
                 "lookahead" if self.lookahead else "",
                 f"TTA {self.tta}" if self.tta != "none" else ""]
        return [part for part in parts if part]


# The presets whose recommended settings reach the README's accuracy figures; used unless a
# preset marks itself "default" for the dataset.
_PREFERRED = {"mnist": "digits-bn", "numtadb": "digits-bn", "fashion-mnist": "digits-bn",
              "cifar10": "airbench93"}
# Used when no preset names a dataset (e.g. an image folder), by dataset kind.
_FALLBACK_ARCH = {"digits": "digits-bn", "grey": "digits-bn", "colour": "cifar-vgg-bn"}


def _presets_for(dataset: str) -> list[dict]:
    from engine.spec import list_presets, load_preset

    found = []
    for name in list_presets():
        preset = load_preset(name)
        if dataset in preset.get("datasets", []):
            found.append(preset)
    return found


def _recommended_settings(preset: dict, dataset: str) -> dict:
    block = preset.get("recommended") or {}
    # Settings for all datasets, overridden by a per-dataset block: {"numtadb": {...}}.
    rec = {k: v for k, v in block.items() if not isinstance(v, dict)}
    if isinstance(block.get(dataset), dict):
        rec.update(block[dataset])
    known = {f.name for f in dataclasses.fields(TrainingConfig)}
    return {k: v for k, v in rec.items() if k in known and k not in ("dataset", "arch")}


def config_for(dataset_name: str, arch: Any = None, kind: str | None = None) -> TrainingConfig:
    """Settings to start from: the dataset's recommended ones when ``arch`` is None, else the
    ``arch`` preset's recommended settings (defaults for a custom spec)."""
    if arch is None:
        return recommended_config(dataset_name, kind)
    if isinstance(arch, str):
        from engine.spec import load_preset

        preset = load_preset(arch)
        return TrainingConfig(dataset=dataset_name, arch=arch,
                              **_recommended_settings(preset, str(dataset_name).lower()))
    return TrainingConfig(dataset=dataset_name, arch=arch)


def recommended_config(dataset_name: str, kind: str | None = None) -> TrainingConfig:
    """The recommended preset and settings for a dataset ("mnist", "cifar10", "numtadb", ...).

    Among the presets listing the dataset, the one whose ``recommended`` block says
    ``"default": true`` (or, failing that, the first with any recommended settings) wins. For a
    dataset no preset names, ``kind`` ("digits" / "colour") picks a small default network.
    """
    name = str(dataset_name).lower()
    presets = _presets_for(name)
    chosen = None
    for preset in presets:
        rec = preset.get("recommended") or {}
        flag = rec.get(name, rec) if isinstance(rec.get(name), dict) else rec
        if flag.get("default"):
            chosen = preset
            break
    if chosen is None:
        chosen = next((p for p in presets if p["name"] == _PREFERRED.get(name)), None)
    if chosen is None:
        with_settings = [p for p in presets if p.get("recommended")]
        chosen = (with_settings or presets or [None])[0]
    if chosen is None:
        from engine.spec import list_presets

        arch = _FALLBACK_ARCH.get(kind or "colour")
        if arch not in list_presets():
            arch = list_presets()[0] if list_presets() else arch
        return TrainingConfig(dataset=dataset_name, arch=arch)
    settings = _recommended_settings(chosen, name)
    return TrainingConfig(dataset=dataset_name, arch=chosen["name"], **settings)
