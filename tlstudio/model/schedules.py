"""Learning-rate schedules, evaluated per optimizer step.

One formula, `lr_at`, written with operations numpy and `keras.ops` share, gives both the
GUI's preview (numpy, no TensorFlow import) and the value the optimizer reads in-graph,
so the plotted curve is the one that is trained with. Importing this module does not
import Keras: the Keras schedule and the plateau reducer live in `model/keras_schedules.py`.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from tlstudio.data.split import steps_per_epoch as count_steps
from tlstudio.model.phase_plan import plan_phases
from tlstudio.settings.project import SCHEDULE_NAMES, Project, ScheduleSettings, declared_fields


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


# Views of the declarations (settings/sections.py: each parameter says which schedules read it).
_PARAMETERS = [spec for spec in declared_fields() if spec.section == "schedule" and spec.name != "name"]
# Which ScheduleSettings fields each schedule reads, besides the warm-up that every one has.
SCHEDULE_PARAMETERS: dict[str, list[str]] = {
    name: [spec.name for spec in _PARAMETERS if spec.setting.schedules and spec.read_by_schedule(name)]
    for name in SCHEDULE_NAMES}
# Every schedule field a form shows, warm-up first.
SCHEDULE_FIELDS: tuple[str, ...] = tuple(spec.name for spec in _PARAMETERS)


def planned_learning_rates(project: Project, train_images: int) -> tuple[np.ndarray, np.ndarray, float | None]:
    """(x in epochs, LR per step, epoch where phase 2 starts or None) as the run will step.

    The trainer's own phase plan (`plan_phases`) and step count, so the preview is the run's plan.
    """
    steps_per_epoch = max(1, count_steps(train_images, project.training.batch_size))
    phases = plan_phases(project, steps_per_epoch)
    learning_rates = np.concatenate([preview(project.schedule, phase.base_lr, steps_per_epoch, phase.schedule_steps)
                                     for phase in phases])
    phase_two_epoch = float(phases[1].first_epoch) if len(phases) > 1 else None
    x = (np.arange(len(learning_rates)) + 1) / steps_per_epoch
    return x, learning_rates, phase_two_epoch
