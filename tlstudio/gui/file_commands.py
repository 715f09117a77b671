"""The window's file commands: open a project, a data folder or the demo, save, recent items, unsaved changes.

A mixin of MainWindow: it uses the window's project, dataset, settings and pages.
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Slot
from PySide6.QtGui import QAction
from PySide6.QtWidgets import (
    QFileDialog,
    QMessageBox,
)

from tlstudio.data.demo import DEMO_IMAGE_SIZE, DEMO_PER_CLASS, demo_dataset_ready, make_demo_dataset
from tlstudio.gui.app_settings import APP_NAME
from tlstudio.gui.background import TaskContext
from tlstudio.settings.project import Project, ProjectError


class FileCommands:
    """Opening and saving, for MainWindow."""

    def open_target(self, target: str | Path) -> bool:
        """Open a project file or a data folder, as given on the command line or from recents."""
        path = Path(target).expanduser()
        if path.is_dir():
            self.open_folder(path)
            return True
        if path.is_file():
            return self.open_project(path)
        self.show_error(f"{path} does not exist; choose an existing project file or data folder.")
        self.app_settings.forget_project(str(path))
        self.app_settings.forget_folder(str(path))
        return False

    @Slot()
    def choose_project(self) -> None:
        if not self._confirm_discard():
            return
        start = str(self.project.path.parent if self.project.path else Path.home())
        path, _ = QFileDialog.getOpenFileName(self, "Open a TL Studio project", start,
                                              "TL Studio project (*.json);;All files (*)")
        if path:
            self.open_project(Path(path), confirmed=True)

    def open_project(self, path: Path, confirmed: bool = False) -> bool:
        if not confirmed and not self._confirm_discard():
            return False
        try:
            self.project.load(path)
        except ProjectError as error:
            self.show_error(str(error))
            return False
        self.app_settings.remember_project(self.project.path)
        if self.project.project.data.folder:
            self.app_settings.remember_folder(self.project.project.data.folder)
        self.show_page("data")
        self.statusBar().showMessage(f"Opened {self.project.path}", 4000)
        return True

    @Slot()
    def choose_folder(self) -> None:
        self.show_page("data")
        self.data_page.choose_folder()

    def open_folder(self, folder: str | Path) -> None:
        """Use `folder` as the data folder of the current project and show the Data page."""
        self.data_page.set_folder(folder)
        self.show_page("data")

    @Slot()
    def new_project(self) -> None:
        if self._confirm_discard():
            self.project.replace(Project())
            self.stack.setCurrentWidget(self.start_panel)
            self.step_list.clearSelection()

    @Slot()
    def save(self) -> bool:
        if self.project.path is None:
            return self.save_as()
        return self.save_to(self.project.path)

    @Slot()
    def save_as(self) -> bool:
        folder = self.project.project.data.folder
        start = (self.project.path if self.project.path else
                 Path(folder).parent / f"{Path(folder).name}-project.json" if folder else Path.home() / "project.json")
        path, _ = QFileDialog.getSaveFileName(self, "Save the project", str(start),
                                              "TL Studio project (*.json)")
        if not path:
            return False
        target = Path(path)
        if target.suffix != ".json":
            target = target.with_name(target.name + ".json")
        return self.save_to(target)

    def save_to(self, path: Path) -> bool:
        try:
            saved = self.project.save(path)
        except OSError as error:
            self.show_error(f"Could not save {path}: {error.strerror or error}. Choose another folder.")
            return False
        self.app_settings.remember_project(saved)
        self.statusBar().showMessage(f"Saved {saved}", 4000)
        return True

    @Slot()
    def open_demo(self) -> None:
        """Create the demo dataset once (in the background) and open it."""

        folder = self.app_data_dir / "demo" / "shapes"
        if demo_dataset_ready(folder):
            self._on_demo_ready(folder)
            return
        if self._demo.busy:
            return

        def work(context: TaskContext) -> Path:
            folder.parent.mkdir(parents=True, exist_ok=True)
            return make_demo_dataset(folder, per_class=DEMO_PER_CLASS, size=DEMO_IMAGE_SIZE)

        self.statusBar().showMessage("Creating the demo dataset…")
        self._demo.start("creating the demo dataset", work, succeeded=self._on_demo_ready,
                         failed=self._on_demo_failed)

    @Slot(object)
    def _on_demo_ready(self, folder: Path) -> None:
        self.open_folder(folder)
        self.statusBar().showMessage(f"Demo dataset: {folder}", 5000)
        self.demo_opened.emit(str(folder))

    @Slot(str)
    def _on_demo_failed(self, message: str) -> None:
        self._train_when_ready = False  # `gui --demo --train`: there is nothing to train
        self.show_error(f"Could not create the demo dataset: {message}")

    def _fill_recent_menu(self) -> None:
        self.recent_menu.clear()
        projects = self.app_settings.recent_projects
        for path in projects:
            action = self.recent_menu.addAction(path)
            action.setData(path)
            action.triggered.connect(self._on_recent_project)
        if not projects:
            self.recent_menu.addAction("No recent projects").setEnabled(False)

    @Slot()
    def _on_recent_project(self) -> None:
        action = self.sender()
        if isinstance(action, QAction) and action.data():
            self.open_target(str(action.data()))

    def _confirm_discard(self) -> bool:
        """Ask about unsaved changes; True when it is fine to drop the current project."""
        if not self.project.modified:
            return True
        answer = self.ask_unsaved()
        if answer == QMessageBox.StandardButton.Save:
            return self.save()
        return answer == QMessageBox.StandardButton.Discard

    def _ask_unsaved_dialog(self) -> QMessageBox.StandardButton:
        buttons = (QMessageBox.StandardButton.Save | QMessageBox.StandardButton.Discard
                   | QMessageBox.StandardButton.Cancel)
        return QMessageBox.question(self, APP_NAME, f"Save the changes to {self.project.display_name}?",
                                    buttons, QMessageBox.StandardButton.Save)

    @Slot()
    def _refresh_title(self, *_: object) -> None:
        self.setWindowTitle(f"{self.project.display_name}[*] — {APP_NAME}")
        self.setWindowModified(self.project.modified)

