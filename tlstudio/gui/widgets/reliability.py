"""Reliability diagram (pyqtgraph): per confidence bin, how often the model is right, against the diagonal a
perfectly calibrated model would follow. Bars below the diagonal: the model is surer than it is right.

The items are created once and fed with `set_bins`; the bins come from `tlstudio.predict.metrics.reliability_bins`.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt

from tlstudio.gui.widgets.plot_look import EmptyHint, follow_palette, plot_colours
from tlstudio.gui.widgets.plots import TRAIN_COLOR, VAL_COLOR

GAP_COLOR = (214, 39, 40, 110)  # translucent red over the blue bars, as in Guo et al.'s figures


class ReliabilityDiagram(pg.PlotWidget):
    def __init__(self, parent=None):
        super().__init__(parent)
        self.setObjectName("evaluateReliabilityDiagram")
        self.setAccessibleName("Reliability diagram")
        self.setToolTip("Bars: the share of right answers among the images given each confidence. A calibrated "
                        "model's bars reach the dashed diagonal; red shows the gap.")
        self.setMinimumHeight(150)
        item = self.getPlotItem()
        item.setLabel("bottom", "confidence")
        item.setLabel("left", "accuracy")
        item.setXRange(0, 1, padding=0.02)
        item.setYRange(0, 1, padding=0.02)
        item.setMouseEnabled(x=False, y=False)
        item.setMenuEnabled(False)
        item.hideButtons()
        item.showGrid(x=True, y=True, alpha=0.15)
        self.diagonal = item.plot([0, 1], [0, 1], pen=pg.mkPen(VAL_COLOR, width=1.5, style=Qt.PenStyle.DashLine))
        self.accuracy_bars = pg.BarGraphItem(x=[], height=[], width=0.0, brush=TRAIN_COLOR, pen=pg.mkPen("w"))
        self.gap_bars = pg.BarGraphItem(x=[], height=[], y0=[], width=0.0, brush=GAP_COLOR,
                                        pen=pg.mkPen((214, 39, 40), width=1))
        item.addItem(self.accuracy_bars)
        item.addItem(self.gap_bars)
        self.bins: dict[str, Any] | None = None
        follow_palette(self, lambda dark: self.accuracy_bars.setOpts(pen=pg.mkPen(plot_colours(dark)["background"])))
        self.empty_hint = EmptyHint(self, "How often the model is right at each confidence, once it is evaluated.")

    def set_bins(self, table: dict[str, Any] | None) -> None:
        """Draw `reliability_bins`' table (None clears); empty bins draw nothing."""
        self.bins = table
        self.empty_hint.set_empty(not table)
        if not table:
            self.accuracy_bars.setOpts(x=[], height=[], width=0.0)
            self.gap_bars.setOpts(x=[], height=[], y0=[], width=0.0)
            return
        edges = np.asarray(table["edges"], dtype=float)
        counts = np.asarray(table["counts"])
        used = counts > 0
        centres = ((edges[:-1] + edges[1:]) / 2)[used]
        width = float(np.diff(edges).min()) * 0.9
        accuracy = np.asarray(table["accuracy"], dtype=float)[used]
        confidence = np.asarray(table["confidence"], dtype=float)[used]
        self.accuracy_bars.setOpts(x=centres, height=accuracy, width=width)
        low = np.minimum(accuracy, confidence)
        self.gap_bars.setOpts(x=centres, y0=low, height=np.abs(confidence - accuracy), width=width)
