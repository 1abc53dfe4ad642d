"""Freezing a whitening layer's bias after its first epochs, as airbench does."""

from __future__ import annotations

from engine.training.callbacks import Callback


class FreezeWhiteningBias(Callback):
    """Train each layer's bias only while the epoch is below the layer's ``bias_epochs``
    (``engine.layers.PatchWhitening``; None means always), then freeze it.

    The flag follows from the epoch alone and is set again when a run starts or resumes, so a
    resumed run freezes exactly where an uninterrupted one did.
    """

    def on_train_begin(self, logs: dict) -> None:
        self._apply(self.trainer.epoch)

    def on_epoch_begin(self, epoch: int, logs: dict) -> None:
        self._apply(epoch)

    def _apply(self, epoch: int) -> None:
        set_whitening_biases_for(self.trainer.model, epoch)


def set_whitening_biases_for(model, epoch: int) -> None:
    """Make each whitening bias of ``model`` trainable exactly while ``epoch`` (0-based) is
    below its layer's ``bias_epochs``."""
    for name, layer in zip(model.layer_names, model.layers, strict=True):
        epochs = getattr(layer, "bias_epochs", None)
        if epochs is not None:
            model.set_trainable(f"{name}.b", epoch < epochs)
