"""The run's weights worth keeping, and the callback that keeps them: the last finite ones and the best
(lowest val_loss) so far. A Keras module (it imports Keras at its top; the trainer imports it inside the
function that starts training).

A NaN loss puts the last finite weights back (docs/stack-notes.md #3); the best model is written to
the run folder as soon as it is best, at most every SAVE_INTERVAL seconds (on a cached head an epoch
takes milliseconds and a save a good fraction of a second), and whatever is still unsaved at the end.
"""

from __future__ import annotations

import contextlib
import math
import time
from pathlib import Path
from typing import Any

import keras

from tlstudio.runs.folder import MODEL_FILE, RunFolderWriter, save_model_atomic
from tlstudio.train.keras_callbacks import Halt

SAVE_INTERVAL = 30.0  # seconds between writes of a new best model during a run


class Checkpoint(keras.callbacks.Callback):
    """After each complete epoch (never a halted one): keeps its weights, and them as the best when its
    val_loss is the lowest so far. `run_model` is the whole model, the one that is saved; `self.model`,
    as Keras sets it, is what fit() trains (the model, a wrapper with augmentation, or the head).

    With Polyak averaging on (`averaging`), the whole model's weights with the optimizer's average in place
    of the trained ones are what is validated, kept as best and saved; the raw weights stay the run's own
    (resume, NaN recovery). Its state (`get_state`) is the best epoch, its val_loss and the weights."""

    def __init__(self, run_model: Any, writer: RunFolderWriter, halt: Halt, averaging: bool = False) -> None:
        super().__init__()
        self.run_model = run_model
        self.writer = writer
        self.halt = halt
        self.averaging = averaging
        self.last_finite_weights: list = run_model.get_weights()
        self.last_averaged_weights: list | None = None
        self.best_weights: list | None = None
        self.best_val_loss = math.inf
        self.best_epoch: int | None = None
        self.last_epoch: int | None = None  # the last complete epoch this run kept
        self._last_save = -math.inf
        self._best_unsaved = False

    def get_state(self) -> dict:
        """The best epoch and val_loss, the last finite weights, and the best weights unless they are the
        last epoch's (with averaging they never are: the best are the average, never the raw weights)."""
        keep_best = self.averaging or self.best_epoch not in (None, self.last_epoch)
        return {"best_epoch": self.best_epoch,
                "best_val_loss": self.best_val_loss if math.isfinite(self.best_val_loss) else None,
                "last_weights": self.last_finite_weights, "best_weights": self.best_weights if keep_best else None}

    def set_state(self, state: dict) -> None:
        """Pick up where a resumed run's last completed epoch left off."""
        last_weights, best_epoch = state["last_weights"], state["best_epoch"]
        self.last_finite_weights = last_weights
        self.best_epoch = best_epoch
        self.best_val_loss = math.inf if state["best_val_loss"] is None else state["best_val_loss"]
        best_weights = state["best_weights"]
        self.best_weights = best_weights if best_weights is not None else (last_weights if best_epoch else None)
        self._best_unsaved = self.best_weights is not None  # model.keras may be older than the best

    def restore_last_finite(self) -> None:
        self.run_model.set_weights(self.last_finite_weights)

    def is_best(self, epoch: int) -> bool:
        """Whether complete epoch `epoch` (1-based) is the best so far."""
        return self.best_epoch == epoch

    def on_epoch_end(self, epoch, logs=None):
        if self.halt.halted:
            return  # a partial epoch is never kept, and never "best"
        averaged = _averaged_weights(self.model, self.run_model) if self.averaging else None
        self.epoch_completed(epoch + 1, float((logs or {}).get("val_loss", math.nan)), averaged)

    def epoch_completed(self, epoch: int, val_loss: float, averaged: list | None = None) -> bool:
        """Keep this complete epoch's weights (and `averaged`, the Polyak average's); returns whether they are
        the best so far."""
        self.last_finite_weights = self.run_model.get_weights()
        self.last_epoch = epoch
        kept = self.last_finite_weights
        if averaged is not None:
            kept = self.last_averaged_weights = averaged
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
            self.run_model.set_weights(self.best_weights)
            if self._best_unsaved:
                self.save()
        else:
            self.run_model.set_weights(self.last_finite_weights)
            self.save()

    def save(self) -> None:
        """model.keras: the best weights (the kept ones: the Polyak average when on)."""
        self.write_model(self.writer.path / MODEL_FILE, self.best_weights if self.averaging else None)
        self._last_save = time.perf_counter()
        self._best_unsaved = False

    def save_last(self, path: Path) -> None:
        """The last completed epoch's kept weights (the average when on) as a model file (a snapshot)."""
        self.write_model(path, self.last_averaged_weights if self.averaging else None)

    def write_model(self, path: Path, weights: list | None = None) -> None:
        """The model, with `weights` in place of its live ones when given (they are put back), saved
        atomically as a fresh functional model over the same layers: no optimizer, no compile state, so
        it loads with plain keras.saving.load_model anywhere."""
        model = self.run_model
        live = None
        if weights is not None:
            live = model.get_weights()
            model.set_weights(weights)
        try:
            with _float32_policies(model):
                save_model_atomic(keras.Model(model.inputs, model.outputs, name=model.name), path)
        finally:
            if live is not None:
                model.set_weights(live)


def _averaged_weights(fit_model: Any, run_model: Any) -> list:
    """The whole model's weights with the optimizer's Polyak average in place of the trained ones. The same
    swap as Keras's SwapEMAWeights (whose private names it reads, as that callback does)."""
    optimizer = getattr(fit_model.optimizer, "inner_optimizer", fit_model.optimizer)
    trained = optimizer._trainable_variables
    raw = [variable.numpy() for variable in trained]
    for variable, average in zip(trained, optimizer._model_variables_moving_average, strict=True):
        variable.assign(average)
    weights = run_model.get_weights()
    for variable, value in zip(trained, raw, strict=True):
        variable.assign(value)
    return weights


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
