"""A coloured strip with a message and a few buttons (an unfinished run, a stopped run)."""

from __future__ import annotations

from PySide6.QtWidgets import QFrame, QHBoxLayout, QLabel, QPushButton, QWidget


class Banner(QFrame):
    """``label`` holds the (rich) text; ``buttons`` the buttons, in the order given."""

    def __init__(self, background: str, button_texts: tuple[str, ...],
                 parent: QWidget | None = None):
        super().__init__(parent)
        self.setFrameShape(QFrame.Shape.StyledPanel)
        self.setStyleSheet(f"QFrame {{ background: {background}; border-radius: 4px; }}")
        self.label = QLabel()
        self.label.setWordWrap(True)
        self.buttons = [QPushButton(text) for text in button_texts]
        layout = QHBoxLayout(self)
        layout.addWidget(self.label, 1)
        for button in self.buttons:
            layout.addWidget(button)
        self.setVisible(False)
