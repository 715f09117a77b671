"""RunHistory: the run folders of the current project, newest first (where they go: `runs.runs_root`)."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QObject, Signal, Slot

from tlstudio.gui.state.project_model import ALL, ProjectModel
from tlstudio.runs.folder import RunRecord, RunSummary, list_runs, read_run, runs_root, summarize_run


class RunHistory(QObject):
    """Lists the runs under the project's runs folder; refreshed after a run and on project changes."""

    changed = Signal()

    def __init__(self, project: ProjectModel, app_data_dir: Path, parent: QObject | None = None):
        super().__init__(parent)
        self._project = project
        self._app_data_dir = Path(app_data_dir)
        self.summaries: list[RunSummary] = []
        project.changed.connect(self._on_project_changed)
        project.path_changed.connect(self._on_path_changed)
        self.refresh()

    @property
    def root(self) -> Path:
        return runs_root(self._project.path, self._project.project.data.folder, self._app_data_dir)

    def refresh(self) -> None:
        summaries = []
        for path in list_runs(self.root):
            try:
                summaries.append(summarize_run(path))
            except (OSError, ValueError, TypeError):
                continue  # a half-written or foreign folder is not listed
        self.summaries = summaries
        self.changed.emit()

    def record(self, path: Path) -> RunRecord:
        """Everything a run wrote, per-step log included (for overlays)."""
        return read_run(path)

    def details(self, path: Path) -> RunRecord:
        """config, classes, history and metrics, without the per-step log."""
        return read_run(path, steps=False)

    @Slot(list)
    def _on_project_changed(self, keys: list) -> None:
        if ALL in keys or "data.folder" in keys:
            self.refresh()

    @Slot(object)
    def _on_path_changed(self, _path: object) -> None:
        self.refresh()
