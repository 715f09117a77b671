"""What the Training page's tools (the LR range test, the optimizer race) share: a start button, Cancel,
a progress bar and a status line, the rule for when they may run, and one background task at a time
with a stop token the core checks between steps.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pyqtgraph as pg
from PySide6.QtCore import Slot
from PySide6.QtWidgets import QGroupBox, QHBoxLayout, QLabel, QProgressBar, QPushButton, QVBoxLayout, QWidget

from tlstudio.gui.background import Task, TaskContext, TaskRunner, TensorFlowLoader
from tlstudio.gui.state.dataset_model import DatasetModel
from tlstudio.gui.state.project_model import ProjectModel
from tlstudio.gui.widgets.common import TaskHolder, hint_label, named, set_status
from tlstudio.gui.widgets.plot_look import follow_palette
from tlstudio.train.events import StopToken
from tlstudio.train.readiness import training_blocker


class ToolPanel(QGroupBox):
    """A group box with the tool's explanation, then (`controls`) start, Cancel, progress and status.
    Subclasses add their own widgets to `layout_` and implement `_on_result`."""

    def __init__(self, title: str, object_name: str, explanation: str, start: tuple[str, str, str],
                 project: ProjectModel, dataset: DatasetModel, runner: TaskRunner, tensorflow: TensorFlowLoader,
                 parent: QWidget | None = None) -> None:
        super().__init__(title, parent)
        self.setObjectName(object_name)
        self._project, self._dataset, self._tensorflow = project, dataset, tensorflow
        self._token: StopToken | None = None
        self.layout_ = QVBoxLayout(self)
        self.layout_.addWidget(hint_label(explanation))
        self.controls = QHBoxLayout()
        text, name, tip = start
        self.start_button = named(QPushButton(text), name, text, tip)
        self.start_button.clicked.connect(self.start)
        self.controls.addWidget(self.start_button)
        self.cancel_button = named(QPushButton("Cancel"), f"{name}Cancel", f"Cancel: {text}")
        self.cancel_button.clicked.connect(self.cancel)
        self.cancel_button.hide()
        self.controls.addWidget(self.cancel_button)
        self.progress = QProgressBar()
        self.progress.setMaximumWidth(160)
        self.progress.hide()
        self.controls.addWidget(self.progress)
        self._work = TaskHolder(runner, self.progress, name_stage=False, parent=self)  # the stage: in the status
        self.status_label = QLabel()
        self.status_label.setObjectName(f"{object_name}Status")
        self.status_label.setWordWrap(True)
        self.controls.addWidget(self.status_label, 1)

    def add_plot(self, object_name: str, description: str, x_label: str, y_label: str) -> pg.PlotWidget:
        """The tool's result plot, fixed in place (no mouse, no menu), hidden until there is a result."""
        plot = pg.PlotWidget()
        plot.setObjectName(object_name)
        plot.setAccessibleName(description)
        plot.setFixedHeight(190)
        item = plot.getPlotItem()
        item.setLabel("bottom", x_label)
        item.setLabel("left", y_label)
        item.showGrid(x=True, y=True, alpha=0.15)
        item.setMenuEnabled(False)
        item.setMouseEnabled(x=False, y=False)
        item.hideButtons()
        follow_palette(plot)
        plot.hide()
        self.layout_.addWidget(plot)
        return plot

    def blocker(self) -> str | None:
        """Why the tool cannot run now (it trains, so the Train button's rule, and the app's TensorFlow)."""
        if self._tensorflow.error:
            return f"TensorFlow could not be loaded: {self._tensorflow.error}"
        if not self._tensorflow.ready:
            return "loading TensorFlow…"
        return self._dataset.blocking_reason() or training_blocker(self._project.project)

    def start(self) -> Task | None:  # pragma: no cover - each tool says what it runs
        raise NotImplementedError

    @property
    def running(self) -> Task | None:
        """The tool's run in progress, if any."""
        return self._work.task

    def submit(self, name: str, work: Callable[[TaskContext, StopToken], Any]) -> Task:
        """Run `work(context, stop_token)` in the background; its result goes to `_on_result`."""
        token = self._token = StopToken()
        task = self._work.start(name, lambda context: work(context, token), progressed=self._on_progress,
                                messaged=self._on_message, succeeded=self._on_succeeded, failed=self._on_failed,
                                cancelled=self._on_cancelled)
        self.start_button.setEnabled(False)
        self.cancel_button.show()
        self.set_status("Preparing the data…", "")
        return task

    @Slot()
    def cancel(self) -> None:
        if self._work.busy and self._token is not None:
            self._token.request_stop()
            self._work.cancel()
            self.set_status("Cancelling after this step…", "")

    @Slot(int, int)
    def _on_progress(self, done: int, total: int) -> None:
        """The bar follows the work's steps; a tool may draw its partial results here too."""

    def _on_message(self, text: str) -> None:
        self.set_status(text[:1].upper() + text[1:] + "…", "")

    def _on_succeeded(self, result: Any) -> None:
        self._idle()
        self._on_result(result)

    @Slot(object)
    def _on_result(self, result: Any) -> None:  # pragma: no cover - each tool shows its own
        raise NotImplementedError

    def _on_failed(self, message: str) -> None:
        self._idle()
        self.set_status(f"{self.title()} failed: {message}", "error")

    def _on_cancelled(self) -> None:
        self._idle()
        self.set_status("Cancelled.", "")

    def _idle(self) -> None:
        self._token = None
        self.start_button.setEnabled(True)
        self.cancel_button.hide()

    def set_status(self, text: str, role: str) -> None:
        set_status(self.status_label, text, role)
