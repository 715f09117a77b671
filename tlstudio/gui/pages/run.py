"""Run page: Train and Stop, progress, live plots, the log, the result, and earlier runs to compare."""

from __future__ import annotations

import math
import time
from pathlib import Path

from PySide6.QtCore import Qt, QUrl, Signal, Slot
from PySide6.QtGui import QAction, QDesktopServices, QTextCursor
from PySide6.QtWidgets import (
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QPlainTextEdit,
    QProgressBar,
    QPushButton,
    QSpinBox,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from tlstudio.base.text import format_percent
from tlstudio.gui.pages.base import Page
from tlstudio.gui.state.run_history import RunHistory
from tlstudio.gui.widgets.common import format_seconds, hint_label, named
from tlstudio.gui.widgets.plots import RunCurves, TrainingPlots
from tlstudio.gui.widgets.responsive import StackingSplitter
from tlstudio.gui.worker import TrainingSession
from tlstudio.runs.folder import RUNNING, RunFolderError, RunSummary
from tlstudio.train.events import (
    BatchEnd,
    EpochEnd,
    PhaseBegin,
    PrepareProgress,
    RunResult,
    RunStatus,
    TrainBegin,
    TrainEnd,
)

MAX_LOG_LINES = 5000
STATUS_TEXT = {RunStatus.FINISHED: "Finished", RunStatus.STOPPED: "Stopped", RunStatus.FAILED: "Failed"}


def _number(value: float | None) -> str:
    return f"{value:.4f}" if value is not None and math.isfinite(value) else "–"


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
        self._begin: TrainBegin | None = None
        self._last_batch: BatchEnd | None = None
        self._last_epoch: EpochEnd | None = None
        self._started_at = 0.0
        self._continuing = False
        self.outcome: RunResult | None = None

        layout = QVBoxLayout(self.body)
        layout.setContentsMargins(0, 6, 0, 0)
        layout.setSpacing(8)

        controls = QHBoxLayout()
        self.train_button = named(QToolButton(), "runTrainButton", "Train")
        self.train_button.setDefaultAction(train_action)
        self.train_button.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
        self.train_button.setProperty("role", "primary")
        controls.addWidget(self.train_button)
        self.stop_button = named(QToolButton(), "runStopButton", "Stop")
        self.stop_button.setDefaultAction(stop_action)
        self.stop_button.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
        controls.addWidget(self.stop_button)
        self.readiness_label = QLabel()
        self.readiness_label.setObjectName("runReadinessLabel")
        self.readiness_label.setWordWrap(True)
        controls.addWidget(self.readiness_label, 1)
        layout.addLayout(controls)

        engine_row = QHBoxLayout()
        self.cache_label = QLabel()
        self.cache_label.setObjectName("runFeatureCacheLabel")
        self.cache_label.setWordWrap(True)
        self.cache_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.cache_label.hide()
        engine_row.addWidget(self.cache_label, 1)
        self.device_label = QLabel()
        self.device_label.setObjectName("runDeviceLabel")
        self.device_label.setProperty("role", "hint")
        engine_row.addWidget(self.device_label, 0, Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignTop)
        layout.addLayout(engine_row)

        progress_row = QHBoxLayout()
        self.progress = named(QProgressBar(), "runProgress", "Training progress")
        self.progress.setRange(0, 1)
        self.progress.setValue(0)
        self.progress.setTextVisible(True)
        self.progress.setFormat("")
        self.progress.setMinimumWidth(260)
        progress_row.addWidget(self.progress, 2)
        self.progress_label = QLabel("Not started.")
        self.progress_label.setObjectName("runProgressLabel")
        progress_row.addWidget(self.progress_label, 3)
        layout.addLayout(progress_row)

        # Plots beside the side panel on a wide window; the panel goes under the plots on a narrow one.
        splitter = StackingSplitter(wide_from=900)
        splitter.setObjectName("runSplitter")
        splitter.setChildrenCollapsible(False)
        self.plots = TrainingPlots()
        splitter.addWidget(self.plots)

        side = QWidget()
        side_layout = QVBoxLayout(side)
        side_layout.setContentsMargins(6, 0, 0, 0)
        result_box = QGroupBox("Result")
        result_layout = QVBoxLayout(result_box)
        self.result_label = QLabel("No run yet in this session.")
        self.result_label.setObjectName("runResultLabel")
        self.result_label.setWordWrap(True)
        self.result_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        result_layout.addWidget(self.result_label)
        self.metrics_form = QFormLayout()
        self.metric_labels: dict[str, QLabel] = {}
        for key, title in (("val_accuracy", "Validation accuracy"), ("val_loss", "Validation loss"),
                           ("best_epoch", "Best epoch"), ("seconds", "Time")):
            label = QLabel("–")
            label.setObjectName(f"runMetric_{key}")
            self.metric_labels[key] = label
            self.metrics_form.addRow(title, label)
        self.ema_label = QLabel("–")
        self.ema_label.setObjectName("runMetric_ema")
        self.ema_label.setToolTip("Polyak averaging: the last epoch's validation accuracy with the averaged weights "
                                  "(what the run keeps) and with the raw weights it trained.")
        self.metrics_form.addRow("Polyak average", self.ema_label)
        self.metrics_form.setRowVisible(self.ema_label, False)
        result_layout.addLayout(self.metrics_form)
        folder_row = QHBoxLayout()
        self.run_folder_label = hint_label()
        self.run_folder_label.setObjectName("runFolderLabel")
        folder_row.addWidget(self.run_folder_label, 1)
        self.open_folder_button = named(QPushButton("Open folder"), "runOpenFolderButton", "Open run folder")
        self.open_folder_button.setEnabled(False)
        self.open_folder_button.clicked.connect(self._open_run_folder)
        folder_row.addWidget(self.open_folder_button)
        result_layout.addLayout(folder_row)
        side_layout.addWidget(result_box)

        runs_box = QGroupBox("Earlier runs (tick to overlay)")
        runs_layout = QVBoxLayout(runs_box)
        self.runs_list = named(QListWidget(), "runEarlierRunsList", "Earlier runs",
                               "Tick a run to draw its curves, dashed, under the current run.")
        self.runs_list.itemChanged.connect(self._on_run_ticked)
        self.runs_list.setMinimumHeight(60)
        self.runs_list.setWordWrap(True)
        self.runs_list.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        runs_layout.addWidget(self.runs_list)
        more_row = QHBoxLayout()
        self.resume_button = named(QPushButton("Resume"), "runResumeButton", "Resume the selected run",
                                   "Finish the selected run's planned epochs, from its last completed epoch "
                                   "(after a crash, a killed process or a Stop).")
        self.resume_button.clicked.connect(self._request_resume)
        more_row.addWidget(self.resume_button)
        self.more_button = named(QPushButton("Train more"), "runTrainMoreButton", "Train the selected run more",
                                 "Train the selected run for more epochs, from its last epoch's weights and "
                                 "optimizer state; its curves and LR schedule go on where they ended.")
        self.more_button.clicked.connect(self._request_more)
        more_row.addWidget(self.more_button)
        self.more_epochs_spin = named(QSpinBox(), "runMoreEpochsSpin", "More epochs")
        self.more_epochs_spin.setRange(1, 10_000)
        self.more_epochs_spin.setValue(5)
        self.more_epochs_spin.setSuffix(" epochs")
        more_row.addWidget(self.more_epochs_spin)
        more_row.addStretch(1)
        runs_layout.addLayout(more_row)
        self.runs_list.currentItemChanged.connect(self._update_run_actions)
        self.runs_root_label = hint_label()
        self.runs_root_label.setObjectName("runRunsRootLabel")
        runs_layout.addWidget(self.runs_root_label)
        side_layout.addWidget(runs_box, 1)

        self.queue_box = QGroupBox("Queued runs (kept until the app closes)")
        self.queue_box.setObjectName("runQueueBox")
        queue_layout = QVBoxLayout(self.queue_box)
        self.queue_list = named(QListWidget(), "runQueueList", "Queued runs",
                                "Runs that start one after the other when the current run ends. The queue is "
                                "not saved: it ends when the app closes.")
        self.queue_list.setMaximumHeight(64)
        self.queue_list.setWordWrap(True)
        self.queue_list.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        queue_layout.addWidget(self.queue_list)
        self.remove_queued_button = named(QPushButton("Remove from queue"), "runRemoveQueuedButton",
                                          "Remove the selected queued run")
        self.remove_queued_button.clicked.connect(
            lambda: self.queue_remove_requested.emit(max(0, self.queue_list.currentRow())))
        queue_layout.addWidget(self.remove_queued_button, 0, Qt.AlignmentFlag.AlignLeft)
        self.queue_box.hide()
        side_layout.addWidget(self.queue_box)

        log_box = QGroupBox("Log")
        log_layout = QVBoxLayout(log_box)
        self.log_view = named(QPlainTextEdit(), "runLog", "Training log")
        self.log_view.setReadOnly(True)
        self.log_view.setMaximumBlockCount(MAX_LOG_LINES)
        self.log_view.setLineWrapMode(QPlainTextEdit.LineWrapMode.WidgetWidth)
        self.log_view.setProperty("role", "log")
        log_layout.addWidget(self.log_view)
        side_layout.addWidget(log_box, 2)
        splitter.addWidget(side)
        splitter.setStretchFactor(0, 3)
        splitter.setStretchFactor(1, 2)
        splitter.setSizes([640, 360])
        layout.addWidget(splitter, 1)

        session.prepared.connect(self._on_prepared)
        session.train_began.connect(self._on_train_began)
        session.phase_began.connect(self._on_phase_began)
        session.batches_ended.connect(self._on_batches_ended)
        session.epoch_ended.connect(self._on_epoch_ended)
        session.train_ended.connect(self._on_train_ended)
        session.logged.connect(self.append_log)
        session.training_finished.connect(self._on_training_finished)
        session.running_changed.connect(self._update_run_actions)
        history.changed.connect(self._fill_runs)
        self._fill_runs()

    # -- controls ---------------------------------------------------------------------------------

    def set_readiness(self, text: str, ready: bool) -> None:
        self.readiness_label.setText(text)
        self.readiness_label.setProperty("role", "ready" if ready else "blocked")
        self.readiness_label.style().unpolish(self.readiness_label)
        self.readiness_label.style().polish(self.readiness_label)

    def set_device(self, device: str) -> None:
        self.device_label.setText(f"Device: {device}" if device else "")

    def set_queue(self, labels: list[str]) -> None:
        """The runs waiting their turn, first to start on top."""
        self.queue_list.clear()
        self.queue_list.addItems([f"{i}. {label}" for i, label in enumerate(labels, start=1)])
        self.queue_box.setVisible(bool(labels))
        self.summary_changed.emit()

    def begin_run(self, run_dir: Path | None, continuing: bool = False) -> None:
        """Clear the live view for a new run, or for one that is resumed or continued (its earlier epochs
        are drawn again once it begins); called just before the session starts."""
        self._continuing = continuing
        self._begin = None
        self._last_batch = None
        self._last_epoch = None
        self.outcome = None
        self._started_at = time.monotonic()
        self.plots.reset()
        self.progress.setRange(0, 0)
        self.progress.setFormat("Preparing…")
        self.progress_label.setText("Preparing the data and the model…")
        self.result_label.setText("Training…")
        self.result_label.setProperty("role", "")
        for label in self.metric_labels.values():
            label.setText("–")
        self.run_folder_label.setText(str(run_dir) if run_dir else "")
        self.open_folder_button.setEnabled(False)
        self.cache_label.hide()
        self.cache_label.setText("")
        what = "resumed run" if continuing else "new run"
        self.append_log(f"— {what}{f' in {run_dir}' if run_dir else ''} —")
        self._fill_runs()
        self.summary_changed.emit()

    @Slot(str)
    def append_log(self, message: str) -> None:
        stamp = time.strftime("%H:%M:%S")
        self.log_view.appendPlainText(f"{stamp}  {message.rstrip()}")
        self.log_view.moveCursor(QTextCursor.MoveOperation.End)

    # -- events -----------------------------------------------------------------------------------

    @Slot(object)
    def _on_prepared(self, event: PrepareProgress) -> None:
        if event.total > 0:
            self.progress.setRange(0, event.total)
            self.progress.setValue(event.done)
        else:
            self.progress.setRange(0, 0)
        self.progress.setFormat(event.stage.capitalize())
        detail = f" {event.done} / {event.total}" if event.total > 1 else ""
        self.progress_label.setText(f"{event.stage.capitalize()}…{detail}")

    @Slot(object)
    def _on_train_began(self, event: TrainBegin) -> None:
        self._begin = event
        self.plots.begin(event)
        if event.epochs_done:
            try:
                record = self._history.record(Path(event.run_dir))
                self.plots.add_curves(RunCurves.from_files(record.history, record.steps))
            except (RunFolderError, OSError, ValueError) as error:
                self.append_log(f"cannot draw the earlier epochs of {event.run_dir}: {error}")
        self.progress.setRange(0, max(1, event.total_steps))
        self.progress.setValue(event.steps_done)
        self.progress.setFormat("%p %")
        self.progress_label.setText(f"Epoch {event.epochs_done + 1}/{event.epochs} · starting…")
        self.set_device(event.device)
        self.run_folder_label.setText(event.run_dir)

    @Slot(object)
    def _on_phase_began(self, event: PhaseBegin) -> None:
        self.plots.mark_phase(event)
        self.show_feature_cache(event)

    def show_feature_cache(self, event: PhaseBegin) -> None:
        """Whether this phase trains on cached backbone features, and why (not)."""
        state = "in use" if event.feature_cache else "not used"
        phase = f" in phase {event.phase}" if event.phase > 1 else ""
        note = event.feature_cache_note.strip().rstrip(".")
        reason = f": {note[:1].lower()}{note[1:]}" if note else ""
        self.cache_label.setText(f"<b>Feature cache {state}</b>{phase}{reason}.")
        self.cache_label.setToolTip("With the whole backbone frozen and no augmentation, each image goes "
                                    "through the backbone once and every epoch trains the head on the stored "
                                    "features: many times faster, the same model.")
        self.cache_label.setProperty("role", "ready" if event.feature_cache else "hint")
        self.cache_label.style().unpolish(self.cache_label)
        self.cache_label.style().polish(self.cache_label)
        self.cache_label.show()

    @Slot(object)
    def _on_batches_ended(self, events: tuple) -> None:
        if not events:
            return
        self.plots.add_batches(events)
        self._last_batch = events[-1]
        self._show_progress()

    @Slot(object)
    def _on_epoch_ended(self, event: EpochEnd) -> None:
        self._last_epoch = event
        self.plots.add_epoch(event)
        best = "  ★ best so far" if event.is_best else ""
        self.append_log(f"epoch {event.epoch}/{event.epochs}: loss {event.loss:.4f}, accuracy "
                        f"{event.accuracy:.1%}, val loss {event.val_loss:.4f}, val accuracy "
                        f"{event.val_accuracy:.1%} ({event.seconds:.1f} s){best}")
        self._show_progress()

    @Slot(object)
    def _on_train_ended(self, event: TrainEnd) -> None:
        if event.run_dir:
            self.run_folder_label.setText(event.run_dir)

    def _show_progress(self) -> None:
        begin, batch, epoch = self._begin, self._last_batch, self._last_epoch
        if begin is None:
            return
        if batch is not None:
            self.progress.setValue(batch.step)
            eta = batch.eta_seconds
            rate = batch.images_per_second
            epoch_number, step_text = batch.epoch, f"step {batch.batch}/{batch.steps_in_epoch}"
        else:
            eta, rate, epoch_number, step_text = 0.0, 0.0, 1, ""
        if epoch is not None and (batch is None or epoch.epoch >= batch.epoch):
            eta = epoch.eta_seconds
            rate = epoch.images_per_second
        parts = [f"Epoch {epoch_number}/{begin.epochs}"]
        if step_text:
            parts.append(step_text)
        if eta and math.isfinite(eta):
            parts.append(f"ETA {format_seconds(eta)}")
        if rate and math.isfinite(rate):
            parts.append(f"{rate:,.0f} images/s")
        if epoch is not None:
            parts.append(f"val acc {format_percent(epoch.val_accuracy)}")
        self.progress_label.setText(" · ".join(parts))
        self.summary_changed.emit()

    @Slot(object)
    def _on_training_finished(self, outcome: RunResult) -> None:
        self.outcome = outcome
        status = STATUS_TEXT.get(outcome.status, str(outcome.status))
        message = outcome.message or ""
        if message.lower().startswith(status.lower()):  # "finished 8 epochs; …" reads on from the status
            self.result_label.setText(f"<b>{status}</b>{message[len(status):]}")
        else:
            self.result_label.setText(f"<b>{status}.</b> {message[:1].upper()}{message[1:]}")
        self.result_label.setProperty("role", "error" if outcome.status == RunStatus.FAILED else "")
        self.result_label.style().unpolish(self.result_label)
        self.result_label.style().polish(self.result_label)
        metrics = outcome.metrics or {}
        self.metric_labels["val_accuracy"].setText(format_percent(metrics.get("val_accuracy")))
        self.metric_labels["val_loss"].setText(_number(metrics.get("val_loss")))
        best = metrics.get("best_epoch")
        self.metric_labels["best_epoch"].setText(str(best) if best is not None else "–")
        ema = metrics.get("ema")
        self.metrics_form.setRowVisible(self.ema_label, bool(ema))
        if ema:
            self.ema_label.setText(f"{format_percent(ema.get('val_accuracy_averaged'))} averaged · "
                                   f"{format_percent(ema.get('val_accuracy_raw'))} raw (epoch {ema.get('epoch')})")
        seconds = metrics.get("seconds", time.monotonic() - self._started_at)
        self.metric_labels["seconds"].setText(format_seconds(float(seconds)))
        if outcome.run_dir:
            self.run_folder_label.setText(str(outcome.run_dir))
        self.open_folder_button.setEnabled(bool(outcome.run_dir and Path(outcome.run_dir).is_dir()))
        total = self.progress.maximum()
        self.progress.setRange(0, max(1, total))
        if outcome.status == RunStatus.FINISHED:
            self.progress.setValue(self.progress.maximum())
        self.progress.setFormat(status)
        # The progress line says how the run ended, not the step and ETA it last showed.
        if self._begin is None:  # it never got to its first step: say so where "Building…" stood
            self.progress_label.setText(f"{status} before training began.")
        elif outcome.status != RunStatus.FINISHED:
            done = self._last_epoch.epoch if self._last_epoch else self._begin.epochs_done
            self.progress_label.setText(f"{status} with {done} of {self._begin.epochs} epochs complete.")
        self.append_log(f"{status.lower()}: {outcome.message}")
        self.summary_changed.emit()

    # -- earlier runs -------------------------------------------------------------------------------

    @Slot()
    def _fill_runs(self) -> None:
        ticked = {self.runs_list.item(i).data(Qt.ItemDataRole.UserRole)
                  for i in range(self.runs_list.count())
                  if self.runs_list.item(i).checkState() == Qt.CheckState.Checked}
        blocked = self.runs_list.blockSignals(True)
        self.runs_list.clear()
        current = str(self.outcome.run_dir) if self.outcome and self.outcome.run_dir else None
        training = str(self._session.run_dir) if self._session.running and self._session.run_dir else None
        for summary in self._history.summaries:
            key = str(summary.path)
            if key == training:  # its status.json says RUNNING because it is: not an interrupted run
                text = "training now: " + summary.label.replace(" · interrupted", "")
            else:
                text = ("this run: " if key == current else "") + summary.label
            item = QListWidgetItem(text)
            item.setData(Qt.ItemDataRole.UserRole, key)
            item.setToolTip(f"{summary.path}\nbackbone: {summary.backbone}")
            item.setFlags(item.flags() | Qt.ItemFlag.ItemIsUserCheckable)
            item.setCheckState(Qt.CheckState.Checked if key in ticked else Qt.CheckState.Unchecked)
            self.runs_list.addItem(item)
        self.runs_list.blockSignals(blocked)
        listed = {str(s.path) for s in self._history.summaries}
        for key in self.plots.overlay_keys:
            if key not in listed:
                self.plots.remove_overlay(key)
        count = len(self._history.summaries)
        self.runs_root_label.setText(f"{count} run{'s' if count != 1 else ''} in {self._history.root}")
        if current is not None:
            for row in range(self.runs_list.count()):
                if self.runs_list.item(row).data(Qt.ItemDataRole.UserRole) == current:
                    self.runs_list.setCurrentRow(row)
        self._update_run_actions()

    def selected_run(self) -> RunSummary | None:
        item = self.runs_list.currentItem()
        if item is None:
            return None
        key = item.data(Qt.ItemDataRole.UserRole)
        return next((s for s in self._history.summaries if str(s.path) == key), None)

    @Slot()
    def _update_run_actions(self, *_: object) -> None:
        """Resume and Train more act on the selected earlier run (the one just trained, at first)."""
        summary = self.selected_run()
        training = self._session.running and summary is not None and self._session.run_dir == summary.path
        can_more = summary is not None and summary.resumable and not training
        can_resume = can_more and summary.status in (RUNNING, "FAILED", "STOPPED")
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
        key = item.data(Qt.ItemDataRole.UserRole)
        if item.checkState() == Qt.CheckState.Checked:
            try:
                record = self._history.record(Path(key))
            except (RunFolderError, OSError, ValueError) as error:
                self.append_log(f"cannot read {key}: {error}")
                return
            label = next((s.when for s in self._history.summaries if str(s.path) == key), Path(key).name)
            self.plots.set_overlay(key, f"run of {label}", RunCurves.from_files(record.history, record.steps))
        else:
            self.plots.remove_overlay(key)

    @Slot()
    def _open_run_folder(self) -> None:
        folder = self.run_folder_label.text()
        if folder and Path(folder).is_dir():
            QDesktopServices.openUrl(QUrl.fromLocalFile(folder))

    def summary(self) -> str:
        waiting = f" · {self.queue_list.count()} queued" if self.queue_list.count() else ""
        return self._summary() + waiting

    def _summary(self) -> str:
        if self._session.running:
            if self._last_batch is not None and self._begin is not None:
                return f"training · {self._last_batch.step / max(1, self._begin.total_steps):.0%}"
            return "preparing…"
        if self.outcome is not None:
            accuracy = (self.outcome.metrics or {}).get("val_accuracy")
            return STATUS_TEXT.get(self.outcome.status, "") + (f" · {format_percent(accuracy)}" if accuracy else "")
        return "not started"
