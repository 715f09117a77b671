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
from tlstudio.data import DataError, ImageItem
from tlstudio.model.averaging import MIN_MEMBERS, build_ensemble_model, choose_members
from tlstudio.predict.metrics import classification_metrics
from tlstudio.predict.open_run import (
    RunOpenError,
    dataset_index,
    decode_items,
    load_run_model,
    predict_with_progress,
    read_trained_run,
    report_progress,
)
from tlstudio.predict.predictor import inference_function
from tlstudio.runs.folder import (
    ENSEMBLE_FILE,
    MODEL_FILE,
    RunFolderError,
    RunFolderWriter,
    RunRecord,
    save_model_atomic,
    write_metrics,
)
from tlstudio.settings.project import Project

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


def make_ensemble(run_dirs: list[str | os.PathLike], out_dir: str | os.PathLike, *,
                  task: TaskState | None = None) -> EnsembleResult:
    """Combine the runs in `run_dirs` into an ensemble run folder at `out_dir` (new or empty), with the
    validation metrics of every member and of the ensemble. Raises EnsembleError."""
    task = task or TaskState()
    records = _read_members(run_dirs)
    project = records[0].project
    held_out, images = _held_out_images([record.project for record in records], task)
    y_val = np.array([item.label for item in held_out], dtype=int)
    classes = records[0].classes

    models, members = _measure_members(records, images, y_val, classes, task)
    verdicts = choose_members([member["val_accuracy"] for member in members])
    for member, (included, why) in zip(members, verdicts, strict=True):
        member.update(included=included, why=why)
    chosen = [(record, model) for record, model, (included, _) in zip(records, models, verdicts, strict=True)
              if included]
    try:
        ensemble_model, shared = build_ensemble_model([model for _, model in chosen])
    except ValueError as error:
        raise EnsembleError(str(error)) from None
    infer = inference_function(ensemble_model, images.shape[1:], images.dtype)
    averaged = predict_with_progress(lambda batch: infer(batch).numpy(), images, len(classes), task,
                                     stage="predicting with the ensemble")
    metrics = classification_metrics(y_val, averaged, classes)
    metrics.update({"ensemble": {"members": members, "shared_backbone": shared,
                                 "validation": f"{len(held_out)} images held out from every member"},
                    "val_images": int(len(y_val)), "image_size": project.image_input.size,
                    "resize": project.data.resize, "backbone": project.model.backbone})

    task.message("writing the ensemble")
    member_dirs = [record.run_dir for record, _ in chosen]
    _write_ensemble_folder(Path(out_dir), project, classes, ensemble_model, metrics, member_dirs, shared)
    best = max(member["val_accuracy"] for member in members)
    notes = [f"{Path(m['run']).name} left out: {m['why']}" for m in members if not m["included"]]
    if metrics["val_accuracy"] < best:
        notes.append(f"the ensemble ({metrics['val_accuracy']:.1%}) scores below its best member ({best:.1%})")
    return EnsembleResult(Path(out_dir), members, metrics, shared, notes)


def _read_members(run_dirs: list[str | os.PathLike]) -> list[RunRecord]:
    """The member runs, each trained, all on the same data, split, input and classes; else EnsembleError."""
    if len(run_dirs) < MIN_MEMBERS:
        raise EnsembleError("an ensemble needs at least two runs.")
    try:
        records = [read_trained_run(path) for path in run_dirs]
    except RunOpenError as error:
        raise EnsembleError(str(error)) from None
    for record in records[1:]:
        if record.classes != records[0].classes:
            raise EnsembleError(f"{record.run_dir.name} has other classes than {records[0].run_dir.name}; an "
                                "ensemble needs runs on the same data and classes.")
    data = [(record.project.data.model_dump(), record.project.image_input) for record in records]
    if any(item != data[0] for item in data[1:]):
        raise EnsembleError("the runs differ in their data folder, split or image input; an ensemble needs runs "
                            "on the same data, the same split and the same input size.")
    return records


def _held_out_images(projects: list[Project], task: TaskState) -> tuple[list[ImageItem], np.ndarray]:
    """The validation images that no member trained on, and those images decoded.

    The split follows each run's seed, so members trained with different seeds held out different images.
    """
    report_progress(task, "scanning images", 0, 0)
    try:
        index = dataset_index(projects[0])
        splits = [project.split(index) for project in projects]
        unseen = set.intersection(*({item.path for item in split.val} for split in splits))
        held_out = [item for item in splits[0].val if item.path in unseen]
        if len(held_out) < MIN_SHARED_VALIDATION:
            raise EnsembleError(f"only {len(held_out)} validation images are held out from every run (their seeds "
                                "split the data differently); train the members with the same seed and vary the "
                                "optimizer, learning rate or augmentation instead.")
        return held_out, decode_items(projects[0], {"val": held_out}, task)["val"]
    except DataError as error:
        raise EnsembleError(f"cannot evaluate the ensemble: {error}") from None


def _measure_members(records: list[RunRecord], images: np.ndarray, y_val: np.ndarray, classes: list[str],
                     task: TaskState) -> tuple[list, list[dict[str, Any]]]:
    """Each member's model and its figures on the held-out images ({"run", "val_accuracy", "val_loss",
    "included", "why"}, all included until the leave-out rule says otherwise)."""
    task.message("loading the models")
    try:
        models = [load_run_model(record) for record in records]
    except RunOpenError as error:
        raise EnsembleError(str(error)) from None
    members = []
    for number, (record, model) in enumerate(zip(records, models, strict=True), start=1):
        infer = inference_function(model, images.shape[1:], images.dtype)
        predicted = predict_with_progress(lambda batch, f=infer: f(batch).numpy(), images, len(classes), task,
                                          stage=f"predicting with run {number} of {len(models)}")
        metrics = classification_metrics(y_val, predicted, classes)
        members.append({"run": str(record.run_dir), "val_accuracy": metrics["val_accuracy"],
                        "val_loss": metrics["val_loss"], "included": True, "why": ""})
    return models, members


def _write_ensemble_folder(out: Path, project: Project, classes: list[str], model, metrics: dict[str, Any],
                           member_dirs: list[Path], shared: bool) -> None:
    """The ensemble's run folder: the first member's config renamed, labels, model, metrics, member list."""
    try:
        writer = RunFolderWriter(out)
    except RunFolderError as error:
        raise EnsembleError(str(error)) from None
    try:
        writer.write_config(project.model_copy(update={"name": f"Ensemble of {len(member_dirs)} runs"}))
        writer.write_labels(classes)
        save_model_atomic(model, out / MODEL_FILE)
        write_metrics(out, metrics)
        (out / ENSEMBLE_FILE).write_text(json.dumps({"members": [str(path) for path in member_dirs],
                                                     "combine": "mean of probabilities",
                                                     "shared_backbone": shared}, indent=2) + "\n",
                                         encoding="utf-8")
        writer.write_status("FINISHED", f"ensemble of {len(member_dirs)} runs; validation accuracy "
                                        f"{metrics['val_accuracy']:.1%}.")
    finally:
        writer.close()
