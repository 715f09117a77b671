"""What every pyqtgraph plot of the app shares: colours that follow the palette (light or dark), and a
short hint in place of bare axes while a plot has nothing to show."""

from __future__ import annotations

from collections.abc import Callable

import pyqtgraph as pg
from PySide6.QtCore import QEvent, QObject, Qt
from PySide6.QtGui import QColor, QPalette
from PySide6.QtWidgets import QLabel

from tlstudio.gui.style import colours, is_dark

AXES = ("left", "bottom", "right", "top")


def plot_colours(dark: bool) -> dict[str, QColor]:
    c = colours(dark)
    return {"background": QColor(c["base"]), "foreground": QColor("#c9d0d8" if dark else "#3c3c3c"),
            "legend": QColor(c["group"]), "border": QColor(c["border"]), "hint": QColor(c["hint"])}


def restyle(plot: pg.PlotWidget, dark: bool) -> None:
    """Background, axes, title and legend of `plot` in the colours of the light or dark scheme."""
    look = plot_colours(dark)
    plot.setBackground(look["background"])
    item = plot.getPlotItem()
    foreground = look["foreground"]
    for name in AXES:
        axis = item.getAxis(name)
        axis.setPen(foreground)
        axis.setTextPen(foreground)
    if item.titleLabel.text:
        item.titleLabel.setText(item.titleLabel.text, color=foreground.name())
    legend = item.legend
    if legend is not None:
        background = QColor(look["legend"])
        background.setAlpha(215)
        legend.setBrush(pg.mkBrush(background))
        legend.setPen(pg.mkPen(look["border"]))
        legend.setLabelTextColor(foreground)
        for _sample, label in legend.items:  # the colour is in each label's rich text: set it again
            label.setText(label.text, color=foreground.name())


class _PaletteFollower(QObject):
    def __init__(self, plot: pg.PlotWidget, extra: Callable[[bool], None] | None):
        super().__init__(plot)
        self._plot = plot
        self._extra = extra
        self.dark: bool | None = None
        self.apply()

    def apply(self) -> None:
        dark = is_dark()  # the application's: pyqtgraph's views keep a palette of their own
        if dark == self.dark:
            return
        self.dark = dark
        restyle(self._plot, dark)
        if self._extra is not None:
            self._extra(dark)

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:  # noqa: N802
        if event.type() in (QEvent.Type.PaletteChange, QEvent.Type.ApplicationPaletteChange,
                            QEvent.Type.StyleChange):
            self.apply()
        return False


def follow_palette(plot: pg.PlotWidget, extra: Callable[[bool], None] | None = None) -> None:
    """Style `plot` for the current palette now and whenever it changes; `extra(dark)` recolours what
    else the caller drew (markers, labels)."""
    follower = _PaletteFollower(plot, extra)
    plot.installEventFilter(follower)


class EmptyHint(QObject):
    """A short sentence in the middle of `plot`, with the axes hidden, while it has no data."""

    def __init__(self, plot: pg.PlotWidget, text: str):
        super().__init__(plot)
        self._plot = plot
        self.label = QLabel(text, plot)
        self.label.setObjectName(f"{plot.objectName()}EmptyHint")
        self.label.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.label.setWordWrap(True)
        self.label.setForegroundRole(QPalette.ColorRole.PlaceholderText)
        self.label.setAttribute(Qt.WidgetAttribute.WA_TransparentForMouseEvents)
        self.empty = False
        plot.installEventFilter(self)
        self.set_empty(True)

    @property
    def text(self) -> str:
        return self.label.text()

    def set_text(self, text: str) -> None:
        self.label.setText(text)
        self._place()

    def set_empty(self, empty: bool) -> None:
        if empty == self.empty:
            return
        self.empty = empty
        item = self._plot.getPlotItem()
        for name in ("left", "bottom"):
            item.showAxis(name, not empty)
        item.showGrid(x=not empty, y=not empty, alpha=0.15)
        self.label.setVisible(empty)
        self._place()

    def _place(self) -> None:
        margin = 16
        width = max(10, self._plot.width() - 2 * margin)
        height = min(self._plot.height(), self.label.heightForWidth(width))
        self.label.setGeometry(margin, max(0, (self._plot.height() - height) // 2), width, height)

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:  # noqa: N802
        if event.type() == QEvent.Type.Resize:
            self._place()
        return False
