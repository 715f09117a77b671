"""Undo and redo of setting changes: Edit > Undo names the change, Ctrl+Z / Ctrl+Shift+Z step back and
forth, the controls of every page follow, and a project back at its saved values is not modified."""

from __future__ import annotations

import pytest
from PySide6.QtCore import Qt
from PySide6.QtTest import QTest


def undo(window) -> None:
    window.step_list.setFocus()  # not a text field: those keep Ctrl+Z for their own text
    QTest.keyClick(window, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)


def redo(window) -> None:
    window.step_list.setFocus()
    QTest.keyClick(window, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier | Qt.KeyboardModifier.ShiftModifier)


@pytest.mark.parametrize(("page", "control", "key", "new", "words"), [
    ("data", "seed_spin", "training.seed", 7, "seed"),
    ("model", "dropout_spin", "model.dropout", 0.35, "dropout"),
    ("training", "epochs_spin", "training.epochs", 17, "epochs"),
])
def test_undo_and_redo_a_setting_on_each_page(qtbot, ready_window, page, control, key, new, words):
    window = ready_window
    window.show_page(page)
    spin = getattr(window.pages[page], control)
    old = window.project.get(key)
    spin.setValue(new)  # as the user's edit does: through the control's signal and its binding
    assert window.project.get(key) == new
    assert window.undo_action.isEnabled()
    assert window.undo_action.text() == f"&Undo change of {words}"
    undo(window)
    assert window.project.get(key) == old and spin.value() == old
    assert window.redo_action.text() == f"&Redo change of {words}"
    redo(window)
    assert window.project.get(key) == new and spin.value() == new


def test_steps_of_one_setting_are_one_undo_and_saved_values_are_clean(window, tmp_path):
    spin = window.training_page.epochs_spin
    path = tmp_path / "p.json"
    assert window.save_to(path)
    assert not window.isWindowModified()
    start = spin.value()
    for _ in range(4):
        spin.stepUp()  # four clicks on the arrow
    assert spin.value() == start + 4 and window.isWindowModified()
    window.undo_action.trigger()
    assert spin.value() == start
    assert not window.isWindowModified()  # back at what the file holds
    assert not window.undo_action.isEnabled()
    window.redo_action.trigger()
    assert spin.value() == start + 4 and window.isWindowModified()


def test_another_project_starts_with_nothing_to_undo(window):
    window.project.set("training.epochs", 3)
    assert window.undo_action.isEnabled()
    window.new_project()
    assert not window.undo_action.isEnabled() and not window.redo_action.isEnabled()


def test_edit_menu_lists_undo_and_redo(window):
    edit = window.findChild(type(window.menuBar().actions()[0].menu()), "editMenu")
    assert [a.objectName() for a in edit.actions()] == ["actionUndo", "actionRedo"]
    assert window.undo_action.shortcut().toString() == "Ctrl+Z"
    assert "Ctrl+Shift+Z" in [k.toString() for k in window.redo_action.shortcuts()]
