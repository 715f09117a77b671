"""The run's weights worth keeping: the last finite ones and the best (lowest val_loss) so far.

A NaN loss puts the last finite weights back (docs/stack-notes.md #3); the best model is written to
the run folder as soon as it is best, at most every SAVE_INTERVAL seconds (on a cached head an epoch
takes milliseconds and a save a good fraction of a second), and whatever is still unsaved at the end.
"""

from __future__ import annotations

import math
import time
from typing import Any

from tlstudio.runs import RunFolderWriter

SAVE_INTERVAL = 30.0  # seconds between writes of a new best model during a run


class Checkpoint:
    def __init__(self, model: Any, writer: RunFolderWriter) -> None:
        self.model = model
        self.writer = writer
        self.last_finite_weights: list = model.get_weights()
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
        if not (math.isfinite(val_loss) and val_loss < self.best_val_loss):
            return False
        self.best_val_loss, self.best_epoch, self.best_weights = val_loss, epoch, self.last_finite_weights
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

        # A fresh functional model over the same layers: no optimizer, no compile state, so
        # model.keras loads with plain keras.saving.load_model anywhere.
        self.writer.save_model(keras.Model(self.model.inputs, self.model.outputs, name=self.model.name))
        self._last_save = time.perf_counter()
        self._best_unsaved = False
