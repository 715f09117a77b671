"""The run's weights worth keeping: the last finite ones and the best (lowest val_loss) so far.

A NaN loss puts the last finite weights back (docs/stack-notes.md #3); the best model is written to
the run folder as soon as it is best, at most every SAVE_INTERVAL seconds (on a cached head an epoch
takes milliseconds and a save a good fraction of a second), and whatever is still unsaved at the end.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from typing import Any

from tlstudio.runs import RunFolderWriter

SAVE_INTERVAL = 30.0  # seconds between writes of a new best model during a run


class Checkpoint:
    """`averaged()`, with Polyak averaging on, gives the whole model's weights with the average in place of
    the trained ones: those are what is validated, kept as best and saved; the raw weights stay the run's
    own (resume, NaN recovery)."""

    def __init__(self, model: Any, writer: RunFolderWriter, averaged: Callable[[], list] | None = None) -> None:
        self.model = model
        self.writer = writer
        self.averaged = averaged
        self.last_finite_weights: list = model.get_weights()
        self.last_averaged_weights: list | None = None
        self.best_weights: list | None = None
        self.best_val_loss = math.inf
        self.best_epoch: int | None = None
        self._last_save = -math.inf
        self._best_unsaved = False

    def restore(self, best_epoch: int | None, best_val_loss: float | None, best_weights: list | None,
                last_weights: list) -> None:
        """Pick up where a resumed run's last completed epoch left off."""
        self.last_finite_weights = last_weights
        self.best_epoch = best_epoch
        self.best_val_loss = math.inf if best_val_loss is None else best_val_loss
        self.best_weights = best_weights if best_weights is not None else (last_weights if best_epoch else None)
        self._best_unsaved = self.best_weights is not None  # model.keras may be older than the best

    def epoch_completed(self, epoch: int, val_loss: float) -> bool:
        """Keep this complete epoch's weights; returns whether they are the best so far."""
        self.last_finite_weights = self.model.get_weights()
        kept = self.last_finite_weights
        if self.averaged is not None:
            kept = self.last_averaged_weights = self.averaged()
        if not (math.isfinite(val_loss) and val_loss < self.best_val_loss):
            return False
        self.best_val_loss, self.best_epoch, self.best_weights = val_loss, epoch, kept
        if time.perf_counter() - self._last_save >= SAVE_INTERVAL:
            self.save()
        else:
            self._best_unsaved = True
        return True

    def keep_best(self) -> None:
        """At the end (or after a failure): the best weights in the model and on disk; without a complete
        epoch (stopped or NaN in the first one), the last finite weights."""
        if self.best_weights is not None:
            self.model.set_weights(self.best_weights)
            if self._best_unsaved:
                self.save()
        else:
            self.model.set_weights(self.last_finite_weights)
            self.save()

    def save(self) -> None:
        import keras  # lazy: Keras loads only once a run builds its model

        live = None
        if self.averaged is not None and self.best_weights is not None:  # save the average, train on
            live = self.model.get_weights()
            self.model.set_weights(self.best_weights)
        # A fresh functional model over the same layers: no optimizer, no compile state, so
        # model.keras loads with plain keras.saving.load_model anywhere.
        self.writer.save_model(keras.Model(self.model.inputs, self.model.outputs, name=self.model.name))
        if live is not None:
            self.model.set_weights(live)
        self._last_save = time.perf_counter()
        self._best_unsaved = False
