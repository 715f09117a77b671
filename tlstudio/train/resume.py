"""A run's state after its last completed epoch (resume.npz), and the plan of epochs it follows.

Written at the end of every completed epoch, atomically, so a crash or a killed process leaves the
state of the last epoch that finished, as Keras's BackupAndRestore does; kept when the run ends so
it can be continued (BackupAndRestore itself cannot serve: docs/stack-notes.md #20). It holds
everything the next epoch needs and the run folder does not:

- the model's weights (all of them, in `model.get_weights()` order) and the optimizer's variables
  (its step counter, which drives the LR schedule, and its slots: momentum, Adam's moments, ...);
- the plan: each phase's epochs, base LR and the number of steps its LR schedule spans (continuing
  a run adds epochs to a phase but keeps its schedule's span, so the LR goes on where it was);
- the state of every part of the run that keeps one, each part's own `get_state()`: the checkpoint's
  (the best val_loss and its epoch; the best weights too, unless they are the last epoch's), the
  recorder's (completed epochs, the warnings already given), the loss guard's (where the loss started),
  early stopping's and the plateau reducer's (patience count, best, the plateau's LR scale), the resume
  saver's (the continuations). `from_states` and `state_of` map them to and from the fields below, so
  files written before the parts kept their own state read the same.

The arrays are stored as w0.., o0.., b0..; the rest as one JSON string under "meta".
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from tlstudio.base.files import atomic_target
from tlstudio.model.phase_plan import PhasePlan
from tlstudio.runs.folder import RESUME_FILE

RESUME_VERSION = 1


class ResumeError(ValueError):
    """The run cannot be resumed or continued; the message says why and what to do."""


class Stateful(Protocol):
    """A part of a run that keeps state over a resume: a callback, the recorder, the checkpoint."""

    def get_state(self) -> dict: ...
    def set_state(self, state: dict) -> None: ...


# The names the parts' states are kept under. History, checkpoint and resume saver live in ResumePoint's own
# fields (as before the parts kept their own state); every other part's is in `callbacks` under its name.
HISTORY, CHECKPOINT, RESUME = "history", "checkpoint", "resume"
LOSS_GUARD, EARLY_STOPPING, PLATEAU = "loss_guard", "early_stopping", "plateau"


@dataclass
class ResumePoint:
    epochs_completed: int
    global_step: int
    steps_per_epoch: int
    train_images: int
    classes: list[str]
    phase: int  # the phase of the last completed epoch
    phases: list[PhasePlan]
    best_epoch: int | None
    best_val_loss: float | None
    callbacks: dict[str, Any] = field(default_factory=dict)  # "early_stopping", "plateau", ...: their state
    continuations: list[dict[str, int]] = field(default_factory=list)  # {"after_epoch": k, "epochs": n}
    model_weights: list[np.ndarray] = field(default_factory=list, repr=False)
    optimizer_variables: list[np.ndarray] = field(default_factory=list, repr=False)
    best_weights: list[np.ndarray] | None = field(default=None, repr=False)  # when newer than model.keras

    @property
    def total_epochs(self) -> int:
        return self.phases[-1].end_epoch

    def phase_plan(self, number: int) -> PhasePlan:
        return next(p for p in self.phases if p.number == number)

    def state_of(self, name: str) -> dict:
        """What part `name`'s `set_state` takes: the `get_state()` it gave when this point was saved."""
        if name == HISTORY:
            return {"epochs_completed": self.epochs_completed, **self.callbacks.get(HISTORY, {})}
        if name == CHECKPOINT:
            return {"best_epoch": self.best_epoch, "best_val_loss": self.best_val_loss,
                    "best_weights": self.best_weights, "last_weights": self.model_weights}
        if name == RESUME:
            return {"continuations": self.continuations}
        return self.callbacks.get(name, {})

    @classmethod
    def from_states(cls, states: dict[str, dict], *, global_step: int, steps_per_epoch: int, train_images: int,
                    classes: list[str], phase: int, phases: list[PhasePlan],
                    optimizer_variables: list[np.ndarray]) -> ResumePoint:
        """The point made of each part's `get_state()` (by name; `state_of` gives them back) and the run's facts."""
        history = dict(states[HISTORY])
        epochs_completed = history.pop("epochs_completed")
        checkpoint = states[CHECKPOINT]
        callbacks = {name: state for name, state in states.items() if name not in (HISTORY, CHECKPOINT, RESUME)}
        if history:
            callbacks[HISTORY] = history
        return cls(epochs_completed=epochs_completed, global_step=global_step, steps_per_epoch=steps_per_epoch,
                   train_images=train_images, classes=list(classes), phase=phase, phases=phases,
                   best_epoch=checkpoint["best_epoch"], best_val_loss=checkpoint["best_val_loss"],
                   callbacks=callbacks, continuations=list(states.get(RESUME, {}).get("continuations", [])),
                   model_weights=checkpoint["last_weights"], optimizer_variables=optimizer_variables,
                   best_weights=checkpoint["best_weights"])

    def continued(self, more_epochs: int) -> ResumePoint:
        """The same point with a plan that trains `more_epochs` more epochs in the phase it ended in
        (later phases it never reached are dropped), the LR schedule's span unchanged."""
        if more_epochs < 1:
            raise ResumeError("give at least 1 more epoch to continue a run.")
        current = self.phase_plan(self.phase)
        end = self.epochs_completed + more_epochs
        phases = [p for p in self.phases if p.number < self.phase]
        phases.append(PhasePlan(current.number, current.first_epoch, end, current.base_lr, current.description,
                                current.schedule_steps))
        point = ResumePoint(**{**self.__dict__, "phases": phases,
                               "continuations": [*self.continuations, {"after_epoch": self.epochs_completed,
                                                                       "epochs": more_epochs}]})
        return point

    def save(self, run_dir: str | Path) -> None:
        meta = {k: v for k, v in asdict(self).items()
                if k not in ("model_weights", "optimizer_variables", "best_weights")}
        meta["version"] = RESUME_VERSION
        arrays = {f"w{i}": w for i, w in enumerate(self.model_weights)}
        arrays.update({f"o{i}": v for i, v in enumerate(self.optimizer_variables)})
        if self.best_weights is not None:
            arrays.update({f"b{i}": w for i, w in enumerate(self.best_weights)})
        with atomic_target(Path(run_dir) / RESUME_FILE, suffix=".npz") as tmp, open(tmp, "wb") as handle:
            np.savez(handle, meta=np.array(json.dumps(meta)), **arrays)

    @classmethod
    def load(cls, run_dir: str | Path) -> ResumePoint:
        path = Path(run_dir) / RESUME_FILE
        if not path.is_file():
            raise ResumeError(f"{run_dir} has no completed epoch to start from (no {RESUME_FILE}); "
                              "train it again as a new run.")
        try:
            with np.load(path, allow_pickle=False) as data:
                meta = json.loads(str(data["meta"]))
                if meta.pop("version", None) != RESUME_VERSION:
                    raise ResumeError(f"{path} was written by another version of TL Studio; train a new run.")

                def series(prefix: str) -> list[np.ndarray]:
                    keys = sorted((k for k in data.files if k[:1] == prefix and k[1:].isdigit()),
                                  key=lambda k: int(k[1:]))
                    return [data[k] for k in keys]

                weights, optimizer, best = series("w"), series("o"), series("b")
        except (OSError, ValueError, KeyError) as error:
            if isinstance(error, ResumeError):
                raise
            raise ResumeError(f"{path} cannot be read ({error}); train the run again as a new run.") from None
        meta["phases"] = [PhasePlan(**p) for p in meta["phases"]]
        return cls(**meta, model_weights=weights, optimizer_variables=optimizer, best_weights=best or None)


def assign_optimizer_variables(optimizer: Any, trainable_variables: list, values: list[np.ndarray]) -> None:
    """Build `optimizer` for `trainable_variables` and put `values` (`optimizer.variables` saved in order)
    into it; ResumeError when they do not fit (the model is not the one that was saved)."""
    if not optimizer.built:
        optimizer.build(trainable_variables)
    variables = optimizer.variables
    shapes_match = len(variables) == len(values) and all(
        tuple(v.shape) == tuple(np.shape(a)) for v, a in zip(variables, values, strict=True))
    if not shapes_match:
        raise ResumeError(f"the saved optimizer state ({len(values)} variables) does not fit this model's optimizer "
                          f"({len(variables)}); the run cannot be resumed, train it again as a new run.")
    for variable, value in zip(variables, values, strict=True):
        variable.assign(value)
