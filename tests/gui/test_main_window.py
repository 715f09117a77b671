"""Main window: File menu, title and unsaved changes, recents and geometry, start panel, accessibility."""

from __future__ import annotations

import json

import pytest
from gui_helpers import dispose
from PySide6.QtCore import QSettings
from PySide6.QtWidgets import (
    QAbstractButton,
    QAbstractItemView,
    QAbstractSpinBox,
    QComboBox,
    QHeaderView,
    QLineEdit,
    QMessageBox,
    QPlainTextEdit,
    QSlider,
    QWidget,
)

from tlstudio.data.demo import demo_dataset_ready
from tlstudio.gui.app_settings import AppSettings
from tlstudio.gui.main_window import MainWindow
from tlstudio.settings.project import Project


def test_starts_on_the_start_panel(window):
    assert window.stack.currentWidget() is window.start_panel
    assert window.windowTitle() == "Untitled[*] — TL Studio"
    assert not window.isWindowModified()
    assert window.start_panel.recent_list.count() == 1  # "Nothing opened yet."


def test_title_save_and_open(qtbot, window, tmp_path):
    window.project.set("training.epochs", 3)
    assert window.isWindowModified()
    path = tmp_path / "experiment.json"
    assert window.save_to(path)
    assert not window.isWindowModified()
    assert window.windowTitle() == "experiment.json[*] — TL Studio"
    saved = json.loads(path.read_text())
    assert saved["training"]["epochs"] == 3 and saved["name"] == "experiment"
    assert [p.name for p in tmp_path.iterdir()] == ["experiment.json", "settings.ini"] or \
        not list(tmp_path.glob(".experiment.json.*"))  # atomic: no temporary file left
    window.project.set("training.epochs", 4)
    assert window.save()  # Ctrl+S saves to the same file without asking
    assert json.loads(path.read_text())["training"]["epochs"] == 4

    window.new_project()
    assert window.project.project == Project() and window.project.path is None
    assert window.open_project(path)
    assert window.project.project.training.epochs == 4
    assert window.training_page.epochs_spin.value() == 4
    assert window.app_settings.recent_projects[0] == str(path.resolve())
    assert window.current_page_name == "data"


def test_bad_project_file_is_one_clear_message(window, tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text('{"optimizer": {"learning_rate": -1}}')
    assert not window.open_project(bad)
    assert window.message_bar.isVisible() and window.message_bar.level == "error"
    assert "optimizer.learning_rate" in window.message_bar.text
    assert window.project.project == Project()  # unchanged and still usable
    broken = tmp_path / "broken.json"
    broken.write_text("{ not json")
    assert not window.open_project(broken)
    assert "not valid JSON" in window.message_bar.text
    assert not window.open_target(tmp_path / "missing.json")
    assert "does not exist" in window.message_bar.text


def test_save_failure_is_reported(window, tmp_path):
    assert not window.save_to(tmp_path / "no" / "such" / "folder" / "p.json")
    assert window.message_bar.level == "error" and "Could not save" in window.message_bar.text
    assert window.isWindowModified() is False  # nothing was changed, nothing pretended


def test_rejected_setting_shows_a_warning(window):
    assert not window.project.set("optimizer.learning_rate", -1.0)
    assert window.message_bar.level == "warning"
    assert "optimizer.learning_rate" in window.message_bar.text


def test_close_with_unsaved_changes_asks(qtbot, make_window):
    window = make_window()
    window.project.set("training.epochs", 2)
    answers = [QMessageBox.StandardButton.Cancel]
    window.ask_unsaved = lambda: answers.pop(0)
    window.close()
    assert window.isVisible()  # cancelled
    window.ask_unsaved = lambda: QMessageBox.StandardButton.Discard
    window.close()
    assert not window.isVisible()


def test_new_project_with_unsaved_changes_can_be_cancelled(window):
    window.project.set("training.epochs", 2)
    window.ask_unsaved = lambda: QMessageBox.StandardButton.Cancel
    window.new_project()
    assert window.project.project.training.epochs == 2


def test_geometry_and_recents_persist(qtbot, tmp_path, demo_folder):
    settings_file = tmp_path / "persist.ini"

    def make():
        settings = AppSettings(QSettings(str(settings_file), QSettings.Format.IniFormat))
        window = MainWindow(app_settings=settings, app_data_dir=tmp_path / "appdata")
        window.ask_unsaved = lambda: QMessageBox.StandardButton.Discard
        qtbot.addWidget(window)
        return window

    first = make()
    first.resize(780, 700)
    first.show()
    first.open_folder(demo_folder)
    qtbot.waitUntil(lambda: first.dataset.index is not None, timeout=10_000)
    dispose(first)
    second = make()
    assert (second.size().width(), second.size().height()) == (780, 700)
    assert second.app_settings.recent_folders == [str(demo_folder.resolve())]
    assert second.start_panel.recent_list.count() == 1
    dispose(second)


def test_recent_item_opens_from_start_panel(qtbot, window, demo_folder):
    window.app_settings.remember_folder(demo_folder)
    item = window.start_panel.recent_list.item(0)
    window.start_panel.recent_list.itemActivated.emit(item)
    assert window.current_page_name == "data"
    qtbot.waitUntil(lambda: window.dataset.index is not None, timeout=10_000)


def test_demo_dataset_is_created_once_and_opened(qtbot, window):
    with qtbot.waitSignal(window.demo_opened, timeout=20_000) as opened:
        window.start_panel.demo_button.click()
    folder = opened.args[0]
    assert folder.startswith(str(window.app_data_dir))
    assert demo_dataset_ready(window.app_data_dir / "demo" / "shapes")
    assert window.project.project.data.folder == folder
    qtbot.waitUntil(lambda: window.dataset.index is not None, timeout=10_000)
    assert len(window.dataset.index.classes) == 3
    with qtbot.waitSignal(window.demo_opened, timeout=2000):
        window.open_demo()  # reused, not made again


def test_go_shortcuts_switch_pages(window):
    for number, name in enumerate(["data", "model", "training", "run", "evaluate", "try", "export"], start=1):
        action = window.step_actions[number - 1]
        assert action.shortcut().toString() == f"Ctrl+{number}"
        action.trigger()
        assert window.current_page_name == name


INPUT_TYPES = (QAbstractButton, QAbstractSpinBox, QComboBox, QSlider, QLineEdit, QAbstractItemView,
               QPlainTextEdit)


def _controls(root: QWidget) -> list[QWidget]:
    found = []
    for widget in root.findChildren(QWidget):
        if not isinstance(widget, INPUT_TYPES) or isinstance(widget, QHeaderView):
            continue
        if widget.objectName().startswith("qt_"):
            continue
        parent = widget.parentWidget()
        inner = False
        while parent is not None and parent is not root:
            if isinstance(parent, (QAbstractSpinBox, QComboBox)):
                inner = True
            parent = parent.parentWidget()
        if not inner and widget.window() is root.window():
            found.append(widget)
    return found


def test_every_control_has_an_object_name_and_accessible_name(window):
    controls = _controls(window)
    assert len(controls) > 60
    missing = [f"{type(w).__name__} {w.objectName()!r} {getattr(w, 'text', lambda: '')()!r}"
               for w in controls if not w.objectName() or not w.accessibleName()]
    # Toolbar buttons are named by their actions; check those separately.
    missing = [m for m in missing if not m.startswith("QToolButton ''")]
    assert missing == []
    names = [w.objectName() for w in controls if w.objectName()]
    duplicates = {n for n in names if names.count(n) > 1}
    assert duplicates == set()
    for action in window.toolbar.actions():
        if action.text():
            assert action.objectName()


@pytest.mark.parametrize("page_name, first, later", [
    ("data", "dataFolderEdit", ["dataChooseFolderButton", "dataRecentFoldersButton", "dataRescanButton",
                                "dataClassTable", "dataValSplitSpin", "dataSeedSpin", "dataResizeCombo"]),
    ("training", "trainingOptimizerCombo", ["trainingOptimizer_learning_rate", "trainingOptimizer_beta_1",
                                            "trainingScheduleCombo", "trainingEpochsSpin",
                                            "trainingBatchSizeSpin", "trainingAugment_flip"]),
    ("model", "modelBackboneTable", ["modelDefaultSizeCheck", "modelImageSizeSpin", "modelWeightsImagenetRadio",
                                     "modelFreezeAllCheck", "modelFreezeSlider", "modelDropoutSpin"]),
    ("evaluate", "evaluateRunCombo", ["evaluateSplitCombo", "evaluateButton", "evaluateConfusionMatrix",
                                      "evaluateClassTable", "evaluateCellGallery", "evaluateMistakesGallery"]),
    ("try", "tryRunCombo", ["tryChooseImagesButton", "tryChooseFolderButton", "tryClearButton", "tryImageList",
                            "tryGradCamCheck", "tryTopSpin"]),
])
def test_tab_order_follows_the_page(window, page_name, first, later):
    window.show_page(page_name)
    page = window.pages[page_name]
    start = page.findChild(QWidget, first)
    order = [start.objectName()]
    widget = start.nextInFocusChain()
    for _ in range(400):
        if widget is start:
            break
        if widget.objectName() and widget.objectName() not in order:
            order.append(widget.objectName())
        widget = widget.nextInFocusChain()
    positions = [order.index(name) for name in later]
    assert positions == sorted(positions), order
