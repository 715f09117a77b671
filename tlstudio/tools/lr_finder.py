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

import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from tlstudio.base.tasks import Cancelled
from tlstudio.model.optimizers import is_full_batch
from tlstudio.settings.project import Project
from tlstudio.train.events import Observer, StopToken
from tlstudio.train.prepare import PrepareError, RunData, prepare_run

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
    if is_full_batch(project.optimizer.name):
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
    from tlstudio.tools.lr_sweep import sweep  # lazy: imports Keras

    recorder, feature_cache, note = sweep(project, data, observer, token, start_lr, end_lr, steps)
    notes = [f"feature cache {'in use' if feature_cache else 'not used'}: {note}"]
    if token.stop_requested:
        raise Cancelled()
    if len(recorder.losses) < SKIP_START + SKIP_END + 3:
        raise LRFinderError(f"the loss blew up after {len(recorder.losses)} steps, already at LR "
                            f"{recorder.learning_rates[-1]:.2g}; start the range test lower.")
    smoothed = smooth(recorder.losses)
    suggested, minimum, steepest = suggestions(recorder.learning_rates, smoothed)
    return LRRangeResult(recorder.learning_rates, recorder.losses, smoothed, suggested, minimum, steepest,
                         feature_cache, time.perf_counter() - started, len(recorder.losses) < steps, notes)
