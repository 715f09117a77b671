"""``evaluate_run``: a run's model on its validation (and test) split, with a record per image.

The numbers come from ``tlstudio.predict.metrics`` (plain numpy), so the CLI, the GUI and the tests read the
same numbers as metrics.json. Importing this module does not import TensorFlow; ``evaluate_run``
does, through the inference runtime it loads lazily.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from tlstudio.base.tasks import TaskState
from tlstudio.data import ImageItem
from tlstudio.predict.metrics import classification_metrics, confusion_matrix, reliability_bins
from tlstudio.predict.open_run import (
    OpenedRun,
    RunDataError,
    RunOpenError,
    open_run,
    predict_with_progress,
    report_progress,
)
from tlstudio.predict.predictor import CARD_FILE, KerasRuntime, PredictorError, Runtime, load_predictor, top_k
from tlstudio.runs.folder import RunRecord, write_metrics

__all__ = ["classification_metrics", "confusion_matrix", "evaluate_run", "evaluate_model_file", "source_run",
           "split_metrics",
           "Evaluation", "EvaluationError", "ImageRecord", "SplitEvaluation", "LOW_CONFIDENCE"]


LOW_CONFIDENCE = 0.5  # correct predictions below this confidence join the "biggest mistakes"


class EvaluationError(ValueError):
    """A run that cannot be evaluated; the message is one sentence naming the folder and the fix."""


@dataclass(frozen=True)
class ImageRecord:
    """One evaluated image: what it is, what the model said, and its cross-entropy loss."""

    path: Path
    true: int
    predicted: int
    probabilities: tuple[float, ...]
    loss: float

    @property
    def correct(self) -> bool:
        return self.true == self.predicted

    @property
    def confidence(self) -> float:
        return self.probabilities[self.predicted]

    def top(self, classes: list[str], k: int = 3) -> list[dict[str, Any]]:
        """The k most probable classes as ``{"label", "probability"}``, most probable first."""
        return top_k(self.probabilities, classes, k)


@dataclass
class SplitEvaluation:
    """The metrics of one split (``val`` or ``test``) and a record per image."""

    name: str
    classes: list[str]
    records: list[ImageRecord]
    metrics: dict[str, Any]  # classification_metrics' dict, "val_" keys renamed to this split's prefix

    @property
    def accuracy(self) -> float:
        return self.metrics[f"{self.name}_accuracy"]

    @property
    def loss(self) -> float:
        return self.metrics[f"{self.name}_loss"]

    @property
    def top_k_accuracy(self) -> tuple[int, float]:
        """(k, accuracy) of the top-k metric (k = 3, or the number of classes when fewer)."""
        key = next(k for k in self.metrics if k.startswith(f"{self.name}_top") and k.endswith("_accuracy"))
        return int(key[len(self.name) + 4:-len("_accuracy")]), self.metrics[key]

    @property
    def ece(self) -> float:
        """Expected calibration error: how far the confidence is from the accuracy, on average (0 is perfect)."""
        return self.metrics[f"{self.name}_ece"]

    def reliability(self) -> dict[str, Any]:
        """The reliability diagram's bins (``predict.metrics.reliability_bins``) of this split's predictions."""
        if not self.records:
            return reliability_bins(np.zeros(0, int), np.zeros((0, len(self.classes))))
        return reliability_bins(np.array([r.true for r in self.records]),
                                np.array([r.probabilities for r in self.records]))

    @property
    def per_class(self) -> dict[str, dict[str, float]]:
        return self.metrics[f"{self.name}_per_class"]

    @property
    def confusion_matrix(self) -> np.ndarray:
        return np.asarray(self.metrics[f"{self.name}_confusion_matrix"], dtype=np.int64)

    def cell(self, true: int, predicted: int) -> list[ImageRecord]:
        """The images of one confusion-matrix cell, most confident first."""
        found = [r for r in self.records if r.true == true and r.predicted == predicted]
        return sorted(found, key=lambda r: -r.confidence)

    def mistakes(self, low_confidence: float = LOW_CONFIDENCE, limit: int | None = None) -> list[ImageRecord]:
        """Misclassified images and correct ones below ``low_confidence``, highest loss first."""
        found = [r for r in self.records if not r.correct or r.confidence < low_confidence]
        return sorted(found, key=lambda r: -r.loss)[:limit]


@dataclass
class Evaluation:
    run_dir: Path
    classes: list[str]
    splits: dict[str, SplitEvaluation]
    warnings: list[str] = field(default_factory=list)
    model_path: Path | None = None  # an exported model evaluated instead of the run's model.keras
    runtime: str = "keras"  # the format that answered: keras, savedmodel, tflite or onnx

    @property
    def val(self) -> SplitEvaluation:
        return self.splits["val"]

    @property
    def test(self) -> SplitEvaluation | None:
        return self.splits.get("test")


def split_metrics(name: str, y_true: np.ndarray, probabilities: np.ndarray, classes: list[str]) -> dict[str, Any]:
    """classification_metrics with its keys prefixed by the split name (``test_accuracy``, ...)."""
    metrics = classification_metrics(y_true, probabilities, classes)
    renamed = {}
    for key, value in metrics.items():
        if key == "classes":
            continue
        base = key[len("val_"):] if key.startswith("val_") else key
        renamed[f"{name}_{base}"] = value
    renamed[f"{name}_images"] = int(len(y_true))
    return renamed


def source_run(model_path: str | os.PathLike) -> Path:
    """The run an exported model was made from, by the model card beside it (EvaluationError if none)."""
    path = Path(model_path)
    card = (path if path.is_dir() else path.parent) / CARD_FILE
    try:
        run_dir = json.loads(card.read_text(encoding="utf-8")).get("run_dir")
    except (OSError, ValueError, AttributeError):
        run_dir = None
    if not run_dir or not Path(run_dir).is_dir():
        raise EvaluationError(f"{path} cannot be evaluated: the {CARD_FILE} beside it does not name a run folder "
                              "that is here; evaluate it from its export folder, next to its run.")
    return Path(run_dir)


def evaluate_model_file(model_path: str | os.PathLike, *, task: TaskState | None = None) -> Evaluation:
    """An exported model (any format) on the validation (and test) split of the run it was exported from."""
    return evaluate_run(source_run(model_path), task=task, update_metrics=False, model_path=model_path)


def evaluate_run(run_dir: str | os.PathLike, *, task: TaskState | None = None,
                 update_metrics: bool = True, model_path: str | os.PathLike | None = None) -> Evaluation:
    """Evaluate a run's model.keras on its validation split (and its test split, when the dataset
    has train/val/test folders). With a test split, its metrics are added to metrics.json.
    `model_path`: evaluate that exported model instead (through the predictor `tlstudio predict` uses),
    on the run's own split; metrics.json is then left alone.

    ``task`` hears each stage ("scanning images", "decoding images", "loading the model",
    "predicting") and how far it is, and may cancel (Cancelled is raised; nothing is written).
    Raises EvaluationError.
    """
    task = task or TaskState()
    opened = _open(run_dir, task)
    report_progress(task, "loading the model", 0, 1)
    runtime = _runtime(opened.run, model_path)
    classes = opened.run.classes or [str(i) for i in range(runtime.num_classes or 0)]
    splits, done = {}, 0
    for name, items in opened.items.items():
        probabilities = predict_with_progress(lambda batch: runtime(batch.astype(np.float32)), opened.images[name],
                                              len(classes), task, done_before=done, total=opened.total)
        done += len(items)
        splits[name] = _split_evaluation(name, items, opened.labels(name), probabilities, classes)

    evaluation = Evaluation(opened.run_dir, classes, splits, _warnings(opened.run.metrics, splits),
                            Path(model_path) if model_path is not None else None,
                            getattr(runtime, "format", "keras"))
    if update_metrics and model_path is None and evaluation.test is not None and opened.run.metrics is not None:
        write_metrics(opened.run_dir, {**opened.run.metrics, **evaluation.test.metrics})
    return evaluation


def _open(run_dir: str | os.PathLike, task: TaskState) -> OpenedRun:
    """The run with its validation and test images; EvaluationError when it cannot be opened."""
    try:
        return open_run(run_dir, splits=("val", "test"), task=task)
    except RunDataError as error:
        raise EvaluationError(f"cannot evaluate {error.run_dir}: {error.reason}") from None
    except RunOpenError as error:
        raise EvaluationError(str(error)) from None


def _runtime(run: RunRecord, model_path: str | os.PathLike | None) -> Runtime:
    """The run's own model.keras, or the exported `model_path` when it names the run's classes."""
    if model_path is None:
        return KerasRuntime(run.model_path)
    try:
        predictor = load_predictor(model_path)
    except PredictorError as error:
        raise EvaluationError(str(error)) from None
    if run.classes and list(predictor.info.classes) != list(run.classes):
        raise EvaluationError(f"{model_path} names the classes {', '.join(predictor.info.classes)}, but its "
                              f"run {run.run_dir} has {', '.join(run.classes)}; export the run again.")
    return predictor.runtime


def _split_evaluation(name: str, items: list[ImageItem], y_true: np.ndarray, probabilities: np.ndarray,
                      classes: list[str]) -> SplitEvaluation:
    return SplitEvaluation(name, classes, _records(items, y_true, probabilities),
                           split_metrics(name, y_true, probabilities, classes))


def _records(items: list[ImageItem], y_true: np.ndarray, probabilities: np.ndarray) -> list[ImageRecord]:
    predicted = probabilities.argmax(axis=1) if len(probabilities) else np.zeros(0, int)
    picked = probabilities[np.arange(len(y_true)), y_true] if len(y_true) else np.zeros(0)
    losses = -np.log(np.clip(picked.astype(np.float64), 1e-12, 1.0))
    return [ImageRecord(Path(item.path), int(t), int(p), tuple(float(v) for v in row), float(loss))
            for item, t, p, row, loss in zip(items, y_true, predicted, probabilities, losses, strict=True)]


def _warnings(metrics: dict[str, Any] | None, splits: dict[str, SplitEvaluation]) -> list[str]:
    if not metrics or "val_images" not in metrics:
        return []
    now = len(splits["val"].records)
    if now != metrics["val_images"]:
        return [f"the validation split now has {now} images, the run had {metrics['val_images']}: the data "
                "folder changed since training, so these numbers differ from metrics.json"]
    return []
