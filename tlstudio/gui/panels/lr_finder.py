"""The Training page's LR range test: a button, the loss-against-LR curve with both suggestions marked,
and one click to use a suggestion as the learning rate.

The test runs in the app's background pool with the app's own TensorFlow (`tools/lr_finder.py`): on a
frozen backbone it trains only the head on cached features, seconds of work.
"""

from __future__ import annotations

import math

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt, Slot
from PySide6.QtWidgets import QHBoxLayout, QPushButton, QWidget

from tlstudio.gui.background import Task, TaskContext, TaskRunner, TensorFlowLoader
from tlstudio.gui.panels.tool import ToolPanel
from tlstudio.gui.state.dataset_model import DatasetModel
from tlstudio.gui.state.project_model import ProjectModel
from tlstudio.gui.widgets.common import named
from tlstudio.gui.widgets.plots import LR_COLOR, PHASE_COLOR, TRAIN_COLOR, fit_y_range
from tlstudio.train.events import Observer, PrepareProgress, StopToken


class _ProgressToTask(Observer):
    """The range test's progress as the background task's."""

    def __init__(self, context: TaskContext) -> None:
        self.context = context

    def on_prepare(self, event: PrepareProgress) -> None:
        if self.context.status != event.stage:
            self.context.message(event.stage)
        if event.total:
            self.context.progress(event.done, event.total)


class LRFinderPanel(ToolPanel):
    def __init__(self, project: ProjectModel, dataset: DatasetModel, runner: TaskRunner,
                 tensorflow: TensorFlowLoader, parent: QWidget | None = None) -> None:
        super().__init__(
            "Find the learning rate (range test)", "trainingLRFinderBox",
            "Trains briefly while the learning rate grows from 1e-7 to 10 and draws the loss (Smith's range test): "
            "take an LR where the loss falls fastest. Seconds with a frozen backbone; the model itself is not "
            "changed.", ("Find learning rate", "trainingFindLRButton",
                         "Run the LR range test with the current settings and data."),
            project, dataset, runner, tensorflow, parent)
        self.find_button = self.start_button
        self.result = None
        self.layout_.addLayout(self.controls)

        self.plot = self.add_plot("trainingLRFinderPlot", "Loss against learning rate", "learning rate",
                                  "loss (smoothed)")
        self.plot.getPlotItem().setLogMode(x=True)
        self.curve = self.plot.plot(pen=pg.mkPen(TRAIN_COLOR, width=2))
        self.markers = {}
        for key, color, label, height in (("steepest", LR_COLOR, "steepest", 0.92),
                                          ("minimum", PHASE_COLOR, "minimum / 10", 0.75)):
            pen = pg.mkPen(color, width=1.5, style=Qt.PenStyle.DashLine)
            marker = pg.InfiniteLine(angle=90, movable=False, pen=pen, label=label,
                                     labelOpts={"position": height, "color": color})
            marker.hide()
            self.plot.addItem(marker, ignoreBounds=True)
            self.markers[key] = marker

        use_row = QHBoxLayout()
        self.use_button = named(QPushButton("Use"), "trainingUseSuggestedLRButton", "Use the suggested learning rate")
        self.use_button.clicked.connect(lambda: self.apply(self.result.suggested_lr))
        self.use_minimum_button = named(QPushButton("Use minimum / 10"), "trainingUseMinimumLRButton",
                                        "Use a tenth of the LR at the lowest loss")
        self.use_minimum_button.clicked.connect(lambda: self.apply(self.result.minimum_lr / 10))
        for button in (self.use_button, self.use_minimum_button):
            button.hide()
            use_row.addWidget(button)
        use_row.addStretch(1)
        self.layout_.addLayout(use_row)

    @Slot()
    def start(self) -> Task | None:
        """Run the range test on a snapshot of the project; None when it cannot run now."""
        reason = self.blocker()
        if reason is not None:
            self.set_status(f"Cannot run the range test: {reason}", "error")
            return None
        if self.running is not None:
            return self.running
        snapshot = self._project.snapshot()

        def work(context: TaskContext, token: StopToken):
            from tlstudio.tools.lr_finder import find_learning_rate

            return find_learning_rate(snapshot, _ProgressToTask(context), token)

        return self.submit("LR range test", work)

    def apply(self, learning_rate: float) -> None:
        self._project.update({"optimizer.learning_rate": float(f"{learning_rate:.2g}")})
        self.set_status(f"Learning rate set to {learning_rate:.2g}.", "ready")

    @Slot(object)
    def _on_result(self, result) -> None:
        self.result = result
        self.curve.setData(np.asarray(result.learning_rates), np.asarray(result.smoothed))
        fit_y_range(self.plot, sticky=False)
        for key, value in (("steepest", result.steepest_lr), ("minimum", result.minimum_lr / 10)):
            marker = self.markers[key]
            marker.setVisible(value is not None)
            if value is not None:
                marker.setValue(math.log10(value))
        self.plot.show()
        self.use_button.setText(f"Use {result.suggested_lr:.2g}")
        self.use_button.show()
        self.use_minimum_button.setText(f"Use {result.minimum_lr / 10:.2g} (minimum / 10)")
        self.use_minimum_button.setVisible(result.steepest_lr is not None)
        steepest = f"steepest descent at {result.steepest_lr:.2g}; " if result.steepest_lr else ""
        self.set_status(f"Suggested learning rate {result.suggested_lr:.2g} ({steepest}lowest loss at "
                        f"{result.minimum_lr:.2g}; {len(result.losses)} steps in {result.seconds:.1f} s"
                        f"{', features cached' if result.feature_cache else ''}).", "ready")
