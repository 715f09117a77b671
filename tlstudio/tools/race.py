"""Optimizer race: the same run trained with several optimizers and/or learning rates, side by side.

Each entrant is a real run of the Trainer (`Trainer.run`) with the project's settings but its own
optimizer and LR, the same seed, on the same data, prepared once: so its result is exactly what a
full run with those settings gives. With the backbone frozen the head trains on the cached
features (read from disk after the first entrant), so a race of all seven optimizers costs little
more than one run. The entrants' run folders are temporary; "use this one" is a project change.
"""

from __future__ import annotations

import math
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tlstudio.base.tasks import Cancelled
from tlstudio.model.optimizers import is_full_batch
from tlstudio.settings.project import OPTIMIZER_NAMES, Project
from tlstudio.train.events import EpochEnd, Observer, PhaseBegin, RunStatus, StopToken
from tlstudio.train.prepare import PrepareError, prepare_run

results_lock = threading.Lock()  # held while an entrant's history grows; readers take it to copy


class RaceError(ValueError):
    """The race cannot run as asked; one sentence naming the fix."""


@dataclass(frozen=True)
class Entrant:
    optimizer: str
    learning_rate: float

    @property
    def label(self) -> str:
        return f"{self.optimizer} LR {self.learning_rate:g}"


@dataclass
class EntrantResult:
    entrant: Entrant
    status: str = "waiting"  # waiting, running, FINISHED, STOPPED, FAILED
    message: str = ""
    history: list[dict[str, float]] = field(default_factory=list)
    val_accuracy: float | None = None  # of the kept (best) model, as the run reports it
    val_loss: float | None = None
    best_epoch: int | None = None
    seconds: float = 0.0
    feature_cache: bool = False

    def to_dict(self) -> dict[str, Any]:
        return {"optimizer": self.entrant.optimizer, "lr": self.entrant.learning_rate, "status": self.status,
                "message": self.message, "val_accuracy": self.val_accuracy, "val_loss": self.val_loss,
                "best_epoch": self.best_epoch, "seconds": round(self.seconds, 2), "history": self.history}


@dataclass
class RaceResult:
    entrants: list[EntrantResult]
    seconds: float

    @property
    def winner(self) -> EntrantResult | None:
        """The highest validation accuracy, then the lowest validation loss."""
        done = [e for e in self.entrants if e.val_accuracy is not None and e.status != "FAILED"]
        if not done:
            return None
        return max(done, key=lambda e: (e.val_accuracy, -(e.val_loss if e.val_loss is not None else math.inf)))

    def to_dict(self) -> dict[str, Any]:
        winner = self.winner
        return {"entrants": [e.to_dict() for e in self.entrants], "seconds": round(self.seconds, 2),
                "best": {"optimizer": winner.entrant.optimizer, "lr": winner.entrant.learning_rate} if winner
                else None}

    def table(self) -> str:
        lines = [f"{'optimizer':<10} {'LR':>9} {'val acc':>8} {'val loss':>9} {'best epoch':>10} {'time':>7}  status"]
        winner = self.winner
        for e in self.entrants:
            accuracy = f"{e.val_accuracy:.1%}" if e.val_accuracy is not None else "–"
            loss = f"{e.val_loss:.4f}" if e.val_loss is not None and math.isfinite(e.val_loss) else "–"
            best = str(e.best_epoch) if e.best_epoch else "–"
            mark = "  ← best" if e is winner else ""
            lines.append(f"{e.entrant.optimizer:<10} {e.entrant.learning_rate:>9.3g} {accuracy:>8} {loss:>9} "
                         f"{best:>10} {e.seconds:>6.1f}s  {e.status.lower()}{mark}")
        return "\n".join(lines)


def entrants_for(project: Project, optimizers: list[str] | None, learning_rates: list[float] | None) -> list[Entrant]:
    """Every optimizer with every LR (the project's own when none are given)."""
    names = optimizers or [project.optimizer.name]
    unknown = [n for n in names if n not in OPTIMIZER_NAMES]
    if unknown:
        raise RaceError(f"unknown optimizer {unknown[0]!r}; choose from: {', '.join(OPTIMIZER_NAMES)}.")
    rates = learning_rates or [project.optimizer.learning_rate]
    if any(not (rate > 0 and math.isfinite(rate)) for rate in rates):
        raise RaceError("every learning rate of a race must be a positive number.")
    # A full-batch optimizer (L-BFGS) has no learning rate: one entrant, whatever the rates.
    entrants = [Entrant(name, float(rate)) for name in dict.fromkeys(names)
                for rate in (rates[:1] if is_full_batch(name) else dict.fromkeys(rates))]
    if len(entrants) < 2:
        raise RaceError("a race needs at least two entrants: give several optimizers or learning rates.")
    return entrants


class _EntrantObserver(Observer):
    def __init__(self, result: EntrantResult, on_epoch: Callable[[int, EpochEnd], None] | None, index: int,
                 lock: threading.Lock) -> None:
        self.result, self.on_epoch_callback, self.index, self.lock = result, on_epoch, index, lock

    def on_phase_begin(self, event: PhaseBegin) -> None:
        if event.phase == 1:
            self.result.feature_cache = event.feature_cache

    def on_epoch_end(self, event: EpochEnd) -> None:
        with self.lock:
            self.result.history.append({"epoch": event.epoch, "loss": event.loss, "accuracy": event.accuracy,
                                        "val_loss": event.val_loss, "val_accuracy": event.val_accuracy,
                                        "lr": event.learning_rate})
        if self.on_epoch_callback:
            self.on_epoch_callback(self.index, event)


def run_race(project: Project, entrants: list[Entrant], *, epochs: int | None = None,
             observer: Observer | None = None, stop_token: StopToken | None = None,
             on_epoch: Callable[[int, EpochEnd], None] | None = None,
             results: list[EntrantResult] | None = None) -> RaceResult:
    """Train each entrant in turn; `results` (one per entrant, filled as they train) may be read from
    another thread under `results_lock`. Cancelled when `stop_token` is set between entrants; an
    entrant stopped mid-run reports what it had."""
    from tlstudio.train.trainer import Trainer  # lazy: imports Keras when the race starts

    observer = observer or Observer()
    token = stop_token or StopToken()
    if epochs is not None:
        project = project.copy_with(**{"training.epochs": epochs})
    results = results if results is not None else [EntrantResult(e) for e in entrants]
    started = time.perf_counter()
    try:
        data = prepare_run(project, observer, token, lambda classes: None)
    except PrepareError as error:
        raise RaceError(str(error)) from None
    with tempfile.TemporaryDirectory(prefix="tlstudio-race-") as folder:
        for index, (entrant, result) in enumerate(zip(entrants, results, strict=True)):
            if token.stop_requested:
                raise Cancelled()
            settings = project.copy_with(**{"optimizer.name": entrant.optimizer,
                                            "optimizer.learning_rate": entrant.learning_rate})
            observer.on_log(f"race: entrant {index + 1} of {len(entrants)}, {entrant.label}")
            result.status = "running"
            began = time.perf_counter()
            run = Trainer().run(settings, _EntrantObserver(result, on_epoch, index, results_lock), token,
                                run_dir=Path(folder) / f"entrant-{index + 1}", data=data)
            metrics = run.metrics or {}
            result.status, result.message = run.status.value, run.message
            result.val_accuracy = metrics.get("val_accuracy")
            result.val_loss = metrics.get("val_loss")
            result.best_epoch = metrics.get("best_epoch")
            result.seconds = time.perf_counter() - began
            if run.status is RunStatus.STOPPED:
                raise Cancelled()
    return RaceResult(results, time.perf_counter() - started)
