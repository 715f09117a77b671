"""The LR range test's sweep: a Keras module (it imports Keras at its top; `tools/lr_finder.py` imports it
inside `find_learning_rate`). It trains what a run's first phase trains, on the inputs the run's own input
builder and phase strategy give (the feature cache included), one step an "epoch" while the LR grows
exponentially, and notes each step's LR and loss. The model's weights are put back afterwards."""

from __future__ import annotations

import math

import keras

from tlstudio.base.tasks import Cancelled
from tlstudio.model.optimizers import make_optimizer
from tlstudio.settings.project import Project
from tlstudio.tools.lr_finder import DIVERGED, SKIP_START, SMOOTHING
from tlstudio.train.backend import active_backend, choose_backend
from tlstudio.train.events import Observer, PrepareProgress, StopToken
from tlstudio.train.features import FeatureStore
from tlstudio.train.inputs import InputBuilder, InputsStopped
from tlstudio.train.phases import phase_strategy
from tlstudio.train.prepare import RunData, build_run_model


class ExponentialSweep(keras.optimizers.schedules.LearningRateSchedule):
    """start_lr * (end_lr / start_lr) ** (step / (steps - 1))."""

    def __init__(self, start_lr: float, end_lr: float, steps: int) -> None:
        self.start_lr, self.end_lr, self.steps = float(start_lr), float(end_lr), int(steps)

    def __call__(self, step):
        fraction = keras.ops.cast(step, "float32") / max(self.steps - 1, 1)
        return self.start_lr * keras.ops.power(self.end_lr / self.start_lr, fraction)

    def value(self, step: int) -> float:
        return self.start_lr * (self.end_lr / self.start_lr) ** (step / max(self.steps - 1, 1))

    def get_config(self) -> dict:
        return {"start_lr": self.start_lr, "end_lr": self.end_lr, "steps": self.steps}


class SweepRecorder(keras.callbacks.Callback):
    """Each step's LR and loss; stops when the smoothed loss blows up or the task is cancelled."""

    def __init__(self, schedule: ExponentialSweep, token: StopToken, observer: Observer, steps: int) -> None:
        super().__init__()
        self.schedule, self.token, self.observer, self.steps = schedule, token, observer, steps
        self.learning_rates: list[float] = []
        self.losses: list[float] = []
        self._average = 0.0
        self._lowest = math.inf

    def on_epoch_end(self, epoch, logs=None):
        loss = float((logs or {}).get("loss", math.nan))
        self.learning_rates.append(self.schedule.value(epoch))
        self.losses.append(loss)
        self.observer.on_prepare(PrepareProgress("LR range test", epoch + 1, self.steps))
        self._average = SMOOTHING * self._average + (1 - SMOOTHING) * loss
        smoothed = self._average / (1 - SMOOTHING ** len(self.losses))
        if math.isfinite(smoothed):
            self._lowest = min(self._lowest, smoothed)
        if (not math.isfinite(loss) or smoothed > DIVERGED * self._lowest) and epoch >= SKIP_START:
            if not math.isfinite(loss):  # a NaN step says nothing about the curve
                self.learning_rates.pop()
                self.losses.pop()
            self.model.stop_training = True
        if self.token.stop_requested:
            self.model.stop_training = True


def sweep(project: Project, data: RunData, observer: Observer, token: StopToken, start_lr: float, end_lr: float,
          steps: int) -> tuple[SweepRecorder, bool, str]:
    """(the recorded sweep, whether the head trained on cached features, why or why not)."""
    built, compute = build_run_model(project, data, observer, choose_backend(active_backend()))
    builder = InputBuilder(project, data, built.model, observer, token, FeatureStore())
    strategy = phase_strategy(project, builder, built.backbone, 1)
    try:
        inputs = strategy.inputs(validation=False)
    except InputsStopped:
        raise Cancelled() from None
    fit_model = inputs.model
    initial = fit_model.get_weights()
    schedule = ExponentialSweep(start_lr, end_lr, steps)
    fit_model.compile(optimizer=make_optimizer(project.optimizer, schedule), jit_compile=compute.jit_compile,
                      loss=keras.losses.CategoricalCrossentropy(label_smoothing=project.model.label_smoothing))
    recorder = SweepRecorder(schedule, token, observer, steps)
    observer.on_prepare(PrepareProgress("LR range test", 0, steps))
    try:
        # One "epoch" per step: Keras's logs then hold each step's own loss, not a running mean.
        fit_model.fit(inputs.train, epochs=steps, steps_per_epoch=1, callbacks=[recorder], shuffle=False, verbose=0)
    finally:
        fit_model.set_weights(initial)
    return recorder, strategy.feature_cache, strategy.cache_note
