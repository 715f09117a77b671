"""DatasetModel: what the scan of the Project's data folder found, kept up to date in the background.

It listens to the ProjectModel: a new data folder (or a loaded project) starts a scan on the
task pool. Pages read the DatasetIndex from here; the main window asks it whether the data
blocks training.
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QObject, Signal, Slot

from tlstudio.data import DataError, DatasetIndex, scan
from tlstudio.gui.background import TaskContext, TaskRunner
from tlstudio.gui.state.project_model import ALL, ProjectModel
from tlstudio.gui.widgets.common import TaskHolder

_RESCAN_KEYS = {ALL, "data.folder", "data.max_megapixels"}
_SPLIT_KEYS = {ALL, "data.val_split", "training.seed", "data.exclude", "data.keep_duplicates_together"}


class DatasetModel(QObject):
    """The scan state of the data folder: none, scanning, scanned (with an index) or failed."""

    scan_started = Signal(str)  # folder
    scan_progressed = Signal(int, int)
    scanned = Signal(object)  # DatasetIndex
    scan_failed = Signal(str)
    state_changed = Signal()  # after any of the above, and when the split changes

    def __init__(self, project: ProjectModel, runner: TaskRunner, parent: QObject | None = None):
        super().__init__(parent)
        self._project = project
        self._scan = TaskHolder(runner, parent=self)
        self.index: DatasetIndex | None = None
        self.folder: str | None = None
        self.error: str | None = None
        self._train_count: int | None = None
        self._val_count: int | None = None
        project.changed.connect(self._on_project_changed)

    # -- state ------------------------------------------------------------------------------------

    @property
    def scanning(self) -> bool:
        return self._scan.busy

    @property
    def ready(self) -> bool:
        return self.index is not None and self.index.ok and not self.scanning

    def blocking_reason(self) -> str | None:
        """Why the data stops training right now, as a short instruction; None when it doesn't."""
        if not self._project.project.data.folder:
            return "Choose a data folder on the Data page."
        if self.scanning:
            return "Scanning the data folder…"
        if self.error:
            return self.error
        if self.index is None:
            return "The data folder has not been scanned yet."
        if self.index.errors:
            return self.index.errors[0]
        if self._train_count is None:
            return "The data cannot be split; check the Data page."
        return None

    @property
    def train_count(self) -> int | None:
        """Training images under the current split settings (None until scanned and splittable)."""
        return self._train_count

    @property
    def val_count(self) -> int | None:
        return self._val_count

    # -- scanning ---------------------------------------------------------------------------------

    def rescan(self) -> None:
        """Scan the Project's folder again (e.g. after files changed on disk)."""
        self._scan.drop()
        folder = self._project.project.data.folder
        self.folder = folder
        self.error = None
        self.index = None
        self._train_count = self._val_count = None
        if not folder:
            self.state_changed.emit()
            return
        max_megapixels = self._project.project.data.max_megapixels

        def work(context: TaskContext) -> DatasetIndex:
            return scan(folder, max_megapixels=max_megapixels, progress=context.progress)

        self._scan.start("scanning the data folder", work, progressed=self.scan_progressed.emit,
                         succeeded=self._on_scanned, failed=self._on_failed)
        self.scan_started.emit(folder)
        self.state_changed.emit()

    @Slot(list)
    def _on_project_changed(self, keys: list) -> None:
        if _RESCAN_KEYS.intersection(keys):
            if ALL in keys and self._project.project.data.folder == self.folder and self.index is not None:
                self._update_split()
                self.state_changed.emit()
                return
            self.rescan()
        elif _SPLIT_KEYS.intersection(keys) and self.index is not None:
            self._update_split()
            self.state_changed.emit()

    def _on_scanned(self, index: DatasetIndex) -> None:
        self.index = index
        self._update_split()
        self.scanned.emit(index)
        self.state_changed.emit()

    def _on_failed(self, message: str) -> None:
        self.error = f"Could not scan {self.folder}: {message}"
        self.scan_failed.emit(self.error)
        self.state_changed.emit()

    def _update_split(self) -> None:
        self._train_count = self._val_count = None
        if self.index is None or not self.index.ok:
            return
        data = self._project.project
        try:
            split = data.split(self.index)
        except DataError as error:
            self.error = str(error)
            return
        self.error = None
        self._train_count, self._val_count = len(split.train), len(split.val)

    def example_paths(self, per_class: int) -> dict[str, list[Path]]:
        """A few images of each class, spread over the class, for thumbnails and previews."""
        if self.index is None:
            return {}
        by_class: dict[str, list[Path]] = {name: [] for name in self.index.classes}
        for item in self.index.items:
            by_class[self.index.classes[item.label]].append(item.path)
        picked = {}
        for name, paths in by_class.items():
            if len(paths) <= per_class:
                picked[name] = list(paths)
            else:
                step = len(paths) / per_class
                picked[name] = [paths[int(i * step)] for i in range(per_class)]
        return picked
