"""ProjectModel: the one Project the GUI edits, wrapped in a QObject that says when it changed.

Every page reads settings from here and writes them back through `update`, which validates
the whole Project before accepting a change (pydantic's assignment validation would leave a
rejected value in place). Nothing in the GUI keeps its own copy of a setting.

Each accepted change is a command on `undo_stack` (QUndoStack): Edit > Undo puts the values back,
through the same signals, so every control bound to a setting follows. Consecutive edits of the same
setting (the steps of a spin box, the letters of a number) merge into one undo step.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from PySide6.QtCore import QObject, Signal, Slot
from PySide6.QtGui import QUndoCommand, QUndoStack

from tlstudio.settings.project import Project, ProjectError

ALL = "*"
_SETTING_COMMAND = 1  # QUndoCommand.id() of setting changes, so that changes of one setting merge


def describe(keys: list[str]) -> str:
    """The Edit menu's words for a change: "learning rate", or "3 settings"."""
    if len(keys) == 1:
        return keys[0].rsplit(".", 1)[-1].replace("_", " ")
    return f"{len(keys)} settings"


class SettingChange(QUndoCommand):
    """Setting values before and after one accepted `ProjectModel.update`."""

    def __init__(self, model: ProjectModel, before: dict[str, Any], after: dict[str, Any]):
        super().__init__(f"change of {describe(sorted(after))}")
        self._model = model
        self.before = before
        self.after = after
        self._first = True  # the change is already applied when the command is pushed

    def redo(self) -> None:
        if self._first:
            self._first = False
            return
        self._model._apply(self.after)

    def undo(self) -> None:
        self._model._apply(self.before)

    def id(self) -> int:
        return _SETTING_COMMAND

    def mergeWith(self, other: QUndoCommand) -> bool:  # noqa: N802
        if not isinstance(other, SettingChange) or set(other.after) != set(self.after):
            return False
        self.after = other.after
        self.setObsolete(self.after == self.before)  # edited back to where it was: nothing to undo
        return True


class ProjectModel(QObject):
    """Holds the current Project, its file path and whether it has unsaved changes."""

    changed = Signal(list)  # dotted keys that changed; [ALL] after a new project was loaded
    rejected = Signal(str, str)  # dotted key, one-sentence message
    modified_changed = Signal(bool)
    path_changed = Signal(object)  # Path | None

    def __init__(self, project: Project | None = None, parent: QObject | None = None):
        super().__init__(parent)
        self._project = project or Project()
        self._path: Path | None = None
        self._modified = False
        self.undo_stack = QUndoStack(self)
        self.undo_stack.cleanChanged.connect(self._on_clean_changed)

    # -- reading --------------------------------------------------------------------------------

    @property
    def project(self) -> Project:
        """The live Project; read it, never assign to it (use `update`)."""
        return self._project

    @property
    def path(self) -> Path | None:
        return self._path

    @property
    def modified(self) -> bool:
        return self._modified

    @property
    def display_name(self) -> str:
        return self._path.name if self._path else "Untitled"

    def get(self, key: str) -> Any:
        value: Any = self._project
        for part in key.split("."):
            value = getattr(value, part)
        return value

    def snapshot(self) -> Project:
        """An independent copy to hand to a training run, so later edits cannot reach it."""
        return self._project.model_copy(deep=True)

    # -- editing --------------------------------------------------------------------------------

    def update(self, changes: dict[str, Any]) -> str | None:
        """Apply dotted-key changes together; returns None, or the message of a rejected change."""
        changes = {key: value for key, value in changes.items() if self._differs(key, value)}
        if not changes:
            return None
        before = {key: self._value_or_none(key) for key in changes}
        message = self._apply(changes)
        if message is None:
            self.undo_stack.push(SettingChange(self, before, changes))
            self._set_modified(True)
        return message

    def _apply(self, changes: dict[str, Any]) -> str | None:
        try:
            project = self._project.copy_with(**changes)
        except ProjectError as error:
            message = str(error).removeprefix("settings: ")
            self.rejected.emit(next(iter(changes)), message)
            return message
        self._project = project
        self.changed.emit(sorted(changes))
        return None

    def _value_or_none(self, key: str) -> Any:
        try:
            return self.get(key)
        except AttributeError:
            return None

    def set(self, key: str, value: Any) -> bool:
        return self.update({key: value}) is None

    def _differs(self, key: str, value: Any) -> bool:
        try:
            return self.get(key) != value
        except AttributeError:
            return True

    # -- files ----------------------------------------------------------------------------------

    def replace(self, project: Project, path: Path | None = None) -> None:
        """Start editing another project (New, Open); it counts as saved."""
        self._project = project
        self._set_path(path)
        self.undo_stack.clear()  # another project: nothing of the last one to undo
        self.changed.emit([ALL])
        self._set_modified(False)

    def load(self, path: str | Path) -> None:
        """Open a project file; raises ProjectError with a one-sentence message."""
        path = Path(path).expanduser().resolve()
        self.replace(Project.load(path), path)

    def save(self, path: str | Path | None = None) -> Path:
        """Save atomically to `path` (or the current path); raises OSError on failure."""
        target = Path(path).expanduser().resolve() if path else self._path
        if target is None:
            raise ValueError("the project has no file yet; use Save As")
        project = self._project
        if project.name in ("", "Untitled") or (self._path and project.name == self._path.stem):
            project = project.model_copy(update={"name": target.stem})
            self._project = project
        project.save(target)
        self._set_path(target)
        self.undo_stack.setClean()
        self._set_modified(False)
        return target

    def _set_path(self, path: Path | None) -> None:
        if path != self._path:
            self._path = path
            self.path_changed.emit(path)

    @Slot(bool)
    def _on_clean_changed(self, clean: bool) -> None:
        """Undone (or redone) back to the values last saved or opened: nothing left to save."""
        self._set_modified(not clean)

    def _set_modified(self, modified: bool) -> None:
        if modified != self._modified:
            self._modified = modified
            self.modified_changed.emit(modified)
