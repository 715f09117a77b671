"""Data page: choosing a folder scans it; the widgets write the Project; blocking errors block Train."""

from __future__ import annotations

import shutil

from gui_helpers import wait_for_scan
from PySide6.QtCore import QMimeData, QPointF, Qt, QUrl
from PySide6.QtGui import QDragEnterEvent, QDropEvent

from tlstudio.data.demo import make_demo_dataset
from tlstudio.settings.project import Project


def test_scan_fills_class_table_thumbnails_and_summary(qtbot, window, demo_folder):
    page = window.data_page
    window.open_folder(demo_folder)
    assert window.dataset.scanning
    assert not window.train_action.isEnabled() and "Scanning" in window.run_page.readiness_label.text()
    wait_for_scan(qtbot, window)
    assert window.project.project.data.folder == str(demo_folder.resolve())
    assert page.class_table.rowCount() == 3
    assert [page.class_table.item(r, 0).text() for r in range(3)] == ["circle", "square", "triangle"]
    assert page.class_table.item(0, 1).text() == "12"
    assert abs(page.class_table.item(0, 2).data(Qt.ItemDataRole.UserRole) - 1 / 3) < 1e-6
    assert "36" in page.summary_label.text() and "for training" in page.summary_label.text()
    assert not page.error_label.isVisible()
    qtbot.waitUntil(lambda: len(page.thumbnails) == 3, timeout=10_000)
    assert all(len(images) == 5 for images in page.thumbnails.values())
    assert window.train_action.isEnabled()
    assert str(demo_folder.resolve()) in window.app_settings.recent_folders
    assert "3 classes" in window.step_list.item(0).text()


def test_excluded_files_leave_the_counts_and_come_back_on_undo(qtbot, window, demo_folder):
    """A file the project excludes is not counted (the table, the summary, the step list) nor split."""
    page = window.data_page
    window.open_folder(demo_folder)
    wait_for_scan(qtbot, window)
    first = sorted(p.name for p in (demo_folder / "circle").iterdir())[0]
    window.project.update({"data.exclude": [f"circle/{first}"]})
    qtbot.waitUntil(lambda: page.class_table.item(0, 1).text() == "11", timeout=5_000)
    assert "<b>35</b> usable images (1 excluded in the project)" in page.summary_label.text()
    assert window.dataset.train_count + window.dataset.val_count == 35
    assert "35 images" in window.step_list.item(0).text()
    window.project.undo_stack.undo()
    qtbot.waitUntil(lambda: page.class_table.item(0, 1).text() == "12", timeout=5_000)
    assert "excluded" not in page.summary_label.text()


def test_widgets_write_the_project(qtbot, window, demo_folder):
    page = window.data_page
    window.open_folder(demo_folder)
    wait_for_scan(qtbot, window)
    page.val_split_spin.setValue(30)
    assert window.project.project.data.val_split == 0.3
    assert "for training" in page.summary_label.text() and window.dataset.val_count == 12
    page.seed_spin.setValue(7)
    assert window.project.project.training.seed == 7
    assert window.training_page.seed_spin.value() == 7  # the same setting, shown on both pages
    page.resize_combo.setCurrentIndex(page.resize_combo.findData("pad"))
    assert window.project.project.data.resize == "pad"
    assert window.project.modified


def test_loaded_project_fills_the_widgets(qtbot, window, demo_folder, tmp_path):
    project = Project().copy_with(**{"data.folder": str(demo_folder), "data.val_split": 0.25,
                                     "data.resize": "stretch", "training.seed": 11})
    path = tmp_path / "p.json"
    project.save(path)
    assert window.open_project(path)
    page = window.data_page
    assert page.folder_edit.text() == str(demo_folder)
    assert page.val_split_spin.value() == 25
    assert page.seed_spin.value() == 11
    assert page.resize_combo.currentData() == "stretch"
    wait_for_scan(qtbot, window)
    assert page.class_table.rowCount() == 3
    assert not window.project.modified


def test_a_large_validation_share_from_a_project_file_shows_as_it_is(qtbot, window, tmp_path):
    """The spin box's range is the field's: a project holding out 95 % shows 95 %, not a clamped 90 %."""
    path = tmp_path / "p.json"
    Project().copy_with(**{"data.val_split": 0.95}).save(path)
    assert window.open_project(path)
    assert window.data_page.val_split_spin.value() == 95
    assert window.project.project.data.val_split == 0.95 and not window.project.modified


def test_typed_folder_and_rejected_values(qtbot, window, demo_folder):
    page = window.data_page
    qtbot.keyClicks(page.folder_edit, str(demo_folder))
    qtbot.keyClick(page.folder_edit, Qt.Key.Key_Return)
    wait_for_scan(qtbot, window)
    assert page.class_table.rowCount() == 3


def test_given_split_is_shown_and_split_share_disabled(qtbot, window, tmp_path):
    root = tmp_path / "given"
    make_demo_dataset(root / "train", per_class=6, size=32)
    make_demo_dataset(root / "val", per_class=2, size=32, seed=1)
    window.open_folder(root)
    wait_for_scan(qtbot, window)
    page = window.data_page
    assert page.given_split_label.isVisible()
    assert "train/ and val/" in page.given_split_label.text()
    assert not page.val_split_spin.isEnabled()
    assert "train 6" in page.class_table.item(0, 1).text()
    assert window.train_action.isEnabled()


def test_skipped_files_and_warnings_are_listed(qtbot, window, tmp_path):
    root = make_demo_dataset(tmp_path / "d", per_class=4, size=32)
    (root / "circle" / "broken.jpg").write_bytes(b"this is not a JPEG")
    window.open_folder(root)
    wait_for_scan(qtbot, window)
    page = window.data_page
    assert page.skipped_section.isVisible()
    assert page.skipped_section.button.text() == "Skipped files (1)"
    assert not page.skipped_tree.isVisible()  # collapsed until asked
    page.skipped_section.button.click()
    assert page.skipped_tree.isVisible()
    item = page.skipped_tree.topLevelItem(0)
    assert item.text(0).endswith("broken.jpg") and item.text(1)
    assert page.warnings_label.isVisible() and "Few images" in page.warnings_label.text()
    assert window.train_action.isEnabled()  # warnings and skipped files do not block


def test_blocking_error_disables_train_and_says_what_to_fix(qtbot, window, tmp_path):
    root = make_demo_dataset(tmp_path / "one", classes=["circle"], per_class=4, size=32)
    window.open_folder(root)
    wait_for_scan(qtbot, window)
    page = window.data_page
    assert page.error_label.isVisible()
    assert "Training is blocked" in page.error_label.text() and "second" in page.error_label.text()
    assert not window.train_action.isEnabled()
    assert "second class" in window.run_page.readiness_label.text()
    assert not window.start_training()
    assert "needs a fix" in window.step_list.item(0).text()
    # Fixing the data on disk and scanning again unblocks Train.
    make_demo_dataset(root, classes=["circle", "square"], per_class=4, size=32)
    page.rescan_button.click()
    wait_for_scan(qtbot, window)
    assert not page.error_label.isVisible()
    assert window.train_action.isEnabled()


def test_missing_folder_is_a_blocking_error(qtbot, window, tmp_path):
    window.project.set("data.folder", str(tmp_path / "gone"))
    wait_for_scan(qtbot, window)
    assert "does not exist" in window.data_page.error_label.text()
    assert not window.train_action.isEnabled()


def test_drop_a_folder(qtbot, window, demo_folder):
    page = window.data_page
    window.show_page("data")
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(demo_folder))])
    enter = QDragEnterEvent(QPointF(10, 10), Qt.DropAction.CopyAction, mime, Qt.MouseButton.NoButton,
                            Qt.KeyboardModifier.NoModifier)
    page.dragEnterEvent(enter)  # offscreen Qt delivers drag events only during a real drag
    assert enter.isAccepted()
    drop = QDropEvent(QPointF(10, 10), Qt.DropAction.CopyAction, mime, Qt.MouseButton.NoButton,
                      Qt.KeyboardModifier.NoModifier)
    page.dropEvent(drop)
    assert drop.isAccepted()
    assert window.project.project.data.folder == str(demo_folder.resolve())
    wait_for_scan(qtbot, window)
    assert page.class_table.rowCount() == 3


def test_dropping_a_file_is_refused(window, demo_folder):
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(next(demo_folder.glob("circle/*"))))])
    enter = QDragEnterEvent(QPointF(1, 1), Qt.DropAction.CopyAction, mime, Qt.MouseButton.NoButton,
                            Qt.KeyboardModifier.NoModifier)
    window.data_page.dragEnterEvent(enter)
    assert not enter.isAccepted()


def test_recent_folders_menu(qtbot, window, demo_folder, tmp_path):
    other = shutil.copytree(demo_folder, tmp_path / "other")
    window.open_folder(demo_folder)
    window.open_folder(other)
    wait_for_scan(qtbot, window)
    page = window.data_page
    page._fill_recent_menu()
    actions = [a for a in page.recent_menu.actions() if a.data()]
    assert [a.data() for a in actions] == [str(other.resolve()), str(demo_folder.resolve())]
    actions[1].trigger()
    assert window.project.project.data.folder == str(demo_folder.resolve())
    wait_for_scan(qtbot, window)
