"""The Run page's live view of the run in progress: where it trains (feature cache, device), its progress
bar and progress line (epoch, step, ETA, speed), and the log. It draws the training events the
TrainingSession relays; the numbers (ETA, images per second) come with the events.
"""

from __future__ import annotations

import math
import time

from PySide6.QtCore import Qt, Slot
from PySide6.QtGui import QTextCursor
from PySide6.QtWidgets import QGroupBox, QHBoxLayout, QLabel, QPlainTextEdit, QProgressBar, QVBoxLayout, QWidget

from tlstudio.base.text import format_percent
from tlstudio.gui.widgets.common import format_seconds, named, restyle, text_label
from tlstudio.train.events import BatchEnd, EpochEnd, PhaseBegin, PrepareProgress, RunResult, RunStatus, TrainBegin

MAX_LOG_LINES = 5000
FEATURE_CACHE_HELP = ("With the whole backbone frozen and no augmentation, each image goes through the backbone once "
                      "and every epoch trains the head on the stored features: many times faster, the same model.")


class RunProgressPanel(QWidget):
    """Wraps the run in progress as its events tell it: the run's start, and its latest batch and epoch."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.begin: TrainBegin | None = None
        self.last_batch: BatchEnd | None = None
        self.last_epoch: EpochEnd | None = None
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(8)
        engine_row = QHBoxLayout()
        self.cache_label = text_label("runFeatureCacheLabel", selectable=True, hidden=True)
        self.cache_label.setToolTip(FEATURE_CACHE_HELP)
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

    @property
    def fraction_done(self) -> float | None:
        """The share of the run's steps done, once it has begun its first step."""
        if self.last_batch is None or self.begin is None:
            return None
        return self.last_batch.step / max(1, self.begin.total_steps)

    def reset(self) -> None:
        """A new (or resumed) run is about to start: it prepares its data and model first."""
        self.begin = self.last_batch = self.last_epoch = None
        self.progress.setRange(0, 0)
        self.progress.setFormat("Preparing…")
        self.progress_label.setText("Preparing the data and the model…")
        self.cache_label.hide()
        self.cache_label.setText("")

    def set_device(self, device: str) -> None:
        self.device_label.setText(f"Device: {device}" if device else "")

    def show_prepared(self, event: PrepareProgress) -> None:
        if event.total > 0:
            self.progress.setRange(0, event.total)
            self.progress.setValue(event.done)
        else:
            self.progress.setRange(0, 0)
        self.progress.setFormat(event.stage.capitalize())
        detail = f" {event.done} / {event.total}" if event.total > 1 else ""
        self.progress_label.setText(f"{event.stage.capitalize()}…{detail}")

    def show_begin(self, event: TrainBegin) -> None:
        self.begin = event
        self.progress.setRange(0, max(1, event.total_steps))
        self.progress.setValue(event.steps_done)
        self.progress.setFormat("%p %")
        self.progress_label.setText(f"Epoch {event.epochs_done + 1}/{event.epochs} · starting…")
        self.set_device(event.device)

    def show_feature_cache(self, event: PhaseBegin) -> None:
        """Whether this phase trains on cached backbone features, and why (not)."""
        state = "in use" if event.feature_cache else "not used"
        phase = f" in phase {event.phase}" if event.phase > 1 else ""
        note = event.feature_cache_note.strip().rstrip(".")
        reason = f": {note[:1].lower()}{note[1:]}" if note else ""
        self.cache_label.setText(f"<b>Feature cache {state}</b>{phase}{reason}.")
        restyle(self.cache_label, role="ready" if event.feature_cache else "hint")
        self.cache_label.show()

    def show_batch(self, event: BatchEnd) -> None:
        self.last_batch = event
        self._show_progress()

    def show_epoch(self, event: EpochEnd) -> None:
        self.last_epoch = event
        self._show_progress()

    def _show_progress(self) -> None:
        begin, batch, epoch = self.begin, self.last_batch, self.last_epoch
        if begin is None:
            return
        if batch is not None:
            self.progress.setValue(batch.step)
            eta, rate = batch.eta_seconds, batch.images_per_second
            epoch_number, step_text = batch.epoch, f"step {batch.batch}/{batch.steps_in_epoch}"
        else:
            eta, rate, epoch_number, step_text = 0.0, 0.0, 1, ""
        if epoch is not None and (batch is None or epoch.epoch >= batch.epoch):
            eta, rate = epoch.eta_seconds, epoch.images_per_second
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

    def show_outcome(self, outcome: RunResult, status: str) -> None:
        """The bar and the line say how the run ended (`status`: "Finished", "Stopped", "Failed"), not the
        step and ETA they last showed."""
        self.progress.setRange(0, max(1, self.progress.maximum()))
        if outcome.status == RunStatus.FINISHED:
            self.progress.setValue(self.progress.maximum())
        self.progress.setFormat(status)
        if self.begin is None:  # it never got to its first step: say so where "Building…" stood
            self.progress_label.setText(f"{status} before training began.")
        elif outcome.status != RunStatus.FINISHED:
            done = self.last_epoch.epoch if self.last_epoch else self.begin.epochs_done
            self.progress_label.setText(f"{status} with {done} of {self.begin.epochs} epochs complete.")


class RunLogBox(QGroupBox):
    """What the run and the page said, one time-stamped line each (the last MAX_LOG_LINES kept)."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__("Log", parent)
        layout = QVBoxLayout(self)
        self.log_view = named(QPlainTextEdit(), "runLog", "Training log")
        self.log_view.setReadOnly(True)
        self.log_view.setMaximumBlockCount(MAX_LOG_LINES)
        self.log_view.setLineWrapMode(QPlainTextEdit.LineWrapMode.WidgetWidth)
        self.log_view.setProperty("role", "log")
        layout.addWidget(self.log_view)

    @Slot(str)
    def append(self, message: str) -> None:
        stamp = time.strftime("%H:%M:%S")
        self.log_view.appendPlainText(f"{stamp}  {message.rstrip()}")
        self.log_view.moveCursor(QTextCursor.MoveOperation.End)

    def log_epoch(self, event: EpochEnd) -> None:
        best = "  ★ best so far" if event.is_best else ""
        self.append(f"epoch {event.epoch}/{event.epochs}: loss {event.loss:.4f}, accuracy {event.accuracy:.1%}, "
                    f"val loss {event.val_loss:.4f}, val accuracy {event.val_accuracy:.1%} ({event.seconds:.1f} s)"
                    f"{best}")
