"""A run's metrics.json: the kept model's validation metrics, with what a snapshot ensemble and Polyak
averaging did, and the run's figures. Written once the best model is back in place (at the end, or after
a failure)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from tlstudio.predict.metrics import classification_metrics
from tlstudio.predict.predictor import inference_function, predict_in_batches
from tlstudio.settings.project import Project
from tlstudio.train.prepare import RunData
from tlstudio.train.snapshots import Snapshots

if TYPE_CHECKING:
    from tlstudio.train.fitting import Session
    from tlstudio.train.inputs import CachedValidation


def final_metrics(project: Project, data: RunData, session: Session, validation: CachedValidation | None,
                  seconds: float) -> dict[str, Any]:
    """The metrics of the model now in `session.checkpoint.run_model` (the kept one); `validation`: the
    validation images' cached features, when they are valid for that model (a frozen backbone)."""
    model, classes = session.checkpoint.run_model, data.classes
    metrics = classification_metrics(data.y_val, _probabilities(model, data, validation), classes)
    wanted = project.training.snapshot_ensemble
    snapshot = (Snapshots(session.run_dir, project.schedule, session.observer).ensemble(
        wanted, data.x_val, len(classes), session.checkpoint.writer.save_model) if wanted else None)
    if snapshot is not None:
        best_model = metrics["val_accuracy"]
        metrics = classification_metrics(data.y_val, snapshot[0], classes)
        metrics["ensemble"] = {**snapshot[1], "best_single_model_val_accuracy": best_model}
    ema = _averaging_effect(project, data, session, validation)
    if ema:
        metrics["ema"] = ema
    metrics.update({
        "best_epoch": session.checkpoint.best_epoch,
        "epochs_completed": session.recorder.epochs_completed,
        "train_images": int(len(data.x_train)),
        "val_images": int(len(data.x_val)),
        "image_size": data.image_size,
        "resize": project.data.resize,
        "backbone": project.model.backbone,
        "seconds": round(seconds, 2),
    })
    return metrics


def _averaging_effect(project: Project, data: RunData, session: Session,
                      validation: CachedValidation | None) -> dict[str, Any] | None:
    """With Polyak averaging: the last epoch's validation accuracy with the average and with the raw
    weights (what the Run page shows); the model is left with the weights it had."""
    checkpoint = session.checkpoint
    if not checkpoint.averaging or checkpoint.last_averaged_weights is None:
        return None
    model = checkpoint.run_model
    kept = model.get_weights()
    accuracy = {}
    for key, weights in (("averaged", checkpoint.last_averaged_weights), ("raw", checkpoint.last_finite_weights)):
        model.set_weights(weights)
        predicted = _probabilities(model, data, validation).argmax(axis=1)
        accuracy[key] = float((predicted == data.y_val).mean()) if len(data.y_val) else float("nan")
    model.set_weights(kept)
    return {"decay": project.optimizer.ema, "epoch": session.recorder.epochs_completed,
            "val_accuracy_averaged": accuracy["averaged"], "val_accuracy_raw": accuracy["raw"]}


def _probabilities(model: Any, data: RunData, validation: CachedValidation | None) -> np.ndarray:
    """The model's answers on the validation images; from their cached features when it has them (the head
    shares its layers with the model)."""
    if validation is not None:
        model, inputs = validation.head, validation.features
    else:
        inputs = data.x_val
    infer = inference_function(model, inputs.shape[1:], inputs.dtype)  # one trace for every batch size
    return predict_in_batches(infer, inputs, len(data.classes))
