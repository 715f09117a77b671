"""Runs each training run in its own process and brings its events back as Qt signals.

`TrainingSession` starts `python -m tlstudio.train.worker.process` with a QProcess, hands it the job
(a Project snapshot, or a run folder to resume / continue) as one JSON line, and turns the lines that
come back (`tlstudio.train.worker.messages`) into its signals, on the GUI thread. A separate process keeps
the window smooth (TensorFlow's tracing holds the GIL for tens of milliseconds at a time), gives the
memory of each run back when it ends, and survives a run that crashes, runs out of memory or is
killed: the session notices at once (the process ends) or, for a worker that hangs, when its
heartbeat stops, and reports the run as failed (or stopped, when the user ended it), with its folder
and every completed epoch kept.

Stop asks the worker to finish its batch and keep the best model; `kill` ends the process now.
Closing the app stops the run and waits a little, then kills it: no worker outlives the window (a
worker whose app has gone sees its stdin end, stops, and exits on its own).
"""

from __future__ import annotations

import logging
import os
import sys
import time
from collections import deque
from pathlib import Path

from PySide6.QtCore import QObject, QProcess, QProcessEnvironment, QTimer, Signal, Slot

from tlstudio.runs.folder import RESUME_FILE, discard_run_folder, write_status
from tlstudio.settings.project import Project
from tlstudio.train.events import RunResult, RunStatus
from tlstudio.train.worker.messages import MessageError, TrainingJob, decode, encode_control, encode_job

log = logging.getLogger(__name__)

DEFAULT_TRAINER = "tlstudio.train.trainer:Trainer"
HEARTBEAT_CHECK_MS = 500
UNRESPONSIVE_S = 5.0  # no message (not even a heartbeat) for this long: the worker is stuck
STOP_GRACE_MS = 15_000  # closing the app: how long a stopping run may take before it is ended
STDERR_LINES = 40


def worker_command() -> list[str]:
    """How to start a worker: this Python with the worker module, or the frozen app's own entry."""
    if getattr(sys, "frozen", False):
        return [sys.executable, "worker"]
    return [sys.executable, "-m", "tlstudio.train.worker.process"]


class TrainingSession(QObject):
    """One training run at a time, in a child process. All its signals are emitted on the GUI thread."""

    prepared = Signal(object)
    train_began = Signal(object)
    phase_began = Signal(object)
    batches_ended = Signal(object)  # tuple[BatchEnd, ...]
    epoch_ended = Signal(object)
    train_ended = Signal(object)
    logged = Signal(str)
    running_changed = Signal(bool)
    training_finished = Signal(object)  # RunResult

    def __init__(self, trainer: str = DEFAULT_TRAINER, parent: QObject | None = None,
                 environment: dict[str, str] | None = None):
        super().__init__(parent)
        self.trainer = trainer
        self.environment = dict(environment or {})  # added to the worker's environment
        self._process: QProcess | None = None
        self._job: TrainingJob | None = None
        self._result: RunResult | None = None
        self._stop_requested = False
        self._killed = False
        self._last_word = 0.0
        self._warned_silent = False
        self._stderr: deque[str] = deque(maxlen=STDERR_LINES)
        self._partial = b""
        self.last_outcome: RunResult | None = None
        self._watchdog = QTimer(self)
        self._watchdog.setInterval(HEARTBEAT_CHECK_MS)
        self._watchdog.timeout.connect(self._check_heartbeat)

    # -- state ------------------------------------------------------------------------------------

    @property
    def running(self) -> bool:
        return self._process is not None

    @property
    def stop_requested(self) -> bool:
        return self.running and self._stop_requested

    @property
    def pid(self) -> int | None:
        return int(self._process.processId()) if self._process is not None else None

    @property
    def run_dir(self) -> Path | None:
        return Path(self._job.run_dir) if self._job and self._job.run_dir else None

    # -- starting ---------------------------------------------------------------------------------

    def start(self, project: Project, run_dir: Path | None) -> None:
        """Train `project` (a snapshot: later edits must not reach it) into the new folder `run_dir`."""
        self._launch(TrainingJob(project.to_dict(), str(run_dir) if run_dir else None, trainer=self.trainer))

    def resume(self, run_dir: Path, more_epochs: int = 0) -> None:
        """Go on with the run in `run_dir`: finish its planned epochs, or train `more_epochs` more."""
        self._launch(TrainingJob(None, str(run_dir), "continue" if more_epochs else "resume", more_epochs,
                                 trainer=self.trainer))

    def _launch(self, job: TrainingJob) -> None:
        if self.running:
            raise RuntimeError("a training run is already in progress")
        self._job, self._result, self._stop_requested, self._killed = job, None, False, False
        self._stderr.clear()
        self._partial = b""
        self._warned_silent = False
        self.last_outcome = None
        process = QProcess(self)
        environment = QProcessEnvironment.systemEnvironment()
        for key, value in self.environment.items():
            environment.insert(key, value)
        environment.insert("PYTHONUNBUFFERED", "1")
        process.setProcessEnvironment(environment)
        process.readyReadStandardOutput.connect(self._read_messages)
        process.readyReadStandardError.connect(self._read_stderr)
        process.finished.connect(self._on_finished)
        process.errorOccurred.connect(self._on_error)
        command = worker_command()
        self._process = process
        self._last_word = time.monotonic()
        self.running_changed.emit(True)
        process.start(command[0], command[1:])
        process.write(encode_job(job).encode("utf-8"))
        self._watchdog.start()

    # -- stopping ---------------------------------------------------------------------------------

    @Slot()
    def stop(self) -> None:
        """Ask the run to stop; it does so within one batch and keeps the best model."""
        if self._process is not None and not self._stop_requested:
            self._stop_requested = True
            self._process.write(encode_control("stop").encode("utf-8"))

    @Slot()
    def kill(self) -> None:
        """End the worker process now (a second Stop, or a run that does not stop)."""
        if self._process is not None:
            self._killed = True
            self._stop_requested = True
            self._process.kill()

    def shutdown(self, timeout_ms: int = STOP_GRACE_MS) -> bool:
        """Stop the run, wait for it up to `timeout_ms`, then end it (closing the app). True when no
        worker is left."""
        process = self._process
        if process is None:
            return True
        self.stop()
        if not process.waitForFinished(timeout_ms) and self._process is process:
            self.kill()
            process.waitForFinished(5000)
        if self._process is process:  # finished() has not been delivered yet
            self._on_finished(process.exitCode(), process.exitStatus())
        return self._process is None

    # -- the worker's words ------------------------------------------------------------------------

    @Slot()
    def _read_messages(self) -> None:
        process = self.sender() if isinstance(self.sender(), QProcess) else self._process
        if process is None or process is not self._process:
            return
        self._consume(bytes(process.readAllStandardOutput()))

    def _consume(self, data: bytes) -> None:
        if not data:
            return
        self._last_word = time.monotonic()
        if self._warned_silent:
            self._warned_silent = False
            self.logged.emit("the training process answers again")
        lines = (self._partial + data).split(b"\n")
        self._partial = lines.pop()
        for line in lines:
            if line.strip():
                self._dispatch(line)

    def _dispatch(self, line: bytes) -> None:
        try:
            message = decode(line)
        except MessageError as error:
            log.warning("training worker: %s", error)
            return
        if message.type == "result":
            self._result = message.payload
            return
        signal = {"batches": self.batches_ended, "prepare": self.prepared, "epoch_end": self.epoch_ended,
                  "train_begin": self.train_began, "phase_begin": self.phase_began, "train_end": self.train_ended,
                  "log": self.logged}.get(message.type)
        if signal is not None:  # hello and heartbeat only say the worker is alive
            signal.emit(message.payload)

    @Slot()
    def _read_stderr(self) -> None:
        if self._process is None:
            return
        text = bytes(self._process.readAllStandardError()).decode("utf-8", "replace")
        for line in text.splitlines():
            if line.strip():
                self._stderr.append(line.rstrip())
                log.debug("training worker: %s", line.rstrip())

    @Slot()
    def _check_heartbeat(self) -> None:
        if self._process is None:
            return
        silent = time.monotonic() - self._last_word
        if silent < UNRESPONSIVE_S:
            return
        if self._stop_requested and not self._killed:
            self.logged.emit(f"the training process has not answered for {silent:.0f} s after Stop; ending it")
            self.kill()
        elif not self._warned_silent:
            self._warned_silent = True
            self.logged.emit(f"the training process has not answered for {silent:.0f} s; press Stop twice to "
                             "end it if it does not recover")

    @Slot(QProcess.ProcessError)
    def _on_error(self, error: QProcess.ProcessError) -> None:
        if error == QProcess.ProcessError.FailedToStart and self._process is not None:
            self._stderr.append(f"could not start {' '.join(worker_command())}: {self._process.errorString()}")
            self._finish(self._process)

    @Slot(int, QProcess.ExitStatus)
    def _on_finished(self, exit_code: int, exit_status: QProcess.ExitStatus) -> None:
        process = self._process
        if process is None or (isinstance(self.sender(), QProcess) and self.sender() is not process):
            return
        self._consume(bytes(process.readAllStandardOutput()) + b"\n")
        self._read_stderr()
        self._finish(process, exit_code, exit_status)

    def _finish(self, process: QProcess, exit_code: int = -1,
                exit_status: QProcess.ExitStatus = QProcess.ExitStatus.CrashExit) -> None:
        self._watchdog.stop()
        outcome = self._result or self._outcome_without_result(exit_code, exit_status)
        self._process = None
        process.deleteLater()
        self.last_outcome = outcome
        self.running_changed.emit(False)
        self.training_finished.emit(outcome)

    def _outcome_without_result(self, exit_code: int, exit_status: QProcess.ExitStatus) -> RunResult:
        """The worker ended without telling how the run went: say what happened, mark the run folder,
        and keep every completed epoch (or remove a new run's folder that has none)."""
        run_dir = self.run_dir
        kept = run_dir is not None and (run_dir / RESUME_FILE).is_file()
        crash = next((line for line in reversed(self._stderr) if "Fatal Python error" in line
                      or "Error" in line), "")
        if self._killed:
            status, what = RunStatus.STOPPED, "the training process was ended at your request"
        elif exit_status == QProcess.ExitStatus.CrashExit:
            status, what = RunStatus.FAILED, ("the training process crashed" + (f" ({crash.strip()})" if crash else
                                              " without a word (killed by the system, e.g. out of memory, or by "
                                              "another program)"))
        else:
            status, what = RunStatus.FAILED, (f"the training process ended with exit code {exit_code}"
                                              + (f" ({crash.strip()})" if crash else ""))
        if kept:
            message = f"{what}; the completed epochs and the best model so far are kept, and Resume finishes the run."
        else:
            message = f"{what} before its first epoch ended; nothing was trained."
        if run_dir is not None and run_dir.is_dir():
            try:
                if not kept and self._job is not None and self._job.mode == "new":
                    if discard_run_folder(run_dir):
                        run_dir = None
                if run_dir is not None:
                    write_status(run_dir, status.value, message)
            except OSError as error:
                log.warning("could not mark %s: %s", run_dir, error)
        if self._stderr and status == RunStatus.FAILED:
            self.logged.emit("the training process's last words:\n" + "\n".join(list(self._stderr)[-10:]))
        return RunResult(status, message, run_dir)


def process_alive(pid: int) -> bool:
    """Whether a process with this id still exists (tests check that no worker is left)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A zombie still answers; it is gone for every purpose but its exit status.
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as handle:
            return handle.read().split(")")[-1].split()[0] != "Z"
    except OSError:
        return True
