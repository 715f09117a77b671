"""The learning-rate range test (Smith 2015, "Cyclical learning rates"; fastai's `lr_find` is the anchor).

Train the project's model (or, with the backbone frozen, its head on the cached features: seconds)
for a short sweep in which the LR grows exponentially from `start_lr` to `end_lr`, one step each,
note the loss of every step, and stop once the smoothed loss has risen to four times its lowest.
The curve is smoothed as fastai does (an exponential moving average, beta 0.98, debiased). Two
suggestions, as the lecture and fastai give them:

- "steepest descent": where the smoothed loss falls fastest against log(LR): the suggestion. The
  sweep trains as it goes, so by the time the LR is large the model has already learned a little, and
  a curve whose minimum lies at the very end of the sweep (no blow-up seen, common for a head on
  frozen features) puts "minimum / 10" far too high for a fresh start: measured on the 5-class demo,
  SqueezeNet 1.1 frozen, Adam, "minimum / 10" was 0.23 and a run at it diverged at its second step,
  while the steepest point (0.012) trains to 100 %;
- "minimum / 10": a tenth of the LR at the lowest smoothed loss, the suggestion when there is no
  steepest point (a curve that only rises).

The model's weights are put back afterwards: the sweep only looks.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from tlstudio.base.tasks import Cancelled
from tlstudio.model.augment import make_augmenter
from tlstudio.model.optimizers import make_optimizer
from tlstudio.settings.project import Project
from tlstudio.train.events import Observer, PrepareProgress, StopToken
from tlstudio.train.features import FeatureHead, FeatureStore, compute_features, feature_cache_decision
from tlstudio.train.prepare import PrepareError, RunData, build_run_model, prepare_run

START_LR = 1e-7
END_LR = 10.0
STEPS = 100
SMOOTHING = 0.98
DIVERGED = 4.0  # stop once the smoothed loss is this many times its lowest
SKIP_START, SKIP_END = 5, 3  # points left out of the suggestions: the noisy start, the blow-up at the end


class LRFinderError(ValueError):
    """The range test cannot run on this project; one sentence naming the fix."""


@dataclass
class LRRangeResult:
    learning_rates: list[float]
    losses: list[float]  # each step's own loss
    smoothed: list[float]
    suggested_lr: float  # the steepest point, else minimum / 10
    minimum_lr: float  # where the smoothed loss is lowest
    steepest_lr: float | None  # where it falls fastest
    feature_cache: bool
    seconds: float
    stopped_early: bool  # the loss blew up before end_lr
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {"suggested_lr": self.suggested_lr, "steepest_lr": self.steepest_lr, "minimum_lr": self.minimum_lr,
                "minimum_over_10": self.minimum_lr / 10,
                "lr": self.learning_rates, "loss": self.smoothed, "raw_loss": self.losses,
                "feature_cache": self.feature_cache, "seconds": round(self.seconds, 2),
                "stopped_early": self.stopped_early}


def smooth(losses: list[float], beta: float = SMOOTHING) -> list[float]:
    """fastai's debiased exponential moving average."""
    average, out = 0.0, []
    for i, loss in enumerate(losses, start=1):
        average = beta * average + (1 - beta) * loss
        out.append(average / (1 - beta ** i))
    return out


def suggestions(learning_rates: list[float], smoothed: list[float]) -> tuple[float, float, float | None]:
    """(the suggestion, the LR at the minimum, the LR of steepest descent) of a range test's curve."""
    lrs, losses = np.asarray(learning_rates, float), np.asarray(smoothed, float)
    end = max(len(lrs) - SKIP_END, 1)
    start = min(SKIP_START, end - 1)
    window = slice(start, end)
    finite = np.isfinite(losses[window])
    if not finite.any():
        raise LRFinderError("the loss was never finite during the range test; check the data and the model.")
    candidates = np.flatnonzero(finite) + start
    lowest = int(candidates[np.argmin(losses[candidates])])
    minimum_lr = float(lrs[lowest])
    steepest = None
    first, last = _longest_valley(losses, candidates)
    if last - first >= 2:
        span = slice(first, last + 1)
        slopes = np.gradient(losses[span], np.log10(lrs[span]))
        if np.isfinite(slopes).all() and slopes.min() < 0:
            steepest = float(lrs[first + int(np.argmin(slopes))])
    return (steepest if steepest is not None else minimum_lr / 10), minimum_lr, steepest


def _longest_valley(losses: np.ndarray, candidates: np.ndarray) -> tuple[int, int]:
    """(first, last) index of the curve's longest descent: the span of its longest decreasing run of points
    (fastai's "valley"). The steepest slope is looked for there only, so a wobble of the flat start, where
    the LR is too small to change anything, is never taken for the descent."""
    count = len(candidates)
    if count == 0:
        return 0, 0
    values = losses[candidates]
    longest = np.ones(count, int)  # the longest decreasing run ending at each point
    origin = np.arange(count)  # where that run starts
    for i in range(1, count):
        before = np.flatnonzero(values[:i] > values[i])
        if len(before):
            j = before[np.argmax(longest[before])]
            longest[i], origin[i] = longest[j] + 1, origin[j]
    end = int(np.argmax(longest))
    return int(candidates[origin[end]]), int(candidates[end])


def find_learning_rate(project: Project, observer: Observer | None = None, stop_token: StopToken | None = None,
                       *, start_lr: float = START_LR, end_lr: float = END_LR, steps: int = STEPS,
                       data: RunData | None = None) -> LRRangeResult:
    """Run the range test on `project` (its optimizer, model, freezing and data); see the module."""
    if not 0 < start_lr < end_lr:
        raise LRFinderError(f"the range test needs 0 < start LR < end LR, not {start_lr:g} and {end_lr:g}.")
    if project.optimizer.name == "lbfgs":
        raise LRFinderError("L-BFGS has no learning rate (its line search picks each step); run the range test "
                            "with a first-order optimizer such as Adam or SGD.")
    if steps < 2 * (SKIP_START + SKIP_END):
        raise LRFinderError(f"the range test needs at least {2 * (SKIP_START + SKIP_END)} steps.")
    observer = observer or Observer()
    token = stop_token or StopToken()
    started = time.perf_counter()
    try:
        data = data or prepare_run(project, observer, token, lambda classes: None)
    except PrepareError as error:
        raise LRFinderError(str(error)) from None
    built, compute = build_run_model(project, data, observer)
    training = project.training
    augmenter = make_augmenter(project.augment, seed=training.seed)
    use_cache, note = feature_cache_decision(project, built.backbone, 1)
    fit_model, dataset = _sweep_data(project, data, built, augmenter, use_cache, observer, token)
    notes = [f"feature cache {'in use' if use_cache else 'not used'}: {note}"]
    import keras

    initial = fit_model.get_weights()
    schedule = _sweep_schedule()(start_lr, end_lr, steps)
    fit_model.compile(optimizer=make_optimizer(project.optimizer, schedule), jit_compile=compute.jit_compile,
                      loss=keras.losses.CategoricalCrossentropy(label_smoothing=project.model.label_smoothing))
    recorder = _recorder_class()(schedule, token)
    observer.on_prepare(PrepareProgress("LR range test", 0, steps))
    recorder.observer, recorder.steps = observer, steps
    try:
        # One "epoch" per step: Keras's logs then hold each step's own loss, not a running mean.
        fit_model.fit(dataset, epochs=steps, steps_per_epoch=1, callbacks=[recorder], shuffle=False, verbose=0)
    finally:
        fit_model.set_weights(initial)
    if token.stop_requested:
        raise Cancelled()
    if len(recorder.losses) < SKIP_START + SKIP_END + 3:
        raise LRFinderError(f"the loss blew up after {len(recorder.losses)} steps, already at LR "
                            f"{recorder.learning_rates[-1]:.2g}; start the range test lower.")
    smoothed = smooth(recorder.losses)
    suggested, minimum, steepest = suggestions(recorder.learning_rates, smoothed)
    return LRRangeResult(recorder.learning_rates, recorder.losses, smoothed, suggested, minimum, steepest,
                         use_cache, time.perf_counter() - started, len(recorder.losses) < steps, notes)


def _sweep_data(project, data: RunData, built, augmenter, use_cache: bool, observer: Observer, token: StopToken):
    """(the model that trains, an endless dataset of its inputs), as a run's first phase has them."""
    from tlstudio.data.pipeline import feature_training_dataset, training_dataset  # lazy: imports TensorFlow

    training = project.training
    classes = len(data.classes)
    if use_cache:
        head = FeatureHead.split(built.model)
        copies = max(1, training.augmented_copies) if augmenter is not None else 1
        store = FeatureStore()
        key = FeatureStore.key(project, data.x_train, data.x_val, data.images_key) if augmenter is None else None
        features, _, _ = compute_features(
            head, data.x_train, data.x_val, batch_size=training.batch_size, augment=augmenter, copies=copies,
            store=store, key=key, task=token, runtime=training.feature_runtime, log=observer.on_log,
            progress=lambda done, of: observer.on_prepare(PrepareProgress("computing backbone features", done, of)))
        labels = np.tile(data.y_train, copies)
        return head.head, feature_training_dataset(features, labels, classes, training.batch_size,
                                                   seed=training.seed, copies=copies)
    model = built.model
    dataset = training_dataset(data.x_train, data.y_train, classes, training.batch_size, seed=training.seed)
    if augmenter is None:
        return model, dataset
    import keras

    inputs = keras.Input(shape=model.input_shape[1:], dtype="float32", name="image")
    return keras.Model(inputs, model(augmenter(inputs)), name="training_model"), dataset


def _sweep_schedule() -> type:
    import keras

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

    return ExponentialSweep


def _recorder_class() -> type:
    import keras

    class SweepRecorder(keras.callbacks.Callback):
        """Each step's LR and loss; stops when the smoothed loss blows up or the task is cancelled."""

        def __init__(self, schedule, token: StopToken) -> None:
            super().__init__()
            self.schedule, self.token = schedule, token
            self.learning_rates: list[float] = []
            self.losses: list[float] = []
            self.observer: Observer = Observer()
            self.steps = 0
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

    return SweepRecorder
