"""Training-health checks: what the lecture teaches to read off the loss curves, said while a run trains.

- Divergence stops the run: a non-finite loss, or an epoch's running mean loss above DIVERGED_FACTOR
  times where it started (at least ln(classes), a classifier that knows nothing). The learning rate
  is named, since it is nearly always the cause.
- Warnings, each once a run, with the likely fix: a training loss that hardly moves (the LR is too
  low), training accuracy far above validation accuracy (overfitting), a validation loss that rises
  for several epochs in a row.

Plain Python, no Keras: the loss guard feeds `DivergenceCheck` its batch losses, the run recorder feeds
`EpochWarnings` its epoch rows; each keeps its state for resume (`get_state` / `set_state`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

DIVERGED_FACTOR = 10.0  # a running mean loss this many times the starting loss has diverged
VAL_DIVERGED_FACTOR = 100.0  # a validation loss this many times the starting loss (overfitting stays far below)
STUCK_EPOCHS = 3  # epochs after which a loss that moved less than STUCK_CHANGE is "not moving"
STUCK_CHANGE = 0.01  # relative change of the epoch's training loss since the first epoch
OVERFIT_GAP = 0.15  # training accuracy this far above validation accuracy...
OVERFIT_EPOCHS = 2  # ...for this many epochs in a row
RISING_EPOCHS = 3  # validation loss higher than the epoch before, this many times in a row


@dataclass
class DivergenceCheck:
    """Whether the loss has diverged: judged from where the run's loss started (LossGuard's state)."""

    classes: int
    start_loss: float | None = None  # the run's first batch loss

    def get_state(self) -> dict:
        return {"start_loss": self.start_loss}

    def set_state(self, state: dict) -> None:
        self.start_loss = state.get("start_loss", self.start_loss)

    @property
    def reference_loss(self) -> float:
        """Where the loss started: the first batch's, and at least that of a classifier knowing nothing."""
        chance = math.log(max(self.classes, 2))
        return max(chance, self.start_loss if self.start_loss is not None and math.isfinite(self.start_loss)
                   else chance)

    def divergence(self, running_loss: float, learning_rate: float, epoch: int, step: int) -> str | None:
        """After a batch: why the run must stop (one sentence naming the LR), or None."""
        if self.start_loss is None:
            self.start_loss = running_loss
        if math.isfinite(running_loss) and running_loss <= DIVERGED_FACTOR * self.reference_loss:
            return None
        lower = f"{learning_rate / 10:.2g}"
        what = "became NaN" if math.isnan(running_loss) else (
            "became infinite" if math.isinf(running_loss) else
            f"diverged to {running_loss:.3g} (it started at {self.reference_loss:.3g})")
        return (f"the loss {what} at epoch {epoch} step {step}: the learning rate {learning_rate:.3g} is too high; "
                f"lower it (try {lower}); the last finite weights were kept.")

    def validation_divergence(self, val_loss: float, learning_rate: float, epoch: int) -> str | None:
        """After an epoch's validation: why the run must stop, or None. A training loss can still look
        fine while the weights have already blown up (4.6e9 on validation after one epoch at LR 1e8)."""
        if math.isfinite(val_loss) and val_loss <= VAL_DIVERGED_FACTOR * self.reference_loss:
            return None
        what = "is not finite" if not math.isfinite(val_loss) else f"diverged to {val_loss:.3g}"
        return (f"the validation loss {what} after epoch {epoch}: the learning rate {learning_rate:.3g} is too "
                f"high; lower it (try {learning_rate / 10:.2g}); the last finite weights were kept.")


@dataclass
class EpochWarnings:
    """The warnings read off completed epochs, each said once a run (the run recorder's state)."""

    warned: set[str] = field(default_factory=set)
    first_epoch_loss: float | None = None
    overfit_streak: int = 0
    rising_streak: int = 0
    best_val_loss: float = math.inf
    best_epoch: int = 0
    previous_val_loss: float | None = None

    def get_state(self) -> dict:
        state = {name: getattr(self, name) for name in self.__dataclass_fields__}
        state["warned"] = sorted(self.warned)
        state["best_val_loss"] = self.best_val_loss if math.isfinite(self.best_val_loss) else None
        return state

    def set_state(self, state: dict) -> None:
        for name in self.__dataclass_fields__:
            if name in state:
                setattr(self, name, state[name])
        self.warned = set(self.warned)
        self.best_val_loss = math.inf if self.best_val_loss is None else float(self.best_val_loss)

    def epoch(self, row: dict[str, float]) -> list[str]:
        """After a completed epoch (history.csv's row): warnings, each said once a run."""
        found = []
        epoch, loss, val_loss = int(row["epoch"]), row.get("loss", math.nan), row.get("val_loss", math.nan)
        accuracy, val_accuracy = row.get("accuracy", math.nan), row.get("val_accuracy", math.nan)
        if self.first_epoch_loss is None:
            self.first_epoch_loss = loss
        first = self.first_epoch_loss
        if (epoch >= STUCK_EPOCHS and math.isfinite(first) and first > 0 and math.isfinite(loss)
                and abs(loss - first) / first < STUCK_CHANGE):
            found.append(self._once("stuck", f"the training loss has hardly moved in {epoch} epochs ({first:.4g} "
                                             f"to {loss:.4g}): the learning rate {row.get('lr', math.nan):g} may be "
                                             "too low; try 10x higher."))
        gap = accuracy - val_accuracy
        self.overfit_streak = self.overfit_streak + 1 if math.isfinite(gap) and gap > OVERFIT_GAP else 0
        if self.overfit_streak >= OVERFIT_EPOCHS:
            found.append(self._once("overfit", f"training accuracy {accuracy:.0%} is far above validation accuracy "
                                               f"{val_accuracy:.0%}: the model overfits; add augmentation, raise "
                                               "dropout or L2, or unfreeze fewer layers."))
        if math.isfinite(val_loss):
            rising = self.previous_val_loss is not None and val_loss > self.previous_val_loss
            self.rising_streak = self.rising_streak + 1 if rising else 0
            self.previous_val_loss = val_loss
            if val_loss < self.best_val_loss:
                self.best_val_loss, self.best_epoch = val_loss, epoch
            if self.rising_streak >= RISING_EPOCHS:
                found.append(self._once("rising", f"the validation loss has risen for {self.rising_streak} epochs "
                                                  f"(best {self.best_val_loss:.4g} at epoch {self.best_epoch}, "
                                                  "which is the model kept): more epochs overfit; early stopping "
                                                  "(patience) ends a run here, or lower the learning rate."))
        return [message for message in found if message]

    def _once(self, key: str, message: str) -> str:
        if key in self.warned:
            return ""
        self.warned.add(key)
        return message
