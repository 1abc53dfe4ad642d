"""A number box that gives back exactly the value it was given while it still shows it.

A QDoubleSpinBox rounds to its decimals, so a setting read from a model file (a weight decay
of 5e-6, a learning rate of 1/3) would come back changed although the user touched nothing.
"""

from __future__ import annotations

from PySide6.QtWidgets import QDoubleSpinBox

# How far the settings boxes let the user type. They take far more than is valid, so a value
# typed out of range stays as typed and is refused in words (a box's own limit would silently
# change 50 into 5).
TYPING_ROOM = 10**6


class PreciseSpinBox(QDoubleSpinBox):
    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self._given = self.value()

    def set_precise(self, value: float) -> None:
        """Show ``value`` (rounded to the box's decimals) and remember it unrounded."""
        self._given = float(value)
        self.setValue(self._given)

    def precise_value(self) -> float:
        """The value last given while the box still shows it rounded, else what it shows."""
        shown = self.value()
        return self._given if abs(shown - self._given) <= 0.5 * 10.0 ** -self.decimals() \
            else shown
