"""The Training page's LR range test: a button, the loss-against-LR curve with both suggestions marked,
and one click to use a suggestion as the learning rate.

The test runs in the app's background pool with the app's own TensorFlow (`train/lr_finder.py`): on a
frozen backbone it trains only the head on cached features, seconds of work.
"""

from __future__ import annotations

import math

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt, Slot
from PySide6.QtWidgets import QGroupBox, QHBoxLayout, QLabel, QProgressBar, QPushButton, QVBoxLayout, QWidget

from tlstudio.gui.background import Task, TaskContext, TaskRunner, TensorFlowLoader
from tlstudio.gui.dataset_model import DatasetModel
from tlstudio.gui.plots import LR_COLOR, PHASE_COLOR, TRAIN_COLOR, fit_y_range
from tlstudio.gui.project_model import ProjectModel
from tlstudio.gui.widgets import hint_label, named
from tlstudio.train.events import Observer, PrepareProgress, StopToken
from tlstudio.train.readiness import training_blocker


class _ProgressToTask(Observer):
    """The range test's progress as the background task's."""

    def __init__(self, context: TaskContext) -> None:
        self.context = context

    def on_prepare(self, event: PrepareProgress) -> None:
        if self.context.status != event.stage:
            self.context.message(event.stage)
        if event.total:
            self.context.progress(event.done, event.total)


class LRFinderPanel(QGroupBox):
    def __init__(self, project: ProjectModel, dataset: DatasetModel, runner: TaskRunner,
                 tensorflow: TensorFlowLoader, parent: QWidget | None = None) -> None:
        super().__init__("Find the learning rate (range test)", parent)
        self.setObjectName("trainingLRFinderBox")
        self._project, self._dataset, self._runner, self._tensorflow = project, dataset, runner, tensorflow
        self._task: Task | None = None
        self._token: StopToken | None = None
        self.result = None
        layout = QVBoxLayout(self)
        layout.addWidget(hint_label("Trains briefly while the learning rate grows from 1e-7 to 10 and draws the "
                                    "loss (Smith's range test): take an LR where the loss falls fastest. Seconds "
                                    "with a frozen backbone; the model itself is not changed."))
        row = QHBoxLayout()
        self.find_button = named(QPushButton("Find learning rate"), "trainingFindLRButton", "Find learning rate",
                                 "Run the LR range test with the current settings and data.")
        self.find_button.clicked.connect(self.start)
        row.addWidget(self.find_button)
        self.cancel_button = named(QPushButton("Cancel"), "trainingFindLRCancelButton", "Cancel the range test")
        self.cancel_button.clicked.connect(self.cancel)
        self.cancel_button.hide()
        row.addWidget(self.cancel_button)
        self.progress = QProgressBar()
        self.progress.setMaximumWidth(160)
        self.progress.hide()
        row.addWidget(self.progress)
        self.status_label = QLabel()
        self.status_label.setObjectName("trainingFindLRStatus")
        self.status_label.setWordWrap(True)
        row.addWidget(self.status_label, 1)
        layout.addLayout(row)

        self.plot = pg.PlotWidget()
        self.plot.setObjectName("trainingLRFinderPlot")
        self.plot.setAccessibleName("Loss against learning rate")
        self.plot.setFixedHeight(190)
        item = self.plot.getPlotItem()
        item.setLabel("bottom", "learning rate")
        item.setLabel("left", "loss (smoothed)")
        item.setLogMode(x=True)
        item.showGrid(x=True, y=True, alpha=0.15)
        item.setMenuEnabled(False)
        item.setMouseEnabled(x=False, y=False)
        item.hideButtons()
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
        self.plot.hide()
        layout.addWidget(self.plot)

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
        layout.addLayout(use_row)

    def blocker(self) -> str | None:
        if self._tensorflow.error:
            return f"TensorFlow could not be loaded: {self._tensorflow.error}"
        if not self._tensorflow.ready:
            return "loading TensorFlow…"
        return self._dataset.blocking_reason() or training_blocker(self._project.project)

    @Slot()
    def start(self) -> Task | None:
        """Run the range test on a snapshot of the project; None when it cannot run now."""
        reason = self.blocker()
        if reason is not None:
            self._set_status(f"Cannot run the range test: {reason}", "error")
            return None
        if self._task is not None:
            return self._task
        snapshot = self._project.snapshot()
        token = self._token = StopToken()

        def work(context: TaskContext):
            from tlstudio.train.lr_finder import find_learning_rate

            return find_learning_rate(snapshot, _ProgressToTask(context), token)

        task = self._task = self._runner.submit("LR range test", work)
        task.progressed.connect(self._on_progress)
        task.messaged.connect(lambda text: self._set_status(text[:1].upper() + text[1:] + "…", ""))
        task.succeeded.connect(self._on_result)
        task.failed.connect(self._on_failed)
        task.finished.connect(self._on_finished)
        self.find_button.setEnabled(False)
        self.cancel_button.show()
        self.progress.setRange(0, 0)
        self.progress.show()
        self._set_status("Preparing the data and the model…", "")
        return task

    @Slot()
    def cancel(self) -> None:
        if self._task is not None and self._token is not None:
            self._token.request_stop()
            self._task.cancel()
            self._set_status("Cancelling…", "")

    def apply(self, learning_rate: float) -> None:
        self._project.update({"optimizer.learning_rate": float(f"{learning_rate:.2g}")})
        self._set_status(f"Learning rate set to {learning_rate:.2g}.", "ready")

    @Slot(int, int)
    def _on_progress(self, done: int, total: int) -> None:
        self.progress.setRange(0, max(total, 1))
        self.progress.setValue(done)

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
        self._set_status(f"Suggested learning rate {result.suggested_lr:.2g} ({steepest}lowest loss at "
                         f"{result.minimum_lr:.2g}; {len(result.losses)} steps in {result.seconds:.1f} s"
                         f"{', features cached' if result.feature_cache else ''}).", "ready")

    @Slot(str)
    def _on_failed(self, message: str) -> None:
        if self._task is not None and self._task.cancelled:
            return
        self._set_status(f"The range test failed: {message}", "error")

    @Slot()
    def _on_finished(self) -> None:
        task = self.sender()
        if task is not None and task is self._task and task.cancelled:
            self._set_status("Range test cancelled.", "")
        self._task = self._token = None
        self.find_button.setEnabled(True)
        self.cancel_button.hide()
        self.progress.hide()

    def _set_status(self, text: str, role: str) -> None:
        self.status_label.setText(text)
        self.status_label.setProperty("role", role)
        self.status_label.style().unpolish(self.status_label)
        self.status_label.style().polish(self.status_label)
