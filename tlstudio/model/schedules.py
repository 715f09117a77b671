"""Learning-rate schedules, evaluated per optimizer step.

One formula, `lr_at`, written with operations numpy and `keras.ops` share, gives both the
GUI's preview (numpy, no TensorFlow import) and the value the optimizer reads in-graph,
so the plotted curve is the one that is trained with. Importing this module does not
import Keras; `ScheduledLearningRate` and `PlateauReducer` are made on first access.
"""

from __future__ import annotations

import functools
import math
from typing import Any

import numpy as np

from tlstudio.data.split import steps_per_epoch as count_steps
from tlstudio.settings.project import Project, ScheduleSettings


def warmup_steps(settings: ScheduleSettings, steps_per_epoch: int) -> int:
    """Optimizer steps of linear warm-up in front of the schedule."""
    return int(round(settings.warmup_epochs * steps_per_epoch))


def lr_at(step: Any, settings: ScheduleSettings, base_lr: float, steps_per_epoch: int, total_steps: int,
          xp: Any = np) -> Any:
    """The learning rate at optimizer step(s) `step` (0-based; a number, array or float tensor).

    `xp` is numpy or `keras.ops`. Warm-up (if any) rises linearly, base_lr * (step + 1) / W
    over W steps; the schedule then runs with its own counter starting at 0 after warm-up.
    """
    steps_per_epoch = max(int(steps_per_epoch), 1)
    warmup = warmup_steps(settings, steps_per_epoch)
    after = xp.maximum(step - warmup, 0.0)  # the schedule's own step counter
    lr = _decayed(after, settings, base_lr, steps_per_epoch, max(total_steps - warmup, 1), xp)
    if warmup > 0:
        lr = xp.where(step < warmup, base_lr * (step + 1.0) / warmup, lr)
    return lr


def _decayed(s: Any, settings: ScheduleSettings, base_lr: float, steps_per_epoch: int, decay_steps: int,
             xp: Any) -> Any:
    name = settings.name
    if name in ("constant", "plateau"):  # plateau's reductions happen at run time (PlateauReducer)
        return xp.ones_like(s) * base_lr
    if name == "step":
        return base_lr * xp.power(settings.gamma, xp.floor(s / (settings.step_epochs * steps_per_epoch)))
    if name == "exponential":
        return base_lr * xp.power(settings.decay_rate, s / steps_per_epoch)
    if name == "inverse-time":  # keras.optimizers.schedules.InverseTimeDecay with decay_steps = one epoch
        return base_lr / (1.0 + settings.inverse_time_rate * s / steps_per_epoch)
    floor = settings.min_lr_fraction
    if name == "cosine":
        progress = xp.minimum(s / decay_steps, 1.0)
        return base_lr * (floor + (1.0 - floor) * 0.5 * (1.0 + xp.cos(math.pi * progress)))
    if name == "cosine-restarts":
        # SGDR as keras.optimizers.schedules.CosineDecayRestarts computes it: period i lasts
        # first * t_mul**i steps and its cosine part is scaled by m_mul**i above the floor.
        first = max(settings.restart_epochs * steps_per_epoch, 1.0)
        t_mul, m_mul = settings.period_multiplier, settings.amplitude_multiplier
        x = s / first  # progress in units of the first period
        if t_mul == 1.0:
            restart = xp.floor(x)
            fraction = x - restart
        else:
            def start(i: Any) -> Any:  # where period i begins, in units of the first period
                return (xp.power(t_mul, i) - 1.0) / (t_mul - 1.0)

            restart = xp.floor(xp.log(1.0 - x * (1.0 - t_mul)) / math.log(t_mul))
            # The log can land a hair off an integer at period boundaries (float32 in-graph).
            restart = xp.where(start(restart + 1.0) <= x, restart + 1.0, restart)
            restart = xp.where(start(restart) > x, restart - 1.0, restart)
            fraction = (x - start(restart)) / xp.power(t_mul, restart)
        amplitude = xp.power(m_mul, restart)
        return base_lr * (floor + (1.0 - floor) * amplitude * 0.5 * (1.0 + xp.cos(math.pi * fraction)))
    raise ValueError(f"unknown schedule {name!r}")


def cycle_ends(settings: ScheduleSettings, steps_per_epoch: int, total_steps: int) -> list[int]:
    """Cosine with restarts: the step counts (of its phase) at which each cycle ends, its LR at the minimum,
    up to `total_steps`; [] for any other schedule. What a snapshot ensemble keeps a model at."""
    if settings.name != "cosine-restarts":
        return []
    steps_per_epoch = max(int(steps_per_epoch), 1)
    length = max(settings.restart_epochs * steps_per_epoch, 1.0)
    end, ends = float(warmup_steps(settings, steps_per_epoch)), []
    while end + length <= total_steps + 1e-9:
        end += length
        ends.append(int(round(end)))
        length *= settings.period_multiplier
    return ends


def preview(settings: ScheduleSettings, base_lr: float, steps_per_epoch: int, total_steps: int) -> np.ndarray:
    """The learning rate at every optimizer step 0..total_steps-1 (numpy; for the GUI's plot).

    A plateau schedule previews flat: its reductions depend on the validation loss.
    """
    steps = np.arange(max(int(total_steps), 0), dtype=np.float64)
    return np.asarray(lr_at(steps, settings, base_lr, steps_per_epoch, total_steps), dtype=np.float64)


def make_keras_schedule(settings: ScheduleSettings, base_lr: float, steps_per_epoch: int,
                        total_steps: int) -> Any:
    """A `keras.optimizers.schedules.LearningRateSchedule` computing `lr_at` in-graph.

    It carries a non-trainable `scale` variable (1.0 to start) multiplying the rate, which
    `PlateauReducer` lowers when the validation loss stalls.
    """
    return _schedule_class()(settings.model_dump(), base_lr, steps_per_epoch, total_steps)


def make_plateau_reducer(schedule: Any, settings: ScheduleSettings) -> Any:
    """A `PlateauReducer` for `schedule` with the plateau settings (factor, patience, min lr)."""
    return _plateau_reducer_class()(schedule, patience=settings.plateau_patience,
                                    factor=settings.plateau_factor, min_lr=settings.plateau_min_lr)


def __getattr__(name: str) -> Any:
    # PEP 562: the Keras classes are made on first use, so importing this module stays light.
    if name == "ScheduledLearningRate":
        return _schedule_class()
    if name == "PlateauReducer":
        return _plateau_reducer_class()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


@functools.cache
def _schedule_class() -> type:
    import keras

    @keras.saving.register_keras_serializable(package="tlstudio")
    class ScheduledLearningRate(keras.optimizers.schedules.LearningRateSchedule):
        """`lr_at` with keras.ops, times a `scale` variable the plateau reducer may lower."""

        def __init__(self, settings: dict, base_lr: float, steps_per_epoch: int, total_steps: int,
                     scale: float = 1.0) -> None:
            self.settings = ScheduleSettings.model_validate(settings)
            self.base_lr = float(base_lr)
            self.steps_per_epoch = int(steps_per_epoch)
            self.total_steps = int(total_steps)
            self.scale = keras.Variable(float(scale), dtype="float32", trainable=False, name="lr_scale")

        def __call__(self, step: Any) -> Any:
            step = keras.ops.cast(step, "float32")
            lr = lr_at(step, self.settings, self.base_lr, self.steps_per_epoch, self.total_steps,
                       xp=keras.ops)
            return keras.ops.cast(lr, "float32") * self.scale

        def get_config(self) -> dict:
            return {"settings": self.settings.model_dump(), "base_lr": self.base_lr,
                    "steps_per_epoch": self.steps_per_epoch, "total_steps": self.total_steps,
                    "scale": float(keras.ops.convert_to_numpy(self.scale))}

    return ScheduledLearningRate


@functools.cache
def _plateau_reducer_class() -> type:
    import keras

    class PlateauReducer(keras.callbacks.Callback):
        """Multiply the schedule's `scale` by `factor` after `patience` epochs without a new best.

        Keras's ReduceLROnPlateau cannot do this: it assigns a float to the optimizer's
        learning rate, which a LearningRateSchedule refuses. Same rules otherwise: an
        improvement must beat the best by `min_delta`, and the rate never goes below `min_lr`.
        """

        def __init__(self, schedule: Any, *, monitor: str = "val_loss", patience: int = 2,
                     factor: float = 0.5, min_lr: float = 0.0, min_delta: float = 1e-4) -> None:
            super().__init__()
            if not 0.0 < factor < 1.0:
                raise ValueError(f"factor must be between 0 and 1, not {factor}")
            self.schedule = schedule
            self.monitor = monitor
            self.patience = int(patience)
            self.factor = float(factor)
            self.min_lr = float(min_lr)
            self.min_delta = float(min_delta)
            self.reductions: list[tuple[int, float]] = []  # (epoch, new learning rate)
            self._reset()

        def _reset(self) -> None:
            self.best = math.inf
            self.wait = 0

        def on_train_begin(self, logs: dict | None = None) -> None:
            self._reset()

        def current_lr(self) -> float:
            """The scaled rate at the optimizer's current step."""
            step = self.model.optimizer.iterations if self.model is not None else 0
            return float(keras.ops.convert_to_numpy(self.schedule(step)))

        def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
            current = (logs or {}).get(self.monitor)
            if current is None or not math.isfinite(float(current)):
                return
            if float(current) < self.best - self.min_delta:
                self.best = float(current)
                self.wait = 0
                return
            self.wait += 1
            if self.wait < self.patience:
                return
            self.wait = 0
            lr = self.current_lr()
            if lr <= self.min_lr * (1.0 + 1e-6):  # float32 round-off: already at the floor
                return
            new_lr = max(lr * self.factor, self.min_lr)
            scale = float(keras.ops.convert_to_numpy(self.schedule.scale))
            self.schedule.scale.assign(scale * new_lr / lr)
            self.reductions.append((epoch, new_lr))

    return PlateauReducer


# Which ScheduleSettings fields each schedule reads (warm-up applies to all of them).
SCHEDULE_PARAMETERS: dict[str, list[str]] = {
    "constant": [],
    "step": ["step_epochs", "gamma"],
    "exponential": ["decay_rate"],
    "inverse-time": ["inverse_time_rate"],
    "cosine": ["min_lr_fraction"],
    "cosine-restarts": ["restart_epochs", "period_multiplier", "amplitude_multiplier", "min_lr_fraction"],
    "plateau": ["plateau_factor", "plateau_patience", "plateau_min_lr"],
}
# Every schedule field a form shows, warm-up first.
SCHEDULE_FIELDS: tuple[str, ...] = ("warmup_epochs", *dict.fromkeys(f for fields in SCHEDULE_PARAMETERS.values()
                                                                   for f in fields))


def planned_learning_rates(project: Project, train_images: int) -> tuple[np.ndarray, np.ndarray, float | None]:
    """(x in epochs, LR per step, epoch where phase 2 starts or None) as the run will step.

    The same step count and schedules as the trainer, so the preview is the run's plan.
    """
    training = project.training
    steps_per_epoch = max(1, count_steps(train_images, training.batch_size))
    base_lr = project.optimizer.learning_rate
    phase_one_steps = training.epochs * steps_per_epoch
    rates = [preview(project.schedule, base_lr, steps_per_epoch, phase_one_steps)]
    phase_two_epoch = None
    if training.fine_tune.enabled:
        phase_two_steps = training.fine_tune.epochs * steps_per_epoch
        rates.append(preview(project.schedule, base_lr * training.fine_tune.lr_factor,
                                       steps_per_epoch, phase_two_steps))
        phase_two_epoch = float(training.epochs)
    learning_rates = np.concatenate(rates)
    x = (np.arange(len(learning_rates)) + 1) / steps_per_epoch
    return x, learning_rates, phase_two_epoch
