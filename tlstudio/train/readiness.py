"""Whether a project can train now: the checks the GUI's Train button and `tlstudio train` share.

Each reason is one sentence naming the fix. What only a window knows (a scan still running,
TensorFlow still loading, a run in progress) stays with the window.
"""

from __future__ import annotations

import importlib.util

from tlstudio.config import Project
from tlstudio.data import DatasetIndex


def training_blocker(project: Project, index: DatasetIndex | None = None) -> str | None:
    """Why `project` cannot train, or None. `index`: the scan of its data folder, when there is one."""
    if not project.data.folder:
        return "Choose a data folder (the Data page, or --data FOLDER)."
    weights_file = project.model.weights_file
    if weights_file is not None and not weights_file.is_file():
        return f"The weights file {weights_file} does not exist; choose another weights file or 'imagenet'."
    if index is not None and index.errors:
        return index.errors[0]
    if project.training.tensorboard and importlib.util.find_spec("tensorboard") is None:
        return "TensorBoard logs need the tensorboard package; install it (pip install tensorboard) or untick them."
    return None
