"""Text helpers that depend on what the installed fonts can show."""

from __future__ import annotations

from functools import cache
from typing import Any

from PySide6.QtGui import QFontDatabase


@cache
def can_show_bengali() -> bool:
    return bool(QFontDatabase.families(QFontDatabase.WritingSystem.Bengali))


def _needs_bengali(names: list[str]) -> bool:
    return any("\u0980" <= ch <= "\u09ff" for name in names for ch in name)


def class_labels(names: list[str], ascii_names: list[str] | None = None) -> list[str]:
    """The class names to show: Bengali numerals where a font can draw them, else ASCII."""
    names = list(names)
    if _needs_bengali(names) and not can_show_bengali() and ascii_names:
        return list(ascii_names)
    return names


def dataset_labels(dataset: Any) -> list[str]:
    return class_labels(dataset.class_names, getattr(dataset, "ascii_names", None))


def model_labels(trained: Any) -> list[str]:
    from gui.state.model_facts import ascii_names

    return class_labels(trained.class_names, ascii_names(trained))


def duration(seconds: float) -> str:
    """1:02:03 / 4:05 / 0:07."""
    if seconds != seconds or seconds < 0:  # NaN
        return "–"
    s = round(seconds)
    h, rem = divmod(s, 3600)
    m, s = divmod(rem, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m}:{s:02d}"
