"""Opening a run for a tool that reads it (evaluate, calibrate, ensemble, export), one way for all of them.

``open_run`` reads the run folder, checks it holds a trained model, rebuilds the data split as the Trainer
built it and decodes the images of the splits asked for; ``load_run_model`` loads its model.keras, and
``predict_with_progress`` runs a model over images in batches, reporting to the tool's TaskState and
honouring its cancel. Every failure is a ``RunOpenError``, one sentence naming the folder and the fix;
``RunDataError`` (a RunOpenError) says the run is fine but its images are not, so a tool can say what it
could not do without them. Importing this module does not import TensorFlow; loading a model does.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from tlstudio.base.tasks import TaskState
from tlstudio.data import DataError, DatasetIndex, ImageItem, scan
from tlstudio.data.split import Split
from tlstudio.predict.predictor import predict_in_batches
from tlstudio.runs.folder import MODEL_FILE, RunRecord, read_run
from tlstudio.settings.project import Project

__all__ = ["OpenedRun", "RunDataError", "RunOpenError", "dataset_index", "dataset_split", "decode_items",
           "load_run_model", "open_run", "predict_with_progress", "read_trained_run", "report_progress"]

_LONGEST_REASON = 300  # characters of a loader's error quoted in a message


class RunOpenError(ValueError):
    """A run a tool cannot open; the message is one sentence naming the folder and the fix."""


class RunDataError(RunOpenError):
    """The run folder is fine but its images cannot be read: ``reason`` is the scan's or decoder's sentence."""

    def __init__(self, run_dir: Path, reason: str) -> None:
        super().__init__(f"cannot read the images of {run_dir}: {reason}")
        self.run_dir, self.reason = run_dir, reason


@dataclass
class OpenedRun:
    """A trained run ready to be measured: its record, its project, and per split its items and images."""

    run: RunRecord
    project: Project
    items: dict[str, list[ImageItem]]  # "val" first, then the other splits asked for that hold images
    images: dict[str, np.ndarray]  # the same splits decoded: uint8 (N, size, size, 3)

    @property
    def run_dir(self) -> Path:
        return self.run.run_dir

    @property
    def total(self) -> int:
        """Images in all the opened splits together."""
        return sum(len(items) for items in self.items.values())

    def labels(self, split: str) -> np.ndarray:
        """The class index of each image of `split`, in the order of its items."""
        return np.array([item.label for item in self.items[split]], dtype=int)


def report_progress(task: TaskState, stage: str, done: int, total: int) -> None:
    """Tell `task` the stage and how far it is, then stop here if it was cancelled."""
    task.message(stage)
    task.progress(done, total)
    task.check()


def read_trained_run(run_dir: str | os.PathLike, *, steps: bool = False) -> RunRecord:
    """The run folder's record, once its config.json is known to be a valid project and its model.keras is
    there. Raises RunOpenError."""
    try:
        run = read_run(run_dir, steps=steps)
        run.project  # noqa: B018  (a bad config.json is named before any work starts)
    except (OSError, ValueError) as error:  # RunFolderError and ProjectError are ValueErrors
        raise RunOpenError(str(error)) from None
    if not run.model_path.is_file():
        raise RunOpenError(f"{run.run_dir} has no {MODEL_FILE}; train the run to the end of one epoch first.")
    return run


def dataset_index(project: Project) -> DatasetIndex:
    """The scan of the project's data folder. Raises DataError naming the problem."""
    if not project.data.folder:
        raise DataError("the run names no data folder (data.folder); set it in config.json.")
    index = scan(project.data.folder, max_megapixels=project.data.max_megapixels)
    if index.errors:
        raise DataError(index.errors[0])
    return index


def dataset_split(project: Project) -> Split:
    """The run's data split, rebuilt as the Trainer built it. Raises DataError naming the problem."""
    return project.split(dataset_index(project))


def decode_items(project: Project, items: dict[str, list[ImageItem]], task: TaskState) -> dict[str, np.ndarray]:
    """Each split's images decoded as the run's model takes them; the task hears "decoding images" and how
    far it is over all the splits together, and may cancel. Raises DataError naming a bad file."""
    total = sum(len(split_items) for split_items in items.values())
    decoded: dict[str, np.ndarray] = {}
    done = 0
    for name, split_items in items.items():
        def decode_progress(count: int, _total: int, before: int = done) -> None:
            report_progress(task, "decoding images", before + count, total)

        decoded[name] = project.image_input.load_many([item.path for item in split_items], decode_progress)
        done += len(split_items)
    return decoded


def open_run(run_dir: str | os.PathLike, *, splits: Sequence[str] = ("val",),
             task: TaskState | None = None) -> OpenedRun:
    """Open a trained run with the images of its validation split and of each other of `splits` ("test",
    "train") that holds images. The task hears "scanning images" and "decoding images" and may cancel
    (Cancelled). Raises RunOpenError, RunDataError when the run's images cannot be read."""
    task = task or TaskState()
    run = read_trained_run(run_dir)
    project = run.project
    report_progress(task, "scanning images", 0, 0)
    try:
        split = dataset_split(project)
        if not split.val:
            raise DataError(f"{project.data.folder} has no validation images")
        items = {"val": split.val, **{name: getattr(split, name) for name in splits
                                      if name != "val" and getattr(split, name)}}
        images = decode_items(project, items, task)
    except DataError as error:
        raise RunDataError(run.run_dir, str(error)) from None
    return OpenedRun(run, project, items, images)


def load_run_model(run: RunRecord):
    """The run's model.keras (safe mode, no optimizer). Raises RunOpenError when Keras cannot load it."""
    import keras

    try:
        return keras.saving.load_model(run.model_path, compile=False)
    except Exception as error:  # a truncated or foreign file: Keras raises many types
        raise RunOpenError(f"{run.model_path} cannot be loaded ({_first_line(error)}); train the run again.") \
            from None


def predict_with_progress(call: Callable[[np.ndarray], Any], images: np.ndarray, num_classes: int,
                          task: TaskState, *, stage: str = "predicting", done_before: int = 0,
                          total: int | None = None) -> np.ndarray:
    """`call` over `images` in batches, the answers stacked; after each batch the task hears `stage` and
    how far it is (`done_before` images already done of `total`, default these images), and may cancel."""
    total = len(images) if total is None else total
    task.message(stage)
    return predict_in_batches(call, images, num_classes,
                              on_batch=lambda count: report_progress(task, stage, done_before + count, total))


def _first_line(error: BaseException) -> str:
    lines = [line.strip() for line in str(error).splitlines() if line.strip()]
    text = lines[0] if lines else type(error).__name__
    return text if len(text) <= _LONGEST_REASON else text[:_LONGEST_REASON - 3] + "..."
