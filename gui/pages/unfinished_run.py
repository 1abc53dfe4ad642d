"""The Train page's offer to resume a run that a previous session left unfinished.

A run that stops before its end (Stop, a crash, logout) leaves its latest checkpoint in the
checkpoints folder; this banner says what it was and offers "Resume it" or "Discard".
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from engine.training.checkpoint import Checkpoint, checkpoint_path, read_checkpoint
from gui.widgets.banner import Banner


def unfinished_line(checkpoint: Checkpoint) -> str:
    """The offer to resume the run ``checkpoint`` holds."""
    config = checkpoint.run.config
    arch = config.get("arch") if isinstance(config.get("arch"), str) else "custom"
    return (f"<b>An unfinished run was found</b>: {checkpoint.run.dataset_name}, {arch}, "
            f"stopped at epoch {checkpoint.epoch + 1} of {config.get('epochs', '?')}, batch "
            f"{checkpoint.batch}. Resume it where it stopped?")


class UnfinishedRunBanner(Banner):
    """``checkpoint_dir``: where runs keep their checkpoint; ``log``: where problems are said.
    ``dataset_name``: the data the unfinished run trained on (None when unknown)."""

    def __init__(self, checkpoint_dir: Callable[[], Path], log: Callable[[str], None]):
        super().__init__("#fff4d6", ("Resume it", "Discard"))
        self.resume_button, self.discard_button = self.buttons
        self._checkpoint_dir = checkpoint_dir
        self._log = log
        self.dataset_name: str | None = None

    def checkpoint(self) -> Path | None:
        """The unfinished run's checkpoint file, if there is one."""
        path = checkpoint_path(self._checkpoint_dir())
        return path if path.is_file() else None

    def refresh(self, running: bool) -> None:
        """Show the offer when a checkpoint is there and no run is going on."""
        path = self.checkpoint()
        if path is None or running:
            self.setVisible(False)
            return
        try:
            checkpoint = read_checkpoint(path)
        except (ValueError, OSError) as exc:
            self.label.setText(f"A checkpoint at {path} cannot be read: {exc}")
            self.resume_button.setEnabled(False)
            self.setVisible(True)
            return
        self.dataset_name = checkpoint.run.dataset.get("name")
        self.label.setText(unfinished_line(checkpoint))
        self.setVisible(True)

    def discard(self) -> None:
        """Remove the checkpoint (a failure is logged, not raised) and hide the offer."""
        path = self.checkpoint()
        if path is not None:
            try:
                path.unlink()
            except OSError as exc:
                self._log(f"Could not remove the checkpoint {path}: {exc.strerror or exc}")
        self.setVisible(False)
