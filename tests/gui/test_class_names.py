"""Model ▸ Rename classes…: an imported model's 0..N-1 (or any names) become the user's."""

from __future__ import annotations

from gui.class_names_dialog import rename_classes_dialog


def test_renaming_classes_marks_the_model_unsaved_and_every_page_shows_the_names(window,
                                                                                 tmp_path):
    window.app_model.set_model(window.app_model.trained, tmp_path / "m.pkl")  # saved, a file
    assert not window.windowTitle().startswith("m.pkl*")
    old = window.app_model.trained.class_names
    new = [f"class {name}" for name in old]
    asked = []

    def ask(parent, names, problem):
        asked.append((names, problem))
        return new[:-1] if len(asked) == 1 else new  # first try: one name short

    assert rename_classes_dialog(window, window.app_model, ask=ask)
    # The refusal is said in the dialog, which opens again with what was typed.
    assert asked[0] == (old, "")
    assert asked[1] == (new[:-1], f"The model has {len(old)} classes, got {len(old) - 1} names")
    assert window.app_model.trained.class_names == new
    assert window.windowTitle().startswith("m.pkl*")
    window.app_model.request_prediction(_blank(window), "blank.png")
    window.predict_page.predict_now()
    assert window.predict_page.answer_label.text() in new
    assert {bar.label for bar in window.predict_page.bars.bars()} <= set(new)


def test_cancelling_changes_nothing(window):
    before = window.app_model.model
    assert not rename_classes_dialog(window, window.app_model, ask=lambda *a: None)
    assert window.app_model.model is before


def _blank(window):
    import numpy as np

    return np.zeros(window.app_model.trained.input_shape, np.uint8)
