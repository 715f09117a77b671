"""The frame every page shares: a title, a one-line explanation, then the page's own content."""

from __future__ import annotations

from PySide6.QtCore import Signal
from PySide6.QtWidgets import QFrame, QLabel, QScrollArea, QVBoxLayout, QWidget


class Page(QWidget):
    """A step of the work; subclasses fill `body`. Every page scrolls as a whole when the window is
    smaller than its content (`scroll` is accepted from older callers and changes nothing)."""

    summary_changed = Signal()

    def __init__(self, title: str, subtitle: str, object_name: str, *, scroll: bool = False,
                 parent: QWidget | None = None):
        super().__init__(parent)
        self.setObjectName(object_name)
        self.setAccessibleName(f"{title} page")
        outer = QVBoxLayout(self)
        outer.setContentsMargins(0, 0, 0, 0)
        # The whole page scrolls (title included) once the window is smaller than its content: on a
        # 1024x600 screen nothing is squeezed below the size it needs or cut off at the edge.
        self.scroll_area = QScrollArea()
        self.scroll_area.setObjectName(f"{object_name}Scroll")
        self.scroll_area.setWidgetResizable(True)
        self.scroll_area.setFrameShape(QFrame.Shape.NoFrame)
        outer.addWidget(self.scroll_area)
        content = QWidget()
        content.setObjectName(f"{object_name}Content")
        inner = QVBoxLayout(content)
        inner.setContentsMargins(18, 14, 18, 12)
        inner.setSpacing(6)
        self.title_label = QLabel(title)
        self.title_label.setProperty("role", "pageTitle")
        inner.addWidget(self.title_label)
        self.subtitle_label = QLabel(subtitle)
        self.subtitle_label.setProperty("role", "hint")
        self.subtitle_label.setWordWrap(True)
        inner.addWidget(self.subtitle_label)
        self.body = QWidget()
        self.body.setObjectName(f"{object_name}Body")
        inner.addWidget(self.body, 1)
        self.scroll_area.setWidget(content)

    @property
    def title(self) -> str:
        return self.title_label.text()

    def summary(self) -> str:
        """One short line for the step list under the page's name."""
        return ""
