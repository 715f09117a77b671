"""Before a run's first step: check and split the data folder, start the run folder, decode the images.

The trainer's first stage, on its own: what comes out (`RunData`) is everything the later stages read
about the data. Failures the user can fix are `PrepareError` with one sentence naming the fix.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from tlstudio.data import scan
from tlstudio.data.cache import images_key, load_images_cached
from tlstudio.runs.folder import RunFolderWriter, new_run_dir
from tlstudio.settings.project import Project
from tlstudio.train.backend import Accelerator
from tlstudio.train.events import Observer, PrepareProgress, StopToken
from tlstudio.train.readiness import training_blocker


class PrepareError(Exception):
    """The data cannot be trained on, or a stop came first; the message is one sentence."""


@dataclass
class RunData:
    """The decoded training and validation images (uint8) with their labels, in the split's order."""

    classes: list[str]
    image_size: int
    x_train: np.ndarray
    y_train: np.ndarray
    x_val: np.ndarray
    y_val: np.ndarray
    # Names the decoded images' content (files, sizes, times, image input) without hashing their pixels.
    images_key: str | None = None


def prepare_run(project: Project, observer: Observer, stop_token: StopToken,
                make_writer: Callable[[list[str]], RunFolderWriter]) -> RunData:
    """Scan and split the data folder, then (`make_writer`, once the classes are known) start the run
    folder, then decode every image once, through the decoded-image cache."""
    reason = training_blocker(project)  # the Train button's and the CLI's rule, so a bare Trainer agrees
    if reason:
        raise PrepareError(reason)
    observer.on_prepare(PrepareProgress("scanning images", 0, 0))
    index = scan(project.data.folder, max_megapixels=project.data.max_megapixels, decode=project.image_input,
                 progress=lambda done, total: observer.on_prepare(PrepareProgress("scanning images", done, total)))
    reason = training_blocker(project, index)
    if reason:
        raise PrepareError(reason)
    for warning in index.warnings:
        observer.on_log(f"warning: {warning}")
    split = project.split(index)
    classes = list(index.classes)
    make_writer(classes)

    items = split.train + split.val
    total = len(items)

    def progress(done, _total):
        if stop_token.stop_requested:
            raise PrepareError("stopped before training began; nothing was trained.")
        observer.on_prepare(PrepareProgress("decoding images", done, total))

    images, from_cache = load_images_cached([item.path for item in items], project.image_input, progress=progress,
                                            use_cache=project.training.image_cache, decoded=index.decoded)
    index.decoded.clear()  # the arrays now live in `images`
    if from_cache:
        observer.on_log(f"{total} decoded images reused from the image cache")
    return RunData(classes, project.image_input.size,
                   x_train=images[: len(split.train)], y_train=np.array([i.label for i in split.train], np.int32),
                   x_val=images[len(split.train):], y_val=np.array([i.label for i in split.val], np.int32),
                   images_key=images_key([item.path for item in items], project.image_input))


def start_run_folder(project: Project, classes: list[str], run_dir: str | Path | None,
                     runs_root: str | Path) -> RunFolderWriter:
    """The run folder with config.json and labels.txt written (new or empty; RunFolderError otherwise)."""
    writer = RunFolderWriter(run_dir or new_run_dir(runs_root, project.model.backbone))
    writer.write_config(project)
    writer.write_labels(classes)
    return writer



def build_run_model(project: Project, data: RunData, observer: Observer, accelerator: Accelerator):
    """The run's model as its first phase trains it (a two-phase run starts with the backbone frozen),
    seeded, with BatchNorm statistics set from training images when the weights are random; and the
    compute plan it was built under, on `accelerator` (the backend chosen before Keras loaded).
    Returns (BuiltModel, ComputePlan). Imports Keras."""
    import keras

    from tlstudio.model.build import build_model, calibrate_batchnorm
    from tlstudio.train.compute import apply_determinism, plan_compute, precision_policy

    observer.on_prepare(PrepareProgress("building the model", 0, 1))
    backbone_trains = project.model.freeze != "all" and not project.training.fine_tune.enabled
    compute = plan_compute(project.training, accelerator, backbone_trains=backbone_trains)
    apply_determinism(compute)
    keras.utils.set_random_seed(project.training.seed)
    settings = project.model
    if project.training.fine_tune.enabled:
        settings = settings.model_copy(update={"freeze": "all"})  # phase 1 trains the head only
    with precision_policy(compute):
        built = build_model(settings, len(data.classes), seed=project.training.seed)
    if settings.weights == "none":
        x_train = data.x_train
        sample = x_train[np.linspace(0, len(x_train) - 1, min(len(x_train), 32)).astype(int)]
        count = calibrate_batchnorm(built.model, built.backbone, sample)
        if count:
            observer.on_log(f"weights 'none': the statistics of {count} BatchNorm layers were set from "
                            f"{len(sample)} training images (there are no pretrained ones to keep)")
        if settings.freeze == "all":
            observer.on_log("warning: weights 'none' leaves the backbone random, and frozen it only gives the head "
                            "random features to learn from; unfreeze it (freeze 0) or use ImageNet weights.")
    observer.on_prepare(PrepareProgress("building the model", 1, 1))
    return built, compute
