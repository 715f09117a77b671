"""Runs one training run off the GUI thread and brings its events back as Qt signals.

`TrainingWorker` is a thin adapter: it lives in a QThread, calls `Trainer.run()` with a
Project snapshot, an observer and a stop token, and its observer methods only emit signals.
Batch events are coalesced into groups at most ~10 times a second; epoch, phase and end events
are never dropped and never overtake the batches before them.

`TrainingSession` lives in the GUI thread. The worker's signals are queued to its @Slot
methods (never lambdas: PySide6 6.8+ has crashed on lambdas across threads), and it re-emits
them from the GUI thread, so widgets and tests can connect to and wait on its signals.
"""

from __future__ import annotations

import logging
import time
import traceback
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any, Protocol

from PySide6.QtCore import QCoreApplication, QObject, Qt, QThread, Signal, Slot

from tlstudio.config import Project
from tlstudio.train.events import (
    BatchEnd,
    EpochEnd,
    Observer,
    PhaseBegin,
    PrepareProgress,
    RunResult,
    RunStatus,
    StopToken,
    TrainBegin,
    TrainEnd,
)

log = logging.getLogger(__name__)

# At most ~10 plot updates a second: a redraw of the three live plots costs ~10-20 ms of the GUI
# thread on a 2-core machine, and at 20 a second they alone made the window miss its 40 ms target.
BATCH_SIGNAL_INTERVAL_S = 0.1


class TrainerLike(Protocol):
    def run(self, project: Project, observer: Observer | None = None, stop_token: StopToken | None = None,
            run_dir: Path | None = None) -> Any: ...


def default_trainer() -> TrainerLike:
    """The real Trainer; imported when a run starts, in the worker thread."""
    from tlstudio.train.trainer import Trainer

    return Trainer()


class _SignalObserver(Observer):
    """Observer hooks run on the training thread: they only emit the worker's signals."""

    def __init__(self, worker: TrainingWorker, interval_s: float):
        self._worker = worker
        self._interval_s = interval_s
        self._batches: list[BatchEnd] = []
        self._last_flush = 0.0
        self._last_stage = ""
        self._last_prepare = 0.0

    def flush(self) -> None:
        if self._batches:
            batches, self._batches = tuple(self._batches), []
            self._last_flush = time.monotonic()
            self._worker.batches_ended.emit(batches)

    def on_prepare(self, event: PrepareProgress) -> None:
        # Decoding reports every image; the progress bar needs ~10 of them a second, not hundreds.
        now = time.monotonic()
        if (event.stage != self._last_stage or event.done >= event.total
                or now - self._last_prepare >= self._interval_s):
            self._last_stage, self._last_prepare = event.stage, now
            self._worker.prepared.emit(event)

    def on_train_begin(self, event: TrainBegin) -> None:
        self._worker.train_began.emit(event)

    def on_phase_begin(self, event: PhaseBegin) -> None:
        self.flush()
        self._worker.phase_began.emit(event)

    def on_train_batch_end(self, event: BatchEnd) -> None:
        self._batches.append(event)
        if time.monotonic() - self._last_flush >= self._interval_s:
            self.flush()

    def on_epoch_end(self, event: EpochEnd) -> None:
        self.flush()
        self._worker.epoch_ended.emit(event)

    def on_train_end(self, event: TrainEnd) -> None:
        self.flush()
        self._worker.train_ended.emit(event)

    def on_log(self, message: str) -> None:
        self.flush()
        self._worker.logged.emit(str(message))


class TrainingWorker(QObject):
    """Calls the trainer once, in the thread it was moved to."""

    prepared = Signal(object)
    train_began = Signal(object)
    phase_began = Signal(object)
    batches_ended = Signal(object)  # tuple[BatchEnd, ...]
    epoch_ended = Signal(object)
    train_ended = Signal(object)
    logged = Signal(str)
    finished = Signal(object)  # RunResult

    def __init__(self, trainer_factory: Callable[[], TrainerLike], project: Project, run_dir: Path | None,
                 stop_token: StopToken, interval_s: float = BATCH_SIGNAL_INTERVAL_S):
        super().__init__()
        self._trainer_factory = trainer_factory
        self._project = project
        self._run_dir = run_dir
        self._stop_token = stop_token
        self._observer = _SignalObserver(self, interval_s)

    @Slot()
    def run(self) -> None:
        try:
            trainer = self._trainer_factory()
            result = trainer.run(self._project, observer=self._observer, stop_token=self._stop_token,
                                 run_dir=self._run_dir)
            # The run's folder as the trainer made it, or as asked when it failed before making one.
            outcome = result if result.run_dir else replace(result, run_dir=self._run_dir)
        except BaseException as error:  # noqa: BLE001 - a crash in a run must not take the app down
            log.error("training crashed:\n%s", traceback.format_exc())
            outcome = RunResult(RunStatus.FAILED, f"Training stopped with an unexpected error: "
                                f"{type(error).__name__}: {error}", self._run_dir)
        self._observer.flush()
        # Hand ourselves back to the GUI thread so we can be freed there once this thread ends.
        self.moveToThread(QCoreApplication.instance().thread())
        self.finished.emit(outcome)


class TrainingSession(QObject):
    """Owns the training thread. All its signals are emitted on the GUI thread."""

    prepared = Signal(object)
    train_began = Signal(object)
    phase_began = Signal(object)
    batches_ended = Signal(object)
    epoch_ended = Signal(object)
    train_ended = Signal(object)
    logged = Signal(str)
    running_changed = Signal(bool)
    training_finished = Signal(object)  # RunResult

    def __init__(self, trainer_factory: Callable[[], TrainerLike] = default_trainer,
                 parent: QObject | None = None):
        super().__init__(parent)
        self.trainer_factory = trainer_factory
        self._thread: QThread | None = None
        self._worker: TrainingWorker | None = None
        self._stop_token: StopToken | None = None
        self._run_dir: Path | None = None
        self.last_outcome: RunResult | None = None

    @property
    def running(self) -> bool:
        return self._thread is not None

    @property
    def stop_requested(self) -> bool:
        return self._stop_token is not None and self._stop_token.stop_requested

    def start(self, project: Project, run_dir: Path | None) -> None:
        """Train `project` (a snapshot: later edits must not reach it) into `run_dir`."""
        if self.running:
            raise RuntimeError("a training run is already in progress")
        self._stop_token = StopToken()
        self._run_dir = run_dir
        thread = QThread()
        thread.setObjectName("tlstudio-training")
        worker = TrainingWorker(self.trainer_factory, project, run_dir, self._stop_token)
        worker.moveToThread(thread)
        worker.prepared.connect(self._on_prepared)
        worker.train_began.connect(self._on_train_began)
        worker.phase_began.connect(self._on_phase_began)
        worker.batches_ended.connect(self._on_batches_ended)
        worker.epoch_ended.connect(self._on_epoch_ended)
        worker.train_ended.connect(self._on_train_ended)
        worker.logged.connect(self._on_logged)
        worker.finished.connect(thread.quit, Qt.ConnectionType.DirectConnection)
        worker.finished.connect(self._on_worker_finished)
        thread.started.connect(worker.run)
        self._thread, self._worker = thread, worker
        self.last_outcome = None
        self.running_changed.emit(True)
        thread.start()

    @Slot()
    def stop(self) -> None:
        """Ask the run to stop; it does so within one batch and keeps the best model."""
        if self._stop_token is not None:
            self._stop_token.request_stop()

    def shutdown(self, timeout_ms: int = 120_000) -> bool:
        """Stop the run and wait for its thread (closing the window). True if none is left."""
        if self._thread is None:
            return True
        self.stop()
        finished = self._thread.wait(timeout_ms)
        if finished:
            self._release_thread()
        return finished

    def _release_thread(self) -> None:
        if self._thread is not None:
            self._thread.wait()
        self._thread = None
        self._worker = None
        self._stop_token = None

    # -- relays (queued from the worker thread) ---------------------------------------------------

    def _is_current(self) -> bool:
        return self._worker is not None and self.sender() is self._worker

    @Slot(object)
    def _on_prepared(self, event: PrepareProgress) -> None:
        if self._is_current():
            self.prepared.emit(event)

    @Slot(object)
    def _on_train_began(self, event: TrainBegin) -> None:
        if self._is_current():
            self.train_began.emit(event)

    @Slot(object)
    def _on_phase_began(self, event: PhaseBegin) -> None:
        if self._is_current():
            self.phase_began.emit(event)

    @Slot(object)
    def _on_batches_ended(self, events: tuple) -> None:
        if self._is_current():
            self.batches_ended.emit(events)

    @Slot(object)
    def _on_epoch_ended(self, event: EpochEnd) -> None:
        if self._is_current():
            self.epoch_ended.emit(event)

    @Slot(object)
    def _on_train_ended(self, event: TrainEnd) -> None:
        if self._is_current():
            self.train_ended.emit(event)

    @Slot(str)
    def _on_logged(self, message: str) -> None:
        if self._is_current():
            self.logged.emit(message)

    @Slot(object)
    def _on_worker_finished(self, outcome: RunResult) -> None:
        if not self._is_current():
            return
        self._release_thread()
        self.last_outcome = outcome
        self.running_changed.emit(False)
        self.training_finished.emit(outcome)
