"""The Keras callbacks of a run, each owning its own state, like Keras's own `TerminateOnNaN`:

- `LossGuard`: a non-finite or diverged loss (`train/loss_checks.py`) stops the run, names the learning
  rate and puts the last finite weights back (TerminateOnNaN alone leaves them NaN:
  docs/stack-notes.md #3);
- `StopCheck`: the Stop button (a `StopToken`) ends the run within one batch;
- `EventRelay`: Keras's logs become the run's plain events and its steps.csv rows.

They share a `Halt`, the one place that says whether (and why) this fit was interrupted: an
interrupted epoch is never recorded, and never "best". The classes are made on first use so
importing this module does not import Keras.
"""

from __future__ import annotations

import functools
import time
from dataclasses import dataclass
from typing import Any, Protocol

from tlstudio.train.events import BatchEnd, EpochEnd, Observer, StopToken
from tlstudio.train.loss_checks import HealthCheck


@dataclass
class Halt:
    """Why a fit was interrupted: None (it was not), "nan" (the loss was non-finite or diverged) or "stop"."""

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


class RunLog(Protocol):
    """What the relay needs of the run: where steps and epochs go, and how big each batch was."""

    observer: Observer
    classes: list[str]
    global_step: int
    total_steps: int
    steps_per_epoch: int

    def fit_samples(self, batch: int) -> int: ...
    def add_step(self, step: int, epoch: int, loss: float, lr: float) -> None: ...
    def epoch_completed(self, row: dict[str, float]) -> bool: ...


def balanced_class_weights(labels, num_classes: int) -> dict[int, float]:
    """n / (classes x count of the class), as scikit-learn's "balanced": every class weighs the same in total."""
    import numpy as np

    counts = np.bincount(np.asarray(labels, dtype=np.int64), minlength=num_classes)
    total = counts.sum()
    return {c: float(total / (num_classes * counts[c])) if counts[c] else 0.0 for c in range(num_classes)}


def class_recall_metrics(num_classes: int) -> list:
    """One metric a class, `recall_<i>`: of that class's images, the share predicted as it (arg max),
    unweighted, so the validation log can show what class weights or balanced sampling do per class."""
    return [_class_recall_class()(class_id, name=f"recall_{class_id}") for class_id in range(num_classes)]


@functools.cache
def _class_recall_class() -> type:
    import keras

    class ClassRecall(keras.metrics.Metric):
        def __init__(self, class_id: int, name: str | None = None, **kwargs) -> None:
            super().__init__(name=name or f"recall_{class_id}", **kwargs)
            self.class_id = int(class_id)
            self.hits = self.add_variable(shape=(), initializer="zeros", name="hits")
            self.count = self.add_variable(shape=(), initializer="zeros", name="count")

        def update_state(self, y_true, y_pred, sample_weight=None):  # noqa: ARG002 - recall counts images
            ops = keras.ops
            is_class = ops.cast(ops.equal(ops.argmax(y_true, axis=-1), self.class_id), "float32")
            predicted = ops.cast(ops.equal(ops.argmax(y_pred, axis=-1), self.class_id), "float32")
            self.hits.assign_add(ops.sum(is_class * predicted))
            self.count.assign_add(ops.sum(is_class))

        def result(self):
            return self.hits / keras.ops.maximum(self.count, 1.0)

        def get_config(self) -> dict:
            return {**super().get_config(), "class_id": self.class_id}

    return ClassRecall


@functools.cache
def callback_classes() -> tuple[type, type, type]:
    """(LossGuard, StopCheck, EventRelay), built on first use so that importing stays light."""
    import keras

    class LossGuard(keras.callbacks.Callback):
        """Stops on a non-finite or diverged loss (training or validation) and puts the last finite
        weights back with `restore()` (into the whole model: the fit may be training only its head)."""

        def __init__(self, halt: Halt, restore, observer: Observer, health: HealthCheck) -> None:
            super().__init__()
            self.halt, self.restore, self.observer, self.health = halt, restore, observer, health

        def on_epoch_begin(self, epoch, logs=None):
            self._epoch = epoch

        def _learning_rate(self) -> float:
            return float(keras.ops.convert_to_numpy(self.model.optimizer.learning_rate))

        def on_train_batch_end(self, batch, logs=None):
            running = float((logs or {}).get("loss", 0.0))  # the epoch's running mean: a smoothed loss
            self._stop(self.health.divergence(running, self._learning_rate(), self._epoch + 1, batch + 1))

        def on_epoch_end(self, epoch, logs=None):
            # First among the callbacks: a diverged epoch is halted before it is recorded or "best".
            if not self.halt.halted and "val_loss" in (logs or {}):
                self._stop(self.health.validation_divergence(float(logs["val_loss"]), self._learning_rate(),
                                                             epoch + 1))

        def _stop(self, message: str | None) -> None:
            if message is None:
                return
            self.restore()
            self.halt.halt(self.model, "nan", message)
            self.observer.on_log(message)

    class StopCheck(keras.callbacks.Callback):
        """Ends the fit within one batch (training or validation) once the stop token is set."""

        def __init__(self, halt: Halt, token: StopToken) -> None:
            super().__init__()
            self.halt, self.token = halt, token

        def on_train_batch_end(self, batch, logs=None):
            self._check()

        def on_test_batch_end(self, batch, logs=None):
            self._check()

        def _check(self):
            if self.token.stop_requested and not self.halt.halted:
                self.halt.halt(self.model, "stop")

    class EventRelay(keras.callbacks.Callback):
        """Turns Keras's logs into BatchEnd / EpochEnd events and steps.csv rows."""

        def __init__(self, run: RunLog, halt: Halt, phase: int, total_epochs: int, batch_size: int,
                     train_images: int) -> None:
            super().__init__()
            self.run, self.halt, self.phase, self.total_epochs = run, halt, phase, total_epochs
            self._batch_size, self._n_train = batch_size, train_images
            self.early_stopped = False

        def on_epoch_begin(self, epoch, logs=None):
            self._epoch = epoch
            self._epoch_start = self._last_batch_time = time.perf_counter()
            self._seen = 0
            self._previous_mean = 0.0
            self._recent_rate = None

        def on_train_batch_begin(self, batch, logs=None):
            self._lr = float(self.model.optimizer.learning_rate)

        def on_train_batch_end(self, batch, logs=None):
            run = self.run
            now = time.perf_counter()
            size = run.fit_samples(batch)
            mean = float(logs["loss"])
            # Keras reports the epoch's running mean, weighted by batch size; recover this batch.
            loss = (mean * (self._seen + size) - self._previous_mean * self._seen) / size
            self._seen += size
            self._previous_mean = mean
            run.global_step += 1
            epoch = self._epoch + 1
            run.add_step(run.global_step, epoch, loss, self._lr)
            if self.halt.reason == "nan":
                return  # the guard has spoken; a NaN batch is no progress to report
            rate = size / max(now - self._last_batch_time, 1e-9)
            self._recent_rate = rate if self._recent_rate is None else 0.8 * self._recent_rate + 0.2 * rate
            self._last_batch_time = now
            eta = (run.total_steps - run.global_step) * self._batch_size / max(self._recent_rate, 1e-9)
            run.observer.on_train_batch_end(BatchEnd(
                step=run.global_step, epoch=epoch, batch=batch + 1, steps_in_epoch=run.steps_per_epoch,
                loss=loss, accuracy=float(logs.get("accuracy", float("nan"))), learning_rate=self._lr,
                images_per_second=self._seen / max(now - self._epoch_start, 1e-9), phase=self.phase,
                eta_seconds=eta))

        def on_epoch_end(self, epoch, logs=None):
            if self.halt.halted:
                return  # a partial epoch is never recorded, and never "best"
            logs = logs or {}
            seconds = time.perf_counter() - self._epoch_start
            row = {
                "epoch": epoch + 1,
                "loss": float(logs.get("loss", float("nan"))),
                "accuracy": float(logs.get("accuracy", float("nan"))),
                "val_loss": float(logs.get("val_loss", float("nan"))),
                "val_accuracy": float(logs.get("val_accuracy", float("nan"))),
                "lr": self._lr,
            }
            is_best = self.run.epoch_completed(row)
            done = epoch + 1
            self.run.observer.on_epoch_end(EpochEnd(
                epoch=done, epochs=self.total_epochs, loss=row["loss"], accuracy=row["accuracy"],
                val_loss=row["val_loss"], val_accuracy=row["val_accuracy"], learning_rate=row["lr"],
                seconds=seconds, images_per_second=self._n_train / max(seconds, 1e-9), is_best=is_best,
                phase=self.phase, eta_seconds=seconds * (self.total_epochs - done)))
            recalls = [(name, logs.get(f"val_recall_{i}")) for i, name in enumerate(self.run.classes)]
            if all(value is not None for _, value in recalls) and recalls:
                self.run.observer.on_log(f"epoch {done} validation recall per class: " + ", ".join(
                    f"{name} {float(value):.0%}" for name, value in recalls))

        def on_train_end(self, logs=None):
            self.early_stopped = bool(self.model.stop_training and not self.halt.halted)

    return LossGuard, StopCheck, EventRelay
