"""The Keras callbacks of a run. A Keras module: it imports Keras at its top, and the trainer imports it
inside the function that starts training.

Each callback owns its state, like Keras's own `TerminateOnNaN`, and exposes `get_state` / `set_state`,
which resume.npz keeps; none writes to the run:

- `LossGuard`: a non-finite or diverged loss (`train/loss_checks.py`) stops the run, names the learning
  rate and puts the last finite weights back (TerminateOnNaN alone leaves them NaN: docs/stack-notes.md #3);
- `StopCheck`: the Stop button (a `StopToken`) ends the run within one batch;
- `EventRelay`: Keras's logs become the run's plain events (BatchEnd, EpochEnd), and its steps and
  completed epochs go to the `RunRecorder` it is given. The full-batch fit drives the same relay, so
  events and rows are built here alone;
- `ResumableEarlyStopping`: Keras's early stopping, its patience count kept over a resume;
- `FeatureValidation`: validation on cached backbone features, into each epoch's logs;
- `SnapshotKeeper`: a model at the end of every LR cycle (train/snapshots.py);
- `ResumeSaver`: resume.npz after every completed epoch, from the state of every part that has one.

The checkpoint (train/checkpoint.py) and the plateau reducer (model/keras_schedules.py) are callbacks of
their own. They all share a `Halt`, the one place that says whether (and why) the run was interrupted: an
interrupted epoch is never recorded, and never "best".
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import keras
import numpy as np

from tlstudio.model.phase_plan import PhasePlan
from tlstudio.train.events import BatchEnd, EpochEnd, Observer, StopToken
from tlstudio.train.loss_checks import DivergenceCheck
from tlstudio.train.recorder import RunRecorder
from tlstudio.train.resume import ResumePoint, Stateful
from tlstudio.train.snapshots import Snapshots


@dataclass
class Halt:
    """Why the run was interrupted: None (it was not), "nan" (the loss was non-finite or diverged) or "stop"."""

    reason: str | None = None
    message: str = ""

    @property
    def halted(self) -> bool:
        return self.reason is not None

    def halt(self, model: Any, reason: str, message: str = "") -> None:
        if self.reason is None:
            self.reason, self.message = reason, message
        model.stop_training = True
        model.stop_evaluating = True  # skip the rest of this epoch's validation (docs/stack-notes.md #4)


def _learning_rate(model: Any) -> float:
    return float(keras.ops.convert_to_numpy(model.optimizer.learning_rate))


class LossGuard(keras.callbacks.Callback):
    """Stops on a non-finite or diverged loss (training or validation) and puts the last finite weights back
    with `restore()` (into the whole model: the fit may be training only its head). Its state is where the
    run's loss started, which divergence is judged from."""

    def __init__(self, halt: Halt, restore: Callable[[], None], observer: Observer, classes: int) -> None:
        super().__init__()
        self.halt, self.restore, self.observer = halt, restore, observer
        self.check = DivergenceCheck(classes)
        self._epoch = 0

    def get_state(self) -> dict:
        return self.check.get_state()

    def set_state(self, state: dict) -> None:
        self.check.set_state(state)

    def on_epoch_begin(self, epoch, logs=None):
        self._epoch = epoch

    def on_train_batch_end(self, batch, logs=None):
        running = float((logs or {}).get("loss", 0.0))  # the epoch's running mean: a smoothed loss
        self._stop(self.check.divergence(running, _learning_rate(self.model), self._epoch + 1, batch + 1))

    def on_epoch_end(self, epoch, logs=None):
        # Before the checkpoint and the relay: a diverged epoch is halted before it is recorded or "best".
        if not self.halt.halted and "val_loss" in (logs or {}):
            self._stop(self.check.validation_divergence(float(logs["val_loss"]), _learning_rate(self.model),
                                                        epoch + 1))

    def _stop(self, message: str | None) -> None:
        if message is None:
            return
        self.restore()
        self.halt.halt(self.model, "nan", message)
        self.observer.on_log(message)


class StopCheck(keras.callbacks.Callback):
    """Ends the fit within one batch (training or validation) once the stop token is set. It keeps no state:
    the token is the caller's."""

    def __init__(self, halt: Halt, token: StopToken) -> None:
        super().__init__()
        self.halt, self.token = halt, token

    def get_state(self) -> dict:
        return {}

    def set_state(self, state: dict) -> None:
        pass

    def on_train_batch_end(self, batch, logs=None):
        self._check()

    def on_test_batch_end(self, batch, logs=None):
        self._check()

    def _check(self):
        if self.token.stop_requested and not self.halt.halted:
            self.halt.halt(self.model, "stop")


@dataclass(frozen=True)
class PhaseScale:
    """What a phase's progress is reported against."""

    phase: int
    total_epochs: int  # over every phase
    steps_per_epoch: int
    total_steps: int  # over every phase
    images_per_step: int  # the batch size (the whole training set for a full-batch fit)
    epoch_images: int  # the images an epoch trains on, for its images per second


class EventRelay(keras.callbacks.Callback):
    """Turns Keras's logs into BatchEnd / EpochEnd events, and hands each step and completed epoch to the
    recorder. The step number is `step_count()` after the batch (the optimizer's count over the run); the
    LR the step was taken with is `learning_rate()` before it. Its timing lasts an epoch, so it keeps no
    state across a resume."""

    def __init__(self, recorder: RunRecorder, observer: Observer, halt: Halt, scale: PhaseScale, *,
                 classes: list[str], step_count: Callable[[], int], learning_rate: Callable[[], float],
                 samples_per_batch: Callable[[int], int], is_best: Callable[[int], bool]) -> None:
        super().__init__()
        self.recorder, self.observer, self.halt, self.scale, self.classes = recorder, observer, halt, scale, classes
        self.step_count, self.learning_rate = step_count, learning_rate
        self.samples_per_batch, self.is_best = samples_per_batch, is_best
        self._epoch = 0
        self._lr = math.nan

    def get_state(self) -> dict:
        return {}

    def set_state(self, state: dict) -> None:
        pass

    def on_epoch_begin(self, epoch, logs=None):
        self._epoch = epoch
        self._epoch_start = self._last_batch_time = time.perf_counter()
        self._seen = 0
        self._previous_mean = 0.0
        self._recent_rate = None

    def on_train_batch_begin(self, batch, logs=None):
        self._lr = self.learning_rate()

    def on_train_batch_end(self, batch, logs=None):
        now = time.perf_counter()
        size = self.samples_per_batch(batch)
        mean = float(logs["loss"])
        # Keras reports the epoch's running mean, weighted by batch size; recover this batch.
        loss = (mean * (self._seen + size) - self._previous_mean * self._seen) / size
        self._seen += size
        self._previous_mean = mean
        step, epoch, scale = self.step_count(), self._epoch + 1, self.scale
        self.recorder.add_step(step, epoch, loss, self._lr)
        if self.halt.reason == "nan":
            return  # the guard has spoken; a NaN batch is no progress to report
        rate = size / max(now - self._last_batch_time, 1e-9)
        self._recent_rate = rate if self._recent_rate is None else 0.8 * self._recent_rate + 0.2 * rate
        self._last_batch_time = now
        eta = (scale.total_steps - step) * scale.images_per_step / max(self._recent_rate, 1e-9)
        self.observer.on_train_batch_end(BatchEnd(
            step=step, epoch=epoch, batch=batch + 1, steps_in_epoch=scale.steps_per_epoch, loss=loss,
            accuracy=float(logs.get("accuracy", float("nan"))), learning_rate=self._lr,
            images_per_second=self._seen / max(now - self._epoch_start, 1e-9), phase=scale.phase, eta_seconds=eta))

    def on_epoch_end(self, epoch, logs=None):
        if self.halt.halted:
            return  # a partial epoch is never recorded, and never "best"
        logs = logs or {}
        seconds = time.perf_counter() - self._epoch_start
        done, scale = epoch + 1, self.scale
        row = {
            "epoch": done,
            "loss": float(logs.get("loss", float("nan"))),
            "accuracy": float(logs.get("accuracy", float("nan"))),
            "val_loss": float(logs.get("val_loss", float("nan"))),
            "val_accuracy": float(logs.get("val_accuracy", float("nan"))),
            "lr": self._lr,
        }
        self.recorder.add_epoch(row)
        self.observer.on_epoch_end(EpochEnd(
            epoch=done, epochs=scale.total_epochs, loss=row["loss"], accuracy=row["accuracy"],
            val_loss=row["val_loss"], val_accuracy=row["val_accuracy"], learning_rate=row["lr"],
            seconds=seconds, images_per_second=scale.epoch_images / max(seconds, 1e-9), is_best=self.is_best(done),
            phase=scale.phase, eta_seconds=seconds * (scale.total_epochs - done)))
        recalls = [(name, logs.get(f"val_recall_{i}")) for i, name in enumerate(self.classes)]
        if recalls and all(value is not None for _, value in recalls):
            self.observer.on_log(f"epoch {done} validation recall per class: " + ", ".join(
                f"{name} {float(value):.0%}" for name, value in recalls))


class ResumableEarlyStopping(keras.callbacks.EarlyStopping):
    """Keras's early stopping on val_loss, whose patience count and best value survive a resume (fit() resets
    them when it begins, so `set_state`'s values are taken up then)."""

    def __init__(self, patience: int) -> None:
        super().__init__(monitor="val_loss", patience=patience, restore_best_weights=False)
        self._restored: dict | None = None

    def get_state(self) -> dict:
        """{"wait", "best" (None while there is none)}: what resume.npz keeps as "early_stopping"."""
        best = None if self.best is None else float(self.best)
        return {"wait": int(self.wait), "best": best if best is not None and math.isfinite(best) else None}

    def set_state(self, state: dict) -> None:
        self._restored = dict(state)

    def on_train_begin(self, logs=None):
        super().on_train_begin(logs)
        if self._restored is not None:
            self.wait = int(self._restored.get("wait", 0))
            if self._restored.get("best") is not None:
                self.best = float(self._restored["best"])
            self._restored = None


class FeatureValidation(keras.callbacks.Callback):
    """Puts the head's loss and metrics on the cached validation features into each epoch's logs, as fit()'s
    own validation would (val_loss, val_accuracy, ...); first among the callbacks, so every other one (the
    guard, the checkpoint, the relay, early stopping, the plateau reducer, History) sees them."""

    def __init__(self, head: Any, dataset: Any) -> None:
        super().__init__()
        self.head, self.dataset = head, dataset

    def on_epoch_end(self, epoch, logs=None):
        if logs is None:
            return
        results = self.head.evaluate(self.dataset, verbose=0, return_dict=True)
        logs.update({f"val_{name}": float(value) for name, value in results.items()})


class SnapshotKeeper(keras.callbacks.Callback):
    """With cosine restarts: keeps the model (the weights the run keeps: the Polyak average when on) at each
    completed epoch that ends an LR cycle of the phase."""

    def __init__(self, snapshots: Snapshots, recorder: RunRecorder, halt: Halt, phase: PhasePlan,
                 steps_per_epoch: int, save: Callable[[Path], None]) -> None:
        super().__init__()
        self.snapshots, self.recorder, self.halt, self.phase = snapshots, recorder, halt, phase
        self.steps_per_epoch, self.save = steps_per_epoch, save

    def on_epoch_end(self, epoch, logs=None):
        if self.halt.halted or not self.recorder.history:
            return
        done = self.recorder.epochs_completed
        self.snapshots.keep_if_cycle_ends(done, done - self.phase.first_epoch, self.steps_per_epoch,
                                          self.phase.schedule_steps, self.recorder.history[-1], self.save)


class ResumeSaver(keras.callbacks.Callback):
    """Among the last callbacks of a fit: resume.npz after every completed epoch (never after a halted one),
    once early stopping and the plateau reducer have had their say. It gathers `get_state()` of every part
    in `parts` (by the name resume.npz keeps it under); its own state is the run's list of continuations."""

    def __init__(self, run_dir: Path, halt: Halt, parts: dict[str, Stateful], *, phase: int,
                 phases: list[PhasePlan], steps_per_epoch: int, train_images: int, classes: list[str],
                 step_count: Callable[[], int], optimizer_variables: Callable[[], list[np.ndarray]]) -> None:
        super().__init__()
        self.run_dir, self.halt, self.parts = run_dir, halt, parts
        self.facts = {"phase": phase, "phases": phases, "steps_per_epoch": steps_per_epoch,
                      "train_images": train_images, "classes": list(classes)}
        self.step_count, self.optimizer_variables = step_count, optimizer_variables
        self.continuations: list[dict[str, int]] = []

    def get_state(self) -> dict:
        return {"continuations": list(self.continuations)}

    def set_state(self, state: dict) -> None:
        self.continuations = list(state.get("continuations", []))

    def on_epoch_end(self, epoch, logs=None):
        if self.halt.halted:
            return
        states = {name: part.get_state() for name, part in self.parts.items()}
        states["resume"] = self.get_state()
        ResumePoint.from_states(states, global_step=self.step_count(), optimizer_variables=self.optimizer_variables(),
                                **self.facts).save(self.run_dir)
