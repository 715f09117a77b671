"""What the commands share: progress on the terminal, Ctrl+C as Stop, one-line failures."""

from __future__ import annotations

import os
import signal
import sys
import time

from tlstudio.base.tasks import Cancelled, TaskState
from tlstudio.cli.options import resolve_project
from tlstudio.settings.project import (
    Project,
    ProjectError,
)
from tlstudio.train.events import Observer, StopToken
from tlstudio.train.readiness import training_blocker


class ToolFailed(Exception):
    """A tool's failure, with the exit code and the message already printed."""

    def __init__(self, code: int) -> None:
        super().__init__(code)
        self.code = code


def run_tool(command: str, work, errors: tuple[type[Exception], ...], task: TaskState | None = None,
              stopped: str = "stopped."):
    """Run `work(task)` (a StopToken unless `task` is given) with Ctrl+C as its stop; a known error or a stop
    becomes one line and an exit code (raised as ToolFailed). lr-find, race, health and calibrate share this."""
    task = task if task is not None else StopToken()
    previous = signal.signal(signal.SIGINT, lambda *_: task.cancel())
    try:
        return work(task)
    except errors as error:
        print(f"tlstudio {command}: {error}", file=sys.stderr)
        raise ToolFailed(1) from None
    except Cancelled:
        print(f"tlstudio {command}: {stopped}", file=sys.stderr)
        raise ToolFailed(130) from None
    finally:
        signal.signal(signal.SIGINT, previous)


def trainable_project(args, command: str) -> Project:
    """The project of the flags, ready to train; ToolFailed(2) after one line otherwise."""

    try:
        project = resolve_project(args)
    except ProjectError as error:
        print(f"tlstudio {command}: {error}", file=sys.stderr)
        raise ToolFailed(2) from None
    reason = training_blocker(project)
    if reason:
        print(f"tlstudio {command}: {reason}", file=sys.stderr)
        raise ToolFailed(2)
    return project


class ConsoleTask(TaskState):
    """A long task's steps as lines on stderr: `[step/total] what runs now`."""

    def message(self, text: str) -> None:
        super().message(text)
        self._pending = text

    def progress(self, done: int, total: int) -> None:
        super().progress(done, total)
        text = getattr(self, "_pending", None)
        if text is not None:
            print(f"[{done}/{total}] {text}", file=sys.stderr, flush=True)
            self._pending = None


class ConsoleProgress(Observer):
    """A per-epoch progress bar on stderr with ETA and images/second; epoch summaries on stdout."""

    def __init__(self, quiet: bool = False, stream=None) -> None:
        self.stream = stream or sys.stderr
        # A bar redrawn with carriage returns is for a terminal; a log file gets the epoch lines only.
        self.quiet = quiet or not getattr(self.stream, "isatty", lambda: False)()
        self._last_draw = 0.0
        self._open_line = False

    def on_prepare(self, event) -> None:
        if self.quiet or not event.total:
            return
        self._draw(f"{event.stage}: {event.done}/{event.total}", force=event.done == event.total)

    def on_train_begin(self, event) -> None:
        self.close_line()
        print(f"training {event.backbone} at {event.image_size} px on {event.device}: "
              f"{event.train_images} training / {event.val_images} validation images, "
              f"{len(event.classes)} classes, {event.epochs} epochs x {event.steps_per_epoch} steps")
        print(f"run folder: {event.run_dir}")

    def on_phase_begin(self, event) -> None:
        self.close_line()
        print(f"phase {event.phase} from epoch {event.first_epoch}: {event.description} "
              f"(LR {event.learning_rate:g}, {event.trainable_parameters:,} trainable parameters)")
        print(f"feature cache {'in use' if event.feature_cache else 'not used'}: {event.feature_cache_note}")

    def on_train_batch_end(self, event) -> None:
        if self.quiet:
            return
        width = 24
        filled = int(width * event.batch / max(event.steps_in_epoch, 1))
        bar = "=" * filled + ">" * (filled < width) + " " * (width - filled - 1)
        self._draw(f"epoch {event.epoch} [{bar[:width]}] {event.batch}/{event.steps_in_epoch} "
                   f"loss {event.loss:.4f} lr {event.learning_rate:.2e} "
                   f"{event.images_per_second:.0f} img/s ETA {duration(event.eta_seconds)}",
                   force=event.batch == event.steps_in_epoch)

    def on_epoch_end(self, event) -> None:
        self.close_line()
        best = " *best*" if event.is_best else ""
        print(f"epoch {event.epoch}/{event.epochs}: loss {event.loss:.4f} acc {event.accuracy:.3f} "
              f"val_loss {event.val_loss:.4f} val_acc {event.val_accuracy:.3f} lr {event.learning_rate:.2e} "
              f"({event.seconds:.1f} s, {event.images_per_second:.0f} img/s){best}", flush=True)

    def on_train_end(self, event) -> None:
        self.close_line()

    def on_log(self, message: str) -> None:
        if message.startswith(("warning:", "feature cache:", "strategy ")) or "NaN" in message:
            self.close_line()
            print(message, file=self.stream)

    def _draw(self, text: str, force: bool = False) -> None:
        now = time.monotonic()
        if not force and now - self._last_draw < 0.1:
            return
        self._last_draw = now
        columns = terminal_width()
        self.stream.write("\r" + text[: columns - 1].ljust(min(columns - 1, len(text) + 8)))
        self.stream.flush()
        self._open_line = True

    def close_line(self) -> None:
        if self._open_line:
            self.stream.write("\n")
            self.stream.flush()
            self._open_line = False


def terminal_width() -> int:
    try:
        return os.get_terminal_size().columns
    except OSError:
        return 120


def duration(seconds: float) -> str:
    seconds = max(0, int(seconds))
    return f"{seconds // 60}:{seconds % 60:02d}" if seconds >= 60 else f"{seconds}s"
