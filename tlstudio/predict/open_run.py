"""Opening a run for a tool that reads it: its data split rebuilt as the Trainer built it."""

from __future__ import annotations

from tlstudio.data import DataError, scan
from tlstudio.data.split import Split
from tlstudio.settings.project import Project


def dataset_split(project: Project) -> Split:
    """The run's data split, rebuilt as the Trainer built it. Raises DataError naming the problem."""
    if not project.data.folder:
        raise DataError("the run names no data folder (data.folder); set it in config.json.")
    index = scan(project.data.folder, max_megapixels=project.data.max_megapixels)
    if index.errors:
        raise DataError(index.errors[0])
    return project.split(index)
