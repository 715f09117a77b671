"""Plain event objects a training run reports, and the observer that receives them.

Events are frozen dataclasses of floats, ints and strings (never tensors), so they can be
passed across threads and queued as Qt signal arguments. The observer's hooks carry Keras's
callback names. Epochs, batches and steps are counted from 1, as a user reads them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any

from tlstudio.base.tasks import TaskState


class RunStatus(StrEnum):
    FINISHED = "FINISHED"
    STOPPED = "STOPPED"
    FAILED = "FAILED"


@dataclass(frozen=True)
class PrepareProgress:
    """Work before the first step: scanning, decoding images, building the model."""

    stage: str
    done: int
    total: int


@dataclass(frozen=True)
class TrainBegin:
    run_dir: str
    classes: tuple[str, ...]
    train_images: int
    val_images: int
    epochs: int  # over all phases
    steps_per_epoch: int
    total_steps: int
    batch_size: int
    device: str
    image_size: int
    backbone: str
    epochs_done: int = 0  # a resumed or continued run starts after these (already in the run folder)
    steps_done: int = 0


@dataclass(frozen=True)
class PhaseBegin:
    phase: int  # 1 = head (or single phase), 2 = fine-tuning
    first_epoch: int
    first_step: int
    learning_rate: float
    trainable_parameters: int
    frozen_parameters: int
    description: str
    feature_cache: bool = False  # the head trains on cached backbone features
    feature_cache_note: str = ""  # why the cache is (not) in use


@dataclass(frozen=True)
class BatchEnd:
    step: int  # optimizer steps so far, over all phases
    epoch: int
    batch: int
    steps_in_epoch: int
    loss: float  # this batch's loss (not the running mean)
    accuracy: float  # running accuracy of this epoch so far
    learning_rate: float  # the LR this step was taken with
    images_per_second: float
    phase: int
    eta_seconds: float = 0.0  # to the end of the whole run, from the recent step rate


@dataclass(frozen=True)
class EpochEnd:
    epoch: int
    epochs: int
    loss: float
    accuracy: float
    val_loss: float
    val_accuracy: float
    learning_rate: float
    seconds: float
    images_per_second: float
    is_best: bool
    phase: int
    eta_seconds: float


@dataclass(frozen=True)
class TrainEnd:
    status: RunStatus
    message: str
    run_dir: str
    epochs_completed: int
    best_epoch: int | None
    val_accuracy: float | None
    val_loss: float | None
    seconds: float


class Observer:
    """Receives a run's events. Override what you need; every hook defaults to doing nothing.

    Hooks are called on the training thread; a GUI adapter must only emit signals from them.
    """

    def on_prepare(self, event: PrepareProgress) -> None: ...

    def on_train_begin(self, event: TrainBegin) -> None: ...

    def on_phase_begin(self, event: PhaseBegin) -> None: ...

    def on_train_batch_end(self, event: BatchEnd) -> None: ...

    def on_epoch_end(self, event: EpochEnd) -> None: ...

    def on_train_end(self, event: TrainEnd) -> None: ...

    def on_log(self, message: str) -> None: ...


@dataclass
class RecordingObserver(Observer):
    """Keeps every event in order; for tests and benchmarks that read a run's events afterwards."""

    events: list = field(default_factory=list)

    def on_prepare(self, event): self.events.append(event)
    def on_train_begin(self, event): self.events.append(event)
    def on_phase_begin(self, event): self.events.append(event)
    def on_train_batch_end(self, event): self.events.append(event)
    def on_epoch_end(self, event): self.events.append(event)
    def on_train_end(self, event): self.events.append(event)
    def on_log(self, message): self.events.append(message)

    def of_type(self, kind: type) -> list:
        return [e for e in self.events if isinstance(e, kind)]


@dataclass
class RunResult:
    """How a run ended: what `Trainer.run` returns, what the GUI shows and the CLI prints."""

    status: RunStatus
    message: str
    run_dir: Path | None
    metrics: dict[str, Any] = field(default_factory=dict)
    history: list[dict[str, float]] = field(default_factory=list)


class StopToken(TaskState):
    """Set from any thread to ask a run to stop; the run checks it after every batch (and, being a
    TaskState, between the units of work before the first one)."""

    def request_stop(self) -> None:
        self.cancel()

    @property
    def stop_requested(self) -> bool:
        return self.cancelled
