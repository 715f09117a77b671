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
from tlstudio.gui.widgets.common import hint_label, named
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
        self._project, self._dataset, self._runner, self._tensorflow = project, dataset, runner, tensorflow
        self._task: Task | None = None
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

    def submit(self, name: str, work: Callable[[TaskContext, StopToken], Any]) -> Task:
        """Run `work(context, stop_token)` in the background; its result goes to `_on_result`."""
        token = self._token = StopToken()
        task = self._task = self._runner.submit(name, lambda context: work(context, token))
        task.progressed.connect(self._on_progress)
        task.messaged.connect(lambda text: self.set_status(text[:1].upper() + text[1:] + "…", ""))
        task.succeeded.connect(self._on_result)
        task.failed.connect(self._on_failed)
        task.finished.connect(self._on_finished)
        self.start_button.setEnabled(False)
        self.cancel_button.show()
        self.progress.setRange(0, 0)
        self.progress.show()
        self.set_status("Preparing the data…", "")
        return task

    @Slot()
    def cancel(self) -> None:
        if self._task is not None and self._token is not None:
            self._token.request_stop()
            self._task.cancel()
            self.set_status("Cancelling after this step…", "")

    @Slot(int, int)
    def _on_progress(self, done: int, total: int) -> None:
        self.progress.setRange(0, max(total, 1))
        self.progress.setValue(done)

    @Slot(object)
    def _on_result(self, result: Any) -> None:  # pragma: no cover - each tool shows its own
        raise NotImplementedError

    @Slot(str)
    def _on_failed(self, message: str) -> None:
        if self._task is not None and self._task.cancelled:
            return
        self.set_status(f"{self.title()} failed: {message}", "error")

    @Slot()
    def _on_finished(self) -> None:
        task = self.sender()
        if task is not None and task is self._task and task.cancelled:
            self.set_status("Cancelled.", "")
        self._task = self._token = None
        self.start_button.setEnabled(True)
        self.cancel_button.hide()
        self.progress.hide()

    def set_status(self, text: str, role: str) -> None:
        self.status_label.setText(text)
        self.status_label.setProperty("role", role)
        self.status_label.style().unpolish(self.status_label)
        self.status_label.style().polish(self.status_label)
