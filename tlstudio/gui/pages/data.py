"""Data page: choose the folder, see what the scan found, set the validation split, check the data's health.

The page assembles its panels (`panels.data_folder`, `panels.class_table`, `panels.data_split`,
`panels.dataset_health`), makes a chosen or dropped folder the project's data folder, and redraws
them when the scan or the split changes.
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Qt, QUrl, Signal, Slot
from PySide6.QtGui import QDragEnterEvent, QDropEvent, QImage
from PySide6.QtWidgets import QSplitter, QVBoxLayout, QWidget

from tlstudio.gui.app_settings import AppSettings
from tlstudio.gui.background import TaskRunner
from tlstudio.gui.pages.base import Page
from tlstudio.gui.panels.class_table import ClassTable
from tlstudio.gui.panels.data_folder import FolderBar, ScanStatus
from tlstudio.gui.panels.data_split import ScanFindings, SplitBox
from tlstudio.gui.panels.dataset_health import HealthPanel
from tlstudio.gui.state.dataset_model import DatasetModel
from tlstudio.gui.state.project_model import ProjectModel
from tlstudio.gui.widgets.responsive import WrapAwareSplitter


class DataPage(Page):
    """Wraps the DatasetModel (scan results) and the Project's data settings."""

    folder_chosen = Signal(str)

    def __init__(self, project: ProjectModel, dataset: DatasetModel, runner: TaskRunner,
                 app_settings: AppSettings, parent: QWidget | None = None):
        super().__init__("Data", "A folder with one sub-folder of images per class (or train/ and val/ "
                         "folders that hold them). Drop a folder anywhere on this page.", "dataPage",
                         parent=parent)
        self._project = project
        self._dataset = dataset
        self._app_settings = app_settings
        self.setAcceptDrops(True)
        self.folder_bar = FolderBar(project, dataset, app_settings)
        self.scan_status = ScanStatus(project, dataset)
        self.class_table = ClassTable(project, dataset, runner)
        self.split_box = SplitBox(project)
        self.scan_findings = ScanFindings()
        self.health_panel = HealthPanel(project, runner)
        layout = QVBoxLayout(self.body)
        layout.setContentsMargins(0, 6, 0, 0)
        layout.setSpacing(8)
        layout.addWidget(self.folder_bar)
        layout.addWidget(self.scan_status)
        layout.addWidget(self._panels_splitter(), 1)

        # The panels' widgets by the page's names: the tests and the screenshot script reach them here.
        self.folder_edit, self.recent_menu = self.folder_bar.folder_edit, self.folder_bar.recent_menu
        self.rescan_button = self.folder_bar.rescan_button
        self.progress, self.summary_label = self.scan_status.progress, self.scan_status.summary_label
        self.error_label = self.scan_status.error_label
        self.val_split_spin, self.given_split_label = self.split_box.val_split_spin, self.split_box.given_split_label
        self.seed_spin, self.resize_combo = self.split_box.seed_spin, self.split_box.resize_combo
        self.warnings_label, self.ignored_label = self.scan_findings.warnings_label, self.scan_findings.ignored_label
        self.skipped_tree, self.skipped_section = self.scan_findings.skipped_tree, self.scan_findings.skipped_section

        self.folder_bar.folder_entered.connect(self.set_folder)
        self.health_panel.files_moved.connect(dataset.rescan)
        dataset.state_changed.connect(self._refresh)
        self._refresh()

    def _panels_splitter(self) -> QSplitter:
        """The class table beside the split settings and findings, above the health check."""
        beside = WrapAwareSplitter(Qt.Orientation.Horizontal)  # wrapped text beside it keeps its height
        beside.setObjectName("dataSplitter")
        beside.setChildrenCollapsible(False)
        beside.addWidget(self.class_table)
        side = QWidget()
        side_layout = QVBoxLayout(side)
        side_layout.setContentsMargins(6, 0, 0, 0)
        side_layout.setSpacing(8)
        side_layout.addWidget(self.split_box)
        side_layout.addWidget(self.scan_findings)
        side_layout.addStretch(1)
        beside.addWidget(side)
        beside.setStretchFactor(0, 3)
        beside.setStretchFactor(1, 2)
        above = QSplitter(Qt.Orientation.Vertical)
        above.setObjectName("dataHealthSplitter")
        above.setChildrenCollapsible(False)
        above.addWidget(beside)
        above.addWidget(self.health_panel)
        above.setStretchFactor(0, 3)
        above.setStretchFactor(1, 2)
        return above

    @property
    def thumbnails(self) -> dict[str, list[QImage]]:
        """Each class's example thumbnails, once decoded."""
        return self.class_table.thumbnails

    # -- choosing a folder ------------------------------------------------------------------------

    @Slot()
    def choose_folder(self) -> None:
        self.folder_bar.choose_folder()

    @Slot(str)
    def set_folder(self, folder: str | Path) -> None:
        """Use `folder` as the Project's data folder (the scan starts by itself)."""
        path = str(Path(folder).expanduser().resolve())
        if self._project.project.data.folder == path:
            self._dataset.rescan()
        else:
            self._project.set("data.folder", path)
        self._app_settings.remember_folder(path)
        self.folder_chosen.emit(path)

    @Slot()
    def _fill_recent_menu(self) -> None:
        self.folder_bar.fill_recent_menu()

    # -- drag and drop ----------------------------------------------------------------------------

    @staticmethod
    def dropped_folder(urls: list[QUrl]) -> str | None:
        for url in urls:
            if url.isLocalFile() and Path(url.toLocalFile()).is_dir():
                return url.toLocalFile()
        return None

    def dragEnterEvent(self, event: QDragEnterEvent) -> None:  # noqa: N802
        if event.mimeData().hasUrls() and self.dropped_folder(event.mimeData().urls()):
            event.acceptProposedAction()
        else:
            event.ignore()

    def dragMoveEvent(self, event) -> None:  # noqa: N802
        event.acceptProposedAction()

    def dropEvent(self, event: QDropEvent) -> None:  # noqa: N802
        folder = self.dropped_folder(event.mimeData().urls()) if event.mimeData().hasUrls() else None
        if folder:
            event.acceptProposedAction()
            self.set_folder(folder)
        else:
            event.ignore()

    # -- showing the scan ---------------------------------------------------------------------------

    @Slot()
    def _refresh(self) -> None:
        index = self._dataset.index
        included = self._project.project.included(index) if index is not None else None  # what it counts
        self.folder_bar.show_state(self._dataset.scanning)
        self.scan_status.refresh()
        self.class_table.show_index(included)
        self.split_box.show_index(included)
        self.scan_findings.show_index(included)
        self.summary_changed.emit()

    def summary(self) -> str:
        index = self._dataset.index
        if self._dataset.scanning:
            return "scanning…"
        if index is None:
            return "choose a folder"
        if index.errors:
            return "needs a fix"
        return f"{len(index.classes)} classes · {len(self._project.project.included(index).items)} images"
