"""TaskState: the one progress-and-cancel object every long task takes (Orange3's TaskState is the model).

A long task (evaluation, export, extracting features) reports what it does (`message`) and how far it
is (`progress`), and calls `check()` between units of work; whoever started it may `cancel()` from any
thread, and the task then stops at its next check by raising `Cancelled`, leaving nothing half-made.
The GUI's background tasks hand a TaskState of their own; the CLI prints one; the trainer's
StopToken is one. A plain `TaskState()` records and does nothing else.
"""

from __future__ import annotations

import threading


class Cancelled(Exception):
    """The task was cancelled before it finished; it made nothing (or kept what it says it kept)."""


class TaskState:
    def __init__(self) -> None:
        self._cancel = threading.Event()
        self.status = ""
        self.done = 0
        self.total = 0

    @property
    def cancelled(self) -> bool:
        return self._cancel.is_set()

    def cancel(self) -> None:
        self._cancel.set()

    def check(self) -> None:
        """Raise `Cancelled` when the task was cancelled; tasks call this between units of work."""
        if self._cancel.is_set():
            raise Cancelled("cancelled")

    def message(self, text: str) -> None:
        """What the task does now."""
        self.status = str(text)

    def progress(self, done: int, total: int) -> None:
        """How far it is: `done` of `total` units."""
        self.done, self.total = int(done), int(total)


class RecordingTask(TaskState):
    """Keeps every (status, done, total) report in order; for tests and scripts that read them afterwards."""

    def __init__(self) -> None:
        super().__init__()
        self.reports: list[tuple[str, int, int]] = []

    def progress(self, done: int, total: int) -> None:
        super().progress(done, total)
        self.reports.append((self.status, self.done, self.total))
