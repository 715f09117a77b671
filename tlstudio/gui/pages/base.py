"""The frame every page shares: a title, a one-line explanation, then the page's own content."""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QFrame, QLabel, QScrollArea, QVBoxLayout, QWidget


class Page(QWidget):
    """A step of the work; subclasses fill `body` (inside a scroll area when `scroll`)."""

    summary_changed = Signal()

    def __init__(self, title: str, subtitle: str, object_name: str, *, scroll: bool = False,
                 parent: QWidget | None = None):
        super().__init__(parent)
        self.setObjectName(object_name)
        self.setAccessibleName(f"{title} page")
        outer = QVBoxLayout(self)
        outer.setContentsMargins(18, 14, 18, 12)
        outer.setSpacing(6)
        self.title_label = QLabel(title)
        self.title_label.setProperty("role", "pageTitle")
        outer.addWidget(self.title_label)
        self.subtitle_label = QLabel(subtitle)
        self.subtitle_label.setProperty("role", "hint")
        self.subtitle_label.setWordWrap(True)
        outer.addWidget(self.subtitle_label)
        self.body = QWidget()
        self.body.setObjectName(f"{object_name}Body")
        if scroll:
            area = QScrollArea()
            area.setObjectName(f"{object_name}Scroll")
            area.setWidgetResizable(True)
            area.setFrameShape(QFrame.Shape.NoFrame)
            area.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
            area.setWidget(self.body)
            outer.addWidget(area, 1)
        else:
            outer.addWidget(self.body, 1)

    @property
    def title(self) -> str:
        return self.title_label.text()

    def summary(self) -> str:
        """One short line for the step list under the page's name."""
        return ""
