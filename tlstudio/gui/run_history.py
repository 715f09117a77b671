"""RunHistory: the run folders of the current project, newest first.

Where runs go: beside a saved project file (`<project folder>/runs/`), or, for a project not
saved yet, in the app's data folder under the data folder's name, so a user's data folder is
never written to without asking.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from PySide6.QtCore import QObject, Signal, Slot

from tlstudio.gui.project_model import ALL, ProjectModel
from tlstudio.registry import BACKBONES
from tlstudio.train.runs import MODEL_FILE, RunRecord, list_runs, read_run


@dataclass(frozen=True)
class RunSummary:
    """One earlier run, as the run list shows it."""

    path: Path
    backbone: str
    epochs: int
    val_accuracy: float | None
    has_model: bool

    @property
    def when(self) -> str:
        """'29 Nov 18:54' from the folder's timestamp, else the folder name."""
        try:
            return datetime.strptime(self.path.name[:15], "%Y%m%d-%H%M%S").strftime("%d %b %H:%M")
        except ValueError:
            return self.path.name

    @property
    def label(self) -> str:
        accuracy = (f"val acc {self.val_accuracy:.1%}" if self.val_accuracy is not None
                    and math.isfinite(self.val_accuracy) else "no result")
        backbone = BACKBONES[self.backbone].label if self.backbone in BACKBONES else self.backbone
        return f"{self.when} · {backbone} · {self.epochs} epochs · {accuracy}"


@dataclass(frozen=True)
class RunDetails:
    """What a run folder says about its model, without reading its per-step log."""

    path: Path
    config: dict[str, Any]
    classes: list[str]
    metrics: dict[str, Any]


def read_details(path: Path) -> RunDetails:
    """config.json, labels.txt and metrics.json of a run; raises OSError / ValueError if unreadable."""
    config = json.loads((path / "config.json").read_text(encoding="utf-8"))
    labels = path / "labels.txt"
    classes = labels.read_text(encoding="utf-8").splitlines() if labels.is_file() else []
    metrics_file = path / "metrics.json"
    metrics = json.loads(metrics_file.read_text(encoding="utf-8")) if metrics_file.is_file() else {}
    return RunDetails(path, config, classes, metrics if isinstance(metrics, dict) else {})


def summarize(path: Path) -> RunSummary:
    """A run's line in the lists: cheap enough to do for every run on each refresh."""
    details = read_details(path)
    backbone = str(details.config.get("model", {}).get("backbone", "?"))
    accuracy = details.metrics.get("val_accuracy")
    history = path / "history.csv"
    epochs = max(0, len(history.read_text(encoding="utf-8").splitlines()) - 1) if history.is_file() else 0
    return RunSummary(path, backbone, epochs, float(accuracy) if accuracy is not None else None,
                      (path / MODEL_FILE).is_file())


def _safe_name(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", text).strip("_") or "data"


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
        if self._project.path is not None:
            return self._project.path.parent / "runs"
        folder = self._project.project.data.folder
        name = _safe_name(Path(folder).name) if folder else "untitled"
        return self._app_data_dir / "runs" / name

    def refresh(self) -> None:
        summaries = []
        for path in list_runs(self.root):
            try:
                summaries.append(summarize(path))
            except (OSError, ValueError, TypeError):
                continue  # a half-written or foreign folder is not listed
        self.summaries = summaries
        self.changed.emit()

    def record(self, path: Path) -> RunRecord:
        """Everything a run wrote, per-step log included (for overlays)."""
        return read_run(path)

    def details(self, path: Path) -> RunDetails:
        return read_details(path)

    @Slot(list)
    def _on_project_changed(self, keys: list) -> None:
        if ALL in keys or "data.folder" in keys:
            self.refresh()

    @Slot(object)
    def _on_path_changed(self, _path: object) -> None:
        self.refresh()
