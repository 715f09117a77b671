"""The export of one run: read the run folder, load the model and the validation images, then for
each format convert, scan for augmentation and verify inside the staging folder, write labels and
the model card, and move what passed into the export folder.

Each artefact is written into a staging folder beside ``out_dir``, scanned for augmentation ops,
reloaded in its own runtime, run twice over the validation images, compared with the Keras model,
and only then moved into ``out_dir`` (one rename each). A format that fails is reported with its
reason and leaves no file behind.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from tlstudio.base.tasks import TaskState
from tlstudio.data import DataError
from tlstudio.export.converters import Source, convert
from tlstudio.export.model_card import CARD_MARKDOWN, earlier_results, model_card, write_beside
from tlstudio.export.results import (
    QUANTIZATIONS,
    DestinationError,
    ExportError,
    ExportReport,
    FormatResult,
    artefact_name,
    parse_formats,
)
from tlstudio.export.staging import Staging, destination_message, is_destination_error, remove
from tlstudio.export.verify import predict, verify
from tlstudio.model.augment import strip_augmentation
from tlstudio.predict.open_run import RunOpenError, dataset_split, load_run_model, read_trained_run
from tlstudio.predict.predictor import CARD_FILE, LABELS_FILE, PredictorError, serving_function
from tlstudio.runs.folder import RunRecord
from tlstudio.settings.project import Project

_SYNTHETIC_IMAGES = 16


def export_run(run_dir: str | os.PathLike, formats: list[str], out_dir: str | os.PathLike,
               quantize: str = "none", *, task: TaskState | None = None,
               max_verify_images: int | None = None) -> ExportReport:
    """Export the run's model in ``formats`` into ``out_dir``, each verified; see the module docstring.

    ``quantize`` applies to TFLite. ``task`` hears what runs and how far it is, and may cancel:
    the export then raises Cancelled before the next step and leaves the destination untouched.
    Raises ExportError for a bad run folder or destination; a format that fails conversion or
    verification is an ``ok=False`` result, not an exception.
    """
    task = task or TaskState()
    formats = parse_formats(",".join(formats))
    if quantize not in QUANTIZATIONS:
        raise ValueError(f"unknown quantization {quantize!r}; choose from {', '.join(QUANTIZATIONS)}")
    run, project = _read_run(run_dir)
    out_dir = Path(out_dir).expanduser().absolute()
    steps = _Steps(task, total=3 + 2 * len(formats))
    steps.report("loading the model and the validation images", advance=False)
    with Staging(out_dir) as staging:
        reference = _reference(run, project, max_verify_images)
        steps.report("loaded")
        results = [_export_format(fmt, quantize if fmt == "tflite" else "none", reference, staging, steps)
                   for fmt in formats]
        steps.report("writing labels and the model card", advance=False)
        earlier = earlier_results(out_dir, run.run_dir, {r.label for r in results})
        card = model_card(run, project, results, reference.verified_on, earlier)
        write_beside(staging.path, run.classes, card, [r for r in results if r.ok and r.format == "savedmodel"])
        steps.report("written")
        names = [artefact_name(r.format, r.quantize) for r in results if r.ok]
        task.check()  # the last moment a cancel leaves the destination untouched
        staging.commit(names + [LABELS_FILE, CARD_FILE, CARD_MARKDOWN])
    task.message(f"exported to {out_dir}")
    task.progress(steps.total, steps.total)
    return ExportReport(out_dir, results, reference.verified_on, card)


class _Steps:
    """The export's progress: a count of finished steps out of `total`; each report may cancel."""

    def __init__(self, task: TaskState, total: int) -> None:
        self.task, self.total, self.done = task, total, 0

    def report(self, message: str, advance: bool = True) -> None:
        self.done += advance
        self.task.message(message)
        self.task.progress(min(self.done, self.total), self.total)
        self.task.check()


@dataclass(frozen=True)
class _Reference:
    """What every format is converted from and judged against: the inference model and its answers on the
    verification images."""

    run: RunRecord
    project: Project
    source: Source
    images: np.ndarray  # uint8: the validation images, or random ones when the data is gone
    expected: np.ndarray  # the Keras model's probabilities on them
    labels: np.ndarray | None  # their classes (None for random images)
    verified_on: str  # the images, in words, for the report and the model card
    train_paths: list[Path]  # the representative images of int8 TFLite
    calibrated: bool  # the run's model carries a folded temperature


def _reference(run: RunRecord, project: Project, max_verify_images: int | None) -> _Reference:
    """The run's model without augmentation, traced once, and its answers on the verification images."""
    try:
        model = strip_augmentation(load_run_model(run))
    except RunOpenError as error:
        raise ExportError(str(error)) from None
    size = project.model.resolved_image_size
    images, verified_on, train_paths, labels = _verification_images(project, max_verify_images)
    # One traced training=False function serves as the reference and feeds every converter.
    function, spec = serving_function(model, size)
    expected = predict(lambda batch: function(batch)["probabilities"].numpy(), images)
    calibrated = bool(run.metrics and run.metrics.get("temperature") is not None)
    return _Reference(run, project, Source(model, size, function, spec), images, expected, labels, verified_on,
                      train_paths, calibrated)


def _export_format(fmt: str, quantize: str, reference: _Reference, staging: Staging, steps: _Steps
                   ) -> FormatResult:
    """Convert and verify one format inside the staging folder; a failure is an ``ok=False`` result whose file
    is removed, except a full or read-only destination, which ends the whole export (ExportError)."""
    out_dir = staging.out_dir
    result = FormatResult(fmt, None, False, quantize=quantize)
    name = artefact_name(fmt, quantize)
    steps.report(f"converting {result.label}", advance=False)
    try:
        convert(fmt, quantize, reference.source, staging, name, reference.project, reference.train_paths,
                reference.run.classes)
        steps.report(f"verifying {result.label}")
        verify(result, staging.path / name, reference.images, reference.expected, reference.labels,
               reference.calibrated)
    except DestinationError as error:
        raise ExportError(destination_message(out_dir, error.cause)) from None
    except Exception as error:  # a converter or runtime failure fails this format only
        if is_destination_error(error):
            raise ExportError(destination_message(out_dir, error)) from None
        result.ok, result.reason = False, _short(error)
    if not result.ok:
        remove(staging.path / name)
    else:
        result.path = out_dir / name
    steps.report(f"{result.label}: {'verified' if result.ok else 'FAILED: ' + result.reason}")
    return result


def _read_run(run_dir: str | os.PathLike) -> tuple[RunRecord, Project]:
    """The trained run and its project; ExportError when it is no complete run."""
    try:
        run = read_trained_run(run_dir)
    except RunOpenError as error:
        raise ExportError(str(error)) from None
    if not run.classes:
        raise ExportError(f"{run.run_dir} has no labels.txt; it is not a complete run folder.")
    return run, run.project


def _verification_images(project: Project, limit: int | None
                         ) -> tuple[np.ndarray, str, list[Path], np.ndarray | None]:
    """The validation images (uint8), the training paths and the images' labels; synthetic images (and no
    labels) when the data is gone."""
    size = project.model.resolved_image_size
    try:
        split = dataset_split(project)
        paths = [item.path for item in split.val][: limit or None]
        if not paths:
            raise DataError(f"{project.data.folder} has no validation images")
        images = project.image_input.load_many(paths)
        described = f"{len(paths)} validation images of {project.data.folder}"
        labels = np.array([item.label for item in split.val][: len(paths)], dtype=int)
        return images, described, [item.path for item in split.train], labels
    except (DataError, OSError) as error:
        # Still verify the conversion (same answers as Keras) on fixed random images.
        rng = np.random.default_rng(0)
        images = rng.integers(0, 256, (_SYNTHETIC_IMAGES, size, size, 3), dtype=np.uint8)
        return images, f"{_SYNTHETIC_IMAGES} random images (the data is not readable: {error})", [], None


def _short(error: BaseException) -> str:
    """The first line of an error, with its type unless it is a ValueError or PredictorError; 300 chars."""
    lines = [line.strip() for line in str(error).strip().splitlines() if line.strip()]
    text = lines[0] if lines else type(error).__name__
    if not isinstance(error, ValueError | PredictorError):
        text = f"{type(error).__name__}: {text}"
    return text if len(text) <= 300 else text[:297] + "..."
