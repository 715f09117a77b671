"""The frame every page shares: a title, a one-line explanation, then the page's own content."""

from __future__ import annotations

from PySide6.QtCore import Signal
from PySide6.QtWidgets import QFrame, QLabel, QScrollArea, QVBoxLayout, QWidget


class _PageContent(QWidget):
    """The scrolled content: as tall as the window when it fits in it, scrolling only below its minimum.

    QScrollArea makes content with word-wrapped labels as tall as its preferred height for the width,
    which would make a page of plots scroll on any screen; this asks for the viewport's height instead
    whenever the layout's minimum for the width fits in it (splitters inside pass their parts' wrapped
    text on: responsive.WrapAwareSplitter)."""

    def __init__(self, area: QScrollArea, fill: bool):
        super().__init__()
        self._area = area
        self._fill = fill

    def heightForWidth(self, width: int) -> int:  # noqa: N802
        layout = self.layout()
        if layout is None:
            return super().heightForWidth(width)
        preferred = layout.heightForWidth(width)
        if not self._fill:
            return preferred
        minimum = max(layout.totalMinimumSize().height(), layout.totalMinimumHeightForWidth(width))
        return max(minimum, min(preferred, self._area.viewport().height()))


class Page(QWidget):
    """A step of the work; subclasses fill `body`. Every page scrolls as a whole when the window is
    smaller than its content. A `scroll` page (a page of settings) is always as tall as its content
    would like; the others (plots, lists, tables) fill the window and scroll only below their minimum."""

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
        content = _PageContent(self.scroll_area, fill=not scroll)
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
