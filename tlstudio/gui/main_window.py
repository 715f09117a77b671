"""The main window: a list of steps on the left, one page per step, the File menu, Train and Stop."""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from pathlib import Path

import platformdirs
from PySide6.QtCore import QByteArray, QEvent, QSize, Qt, Signal, Slot
from PySide6.QtGui import QAction, QActionGroup, QCloseEvent, QDragEnterEvent, QDropEvent, QGuiApplication, QKeySequence
from PySide6.QtWidgets import (
    QApplication,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QMainWindow,
    QMessageBox,
    QSizePolicy,
    QSplitter,
    QStackedWidget,
    QStyle,
    QToolBar,
    QVBoxLayout,
    QWidget,
)

from tlstudio.gui.app_settings import APP_NAME, AppSettings
from tlstudio.gui.background import TaskRunner, TensorFlowLoader
from tlstudio.gui.file_commands import FileCommands
from tlstudio.gui.pages.base import Page
from tlstudio.gui.pages.data import DataPage
from tlstudio.gui.pages.evaluate import EvaluatePage
from tlstudio.gui.pages.export import ExportPage
from tlstudio.gui.pages.model import ModelPage
from tlstudio.gui.pages.run import RunPage
from tlstudio.gui.pages.start import StartPanel
from tlstudio.gui.pages.training import TrainingPage
from tlstudio.gui.pages.try_it import TryPage
from tlstudio.gui.state.dataset_model import DatasetModel
from tlstudio.gui.state.project_model import ProjectModel
from tlstudio.gui.state.run_history import RunHistory
from tlstudio.gui.style import SCHEMES, apply_style, current_scheme, follow_system_scheme, is_dark, style_sheet
from tlstudio.gui.train_control import QueuedRun, TrainControl
from tlstudio.gui.widgets.common import MessageBar, TaskHolder, named
from tlstudio.gui.worker import DEFAULT_TRAINER, TrainingSession

log = logging.getLogger(__name__)

PAGE_NAMES = ("data", "model", "training", "run", "evaluate", "try", "export")
PAGE_TITLES = {"try": "Try it"}
PREFERRED_SIZE = QSize(1280, 820)  # the first window, on a screen with room for it


def default_app_data_dir() -> Path:
    return Path(platformdirs.user_data_dir("tlstudio", appauthor=False))


class MainWindow(FileCommands, TrainControl, QMainWindow):
    """Owns the one ProjectModel and the services pages share; relays run results for tests."""

    training_finished = Signal(object)  # RunResult, emitted on the GUI thread after the Run page updated
    demo_opened = Signal(str)

    def __init__(self, *, app_settings: AppSettings | None = None, app_data_dir: Path | None = None,
                 trainer: str = DEFAULT_TRAINER, worker_environment: dict[str, str] | None = None,
                 parent: QWidget | None = None):
        super().__init__(parent)
        self.setObjectName("mainWindow")
        self.setAccessibleName(APP_NAME)
        self.setAcceptDrops(True)
        self.app_settings = app_settings or AppSettings(parent=self)
        self._dark: bool | None = None
        self._follow_app_scheme()
        self.app_data_dir = Path(app_data_dir) if app_data_dir else default_app_data_dir()
        self._create_services(trainer, worker_environment)
        self.queue: list[QueuedRun] = []  # runs waiting for the one in progress; kept until the app closes
        self._train_when_ready = False  # `tlstudio gui … --train`: start once the data is scanned
        self._closing = False
        self.ask_unsaved: Callable[[], QMessageBox.StandardButton] = self._ask_unsaved_dialog

        self._create_actions()
        self._create_menus()
        self._create_toolbar()
        self._create_central()
        self._create_pages()
        self._connect_services()

        self._fill_recent_menu()
        self._refresh_title()
        self._update_train_state()
        self._restore_window_state()
        self.stack.setCurrentWidget(self.start_panel)
        # Focus the start panel, or the step list would take focus and open its first page.
        self.start_panel.open_folder_button.setFocus()

    def _follow_app_scheme(self) -> None:
        """Take the remembered colour scheme (light, dark or the desktop's) and follow the desktop's changes."""
        self._follow_palette()
        app = QApplication.instance()
        if isinstance(app, QApplication):
            if self.app_settings.color_scheme != current_scheme(app):
                apply_style(app, self.app_settings.color_scheme)
                self._follow_palette()
            app.styleHints().colorSchemeChanged.connect(self._on_system_scheme_changed)

    def _create_services(self, trainer: str, worker_environment: dict[str, str] | None) -> None:
        """The models the pages share: the project, its scan and runs, the training session, background work."""
        self.runner = TaskRunner(parent=self)
        self.tensorflow = TensorFlowLoader(self.runner, self)
        self.project = ProjectModel(parent=self)
        self.dataset = DatasetModel(self.project, self.runner, self)
        self.history = RunHistory(self.project, self.app_data_dir, self)
        self.session = TrainingSession(trainer, self, worker_environment)
        self._demo = TaskHolder(self.runner, parent=self)  # creating the demo dataset

    def _create_central(self) -> None:
        """The message bar above the step list and the stack of pages beside it."""
        central = QWidget()
        central_layout = QVBoxLayout(central)
        central_layout.setContentsMargins(0, 0, 0, 0)
        central_layout.setSpacing(0)
        self.message_bar = MessageBar()
        central_layout.addWidget(self.message_bar)
        self.splitter = QSplitter(Qt.Orientation.Horizontal)
        self.splitter.setObjectName("mainSplitter")
        self.splitter.setChildrenCollapsible(False)
        central_layout.addWidget(self.splitter, 1)
        self.step_list = named(QListWidget(), "stepList", "Steps", "The steps of the work, in order.")
        self.step_list.setMinimumWidth(190)
        self.step_list.setMaximumWidth(280)
        self.step_list.setSizePolicy(QSizePolicy.Policy.Fixed, QSizePolicy.Policy.Expanding)
        self.splitter.addWidget(self.step_list)
        self.stack = QStackedWidget()
        self.stack.setObjectName("pageStack")
        self.splitter.addWidget(self.stack)
        self.splitter.setStretchFactor(1, 1)
        self.setCentralWidget(central)

    def _create_pages(self) -> None:
        """The start panel and one page per step, each listed in the step list and on its Go action."""
        self.start_panel = StartPanel(self.app_settings)
        self.data_page = DataPage(self.project, self.dataset, self.runner, self.app_settings)
        self.model_page = ModelPage(self.project, self.dataset, self.runner, self.tensorflow)
        self.training_page = TrainingPage(self.project, self.dataset, self.runner, self.tensorflow)
        self.run_page = RunPage(self.session, self.history, self.train_action, self.stop_action)
        self.evaluate_page = EvaluatePage(self.history, self.runner, self.tensorflow)
        self.try_page = TryPage(self.history, self.runner, self.tensorflow)
        self.export_page = ExportPage(self.history, self.runner, self.tensorflow)
        self.pages: dict[str, Page] = {"data": self.data_page, "model": self.model_page,
                                       "training": self.training_page, "run": self.run_page,
                                       "evaluate": self.evaluate_page, "try": self.try_page,
                                       "export": self.export_page}
        self.stack.addWidget(self.start_panel)
        for number, (name, page) in enumerate(self.pages.items(), start=1):
            self.stack.addWidget(page)
            item = QListWidgetItem()
            item.setData(Qt.ItemDataRole.UserRole, name)
            self.step_list.addItem(item)
            page.summary_changed.connect(self._refresh_steps)
            self.step_actions[number - 1].setData(name)
        self.step_list.currentRowChanged.connect(self._on_step_selected)
        self._refresh_steps()

    def _connect_services(self) -> None:
        """What the window does when the start panel, the project, TensorFlow, a run or the Run page asks."""
        self.start_panel.open_folder_requested.connect(self.choose_folder)
        self.start_panel.open_project_requested.connect(self.choose_project)
        self.start_panel.demo_requested.connect(self.open_demo)
        self.start_panel.recent_chosen.connect(self.open_target)
        self.project.modified_changed.connect(self._refresh_title)
        self.project.path_changed.connect(self._refresh_title)
        self.project.rejected.connect(self._on_setting_rejected)
        self.project.changed.connect(self._update_train_state)
        self.dataset.state_changed.connect(self._update_train_state)
        self.tensorflow.loaded.connect(self._on_tensorflow_loaded)
        self.tensorflow.load_failed.connect(self._on_tensorflow_failed)
        self.session.running_changed.connect(self._update_train_state)
        self.session.training_finished.connect(self._on_training_finished)
        self.run_page.resume_requested.connect(self.resume_run)
        self.run_page.queue_remove_requested.connect(self.remove_queued)
        self.app_settings.recents_changed.connect(self._fill_recent_menu)

    # -- building ---------------------------------------------------------------------------------

    def _action(self, text: str, object_name: str, slot: Callable, shortcut: QKeySequence | str | None = None,
                icon: QStyle.StandardPixmap | None = None, tip: str | None = None) -> QAction:
        action = QAction(text, self)
        action.setObjectName(object_name)
        if shortcut is not None:
            action.setShortcut(QKeySequence(shortcut))
        if icon is not None:
            action.setIcon(self.style().standardIcon(icon))
        if tip:
            action.setToolTip(tip)
            action.setStatusTip(tip)
        action.triggered.connect(slot)
        self.addAction(action)
        return action

    def _create_actions(self) -> None:
        pixmap = QStyle.StandardPixmap
        self.new_action = self._action("&New project", "actionNew", self.new_project, QKeySequence.StandardKey.New,
                                       pixmap.SP_FileIcon)
        self.open_action = self._action("&Open project…", "actionOpen", self.choose_project,
                                        QKeySequence.StandardKey.Open, pixmap.SP_DialogOpenButton,
                                        "Open a project file (Ctrl+O)")
        self.open_folder_action = self._action("Open data &folder…", "actionOpenFolder", self.choose_folder,
                                               "Ctrl+Shift+O", pixmap.SP_DirOpenIcon,
                                               "Use a folder of class sub-folders as the data")
        self.demo_action = self._action("Open the &demo dataset", "actionDemo", self.open_demo)
        self.save_action = self._action("&Save", "actionSave", self.save, QKeySequence.StandardKey.Save,
                                        pixmap.SP_DialogSaveButton, "Save the project (Ctrl+S)")
        self.save_as_action = self._action("Save &as…", "actionSaveAs", self.save_as,
                                           QKeySequence.StandardKey.SaveAs)
        self.quit_action = self._action("&Quit", "actionQuit", self.close, QKeySequence.StandardKey.Quit)
        self.train_action = self._action("Train", "actionTrain", self.start_training, "Ctrl+Return",
                                         pixmap.SP_MediaPlay, "Train with these settings (Ctrl+Return)")
        self.train_action.setShortcuts([QKeySequence("Ctrl+Return"), QKeySequence("Ctrl+Enter")])
        self.stop_action = self._action("Stop", "actionStop", self.stop_training, "Esc", pixmap.SP_MediaStop,
                                        "Stop after the current batch and keep the best model (Esc)")
        stack = self.project.undo_stack
        self.undo_action = stack.createUndoAction(self, "&Undo")
        self.undo_action.setObjectName("actionUndo")
        self.undo_action.setShortcut(QKeySequence.StandardKey.Undo)
        self.redo_action = stack.createRedoAction(self, "&Redo")
        self.redo_action.setObjectName("actionRedo")
        redo_keys = [QKeySequence("Ctrl+Shift+Z")]
        redo_keys += [key for key in QKeySequence.keyBindings(QKeySequence.StandardKey.Redo) if key not in redo_keys]
        self.redo_action.setShortcuts(redo_keys)
        for action in (self.undo_action, self.redo_action):
            self.addAction(action)
        self.scheme_group = QActionGroup(self)
        self.scheme_actions: dict[str, QAction] = {}
        for scheme, text in zip(SCHEMES, ("&System", "&Light", "&Dark"), strict=True):
            action = self._action(text, f"actionScheme{scheme.capitalize()}", self._on_scheme_action,
                                  tip={"system": "Follow the desktop's light or dark setting"}.get(scheme))
            action.setCheckable(True)
            action.setData(scheme)
            self.scheme_group.addAction(action)
            self.scheme_actions[scheme] = action
        self.scheme_actions[self.app_settings.color_scheme].setChecked(True)
        self.step_actions = [
            self._action(f"Go to {PAGE_TITLES.get(name, name.capitalize())}", f"actionGo{name.capitalize()}",
                         self._on_step_action, f"Ctrl+{number}")
            for number, name in enumerate(PAGE_NAMES, start=1)
        ]

    def _create_menus(self) -> None:
        file_menu = self.menuBar().addMenu("&File")
        file_menu.setObjectName("fileMenu")
        file_menu.addAction(self.new_action)
        file_menu.addAction(self.open_action)
        self.recent_menu = file_menu.addMenu("Open &recent")
        self.recent_menu.setObjectName("recentMenu")
        file_menu.addAction(self.open_folder_action)
        file_menu.addAction(self.demo_action)
        file_menu.addSeparator()
        file_menu.addAction(self.save_action)
        file_menu.addAction(self.save_as_action)
        file_menu.addSeparator()
        file_menu.addAction(self.quit_action)
        edit_menu = self.menuBar().addMenu("&Edit")
        edit_menu.setObjectName("editMenu")
        edit_menu.addAction(self.undo_action)
        edit_menu.addAction(self.redo_action)
        view_menu = self.menuBar().addMenu("&View")
        view_menu.setObjectName("viewMenu")
        scheme_menu = view_menu.addMenu("&Colour scheme")
        scheme_menu.setObjectName("colorSchemeMenu")
        for action in self.scheme_actions.values():
            scheme_menu.addAction(action)
        run_menu = self.menuBar().addMenu("&Run")
        run_menu.addAction(self.train_action)
        run_menu.addAction(self.stop_action)
        go_menu = self.menuBar().addMenu("&Go")
        for action in self.step_actions:
            go_menu.addAction(action)

    def _create_toolbar(self) -> None:
        toolbar = QToolBar("Main")
        toolbar.setObjectName("mainToolBar")
        toolbar.setMovable(False)
        toolbar.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
        toolbar.addAction(self.open_folder_action)
        toolbar.addAction(self.open_action)
        toolbar.addAction(self.save_action)
        toolbar.addSeparator()
        toolbar.addAction(self.train_action)
        toolbar.addAction(self.stop_action)
        spacer = QWidget()
        spacer.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Preferred)
        toolbar.addWidget(spacer)
        self.engine_label = QLabel()
        self.engine_label.setObjectName("engineLabel")
        self.engine_label.setProperty("role", "hint")
        self.engine_label.setContentsMargins(0, 0, 10, 0)
        toolbar.addWidget(self.engine_label)
        self.addToolBar(toolbar)
        self.toolbar = toolbar

    # -- colour scheme ----------------------------------------------------------------------------

    def set_color_scheme(self, scheme: str) -> None:
        """Light, dark or the desktop's ("system"); remembered for the next start."""
        self.app_settings.set_color_scheme(scheme)
        self.scheme_actions[scheme].setChecked(True)
        app = QApplication.instance()
        if isinstance(app, QApplication):
            apply_style(app, scheme)
        self._follow_palette()

    @Slot()
    def _on_scheme_action(self) -> None:
        action = self.sender()
        if isinstance(action, QAction) and action.data() in SCHEMES:
            self.set_color_scheme(str(action.data()))

    @Slot(Qt.ColorScheme)
    def _on_system_scheme_changed(self, _scheme: Qt.ColorScheme) -> None:
        app = QApplication.instance()
        if isinstance(app, QApplication) and follow_system_scheme(app):
            self._follow_palette()

    def _follow_palette(self) -> None:
        dark = is_dark()
        if dark != self._dark:
            self._dark = dark
            self.setStyleSheet(style_sheet(dark))

    def changeEvent(self, event: QEvent) -> None:  # noqa: N802
        if event.type() in (QEvent.Type.PaletteChange, QEvent.Type.ApplicationPaletteChange):
            self._follow_palette()
        super().changeEvent(event)

    # -- pages ------------------------------------------------------------------------------------

    def show_page(self, name: str) -> None:
        self.step_list.setCurrentRow(PAGE_NAMES.index(name))
        self.stack.setCurrentWidget(self.pages[name])

    @property
    def current_page_name(self) -> str | None:
        widget = self.stack.currentWidget()
        return next((name for name, page in self.pages.items() if page is widget), None)

    @Slot(int)
    def _on_step_selected(self, row: int) -> None:
        if 0 <= row < len(PAGE_NAMES):
            self.stack.setCurrentWidget(self.pages[PAGE_NAMES[row]])

    @Slot()
    def _on_step_action(self) -> None:
        action = self.sender()
        if isinstance(action, QAction) and action.data():
            self.show_page(str(action.data()))

    @Slot()
    def _refresh_steps(self) -> None:
        for number, name in enumerate(PAGE_NAMES, start=1):
            page = self.pages[name]
            summary = page.summary()
            item = self.step_list.item(number - 1)
            text = f"{number}   {page.title}" + (f"\n      {summary}" if summary else "")
            if item.text() != text:  # an unchanged text would still relayout the list (10 times a second in a run)
                item.setText(text)
                item.setToolTip(f"{page.title} (Ctrl+{number})")

    # -- messages ---------------------------------------------------------------------------------

    def show_error(self, message: str, actions: Sequence[tuple[str, Callable[[], object]]] = ()) -> None:
        """One clear message, with the fixes as buttons when there are any; the app stays usable."""
        log.info("shown to the user: %s", message)
        self.message_bar.show_message(message, "error", actions=actions)

    def show_info(self, message: str, timeout_ms: int = 8000) -> None:
        self.message_bar.show_message(message, "info", timeout_ms)

    @Slot(str, str)
    def _on_setting_rejected(self, key: str, message: str) -> None:
        self.message_bar.show_message(message[:1].upper() + message[1:], "warning", 8000)

    # -- drag and drop onto the window ------------------------------------------------------------

    def dragEnterEvent(self, event: QDragEnterEvent) -> None:  # noqa: N802
        if event.mimeData().hasUrls() and any(url.isLocalFile() for url in event.mimeData().urls()):
            event.acceptProposedAction()

    def dropEvent(self, event: QDropEvent) -> None:  # noqa: N802
        for url in event.mimeData().urls():
            if url.isLocalFile():
                event.acceptProposedAction()
                self.open_target(url.toLocalFile())
                return

    # -- window state and closing -----------------------------------------------------------------

    def _restore_window_state(self) -> None:
        geometry = self.app_settings.geometry("geometry")
        if geometry is None or not self.restoreGeometry(geometry):
            self.resize(self.fitting_size(PREFERRED_SIZE))
        elif not self.isMaximized():  # the user's size, unless it was saved on a bigger screen
            self.resize(self.size().boundedTo(self.fitting_size(self.size())))
        splitter = self.app_settings.geometry("splitter")
        if splitter is not None:
            self.splitter.restoreState(splitter)

    def fitting_size(self, wanted: QSize) -> QSize:
        """`wanted`, made small enough for the screen the window opens on (its free area, less room
        for the window frame)."""
        screen = self.screen() or QGuiApplication.primaryScreen()
        if screen is None:
            return wanted
        free = screen.availableGeometry().size()
        return wanted.boundedTo(QSize(max(640, free.width() - 16), max(480, free.height() - 48)))

    def _save_window_state(self) -> None:
        self.app_settings.set_geometry("geometry", QByteArray(self.saveGeometry()))
        self.app_settings.set_geometry("splitter", QByteArray(self.splitter.saveState()))
        self.app_settings.sync()

    def closeEvent(self, event: QCloseEvent) -> None:  # noqa: N802
        if not self._closing and not self._confirm_discard():
            event.ignore()
            return
        if not self._closing and self.session.running and not self.ask_stop_run():
            event.ignore()
            return
        self._closing = True
        self.queue.clear()
        if self.session.running:
            self.statusBar().showMessage("Stopping the run…")
            self.repaint()
            self.session.shutdown()
        self._save_window_state()
        self.runner.shutdown()
        event.accept()
        super().closeEvent(event)

    def ask_stop_run(self) -> bool:
        """Closing while a run trains: stop it and close? (Tests replace this on the instance.)"""
        count = len(self.queue)
        queued = {0: "", 1: " The queued run will not start."}.get(count, f" The {count} queued runs will not start.")
        answer = QMessageBox.question(
            self, "Stop training?", "A run is training. Stop it and close TL Studio? The completed epochs and "
            f"the best model so far are kept, and the run can be resumed later.{queued}",
            QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.Cancel, QMessageBox.StandardButton.Cancel)
        return answer == QMessageBox.StandardButton.Yes

    def shutdown(self) -> None:
        """Stop everything running in the background (tests, and closing without a close event)."""
        self.queue.clear()
        self.session.shutdown()
        self.runner.shutdown()

