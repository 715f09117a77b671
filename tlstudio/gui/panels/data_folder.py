"""The Data page's top: the data folder (typed, chosen, or picked from the recent ones; scanned again on
request) and what the scan found so far (its progress, the counts, and what blocks training).

Both read the ProjectModel's data folder and the DatasetModel's scan; choosing a folder is the page's
(`DataPage.set_folder`), which the bar asks for through `folder_entered`.
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Signal, Slot
from PySide6.QtWidgets import (
    QFileDialog,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QMenu,
    QProgressBar,
    QPushButton,
    QStyle,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from tlstudio.gui.app_settings import AppSettings
from tlstudio.gui.state.dataset_model import DatasetModel
from tlstudio.gui.state.project_model import ProjectModel
from tlstudio.gui.widgets.common import named, text_label


class FolderBar(QWidget):
    """The data folder's line: type a path and press Enter, choose one, pick a recent one, or scan again."""

    folder_entered = Signal(str)  # typed, chosen or picked: the page makes it the project's data folder

    def __init__(self, project: ProjectModel, dataset: DatasetModel, app_settings: AppSettings,
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._project = project
        self._app_settings = app_settings
        row = QHBoxLayout(self)
        row.setContentsMargins(0, 0, 0, 0)
        self.folder_edit = named(QLineEdit(), "dataFolderEdit", "Data folder",
                                 "The folder of class sub-folders; type a path and press Enter, or choose one.")
        self.folder_edit.setPlaceholderText("No folder chosen: choose one, or drop it here")
        self.folder_edit.returnPressed.connect(self._on_folder_typed)
        row.addWidget(self.folder_edit, 1)
        self.choose_button = named(QPushButton("Choose folder…"), "dataChooseFolderButton", "Choose data folder")
        self.choose_button.setIcon(self.style().standardIcon(QStyle.StandardPixmap.SP_DirOpenIcon))
        self.choose_button.clicked.connect(self.choose_folder)
        row.addWidget(self.choose_button)
        self.recent_button = named(QToolButton(), "dataRecentFoldersButton", "Recent data folders")
        self.recent_button.setText("Recent")
        self.recent_button.setPopupMode(QToolButton.ToolButtonPopupMode.InstantPopup)
        self.recent_menu = QMenu(self.recent_button)
        self.recent_menu.setObjectName("dataRecentFoldersMenu")
        self.recent_menu.aboutToShow.connect(self.fill_recent_menu)
        self.recent_button.setMenu(self.recent_menu)
        row.addWidget(self.recent_button)
        self.rescan_button = named(QToolButton(), "dataRescanButton", "Scan again",
                                   "Scan the folder again after changing files in it.")
        self.rescan_button.setText("Scan again")
        self.rescan_button.clicked.connect(dataset.rescan)
        row.addWidget(self.rescan_button)
        project.changed.connect(self._on_project_changed)

    @Slot(list)
    def _on_project_changed(self, _keys: list) -> None:
        self.folder_edit.setText(self._project.project.data.folder or "")

    def show_state(self, scanning: bool) -> None:
        folder = self._project.project.data.folder
        self.folder_edit.setText(folder or "")
        self.rescan_button.setEnabled(bool(folder) and not scanning)

    @Slot()
    def choose_folder(self) -> None:
        start = self._project.project.data.folder or str(Path.home())
        folder = QFileDialog.getExistingDirectory(self, "Choose the data folder", start)
        if folder:
            self.folder_entered.emit(folder)

    @Slot()
    def _on_folder_typed(self) -> None:
        text = self.folder_edit.text().strip()
        if text:
            self.folder_entered.emit(text)

    @Slot()
    def fill_recent_menu(self) -> None:
        self.recent_menu.clear()
        folders = self._app_settings.recent_folders
        if not folders:
            self.recent_menu.addAction("No recent folders").setEnabled(False)
        for folder in folders:
            action = self.recent_menu.addAction(folder)
            action.setData(folder)
            action.triggered.connect(self._on_recent_triggered)

    @Slot()
    def _on_recent_triggered(self) -> None:
        action = self.sender()
        folder = action.data() if action is not None else None
        if folder:
            self.folder_entered.emit(folder)


class ScanStatus(QWidget):
    """The scan's progress, then what it found ("3 classes · 36 usable images · 27 for training…"), and the
    reason the data blocks training, if it does."""

    def __init__(self, project: ProjectModel, dataset: DatasetModel, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._project = project
        self._dataset = dataset
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(8)
        status_row = QHBoxLayout()
        self.progress = named(QProgressBar(), "dataScanProgress", "Scan progress")
        self.progress.setMaximumWidth(260)
        self.progress.setTextVisible(True)
        self.progress.hide()
        status_row.addWidget(self.progress)
        self.summary_label = QLabel()
        self.summary_label.setObjectName("dataSummaryLabel")
        self.summary_label.setProperty("role", "summary")
        status_row.addWidget(self.summary_label, 1)
        layout.addLayout(status_row)
        self.error_label = text_label("dataErrorLabel", role="error", selectable=True, hidden=True)
        layout.addWidget(self.error_label)
        dataset.scan_started.connect(self._on_scan_started)
        dataset.scan_progressed.connect(self._on_scan_progressed)

    @Slot(str)
    def _on_scan_started(self, _folder: str) -> None:
        self.progress.setRange(0, 0)
        self.progress.setFormat("Scanning…")
        self.progress.show()

    @Slot(int, int)
    def _on_scan_progressed(self, done: int, total: int) -> None:
        if total > 0:
            self.progress.setRange(0, total)
            self.progress.setValue(done)
            self.progress.setFormat(f"Checking images: {done} / {total}")

    def refresh(self) -> None:
        dataset = self._dataset
        has_folder = bool(self._project.project.data.folder)
        self.progress.setVisible(dataset.scanning)
        reason = dataset.blocking_reason()
        show_error = has_folder and reason is not None and not dataset.scanning
        self.error_label.setText(f"<b>Training is blocked.</b> {reason}" if show_error else "")
        self.error_label.setVisible(show_error)
        index = dataset.index
        if index is None:
            self.summary_label.setText("Scanning…" if dataset.scanning else
                                       ("" if has_folder else "Choose a folder to begin."))
            return
        scanned = len(index.items)
        index = self._project.project.included(index)  # what the project counts and splits
        total, classes = len(index.items), len(index.classes)
        text = (f"<b>{classes}</b> class{'es' if classes != 1 else ''} · <b>{total}</b> usable "
                f"image{'s' if total != 1 else ''}")
        if total != scanned:
            text += f" ({scanned - total} excluded in the project)"
        if dataset.train_count is not None:
            text += f" · {dataset.train_count} for training, {dataset.val_count} for validation"
        self.summary_label.setText(text)
