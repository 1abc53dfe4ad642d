"""Model ▸ Rename classes…: edit the current model's class names, one per line.

An imported ONNX graph often has none (its classes come in as 0..N-1); a user may also want
"airplane" where a file says "0". The names are checked by the engine; a refusal is one line
shown at the top of the dialog, which opens again with what was typed, so nothing is lost.
"""

from __future__ import annotations

from PySide6.QtWidgets import QInputDialog, QWidget

from gui.messages import show_info
from gui.state import AppModel

TITLE = "Rename classes"


def ask_class_names(parent: QWidget, names: list[str], problem: str = "") -> list[str] | None:
    """The names the user typed (one per line), or None when cancelled; ``problem`` says why
    the last attempt was refused."""
    label = f"One name per line, in output order ({len(names)} classes):"
    if problem:
        label = f"{problem}.\n\n{label}"
    text, ok = QInputDialog.getMultiLineText(parent, TITLE, label, "\n".join(names))
    if not ok:
        return None
    return [line for line in text.splitlines() if line.strip()]


def rename_classes_dialog(parent: QWidget, app_model: AppModel, ask=ask_class_names) -> bool:
    """Ask for new names for the current model's classes until they fit or the user cancels.

    ``ask``: the dialog (tests pass their own answers)."""
    trained = app_model.trained
    if trained is None:
        show_info(parent, "No model", "Train a model or open one first.")
        return False
    names, problem = trained.class_names, ""
    while True:
        typed = ask(parent, names, problem)
        if typed is None:
            return False
        try:
            app_model.rename_classes(typed)
            return True
        except ValueError as exc:
            names, problem = typed, str(exc).capitalize()
