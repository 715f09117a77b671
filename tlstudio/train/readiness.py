"""Whether a project can train now: the checks the GUI's Train button and `tlstudio train` share.

Each reason is one sentence naming the fix. What only a window knows (a scan still running,
TensorFlow still loading, a run in progress) stays with the window.
"""

from __future__ import annotations

import importlib.util

from tlstudio.data import DatasetIndex
from tlstudio.model.optimizers import is_full_batch
from tlstudio.settings.project import Project


def training_blocker(project: Project, index: DatasetIndex | None = None) -> str | None:
    """Why `project` cannot train, or None. `index`: the scan of its data folder, when there is one."""
    if not project.data.folder:
        return "Choose a data folder (the Data page, or --data FOLDER)."
    weights_file = project.model.weights_file
    if weights_file is not None and not weights_file.is_file():
        return f"The weights file {weights_file} does not exist; choose another weights file or 'imagenet'."
    if index is not None and index.errors:
        return index.errors[0]
    reason = full_batch_blocker(project)
    if reason:
        return reason
    if project.training.snapshot_ensemble and project.schedule.name != "cosine-restarts":
        return ("A snapshot ensemble keeps a model at each restart of the LR schedule; choose cosine with restarts "
                "or set the snapshot ensemble to off.")
    if project.training.tensorboard and importlib.util.find_spec("tensorboard") is None:
        return "TensorBoard logs need the tensorboard package; install it (pip install tensorboard) or untick them."
    return None


def full_batch_blocker(project: Project) -> str | None:
    """Why L-BFGS cannot fit this project's head, or None: it needs the head alone on cached features."""
    if not is_full_batch(project.optimizer.name):
        return None
    model, training = project.model, project.training
    if model.freeze != "all" or model.train_batchnorm:
        return ("L-BFGS fits the head on cached backbone features, so it needs the whole backbone frozen "
                "(freeze 'all', BatchNorm frozen); freeze it or choose another optimizer.")
    if not training.feature_cache:
        return ("L-BFGS fits the head on cached backbone features; switch the feature cache on or choose another "
                "optimizer.")
    if project.augment.enabled and training.augmented_copies == 0:
        return ("L-BFGS fits the head on cached backbone features; with augmentation on, cache augmented copies "
                "(cached augmented copies > 0), switch augmentation off, or choose another optimizer.")
    if training.fine_tune.enabled:
        return "L-BFGS fits only the head; set fine-tuning epochs to 0 or choose another optimizer."
    return None
