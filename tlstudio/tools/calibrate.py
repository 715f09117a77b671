"""``calibrate_run``: temperature scaling of a run's model on its validation split, folded into model.keras.

A model that says "97 %" should be right about 97 % of the time when it says so; fine-tuned networks are
usually surer than that. One temperature, fitted on the validation logits (Guo et al. 2017), fixes most of
it without changing a single prediction's class. The temperature is folded into the model's output layer
(``tlstudio.model.temperature``), so the run's model.keras and every format exported from it give the
calibrated probabilities. metrics.json gains ``temperature``, ``ece_before`` and ``ece_after`` and its
validation figures become those of the calibrated model; the model as it was is kept beside it as
model.uncalibrated.keras (written once, by the first calibration).
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from tlstudio.base.tasks import TaskState
from tlstudio.model.temperature import (
    CalibrationError,
    fit_temperature,
    fold_temperature,
    head_inputs_model,
    head_logits,
    softmax_heads,
    tempered_probabilities,
)
from tlstudio.predict.metrics import classification_metrics
from tlstudio.predict.open_run import (
    OpenedRun,
    RunDataError,
    RunOpenError,
    load_run_model,
    open_run,
    predict_with_progress,
)
from tlstudio.predict.predictor import inference_function
from tlstudio.runs.folder import save_model_atomic, write_metrics

__all__ = ["CalibrationError", "CalibrationResult", "calibrate_run", "UNCALIBRATED_MODEL_FILE"]

UNCALIBRATED_MODEL_FILE = "model.uncalibrated.keras"


@dataclass(frozen=True)
class CalibrationResult:
    run_dir: Path
    temperature: float  # the whole temperature folded in so far (calibrating twice multiplies them)
    ece_before: float
    ece_after: float
    val_loss_before: float
    val_loss_after: float
    images: int

    def to_dict(self) -> dict[str, Any]:
        return {"run_dir": str(self.run_dir), "temperature": self.temperature, "ece_before": self.ece_before,
                "ece_after": self.ece_after, "val_loss_before": self.val_loss_before,
                "val_loss_after": self.val_loss_after, "images": self.images}

    def summary(self) -> str:
        return (f"temperature {self.temperature:.3g}: expected calibration error on {self.images} validation images "
                f"{self.ece_before:.2%} -> {self.ece_after:.2%} (validation loss {self.val_loss_before + 0.0:.4f} -> "
                f"{self.val_loss_after + 0.0:.4f})")


def calibrate_run(run_dir: str | os.PathLike, *, task: TaskState | None = None) -> CalibrationResult:
    """Fit a temperature on the run's validation split, fold it into model.keras and record it in
    metrics.json. ``task`` hears the stages and may cancel (Cancelled; nothing is written).
    Raises CalibrationError naming the run folder and the fix."""
    task = task or TaskState()
    opened = _open_validation(run_dir, task)
    y_val = opened.labels("val")
    task.message("loading the model")
    try:
        model = load_run_model(opened.run)
    except RunOpenError as error:
        raise CalibrationError(str(error)) from None
    heads = softmax_heads(model)
    logits = _validation_logits(model, heads, opened.images["val"], task)

    task.message("fitting the temperature")
    temperature = fit_temperature(logits, y_val)
    classes = opened.run.classes or [str(i) for i in range(logits.shape[-1])]
    before = classification_metrics(y_val, tempered_probabilities(logits, 1.0), classes)
    after = classification_metrics(y_val, tempered_probabilities(logits, temperature), classes)
    earlier = opened.run.metrics or {}
    result = CalibrationResult(opened.run_dir, float(earlier.get("temperature", 1.0)) * temperature,
                               float(earlier.get("ece_before", before["val_ece"])), after["val_ece"],
                               before["val_loss"], after["val_loss"], int(len(y_val)))
    task.check()  # the last moment a cancel leaves the run untouched

    task.message("saving the calibrated model")
    fold_temperature(heads, temperature)
    backup = opened.run_dir / UNCALIBRATED_MODEL_FILE
    if not backup.exists():
        shutil.copy2(opened.run.model_path, backup)
    save_model_atomic(model, opened.run.model_path)
    write_metrics(opened.run_dir, _calibrated_metrics(earlier, after, result))
    return result


def _open_validation(run_dir: str | os.PathLike, task: TaskState) -> OpenedRun:
    """The run with its validation images; CalibrationError when it cannot be opened."""
    try:
        return open_run(run_dir, splits=("val",), task=task)
    except RunDataError as error:
        raise CalibrationError(f"cannot calibrate {error.run_dir}: {error.reason}; calibration needs the run's "
                               "validation images.") from None
    except RunOpenError as error:
        raise CalibrationError(str(error)) from None


def _validation_logits(model, heads: list, images: np.ndarray, task: TaskState) -> np.ndarray:
    """(heads, images, classes): each softmax head's logits on the images, one model pass for all heads."""
    inputs_model = head_inputs_model(model, heads)
    widths = [int(head.kernel.shape[0]) for head in heads]
    features = inference_function(inputs_model, images.shape[1:], images.dtype)

    def joined(batch: np.ndarray) -> np.ndarray:
        out = features(batch)
        return np.concatenate([np.asarray(o) for o in (out if isinstance(out, list | tuple) else [out])], axis=-1)

    stacked = predict_with_progress(joined, images, sum(widths), task)
    return head_logits(heads, np.split(stacked, np.cumsum(widths)[:-1], axis=-1))


def _calibrated_metrics(earlier: dict[str, Any], after: dict[str, Any], result: CalibrationResult) -> dict[str, Any]:
    """metrics.json after calibrating: the validation figures are now the calibrated model's, and the test
    figures are dropped (Evaluate measures them again)."""
    metrics = {key: value for key, value in earlier.items() if not key.startswith("test_")}
    metrics.update({key: value for key, value in after.items() if key != "classes"})
    metrics.update({"temperature": result.temperature, "ece_before": result.ece_before,
                    "ece_after": result.ece_after,
                    "calibration": {"method": "temperature scaling (Guo et al. 2017), folded into the output layer",
                                    "images": result.images, "val_loss_before": result.val_loss_before,
                                    "uncalibrated_model": UNCALIBRATED_MODEL_FILE}})
    return metrics
