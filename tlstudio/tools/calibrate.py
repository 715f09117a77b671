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
from tlstudio.data import DataError
from tlstudio.model.temperature import (
    CalibrationError,
    fit_temperature,
    fold_temperature,
    head_inputs_model,
    head_logits,
    softmax_heads,
    tempered_probabilities,
)
from tlstudio.predict.metrics import classification_metrics, expected_calibration_error
from tlstudio.predict.open_run import dataset_split
from tlstudio.predict.predictor import PREDICT_BATCH, inference_function
from tlstudio.runs.folder import RunFolderError, read_run, save_model_atomic, write_metrics
from tlstudio.settings.project import ProjectError

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
    import keras

    task = task or TaskState()
    try:
        run = read_run(run_dir, steps=False)
        project = run.project
    except (RunFolderError, ProjectError, OSError, ValueError) as error:
        raise CalibrationError(str(error)) from None
    if not run.model_path.is_file():
        raise CalibrationError(f"{run.run_dir} has no model.keras; train the run to the end of one epoch first.")
    task.message("scanning images")
    try:
        items = dataset_split(project).val
        if not items:
            raise DataError(f"{project.data.folder} has no validation images")
        task.message("decoding images")
        images = project.image_input.load_many([item.path for item in items],
                                               lambda done, total: (task.progress(done, total), task.check()))
    except DataError as error:
        raise CalibrationError(f"cannot calibrate {run.run_dir}: {error}; calibration needs the run's "
                               "validation images.") from None
    y_val = np.array([item.label for item in items], dtype=int)

    task.message("loading the model")
    try:
        model = keras.saving.load_model(run.model_path, compile=False)
    except Exception as error:  # a truncated or foreign file: Keras raises many types
        raise CalibrationError(f"{run.model_path} cannot be loaded ({error}); train the run again.") from None
    heads = softmax_heads(model)
    features = inference_function(head_inputs_model(model, heads), images.shape[1:], images.dtype)
    task.message("predicting")
    chunks: list[list[np.ndarray]] = []
    for first in range(0, len(images), PREDICT_BATCH):
        task.check()
        out = features(images[first:first + PREDICT_BATCH])
        chunks.append([np.asarray(o) for o in (out if isinstance(out, list | tuple) else [out])])
        task.progress(min(first + PREDICT_BATCH, len(images)), len(images))
    logits = head_logits(heads, [np.concatenate(parts) for parts in zip(*chunks, strict=True)])

    task.message("fitting the temperature")
    temperature = fit_temperature(logits, y_val)
    classes = run.classes or [str(i) for i in range(logits.shape[-1])]
    before = classification_metrics(y_val, tempered_probabilities(logits, 1.0), classes)
    after = classification_metrics(y_val, tempered_probabilities(logits, temperature), classes)
    earlier = run.metrics or {}
    total_temperature = float(earlier.get("temperature", 1.0)) * temperature
    ece_before = float(earlier.get("ece_before", expected_calibration_error(
        y_val, tempered_probabilities(logits, 1.0))))
    task.check()  # the last moment a cancel leaves the run untouched

    task.message("saving the calibrated model")
    fold_temperature(heads, temperature)
    backup = run.run_dir / UNCALIBRATED_MODEL_FILE
    if not backup.exists():
        shutil.copy2(run.model_path, backup)
    save_model_atomic(model, run.model_path)
    # The validation figures now describe the calibrated model; test figures are measured again by Evaluate.
    metrics = {key: value for key, value in earlier.items() if not key.startswith("test_")}
    metrics.update({key: value for key, value in after.items() if key != "classes"})
    metrics.update({"temperature": total_temperature, "ece_before": ece_before, "ece_after": after["val_ece"],
                    "calibration": {"method": "temperature scaling (Guo et al. 2017), folded into the output layer",
                                    "images": int(len(y_val)), "val_loss_before": before["val_loss"],
                                    "uncalibrated_model": UNCALIBRATED_MODEL_FILE}})
    write_metrics(run.run_dir, metrics)
    return CalibrationResult(run.run_dir, total_temperature, ece_before, after["val_ece"], before["val_loss"],
                             after["val_loss"], int(len(y_val)))
