"""Model ensembles: several runs on the same data averaged into one ordinary Keras model.

The lecture's last gain: average the predicted probabilities of independently trained models. An
ensemble here is a run folder like any other (config.json of its first member, labels.txt, model.keras,
metrics.json with each member's figures beside the ensemble's), so Evaluate, Try it, Export (all four
formats, verified) and `tlstudio predict` take it as they take a run.

The split of a run follows its seed, so members trained with different seeds held out different images:
the ensemble and its members are measured on the validation images that every member held out.

Where every member has the same frozen backbone (the same architecture and the same weights, which is
what a frozen pretrained backbone at one size gives), the backbone runs once and only the members'
heads are repeated: a three-run ensemble then costs one backbone pass, not three.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from tlstudio.base.tasks import TaskState
from tlstudio.data import DataError, scan
from tlstudio.model.averaging import LEAVE_OUT_BELOW_BEST, build_ensemble_model
from tlstudio.predict.metrics import classification_metrics
from tlstudio.predict.predictor import inference_function, predict_in_batches
from tlstudio.runs.folder import (
    ENSEMBLE_FILE,
    RunFolderError,
    RunFolderWriter,
    read_run,
    save_model_atomic,
    write_metrics,
)
from tlstudio.settings.project import ProjectError

MIN_MEMBERS = 2  # runs an ensemble averages, at the least (the Evaluate page offers one from this many on)
MIN_SHARED_VALIDATION = 10  # validation images every member held out, at the least, to measure an ensemble on


class EnsembleError(ValueError):
    """The runs cannot be combined; one sentence naming the fix."""


@dataclass
class EnsembleResult:
    run_dir: Path
    members: list[dict[str, Any]]  # {"run", "val_accuracy", "val_loss", "included", "why"}
    metrics: dict[str, Any]
    shared_backbone: bool
    notes: list[str] = field(default_factory=list)

    def table(self) -> str:
        lines = [f"{'model':<44} {'val acc':>8} {'val loss':>9}"]
        for member in self.members:
            left_out = "" if member["included"] else f"  left out: {member['why']}"
            lines.append(f"{Path(member['run']).name[:44]:<44} {member['val_accuracy']:>8.1%} "
                         f"{member['val_loss']:>9.4f}{left_out}")
        lines.append(f"{'ensemble (mean of the probabilities)':<44} {self.metrics['val_accuracy']:>8.1%} "
                     f"{self.metrics['val_loss']:>9.4f}")
        return "\n".join(lines)


def _same(records, attribute: str, what: str) -> None:
    first = getattr(records[0], attribute)
    for record in records[1:]:
        if getattr(record, attribute) != first:
            raise EnsembleError(f"{record.run_dir.name} has other {what} than {records[0].run_dir.name}; an "
                                "ensemble needs runs on the same data and classes.")


def make_ensemble(run_dirs: list[str | os.PathLike], out_dir: str | os.PathLike, *,
                  task: TaskState | None = None) -> EnsembleResult:
    """Combine the runs in `run_dirs` into an ensemble run folder at `out_dir` (new or empty), with the
    validation metrics of every member and of the ensemble. Raises EnsembleError."""
    import keras

    task = task or TaskState()
    if len(run_dirs) < MIN_MEMBERS:
        raise EnsembleError("an ensemble needs at least two runs.")
    try:
        records = [read_run(path, steps=False) for path in run_dirs]
        projects = [record.project for record in records]
    except (RunFolderError, ProjectError, OSError, ValueError) as error:
        raise EnsembleError(str(error)) from None
    for record in records:
        if not record.model_path.is_file():
            raise EnsembleError(f"{record.run_dir} has no model.keras; train it to the end of one epoch first.")
    _same(records, "classes", "classes")
    data = [(p.data.model_dump(), p.image_input) for p in projects]
    if any(item != data[0] for item in data[1:]):
        raise EnsembleError("the runs differ in their data folder, split or image input; an ensemble needs runs "
                            "on the same data, the same split and the same input size.")
    task.message("scanning images")
    try:
        index = scan(projects[0].data.folder, max_megapixels=projects[0].data.max_megapixels)
        if index.errors:
            raise DataError(index.errors[0])
        splits = [project.split(index) for project in projects]
    except DataError as error:
        raise EnsembleError(f"cannot evaluate the ensemble: {error}") from None
    # The split follows each run's seed: measure on the images no member trained on.
    unseen = set.intersection(*({item.path for item in split.val} for split in splits))
    held_out = [item for item in splits[0].val if item.path in unseen]
    if len(held_out) < MIN_SHARED_VALIDATION:
        raise EnsembleError(f"only {len(held_out)} validation images are held out from every run (their seeds split "
                            "the data differently); train the members with the same seed and vary the optimizer, "
                            "learning rate or augmentation instead.")
    task.message("decoding images")
    try:
        images = projects[0].image_input.load_many([item.path for item in held_out])
    except DataError as error:
        raise EnsembleError(f"cannot evaluate the ensemble: {error}") from None
    y_val = np.array([item.label for item in held_out], dtype=int)
    classes = records[0].classes

    task.message("loading the models")
    models = [keras.saving.load_model(record.model_path, compile=False) for record in records]
    members, probabilities = [], []
    for index, (record, model) in enumerate(zip(records, models, strict=True)):
        task.check()
        task.message(f"predicting with run {index + 1} of {len(models)}")
        infer = inference_function(model, images.shape[1:], images.dtype)
        predicted = predict_in_batches(lambda batch, f=infer: f(batch).numpy(), images, len(classes))
        probabilities.append(predicted)
        metrics = classification_metrics(y_val, predicted, classes)
        members.append({"run": str(record.run_dir), "val_accuracy": metrics["val_accuracy"],
                        "val_loss": metrics["val_loss"], "included": True, "why": ""})
    best = max(member["val_accuracy"] for member in members)
    for member in members:
        gap = best - member["val_accuracy"]
        if gap > LEAVE_OUT_BELOW_BEST:
            member.update(included=False, why=f"{gap * 100:.1f} points below the best member")
    if sum(member["included"] for member in members) < 2:
        for member in members:
            member.update(included=True, why="")  # two are needed: keep them all and say so below
    chosen = [model for model, member in zip(models, members, strict=True) if member["included"]]
    records = [record for record, member in zip(records, members, strict=True) if member["included"]]
    try:
        ensemble_model, shared = build_ensemble_model(chosen)
    except ValueError as error:
        raise EnsembleError(str(error)) from None
    task.message("predicting with the ensemble")
    infer = inference_function(ensemble_model, images.shape[1:], images.dtype)
    averaged = predict_in_batches(lambda batch: infer(batch).numpy(), images, len(classes))
    metrics = classification_metrics(y_val, averaged, classes)
    metrics.update({"ensemble": {"members": members, "shared_backbone": shared,
                                 "validation": f"{len(held_out)} images held out from every member"},
                    "val_images": int(len(y_val)), "image_size": projects[0].image_input.size,
                    "resize": projects[0].data.resize, "backbone": projects[0].model.backbone})

    task.message("writing the ensemble")
    out = Path(out_dir)
    try:
        writer = RunFolderWriter(out)
    except RunFolderError as error:
        raise EnsembleError(str(error)) from None
    try:
        project = projects[0].model_copy(update={"name": f"Ensemble of {len(records)} runs"})
        writer.write_config(project)
        writer.write_labels(classes)
        save_model_atomic(ensemble_model, out / "model.keras")
        write_metrics(out, metrics)
        (out / ENSEMBLE_FILE).write_text(json.dumps({"members": [str(r.run_dir) for r in records],
                                                     "combine": "mean of probabilities",
                                                     "shared_backbone": shared}, indent=2) + "\n",
                                         encoding="utf-8")
        writer.write_status("FINISHED", f"ensemble of {len(records)} runs; validation accuracy "
                                        f"{metrics['val_accuracy']:.1%}.")
    finally:
        writer.close()
    notes = [f"{Path(m['run']).name} left out: {m['why']}" for m in members if not m["included"]]
    if metrics["val_accuracy"] < best:
        notes.append(f"the ensemble ({metrics['val_accuracy']:.1%}) scores below its best member ({best:.1%})")
    return EnsembleResult(out, members, metrics, shared, notes)
