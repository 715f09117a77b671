"""The training worker's messages: a run's events as JSON lines, versioned, with no Qt in sight.

The GUI trains in a child process (`tlstudio.train.worker.process`). Both sides speak one line of
JSON per message, each carrying `"v"` (PROTOCOL_VERSION) and `"type"`:

    parent -> worker (stdin)   {"type": "job", "job": {...}}      once, first
                               {"type": "stop"}                   finish the batch, keep the best model
    worker -> parent (stdout)  {"type": "hello", "pid": ...}      the worker is up
                               {"type": "heartbeat"}              twice a second, from its own thread
                               {"type": "prepare" | "train_begin" | "phase_begin" | "epoch_end" |
                                "train_end", "event": {...}}      the Trainer's events, field by field
                               {"type": "batches", "events": [...]}   BatchEnd events, grouped
                               {"type": "log", "message": "..."}
                               {"type": "result", "result": {...}}    the RunResult; the last message

A reader ignores fields it does not know (an older reader, a newer writer of the same version) and
refuses a message of a newer version with `MessageError`. Non-finite floats travel as JSON's NaN /
Infinity extensions, which Python's json reads back.
"""

from __future__ import annotations

import dataclasses
import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tlstudio.train.events import (
    BatchEnd,
    EpochEnd,
    Observer,
    PhaseBegin,
    PrepareProgress,
    RunResult,
    RunStatus,
    TrainBegin,
    TrainEnd,
)

PROTOCOL_VERSION = 1

# At most ~10 batch messages a second: a redraw of the three live plots costs ~10-20 ms of the GUI
# thread on a 2-core machine, and at 20 a second they alone made the window miss its 40 ms target.
BATCH_INTERVAL_S = 0.1

EVENT_TYPES: dict[str, type] = {
    "prepare": PrepareProgress,
    "train_begin": TrainBegin,
    "phase_begin": PhaseBegin,
    "epoch_end": EpochEnd,
    "train_end": TrainEnd,
}
_TYPE_OF_EVENT = {cls: name for name, cls in EVENT_TYPES.items()}


class MessageError(ValueError):
    """A line that is not a message of this protocol."""


@dataclass(frozen=True)
class TrainingJob:
    """What the worker is asked to do: train a project into a new run folder, or resume / continue
    the run in `run_dir` (`more_epochs` > 0 continues it by that many epochs)."""

    project: dict[str, Any] | None  # Project.to_dict(); None for resume / continue (the run's config.json)
    run_dir: str | None
    mode: str = "new"  # "new" | "resume" | "continue"
    more_epochs: int = 0
    trainer: str = "tlstudio.train.trainer:Trainer"  # module:Class, made with no arguments

    def __post_init__(self) -> None:
        if self.mode not in ("new", "resume", "continue"):
            raise MessageError(f"unknown job mode {self.mode!r}")


@dataclass
class Message:
    """One decoded line: its type and payload (an event, a tuple of them, a job, a result, a text)."""

    type: str
    payload: Any = None
    fields: dict[str, Any] = field(default_factory=dict)


def _line(type_: str, **fields: Any) -> str:
    return json.dumps({"v": PROTOCOL_VERSION, "type": type_, **fields}, separators=(",", ":")) + "\n"


def encode_event(event: Any) -> str:
    """One of the Trainer's event objects as a line."""
    if isinstance(event, BatchEnd):
        return encode_batches((event,))
    name = _TYPE_OF_EVENT.get(type(event))
    if name is None:
        raise MessageError(f"not a training event: {type(event).__name__}")
    return _line(name, event=dataclasses.asdict(event))


def encode_batches(events: tuple[BatchEnd, ...] | list[BatchEnd]) -> str:
    return _line("batches", events=[dataclasses.asdict(e) for e in events])


def encode_log(message: str) -> str:
    return _line("log", message=str(message))


def encode_result(result: RunResult) -> str:
    return _line("result", result={"status": result.status.value, "message": result.message,
                                   "run_dir": str(result.run_dir) if result.run_dir else None,
                                   "metrics": _plain(result.metrics), "history": _plain(result.history)})


def encode_job(job: TrainingJob) -> str:
    return _line("job", job=dataclasses.asdict(job))


def encode_control(type_: str, **fields: Any) -> str:
    """hello, heartbeat, stop."""
    return _line(type_, **fields)


def decode(line: str | bytes) -> Message:
    """A line back into a Message; MessageError for anything else."""
    try:
        data = json.loads(line)
    except (ValueError, UnicodeDecodeError) as error:
        raise MessageError(f"not JSON: {str(line)[:80]!r} ({error})") from None
    if not isinstance(data, dict) or not isinstance(data.get("type"), str):
        raise MessageError(f"not a message: {str(line)[:80]!r}")
    version = data.get("v")
    if not isinstance(version, int) or version > PROTOCOL_VERSION:
        raise MessageError(f"message version {version!r} is newer than this app's ({PROTOCOL_VERSION}); "
                           "the worker and the app come from different installs.")
    kind = data["type"]
    try:
        if kind in EVENT_TYPES:
            return Message(kind, _event(EVENT_TYPES[kind], data["event"]))
        if kind == "batches":
            return Message(kind, tuple(_event(BatchEnd, e) for e in data["events"]))
        if kind == "log":
            return Message(kind, str(data["message"]))
        if kind == "result":
            r = data["result"]
            return Message(kind, RunResult(RunStatus(r["status"]), str(r["message"]),
                                           Path(r["run_dir"]) if r.get("run_dir") else None,
                                           dict(r.get("metrics") or {}), list(r.get("history") or [])))
        if kind == "job":
            return Message(kind, _event(TrainingJob, data["job"]))
    except (KeyError, TypeError, ValueError) as error:
        raise MessageError(f"a {kind!r} message that cannot be read: {error}") from None
    return Message(kind, None, {k: v for k, v in data.items() if k not in ("v", "type")})


def _event(cls: type, fields: dict[str, Any]) -> Any:
    known = {f.name: f for f in dataclasses.fields(cls)}
    values = {}
    for name, value in fields.items():
        if name not in known:
            continue  # a newer writer's extra field
        if isinstance(value, list) and "tuple" in str(known[name].type):
            value = tuple(value)
        if name == "status":
            value = RunStatus(value)
        values[name] = value
    return cls(**values)


def _plain(value: Any) -> Any:
    """numpy scalars and arrays, tuples and Paths as JSON's own types."""
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, Path):
        return str(value)
    if hasattr(value, "tolist"):
        return value.tolist()
    return value


class MessageWriter(Observer):
    """An Observer that writes each event as a line through `write` (thread-safe is the caller's job).

    Batch events are grouped and sent at most every `interval_s`; preparation progress (one event per
    decoded image) likewise. Epoch, phase, log and end events are never dropped and never overtake
    the batches before them.
    """

    def __init__(self, write, interval_s: float = BATCH_INTERVAL_S) -> None:
        self._write = write
        self._interval_s = interval_s
        self._batches: list[BatchEnd] = []
        self._last_flush = 0.0
        self._last_stage = ""
        self._last_prepare = 0.0

    def flush(self) -> None:
        if self._batches:
            batches, self._batches = tuple(self._batches), []
            self._last_flush = time.monotonic()
            self._write(encode_batches(batches))

    def on_prepare(self, event: PrepareProgress) -> None:
        now = time.monotonic()
        if (event.stage != self._last_stage or event.done >= event.total
                or now - self._last_prepare >= self._interval_s):
            self._last_stage, self._last_prepare = event.stage, now
            self._write(encode_event(event))

    def on_train_begin(self, event: TrainBegin) -> None:
        self._write(encode_event(event))

    def on_phase_begin(self, event: PhaseBegin) -> None:
        self.flush()
        self._write(encode_event(event))

    def on_train_batch_end(self, event: BatchEnd) -> None:
        self._batches.append(event)
        if time.monotonic() - self._last_flush >= self._interval_s:
            self.flush()

    def on_epoch_end(self, event: EpochEnd) -> None:
        self.flush()
        self._write(encode_event(event))

    def on_train_end(self, event: TrainEnd) -> None:
        self.flush()
        self._write(encode_event(event))

    def on_log(self, message: str) -> None:
        self.flush()
        self._write(encode_log(message))
