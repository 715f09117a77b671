"""The run's weights worth keeping: the last finite ones and the best (lowest val_loss) so far.

A NaN loss puts the last finite weights back (docs/stack-notes.md #3); the best model is written to
the run folder as soon as it is best, at most every SAVE_INTERVAL seconds (on a cached head an epoch
takes milliseconds and a save a good fraction of a second), and whatever is still unsaved at the end.
"""

from __future__ import annotations

import contextlib
import math
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from tlstudio.runs.folder import MODEL_FILE, RunFolderWriter, save_model_atomic

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
        """model.keras: the best weights (the kept ones: the Polyak average when on)."""
        self.write_model(self.writer.path / MODEL_FILE, self.best_weights if self.averaged is not None else None)
        self._last_save = time.perf_counter()
        self._best_unsaved = False

    def save_last(self, path: Path) -> None:
        """The last completed epoch's kept weights (the average when on) as a model file (a snapshot)."""
        self.write_model(path, self.last_averaged_weights if self.averaged is not None else None)

    def write_model(self, path: Path, weights: list | None = None) -> None:
        """The model, with `weights` in place of its live ones when given (they are put back), saved
        atomically as a fresh functional model over the same layers: no optimizer, no compile state, so
        it loads with plain keras.saving.load_model anywhere."""
        import keras  # lazy: Keras loads only once a run builds its model

        live = None
        if weights is not None:
            live = self.model.get_weights()
            self.model.set_weights(weights)
        try:
            with _float32_policies(self.model):
                save_model_atomic(keras.Model(self.model.inputs, self.model.outputs, name=self.model.name), path)
        finally:
            if live is not None:
                self.model.set_weights(live)


@contextlib.contextmanager
def _float32_policies(model):
    """Every layer under float32 while the model is saved, so a model trained in mixed precision is saved
    (and so predicts and exports) as a plain float32 model; its variables are float32 either way."""
    changed = []
    stack = [model]
    while stack:
        layer = stack.pop()
        stack.extend(getattr(layer, "layers", ()))
        if layer.dtype_policy.name != "float32":
            changed.append((layer, layer.dtype_policy))
            layer.dtype_policy = "float32"
    try:
        yield
    finally:
        for layer, policy in changed:
            layer.dtype_policy = policy
