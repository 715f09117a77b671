"""Layouts that rearrange themselves on a small window: columns side by side when there is room,
one under the other when there is not.

Both report the stacked (narrow) width as their minimum, so a scroll area around them can always
make them narrow enough to stack; they stack below `wide_from` pixels (by default the width their
parts would like side by side).
"""

from __future__ import annotations

from PySide6.QtCore import QSize, Qt, QTimer
from PySide6.QtGui import QResizeEvent
from PySide6.QtWidgets import QBoxLayout, QLayout, QSplitter, QVBoxLayout, QWidget


def minimum_height_for_width(widget: QWidget, width: int) -> int:
    """The least height `widget` needs at `width`: its wrapped text counted at that width."""
    low = widget.minimumSizeHint().height()
    layout = widget.layout()
    if layout is not None and layout.hasHeightForWidth():
        margins = widget.contentsMargins()
        low = max(low, layout.totalMinimumHeightForWidth(width - margins.left() - margins.right()))
    elif widget.hasHeightForWidth():
        low = max(low, widget.heightForWidth(width))
    return low


class Columns(QWidget):
    """Two vertical layouts, `left` and `right`, side by side from `wide_from` px, else stacked."""

    def __init__(self, stretches: tuple[int, int] = (1, 1), wide_from: int | None = None,
                 parent: QWidget | None = None):
        super().__init__(parent)
        self.wide_from = wide_from
        self.box = QBoxLayout(QBoxLayout.Direction.LeftToRight, self)
        self.box.setContentsMargins(0, 6, 4, 0)
        self.box.setSpacing(14)
        # The widget's minimum is ours (minimumSizeHint), not the side-by-side layout's.
        self.box.setSizeConstraint(QLayout.SizeConstraint.SetNoConstraint)
        self.halves: list[QVBoxLayout] = []
        for stretch in stretches:
            half = QVBoxLayout()
            half.setSpacing(10)
            self.box.addLayout(half, stretch)
            self.halves.append(half)

    @property
    def stacked(self) -> bool:
        return self.box.direction() == QBoxLayout.Direction.TopToBottom

    def _threshold(self) -> int:
        if self.wide_from is not None:
            return self.wide_from
        margins = self.box.contentsMargins()
        return (sum(half.sizeHint().width() for half in self.halves) + self.box.spacing()
                + margins.left() + margins.right())

    def minimumSizeHint(self) -> QSize:  # noqa: N802
        margins = self.box.contentsMargins()
        width = max(half.minimumSize().width() for half in self.halves) + margins.left() + margins.right()
        return QSize(width, self.box.minimumSize().height())

    def sizeHint(self) -> QSize:  # noqa: N802
        return self.box.sizeHint()

    def hasHeightForWidth(self) -> bool:  # noqa: N802
        return self.box.hasHeightForWidth()

    def heightForWidth(self, width: int) -> int:  # noqa: N802
        return self.box.heightForWidth(width)

    def resizeEvent(self, event: QResizeEvent) -> None:  # noqa: N802
        direction = (QBoxLayout.Direction.LeftToRight if event.size().width() >= self._threshold()
                     else QBoxLayout.Direction.TopToBottom)
        if direction != self.box.direction():
            self.box.setDirection(direction)
            self.updateGeometry()  # the stacked page is taller: the scroll area around it must know
        super().resizeEvent(event)


class WrapAwareSplitter(QSplitter):
    """A splitter whose minimum height counts its parts' wrapped text at the width each part has.

    QSplitter asks its parts for their minimum size only, which for word-wrapped text is the height at
    some other width: side by side, a narrow part's labels and group boxes would be cut off."""

    def __init__(self, orientation: Qt.Orientation = Qt.Orientation.Horizontal, parent: QWidget | None = None):
        super().__init__(orientation, parent)
        self._minimum_height = 0

    def _parts_minimum_height(self) -> int:
        heights = []
        for i in range(self.count()):
            part = self.widget(i)
            if part.isHidden():
                continue
            heights.append(self._part_height(part))
        return max(heights, default=0)

    def _part_height(self, part: QWidget) -> int:
        """A part's height at its width: what its wrapped text asks for (Qt's minimum of text wrapped
        in nested rows comes out short, so the preferred height for the width is the safe one)."""
        low = part.minimumSizeHint().height()
        return max(low, part.heightForWidth(part.width())) if part.hasHeightForWidth() else low

    def minimumSizeHint(self) -> QSize:  # noqa: N802
        hint = super().minimumSizeHint()
        if self.orientation() == Qt.Orientation.Horizontal:
            hint.setHeight(max(hint.height(), self._minimum_height))
        return hint

    def resizeEvent(self, event: QResizeEvent) -> None:  # noqa: N802
        super().resizeEvent(event)
        if self.orientation() == Qt.Orientation.Horizontal:
            QTimer.singleShot(0, self, self._update_minimum)  # once the parts have their new widths

    def _update_minimum(self) -> None:
        height = self._parts_minimum_height()
        if height != self._minimum_height:
            self._minimum_height = height
            self.updateGeometry()


class StackingSplitter(WrapAwareSplitter):
    """A horizontal splitter that turns vertical (second part under the first) below `wide_from` px."""

    def __init__(self, wide_from: int, parent: QWidget | None = None):
        super().__init__(Qt.Orientation.Horizontal, parent)
        self.wide_from = wide_from

    def _part_height(self, part: QWidget) -> int:
        """Its parts (plots, a panel with a log) would like far more than they need: count the need."""
        return minimum_height_for_width(part, part.width())

    @property
    def stacked(self) -> bool:
        return self.orientation() == Qt.Orientation.Vertical

    def _stacked_heights(self, width: int) -> list[int]:
        """Each part's height one under the other: at least what it needs at this width, at most half
        as much again (a scrolling page stays a page, not a column of window-high plots)."""
        heights = []
        for i in range(self.count()):
            part = self.widget(i)
            low = part.minimumSizeHint().height()
            if part.hasHeightForWidth():
                low = max(low, part.heightForWidth(width))
            heights.append(max(low, min(part.sizeHint().height(), low * 3 // 2)))
        return heights

    def minimumSizeHint(self) -> QSize:  # noqa: N802
        parts = [self.widget(i).minimumSizeHint() for i in range(self.count())]
        if not parts:
            return super().minimumSizeHint()
        width = max(part.width() for part in parts)
        if not self.stacked:
            return QSize(width, max(max(part.height() for part in parts), self._parts_minimum_height()))
        return QSize(width, sum(self._stacked_heights(max(width, self.width())))
                     + self.handleWidth() * (len(parts) - 1))

    def sizeHint(self) -> QSize:  # noqa: N802
        if not self.stacked or self.count() == 0:
            return super().sizeHint()
        return QSize(max(self.widget(i).sizeHint().width() for i in range(self.count())),
                     self.minimumSizeHint().height())

    def resizeEvent(self, event: QResizeEvent) -> None:  # noqa: N802
        orientation = Qt.Orientation.Horizontal if event.size().width() >= self.wide_from else Qt.Orientation.Vertical
        if orientation != self.orientation():
            self.setOrientation(orientation)
            self.updateGeometry()
        if self.stacked:
            self.setSizes(self._stacked_heights(event.size().width()))
        super().resizeEvent(event)
