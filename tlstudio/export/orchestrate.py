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
from tlstudio.predict.open_run import dataset_split
from tlstudio.predict.predictor import CARD_FILE, LABELS_FILE, PredictorError, serving_function
from tlstudio.runs.folder import RunFolderError, read_run
from tlstudio.settings.project import Project, ProjectError

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
    total = 3 + 2 * len(formats)
    step = 0

    def report(message: str, advance: bool = True) -> None:
        nonlocal step
        step += advance
        task.message(message)
        task.progress(min(step, total), total)
        task.check()

    report("loading the model and the validation images", advance=False)
    with Staging(out_dir) as staging:
        import keras  # lazy: Keras (and TensorFlow) load only when an export runs

        try:
            model = strip_augmentation(keras.saving.load_model(run.model_path, compile=False))
        except Exception as error:  # a truncated or foreign file: Keras raises many types
            raise ExportError(f"{run.model_path} cannot be loaded ({_short(error)}); train the run again.") \
                from None
        size = project.model.resolved_image_size
        images, verified_on, train_paths, labels = _verification_images(project, max_verify_images)
        calibrated = bool(run.metrics and run.metrics.get("temperature") is not None)
        # One traced training=False function serves as the reference and feeds every converter.
        function, spec = serving_function(model, size)
        expected = predict(lambda batch: function(batch)["probabilities"].numpy(), images)
        source = Source(model, size, function, spec)
        report("loaded")

        results: list[FormatResult] = []
        for fmt in formats:
            q = quantize if fmt == "tflite" else "none"
            result = FormatResult(fmt, None, False, quantize=q)
            name = artefact_name(fmt, q)
            report(f"converting {result.label}", advance=False)
            try:
                convert(fmt, q, source, staging, name, project, train_paths, run.classes)
                report(f"verifying {result.label}")
                verify(result, staging.path / name, images, expected, labels, calibrated)
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
            results.append(result)
            report(f"{result.label}: {'verified' if result.ok else 'FAILED: ' + result.reason}")

        report("writing labels and the model card", advance=False)
        earlier = earlier_results(out_dir, run.run_dir, {r.label for r in results})
        card = model_card(run, project, results, verified_on, earlier)
        write_beside(staging.path, run.classes, card, [r for r in results if r.ok and r.format == "savedmodel"])
        report("written")
        names = [artefact_name(r.format, r.quantize) for r in results if r.ok]
        task.check()  # the last moment a cancel leaves the destination untouched
        staging.commit(names + [LABELS_FILE, CARD_FILE, CARD_MARKDOWN])
    task.message(f"exported to {out_dir}")
    task.progress(total, total)
    return ExportReport(out_dir, results, verified_on, card)


def _read_run(run_dir: str | os.PathLike):
    try:
        run = read_run(run_dir)
    except (RunFolderError, OSError, ValueError) as error:
        raise ExportError(str(error)) from None
    if not run.model_path.is_file():
        raise ExportError(f"{run.run_dir} has no {run.model_path.name}; train the run to the end of one "
                          "epoch first.")
    if not run.classes:
        raise ExportError(f"{run.run_dir} has no labels.txt; it is not a complete run folder.")
    try:
        project = run.project
    except ProjectError as error:
        raise ExportError(str(error)) from None
    return run, project


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
