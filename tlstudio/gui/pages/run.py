"""Run page: Train and Stop, progress, live plots, the log, the result, and earlier runs to compare.

The page assembles its panels and routes the TrainingSession's events to them: the live progress
(`panels.run_progress`), the plots (`widgets.plots`), the result (`panels.run_result`), the earlier
runs and the queue (`panels.earlier_runs`).
"""

from __future__ import annotations

import time
from pathlib import Path

from PySide6.QtCore import Qt, Signal, Slot
from PySide6.QtGui import QAction
from PySide6.QtWidgets import QHBoxLayout, QToolButton, QVBoxLayout, QWidget

from tlstudio.base.text import format_percent
from tlstudio.gui.pages.base import Page
from tlstudio.gui.panels.earlier_runs import EarlierRunsBox, RunQueueBox
from tlstudio.gui.panels.run_progress import RunLogBox, RunProgressPanel
from tlstudio.gui.panels.run_result import RunResultBox
from tlstudio.gui.state.run_history import RunHistory
from tlstudio.gui.widgets.common import named, set_status, text_label
from tlstudio.gui.widgets.plots import RunCurves, TrainingPlots
from tlstudio.gui.widgets.responsive import StackingSplitter
from tlstudio.gui.worker import TrainingSession
from tlstudio.runs.folder import RunFolderError, RunSummary
from tlstudio.train.events import BatchEnd, EpochEnd, PhaseBegin, RunResult, RunStatus, TrainBegin, TrainEnd

STATUS_TEXT = {RunStatus.FINISHED: "Finished", RunStatus.STOPPED: "Stopped", RunStatus.FAILED: "Failed"}


class RunPage(Page):
    """Wraps the TrainingSession (the live run) and the RunHistory (earlier runs)."""

    resume_requested = Signal(object, int)  # run folder, more epochs (0: finish the planned ones)
    queue_remove_requested = Signal(int)  # row in the queue

    def __init__(self, session: TrainingSession, history: RunHistory, train_action: QAction,
                 stop_action: QAction, parent: QWidget | None = None):
        super().__init__("Run", "Train with the settings of the previous pages and watch it learn. The "
                         "curves of earlier runs can be laid underneath for comparison.", "runPage",
                         parent=parent)
        self._session = session
        self._history = history
        self._started_at = 0.0
        self.outcome: RunResult | None = None
        self.live = RunProgressPanel()
        self.plots = TrainingPlots()
        self.result = RunResultBox()
        self.earlier = EarlierRunsBox(history, session)
        self.queued = RunQueueBox()
        self.log = RunLogBox()
        layout = QVBoxLayout(self.body)
        layout.setContentsMargins(0, 6, 0, 0)
        layout.setSpacing(8)
        layout.addLayout(self._controls_row(train_action, stop_action))
        layout.addWidget(self.live)
        layout.addWidget(self._plots_beside_panels(), 1)

        # The panels' widgets by the page's names: the tests, the screenshot script and the window use them.
        self.progress, self.progress_label = self.live.progress, self.live.progress_label
        self.cache_label, self.device_label = self.live.cache_label, self.live.device_label
        self.result_label, self.metric_labels = self.result.result_label, self.result.metric_labels
        self.run_folder_label, self.open_folder_button = self.result.run_folder_label, self.result.open_folder_button
        self.runs_list, self.resume_button = self.earlier.runs_list, self.earlier.resume_button
        self.more_button, self.more_epochs_spin = self.earlier.more_button, self.earlier.more_epochs_spin
        self.queue_box, self.queue_list = self.queued, self.queued.queue_list
        self.remove_queued_button, self.log_view = self.queued.remove_queued_button, self.log.log_view

        session.prepared.connect(self.live.show_prepared)
        session.train_began.connect(self._on_train_began)
        session.phase_began.connect(self._on_phase_began)
        session.batches_ended.connect(self._on_batches_ended)
        session.epoch_ended.connect(self._on_epoch_ended)
        session.train_ended.connect(self._on_train_ended)
        session.logged.connect(self.append_log)
        session.training_finished.connect(self._on_training_finished)
        self.earlier.resume_requested.connect(self.resume_requested)
        self.earlier.overlay_requested.connect(self.plots.set_overlay)
        self.earlier.overlay_removed.connect(self.plots.remove_overlay)
        self.earlier.logged.connect(self.append_log)
        self.queued.remove_requested.connect(self.queue_remove_requested)

    def _controls_row(self, train_action: QAction, stop_action: QAction) -> QHBoxLayout:
        """Train and Stop (the window's actions), and why Train is (not) ready."""
        controls = QHBoxLayout()
        self.train_button = named(QToolButton(), "runTrainButton", "Train")
        self.train_button.setDefaultAction(train_action)
        self.train_button.setProperty("role", "primary")
        self.stop_button = named(QToolButton(), "runStopButton", "Stop")
        self.stop_button.setDefaultAction(stop_action)
        for button in (self.train_button, self.stop_button):
            button.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
            controls.addWidget(button)
        self.readiness_label = text_label("runReadinessLabel")
        controls.addWidget(self.readiness_label, 1)
        return controls

    def _plots_beside_panels(self) -> StackingSplitter:
        """The plots beside the side panels on a wide window; the panels go under the plots on a narrow one."""
        splitter = StackingSplitter(wide_from=900)
        splitter.setObjectName("runSplitter")
        splitter.setChildrenCollapsible(False)
        splitter.addWidget(self.plots)
        side = QWidget()
        side_layout = QVBoxLayout(side)
        side_layout.setContentsMargins(6, 0, 0, 0)
        side_layout.addWidget(self.result)
        side_layout.addWidget(self.earlier, 1)
        side_layout.addWidget(self.queued)
        side_layout.addWidget(self.log, 2)
        splitter.addWidget(side)
        splitter.setStretchFactor(0, 3)
        splitter.setStretchFactor(1, 2)
        splitter.setSizes([640, 360])
        return splitter

    # -- controls ---------------------------------------------------------------------------------

    def set_readiness(self, text: str, ready: bool) -> None:
        set_status(self.readiness_label, text, "ready" if ready else "blocked")

    def set_device(self, device: str) -> None:
        self.live.set_device(device)

    def set_queue(self, labels: list[str]) -> None:
        """The runs waiting their turn, first to start on top."""
        self.queued.set_queue(labels)
        self.summary_changed.emit()

    def begin_run(self, run_dir: Path | None, continuing: bool = False) -> None:
        """Clear the live view for a new run, or for one that is resumed or continued (its earlier epochs
        are drawn again once it begins); called just before the session starts."""
        self.outcome = None
        self._started_at = time.monotonic()
        self.live.reset()
        self.plots.reset()
        self.result.reset(run_dir)
        what = "resumed run" if continuing else "new run"
        self.append_log(f"— {what}{f' in {run_dir}' if run_dir else ''} —")
        self.earlier.current_run = None
        self.earlier.fill()
        self.summary_changed.emit()

    @Slot(str)
    def append_log(self, message: str) -> None:
        self.log.append(message)

    def selected_run(self) -> RunSummary | None:
        return self.earlier.selected_run()

    # -- events -----------------------------------------------------------------------------------

    @Slot(object)
    def _on_train_began(self, event: TrainBegin) -> None:
        self.plots.begin(event)
        if event.epochs_done:  # resumed or continued: its earlier epochs first
            try:
                record = self._history.record(Path(event.run_dir))
                self.plots.add_curves(RunCurves.from_files(record.history, record.steps))
            except (RunFolderError, OSError, ValueError) as error:
                self.append_log(f"cannot draw the earlier epochs of {event.run_dir}: {error}")
        self.live.show_begin(event)
        self.result.show_folder(event.run_dir)

    @Slot(object)
    def _on_phase_began(self, event: PhaseBegin) -> None:
        self.plots.mark_phase(event)
        self.live.show_feature_cache(event)

    @Slot(object)
    def _on_batches_ended(self, events: tuple[BatchEnd, ...]) -> None:
        if not events:
            return
        self.plots.add_batches(events)
        self.live.show_batch(events[-1])
        self.summary_changed.emit()

    @Slot(object)
    def _on_epoch_ended(self, event: EpochEnd) -> None:
        self.plots.add_epoch(event)
        self.log.log_epoch(event)
        self.live.show_epoch(event)
        self.summary_changed.emit()

    @Slot(object)
    def _on_train_ended(self, event: TrainEnd) -> None:
        if event.run_dir:
            self.result.show_folder(event.run_dir)

    @Slot(object)
    def _on_training_finished(self, outcome: RunResult) -> None:
        self.outcome = outcome
        self.earlier.current_run = str(outcome.run_dir) if outcome.run_dir else None
        status = STATUS_TEXT.get(outcome.status, str(outcome.status))
        self.result.show_outcome(outcome, status, time.monotonic() - self._started_at)
        self.live.show_outcome(outcome, status)
        self.append_log(f"{status.lower()}: {outcome.message}")
        self.summary_changed.emit()

    # -- the step list ------------------------------------------------------------------------------

    def summary(self) -> str:
        waiting = f" · {self.queued.count} queued" if self.queued.count else ""
        return self._summary() + waiting

    def _summary(self) -> str:
        if self._session.running:
            done = self.live.fraction_done
            return f"training · {done:.0%}" if done is not None else "preparing…"
        if self.outcome is not None:
            accuracy = (self.outcome.metrics or {}).get("val_accuracy")
            return STATUS_TEXT.get(self.outcome.status, "") + (f" · {format_percent(accuracy)}" if accuracy else "")
        return "not started"
