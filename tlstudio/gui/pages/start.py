"""The start panel shown when the app opens with nothing: open a folder, a recent project, or a demo."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Qt, Signal, Slot
from PySide6.QtWidgets import (
    QHBoxLayout,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QPushButton,
    QStyle,
    QVBoxLayout,
    QWidget,
)

from tlstudio.gui.app_settings import AppSettings
from tlstudio.gui.widgets.common import hint_label, named


class StartPanel(QWidget):
    """Three ways in; the main window does the work when one is chosen."""

    open_folder_requested = Signal()
    open_project_requested = Signal()
    demo_requested = Signal()
    recent_chosen = Signal(str)  # a project file or a data folder

    def __init__(self, app_settings: AppSettings, parent: QWidget | None = None):
        super().__init__(parent)
        self.setObjectName("startPanel")
        self.setAccessibleName("Start")
        self._app_settings = app_settings
        outer = QHBoxLayout(self)
        outer.addStretch(1)
        column = QVBoxLayout()
        column.setSpacing(12)
        column.addStretch(1)
        title = QLabel("Welcome to TL Studio")
        title.setProperty("role", "startTitle")
        column.addWidget(title)
        column.addWidget(hint_label("Teach a pretrained image classifier your own classes: choose a folder "
                                    "with one sub-folder of images per class, pick a model, press Train."))
        buttons = QHBoxLayout()
        self.open_folder_button = named(QPushButton("Open a data folder…"), "startOpenFolderButton",
                                        "Open a data folder")
        self.open_folder_button.setIcon(self.style().standardIcon(QStyle.StandardPixmap.SP_DirOpenIcon))
        self.open_folder_button.clicked.connect(self.open_folder_requested)
        self.open_folder_button.setProperty("role", "primary")
        buttons.addWidget(self.open_folder_button)
        self.open_project_button = named(QPushButton("Open a project…"), "startOpenProjectButton",
                                         "Open a project file")
        self.open_project_button.setIcon(self.style().standardIcon(QStyle.StandardPixmap.SP_FileIcon))
        self.open_project_button.clicked.connect(self.open_project_requested)
        buttons.addWidget(self.open_project_button)
        self.demo_button = named(QPushButton("Try the demo dataset"), "startDemoButton",
                                 "Create and open the demo dataset",
                                 "A small dataset of drawn shapes, made on this computer in a second.")
        self.demo_button.clicked.connect(self.demo_requested)
        buttons.addWidget(self.demo_button)
        column.addLayout(buttons)
        recent_title = QLabel("Recent")
        recent_title.setProperty("role", "heading")
        column.addWidget(recent_title)
        self.recent_list = named(QListWidget(), "startRecentList", "Recent projects and folders",
                                 "Double-click (or press Enter) to open.")
        self.recent_list.setMinimumHeight(120)
        self.recent_list.setMaximumHeight(220)
        self.recent_list.itemActivated.connect(self._on_recent_activated)
        column.addWidget(self.recent_list)
        column.addStretch(2)
        outer.addLayout(column, 3)
        outer.addStretch(1)
        app_settings.recents_changed.connect(self.refresh)
        self.refresh()

    @Slot()
    def refresh(self) -> None:
        self.recent_list.clear()
        entries = [(p, "project") for p in self._app_settings.recent_projects]
        entries += [(f, "folder") for f in self._app_settings.recent_folders]
        for path, kind in entries:
            icon = QStyle.StandardPixmap.SP_FileIcon if kind == "project" else QStyle.StandardPixmap.SP_DirIcon
            item = QListWidgetItem(self.style().standardIcon(icon), f"{Path(path).name}   —   {path}")
            item.setData(Qt.ItemDataRole.UserRole, path)
            self.recent_list.addItem(item)
        if not entries:
            item = QListWidgetItem("Nothing opened yet.")
            item.setFlags(Qt.ItemFlag.NoItemFlags)
            self.recent_list.addItem(item)

    @Slot(QListWidgetItem)
    def _on_recent_activated(self, item: QListWidgetItem) -> None:
        path = item.data(Qt.ItemDataRole.UserRole)
        if path:
            self.recent_chosen.emit(path)
