"""The training worker: one run in its own process, its events streamed to the parent as JSON lines.

Started as `python -m tlstudio.train.worker.process` (the GUI does this for every run). It reads one
job line from stdin, runs the Trainer, and writes messages (`tlstudio.train.worker.messages`) to the stdout
it was given; anything else that would reach stdout (a library's print) goes to stderr instead, so
the message stream stays clean. Its own threads:

- a heartbeat, twice a second, so the parent can tell a live worker from a stuck one;
- a stdin reader: "stop" asks the run to stop within one batch; the end of stdin (the parent has
  gone, or closed the pipe) does the same, and ends the process if the stop takes longer than
  ORPHAN_GRACE_S, so a worker never outlives its app for long.

The exit code is 0 once a result has been sent, whatever the run's status; anything else (a crash,
a signal) means the run ended without one.
"""

from __future__ import annotations

import faulthandler
import importlib
import os
import sys
import threading
import traceback
from dataclasses import replace
from pathlib import Path
from typing import Any, TextIO

from tlstudio.train.events import RunResult, RunStatus, StopToken
from tlstudio.train.worker.messages import (
    MessageError,
    MessageWriter,
    TrainingJob,
    decode,
    encode_control,
    encode_result,
)

HEARTBEAT_INTERVAL_S = 0.5
ORPHAN_GRACE_S = 30.0
# Training is background work: at a lower priority it takes the CPU only when the window does not
# need it. On a 2-core machine TensorFlow's threads otherwise keep the window's thread waiting for a
# core for up to ~45 ms at a time (docs/stack-notes.md #17); alone, it runs as fast.
WORKER_NICENESS = 19


class _Channel:
    """Writes whole lines to the parent from any thread; a parent that has gone is not an error."""

    def __init__(self, stream: TextIO) -> None:
        self._stream = stream
        self._lock = threading.Lock()
        self.broken = False

    def write(self, line: str) -> None:
        with self._lock:
            if self.broken:
                return
            try:
                self._stream.write(line)
                self._stream.flush()
            except (BrokenPipeError, OSError, ValueError):
                self.broken = True  # the run goes on to a clean stop; nobody is listening


def make_trainer(spec: str) -> Any:
    """`module:Class` -> an instance (the real Trainer, or a test's stand-in)."""
    module_name, _, class_name = spec.partition(":")
    return getattr(importlib.import_module(module_name), class_name)()


def run_job(job: TrainingJob, observer: MessageWriter, token: StopToken) -> RunResult:
    """Run `job` with the trainer it names; a crash becomes a FAILED result, never an exception."""
    try:
        trainer = make_trainer(job.trainer)
        if job.mode == "new":
            from tlstudio.settings.project import Project

            project = Project.from_dict(job.project or {}, source="the training job")
            result = trainer.run(project, observer=observer, stop_token=token,
                                 run_dir=Path(job.run_dir) if job.run_dir else None)
        else:
            result = trainer.resume(Path(job.run_dir), observer=observer, stop_token=token,
                                    more_epochs=job.more_epochs if job.mode == "continue" else 0)
        return result if result.run_dir else replace(result, run_dir=Path(job.run_dir) if job.run_dir else None)
    except BaseException as error:  # noqa: BLE001 - reported to the parent as a failed run
        observer.on_log(traceback.format_exc())
        return RunResult(RunStatus.FAILED, f"Training stopped with an unexpected error: "
                         f"{type(error).__name__}: {error}", Path(job.run_dir) if job.run_dir else None)


def serve(stdin: TextIO, channel: _Channel) -> int:
    """Read the job, run it, answer with its result. Returns the process's exit code."""
    channel.write(encode_control("hello", pid=os.getpid()))
    stop_heartbeat = threading.Event()

    def beat() -> None:
        while not stop_heartbeat.wait(HEARTBEAT_INTERVAL_S):
            channel.write(encode_control("heartbeat"))

    threading.Thread(target=beat, name="tlstudio-heartbeat", daemon=True).start()
    try:
        first = decode(stdin.readline())
        if first.type != "job":
            raise MessageError(f"expected a job, got {first.type!r}")
    except MessageError as error:
        print(f"tlstudio worker: {error}", file=sys.stderr)
        return 2
    job: TrainingJob = first.payload
    token = StopToken()

    def listen() -> None:
        for line in stdin:
            try:
                message = decode(line)
            except MessageError:
                continue
            if message.type == "stop":
                token.request_stop()
        # stdin ended: the parent is gone (or wants us gone). Stop cleanly, but never linger.
        token.request_stop()
        timer = threading.Timer(ORPHAN_GRACE_S, os._exit, args=(3,))
        timer.daemon = True
        timer.start()

    threading.Thread(target=listen, name="tlstudio-control", daemon=True).start()
    observer = MessageWriter(channel.write)
    result = run_job(job, observer, token)
    observer.flush()
    channel.write(encode_result(result))
    stop_heartbeat.set()
    return 0


def lower_priority() -> None:
    """Run as background work, at the lowest priority (POSIX nice 19; as is where there is none).
    Linux's SCHED_IDLE measured no better here (26-30 ms gaps against 21-26 ms)."""
    try:
        if hasattr(os, "nice"):
            os.nice(WORKER_NICENESS)
    except OSError:
        pass


def main() -> int:
    faulthandler.enable()  # a segfault in TensorFlow leaves its Python traceback on stderr
    lower_priority()
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    # Messages get the real stdout; everything else printed in this process goes to stderr.
    messages = os.fdopen(os.dup(sys.stdout.fileno()), "w", encoding="utf-8", buffering=1)
    os.dup2(sys.stderr.fileno(), sys.stdout.fileno())
    sys.stdout = sys.stderr
    code = serve(sys.stdin, _Channel(messages))
    sys.stderr.flush()
    messages.flush()
    # No interpreter teardown: TensorFlow's can take seconds, and everything worth keeping is written.
    os._exit(code)


if __name__ == "__main__":  # pragma: no cover - the process entry point
    main()
