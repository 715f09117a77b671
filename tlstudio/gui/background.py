"""Work that must not block the GUI thread: loading TensorFlow, scanning, thumbnails, previews.

A task is a plain function `fn(context) -> result` run on a small pool of Python threads. It
never sees a widget; it may report progress and check `context.cancelled`. Its `Task` object
lives in the GUI thread: the pool thread emits private signals that are queued to the Task's
own slots, which then emit the public `progressed / messaged / succeeded / failed / finished`
signals on the GUI thread, so anything may connect to those.
"""

from __future__ import annotations

import logging
import threading
import time
import traceback
import weakref
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import wait as futures_wait
from typing import Any

from PySide6.QtCore import QObject, Signal, Slot

from tlstudio.base.tasks import Cancelled, TaskState

log = logging.getLogger(__name__)

_RUNNERS: weakref.WeakSet[TaskRunner] = weakref.WeakSet()

# Errors a user can cause and fix; their message is shown as is. Anything else is a bug:
# the message names the exception type and the traceback goes to the log.
USER_ERRORS: tuple[type[BaseException], ...] = (OSError, ValueError)


class TaskContext(TaskState):
    """What a background function may use: the core's TaskState (report progress, see or check whether
    it was cancelled), whose reports reach the GUI thread as the Task's signals."""

    def __init__(self, emit_progress: Callable[[int, int], None], emit_message: Callable[[str], None]):
        super().__init__()
        self._emit_progress = emit_progress
        self._emit_message = emit_message
        self._last_progress = 0.0

    def progress(self, done: int, total: int) -> None:
        """Report progress; calls closer together than 50 ms are dropped, except the last one."""
        super().progress(done, total)
        now = time.monotonic()
        if done >= total or now - self._last_progress >= 0.05:
            self._last_progress = now
            self._emit_progress(int(done), int(total))

    def message(self, text: str) -> None:
        """Say what the function is doing now (shown beside its progress)."""
        super().message(text)
        self._emit_message(str(text))


class Task(QObject):
    """One submitted function; its public signals are always emitted on the GUI thread."""

    progressed = Signal(int, int)
    messaged = Signal(str)
    succeeded = Signal(object)
    failed = Signal(str)
    finished = Signal()

    _raw_progress = Signal(int, int)
    _raw_message = Signal(str)
    _raw_succeeded = Signal(object)
    _raw_failed = Signal(str)

    def __init__(self, name: str, parent: QObject | None = None):
        super().__init__(parent)
        self.name = name
        self.context = TaskContext(self._raw_progress.emit, self._raw_message.emit)
        self.done = False
        self.result: Any = None
        self.error: str | None = None
        self._raw_progress.connect(self._on_progress)
        self._raw_message.connect(self._on_message)
        self._raw_succeeded.connect(self._on_succeeded)
        self._raw_failed.connect(self._on_failed)

    @property
    def cancelled(self) -> bool:
        return self.context.cancelled

    def cancel(self) -> None:
        """Ask the function to stop; its result, if any, is then dropped."""
        self.context.cancel()

    @Slot(int, int)
    def _on_progress(self, done: int, total: int) -> None:
        if not self.cancelled:
            self.progressed.emit(done, total)

    @Slot(str)
    def _on_message(self, text: str) -> None:
        if not self.cancelled:
            self.messaged.emit(text)

    @Slot(object)
    def _on_succeeded(self, result: Any) -> None:
        self.done = True
        self.result = result
        if not self.cancelled:
            self.succeeded.emit(result)
        self.finished.emit()

    @Slot(str)
    def _on_failed(self, message: str) -> None:
        self.done = True
        self.error = message
        if not self.cancelled:
            self.failed.emit(message)
        self.finished.emit()


def describe_error(error: BaseException) -> str:
    """One sentence for an error the user can act on."""
    if isinstance(error, OSError) and error.filename:
        reason = error.strerror or str(error)
        return f"{error.filename}: {reason}."
    text = str(error).strip() or type(error).__name__
    return text if text.endswith((".", "!", "?")) else text + "."


class TaskRunner(QObject):
    """A small pool of Python threads for the app's background functions; `shutdown` waits for them.

    Python threads rather than QThreadPool: PySide gives a QThreadPool thread a fresh Python
    thread state for every task, and importing TensorFlow in such a thread while the GUI
    thread was busy made later TensorFlow calls crash (reproduced with PySide6 6.12, TF 2.21).
    """

    def __init__(self, max_threads: int = 2, parent: QObject | None = None):
        super().__init__(parent)
        self._executor = ThreadPoolExecutor(max_workers=max_threads, thread_name_prefix="tlstudio-task")
        self._live: set[Task] = set()
        self._futures: set[Future] = set()
        self._lock = threading.Lock()
        self._closed = False
        _RUNNERS.add(self)

    def submit(self, name: str, fn: Callable[[TaskContext], Any]) -> Task:
        task = Task(name)  # owned by Python: freed once nothing refers to it any more
        self._live.add(task)
        task.finished.connect(self._on_task_finished)
        if self._closed:
            task.cancel()
            task._raw_failed.emit("the app is closing")
            return task
        future = self._executor.submit(_run_task, task, fn)
        with self._lock:
            self._futures.add(future)
        future.add_done_callback(self._forget_future)
        return task

    def _forget_future(self, future: Future) -> None:
        with self._lock:
            self._futures.discard(future)

    @property
    def active_count(self) -> int:
        """Functions submitted and not yet returned."""
        with self._lock:
            return len(self._futures)

    def wait(self, timeout_ms: int = -1) -> bool:
        """Block until every submitted function has returned (tests, shutdown)."""
        with self._lock:
            futures = list(self._futures)
        _, not_done = futures_wait(futures, timeout=None if timeout_ms < 0 else timeout_ms / 1000)
        return not not_done

    def shutdown(self, timeout_ms: int = 60000) -> bool:
        """Cancel everything, wait for running functions to return, and end the threads."""
        self._closed = True
        for task in list(self._live):
            task.cancel()
        done = self.wait(timeout_ms)
        self._executor.shutdown(wait=done, cancel_futures=True)
        return done

    @Slot()
    def _on_task_finished(self) -> None:
        self._live.discard(self.sender())  # type: ignore[arg-type]


def _run_task(task: Task, fn: Callable[[TaskContext], Any]) -> None:
    if task.cancelled:
        task._raw_failed.emit("cancelled")
        return
    try:
        result = fn(task.context)
    except Cancelled:
        task._raw_failed.emit("cancelled")
    except USER_ERRORS as error:
        log.debug("task %s failed", task.name, exc_info=True)
        task._raw_failed.emit(describe_error(error))
    except BaseException as error:  # noqa: BLE001 - a bug must not take the app down
        log.error("task %s crashed:\n%s", task.name, traceback.format_exc())
        task._raw_failed.emit(f"{task.name} failed: {type(error).__name__}: {error}")
    else:
        task._raw_succeeded.emit(result)


def running_task_threads() -> int:
    """Functions of every live TaskRunner that have not returned yet (for tests)."""
    return sum(runner.active_count for runner in list(_RUNNERS))


class TensorFlowLoader(QObject):
    """Imports TensorFlow in the background after the window is shown; says when it is ready."""

    loaded = Signal(str)  # the device training will use
    load_failed = Signal(str)

    def __init__(self, runner: TaskRunner, parent: QObject | None = None):
        super().__init__(parent)
        self._runner = runner
        self._task: Task | None = None
        self.ready = False
        self.device = ""
        self.error: str | None = None

    def start(self) -> None:
        if self._task is None:
            self._task = self._runner.submit("loading TensorFlow", _import_tensorflow)
            self._task.succeeded.connect(self._on_loaded)
            self._task.failed.connect(self._on_failed)

    @property
    def loading(self) -> bool:
        return self._task is not None and not self.ready and self.error is None

    @Slot(object)
    def _on_loaded(self, device: str) -> None:
        self.ready = True
        self.device = device
        self.loaded.emit(device)

    @Slot(str)
    def _on_failed(self, message: str) -> None:
        self.error = message
        self.load_failed.emit(message)


def _import_tensorflow(context: TaskContext) -> str:
    import gc

    import keras  # noqa: F401  (the imports are the work)
    import tensorflow  # noqa: F401

    import tlstudio.train.phases  # noqa: F401  (and what a run imports, so a run imports little)
    from tlstudio.train.compute import configure_gpus
    from tlstudio.train.device import describe_device

    # The app's TensorFlow (Try it, Evaluate, Export) would take a GPU's whole memory on first use and leave
    # none to the training process: grow it as needed instead.
    configure_gpus()
    device = describe_device()
    # A full garbage collection walks every object Python tracks, and after these imports that is
    # some 330,000 of them: ~180 ms with the GIL held, a frozen window whenever one runs during
    # training. None of them ever becomes garbage, so take them out of the collector's sight.
    gc.collect()
    gc.freeze()
    return device
