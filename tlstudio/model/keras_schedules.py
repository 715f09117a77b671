"""The learning-rate schedule and plateau reducer a run trains with: a Keras module (it imports Keras at its
top; light modules import it inside the functions that build a run).

`ScheduledLearningRate` computes `schedules.lr_at` in-graph with `keras.ops`, so the optimizer reads the
very curve the GUI previews; `PlateauReducer` lowers its `scale` when the validation loss stalls.
"""

from __future__ import annotations

import math
from typing import Any

import keras

from tlstudio.model.schedules import lr_at
from tlstudio.settings.project import ScheduleSettings


# Registered as "tlstudio>ScheduledLearningRate": the name saved optimizers and configs carry.
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
        lr = lr_at(step, self.settings, self.base_lr, self.steps_per_epoch, self.total_steps, xp=keras.ops)
        return keras.ops.cast(lr, "float32") * self.scale

    def get_config(self) -> dict:
        return {"settings": self.settings.model_dump(), "base_lr": self.base_lr,
                "steps_per_epoch": self.steps_per_epoch, "total_steps": self.total_steps,
                "scale": float(keras.ops.convert_to_numpy(self.scale))}


class PlateauReducer(keras.callbacks.Callback):
    """Multiply the schedule's `scale` by `factor` after `patience` epochs without a new best.

    Keras's ReduceLROnPlateau cannot do this: it assigns a float to the optimizer's learning rate,
    which a LearningRateSchedule refuses. Same rules otherwise: an improvement must beat the best by
    `min_delta`, and the rate never goes below `min_lr`. Its state (patience count, best, scale) goes
    into resume.npz through `get_state` / `set_state`.
    """

    def __init__(self, schedule: ScheduledLearningRate, *, monitor: str = "val_loss", patience: int = 2,
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
        self._restored: dict | None = None  # set_state's counters, applied once fit() has reset them
        self._reset()

    def _reset(self) -> None:
        self.best = math.inf
        self.wait = 0

    def get_state(self) -> dict:
        """{"wait", "best" (None while there is none), "scale"}: what resume.npz keeps as "plateau"."""
        best = float(self.best) if math.isfinite(self.best) else None
        return {"wait": int(self.wait), "best": best, "scale": float(keras.ops.convert_to_numpy(self.schedule.scale))}

    def set_state(self, state: dict) -> None:
        """Take up `get_state`'s counters: the scale now, the patience count when fit() begins."""
        if "scale" in state:
            self.schedule.scale.assign(float(state["scale"]))
        self._restored = dict(state)

    def on_train_begin(self, logs: dict | None = None) -> None:
        self._reset()
        if self._restored is not None:
            self.wait = int(self._restored.get("wait", 0))
            best = self._restored.get("best")
            self.best = math.inf if best is None else float(best)
            self._restored = None

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


def make_keras_schedule(settings: ScheduleSettings, base_lr: float, steps_per_epoch: int,
                        total_steps: int) -> ScheduledLearningRate:
    """A `LearningRateSchedule` computing `lr_at` in-graph, with a `scale` variable (1.0 to start) that
    `PlateauReducer` lowers when the validation loss stalls."""
    return ScheduledLearningRate(settings.model_dump(), base_lr, steps_per_epoch, total_steps)


def make_plateau_reducer(schedule: ScheduledLearningRate, settings: ScheduleSettings) -> PlateauReducer:
    """A `PlateauReducer` for `schedule` with the plateau settings (factor, patience, min lr)."""
    return PlateauReducer(schedule, patience=settings.plateau_patience, factor=settings.plateau_factor,
                          min_lr=settings.plateau_min_lr)
