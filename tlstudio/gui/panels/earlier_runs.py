"""The Run page's lists: the project's earlier runs (tick one to lay its curves under the live ones; resume
or continue the selected one) and the runs queued behind the current one.

Which run may be resumed or continued is the run folder's fact (`RunSummary.can_resume`, `.resumable`);
the list only adds that the run training now can be neither.
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Qt, Signal, Slot
from PySide6.QtWidgets import (
    QGroupBox,
    QHBoxLayout,
    QListWidget,
    QListWidgetItem,
    QPushButton,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from tlstudio.gui.state.run_history import RunHistory
from tlstudio.gui.widgets.common import hint_label, named
from tlstudio.gui.widgets.plots import RunCurves
from tlstudio.gui.worker import TrainingSession
from tlstudio.runs.folder import RunFolderError, RunSummary

KEY_ROLE = Qt.ItemDataRole.UserRole  # an item's run folder, as a string


class EarlierRunsBox(QGroupBox):
    """Wraps the RunHistory (the runs listed) and the TrainingSession (which of them trains now)."""

    resume_requested = Signal(object, int)  # run folder, more epochs (0: finish the planned ones)
    overlay_requested = Signal(str, str, object)  # run folder, legend label, RunCurves
    overlay_removed = Signal(str)  # run folder
    logged = Signal(str)  # a run that could not be read

    def __init__(self, history: RunHistory, session: TrainingSession, parent: QWidget | None = None) -> None:
        super().__init__("Earlier runs (tick to overlay)", parent)
        self._history = history
        self._session = session
        self.current_run: str | None = None  # the run this session trained last: "this run:"
        self._overlaid: set[str] = set()
        layout = QVBoxLayout(self)
        self.runs_list = named(QListWidget(), "runEarlierRunsList", "Earlier runs",
                               "Tick a run to draw its curves, dashed, under the current run.")
        self.runs_list.setMinimumHeight(60)
        self.runs_list.setWordWrap(True)
        self.runs_list.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        layout.addWidget(self.runs_list)
        layout.addLayout(self._actions_row())
        self.runs_root_label = hint_label()
        self.runs_root_label.setObjectName("runRunsRootLabel")
        layout.addWidget(self.runs_root_label)
        self.runs_list.itemChanged.connect(self._on_run_ticked)
        self.runs_list.currentItemChanged.connect(self.update_actions)
        history.changed.connect(self.fill)
        session.running_changed.connect(self.update_actions)
        self.fill()

    def _actions_row(self) -> QHBoxLayout:
        row = QHBoxLayout()
        self.resume_button = named(QPushButton("Resume"), "runResumeButton", "Resume the selected run",
                                   "Finish the selected run's planned epochs, from its last completed epoch "
                                   "(after a crash, a killed process or a Stop).")
        self.resume_button.clicked.connect(self._request_resume)
        row.addWidget(self.resume_button)
        self.more_button = named(QPushButton("Train more"), "runTrainMoreButton", "Train the selected run more",
                                 "Train the selected run for more epochs, from its last epoch's weights and "
                                 "optimizer state; its curves and LR schedule go on where they ended.")
        self.more_button.clicked.connect(self._request_more)
        row.addWidget(self.more_button)
        self.more_epochs_spin = named(QSpinBox(), "runMoreEpochsSpin", "More epochs")
        self.more_epochs_spin.setRange(1, 10_000)
        self.more_epochs_spin.setValue(5)
        self.more_epochs_spin.setSuffix(" epochs")
        row.addWidget(self.more_epochs_spin)
        row.addStretch(1)
        return row

    @Slot()
    def fill(self) -> None:
        """List the history's runs again, keeping the ticks, and select the run just trained."""
        ticked = {self.runs_list.item(i).data(KEY_ROLE) for i in range(self.runs_list.count())
                  if self.runs_list.item(i).checkState() == Qt.CheckState.Checked}
        blocked = self.runs_list.blockSignals(True)
        self.runs_list.clear()
        for summary in self._history.summaries:
            self.runs_list.addItem(self._item(summary, str(summary.path) in ticked))
        self.runs_list.blockSignals(blocked)
        listed = {str(s.path) for s in self._history.summaries}
        for key in sorted(self._overlaid - listed):
            self._remove_overlay(key)
        count = len(self._history.summaries)
        self.runs_root_label.setText(f"{count} run{'s' if count != 1 else ''} in {self._history.root}")
        if self.current_run is not None:
            for row in range(self.runs_list.count()):
                if self.runs_list.item(row).data(KEY_ROLE) == self.current_run:
                    self.runs_list.setCurrentRow(row)
        self.update_actions()

    def _item(self, summary: RunSummary, ticked: bool) -> QListWidgetItem:
        key = str(summary.path)
        if self._training(summary):  # its status.json says RUNNING because it is: not an interrupted run
            text = "training now: " + summary.label.replace(" · interrupted", "")
        else:
            text = ("this run: " if key == self.current_run else "") + summary.label
        item = QListWidgetItem(text)
        item.setData(KEY_ROLE, key)
        item.setToolTip(f"{summary.path}\nbackbone: {summary.backbone}")
        item.setFlags(item.flags() | Qt.ItemFlag.ItemIsUserCheckable)
        item.setCheckState(Qt.CheckState.Checked if ticked else Qt.CheckState.Unchecked)
        return item

    def _training(self, summary: RunSummary) -> bool:
        return self._session.running and self._session.run_dir is not None and \
            Path(self._session.run_dir) == summary.path

    def selected_run(self) -> RunSummary | None:
        item = self.runs_list.currentItem()
        if item is None:
            return None
        key = item.data(KEY_ROLE)
        return next((s for s in self._history.summaries if str(s.path) == key), None)

    @Slot()
    def update_actions(self, *_: object) -> None:
        """Resume and Train more act on the selected earlier run (the one just trained, at first)."""
        summary = self.selected_run()
        training = summary is not None and self._training(summary)
        can_more = summary is not None and summary.resumable and not training
        can_resume = can_more and summary.can_resume
        queued = " (queued behind the current run)" if self._session.running else ""
        self.more_button.setEnabled(can_more)
        self.more_epochs_spin.setEnabled(can_more)
        self.resume_button.setEnabled(can_resume)
        if summary is None:
            reason = "Select a run in the list."
        elif training:
            reason = "This run is training now."
        elif not summary.resumable:
            reason = "This run kept no epoch state to go on from (it has no completed epoch, or is older)."
        else:
            reason = ""
        self.more_button.setToolTip(reason or f"Train {summary.path.name} for more epochs{queued}.")
        self.resume_button.setToolTip(reason or ("Finish the planned epochs of this run" + queued + "."
                                                 if can_resume else "This run finished its planned epochs; "
                                                 "use Train more."))

    @Slot()
    def _request_resume(self) -> None:
        summary = self.selected_run()
        if summary is not None:
            self.resume_requested.emit(summary.path, 0)

    @Slot()
    def _request_more(self) -> None:
        summary = self.selected_run()
        if summary is not None:
            self.resume_requested.emit(summary.path, self.more_epochs_spin.value())

    @Slot(QListWidgetItem)
    def _on_run_ticked(self, item: QListWidgetItem) -> None:
        key = item.data(KEY_ROLE)
        if item.checkState() != Qt.CheckState.Checked:
            self._remove_overlay(key)
            return
        try:
            record = self._history.record(Path(key))
        except (RunFolderError, OSError, ValueError) as error:
            self.logged.emit(f"cannot read {key}: {error}")
            return
        label = next((s.when for s in self._history.summaries if str(s.path) == key), Path(key).name)
        self._overlaid.add(key)
        self.overlay_requested.emit(key, f"run of {label}", RunCurves.from_files(record.history, record.steps))

    def _remove_overlay(self, key: str) -> None:
        self._overlaid.discard(key)
        self.overlay_removed.emit(key)


class RunQueueBox(QGroupBox):
    """The runs waiting their turn, first to start on top; hidden while there are none."""

    remove_requested = Signal(int)  # row in the queue

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__("Queued runs (kept until the app closes)", parent)
        self.setObjectName("runQueueBox")
        layout = QVBoxLayout(self)
        self.queue_list = named(QListWidget(), "runQueueList", "Queued runs",
                                "Runs that start one after the other when the current run ends. The queue is "
                                "not saved: it ends when the app closes.")
        self.queue_list.setMaximumHeight(64)
        self.queue_list.setWordWrap(True)
        self.queue_list.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        layout.addWidget(self.queue_list)
        self.remove_queued_button = named(QPushButton("Remove from queue"), "runRemoveQueuedButton",
                                          "Remove the selected queued run")
        self.remove_queued_button.clicked.connect(self._request_remove)
        layout.addWidget(self.remove_queued_button, 0, Qt.AlignmentFlag.AlignLeft)
        self.hide()

    def set_queue(self, labels: list[str]) -> None:
        self.queue_list.clear()
        self.queue_list.addItems([f"{i}. {label}" for i, label in enumerate(labels, start=1)])
        self.setVisible(bool(labels))

    @property
    def count(self) -> int:
        return self.queue_list.count()

    @Slot()
    def _request_remove(self) -> None:
        self.remove_requested.emit(max(0, self.queue_list.currentRow()))
