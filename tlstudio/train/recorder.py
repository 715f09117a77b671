"""What a run has done, written once: steps.csv and history.csv rows, the history in memory, the count of
completed epochs, and the warnings read off each completed epoch.

The event relay (and the full-batch fit, through the same relay) hands every step and completed epoch to
the `RunRecorder` it is given; nothing else writes them. Light: no Keras.
"""

from __future__ import annotations

from tlstudio.runs.folder import RunFolderWriter, read_run
from tlstudio.train.events import Observer
from tlstudio.train.loss_checks import EpochWarnings


class RunRecorder:
    """The run's record of steps and completed epochs; `get_state` / `set_state` carry it over a resume."""

    def __init__(self, writer: RunFolderWriter, observer: Observer) -> None:
        self.writer = writer
        self.observer = observer
        self.history: list[dict[str, float]] = []  # history.csv's rows
        self.epochs_completed = 0
        self.warnings = EpochWarnings()

    def add_step(self, step: int, epoch: int, loss: float, lr: float) -> None:
        self.writer.add_step(step, epoch, loss, lr)

    def add_epoch(self, row: dict[str, float]) -> None:
        """A completed epoch (history.csv's row), with the warnings it gives."""
        self.history.append(row)
        self.writer.add_epoch(row)
        self.epochs_completed += 1
        for warning in self.warnings.epoch(row):
            self.observer.on_log(f"warning: {warning}")

    def get_state(self) -> dict:
        return {"epochs_completed": self.epochs_completed, "warnings": self.warnings.get_state()}

    def set_state(self, state: dict) -> None:
        """Go on after `state`'s last completed epoch; the rows come back from the run folder's history.csv
        (which the writer has cut back to that epoch)."""
        self.epochs_completed = int(state["epochs_completed"])
        self.history = [row for row in read_run(self.writer.path, steps=False).history
                        if row["epoch"] <= self.epochs_completed]
        self.warnings.set_state(state.get("warnings", {}))
