"""What the app remembers between sessions (QSettings): recent projects and folders, geometry, the
colour scheme.

These are preferences of the app, not settings of a run; run settings live in the Project.
Tests pass a QSettings on a temporary file so they never touch the user's.
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QByteArray, QObject, QSettings, Signal

APP_NAME = "TL Studio"
MAX_RECENT = 8


class AppSettings(QObject):
    """Recent items and window state, stored in one QSettings."""

    recents_changed = Signal()

    def __init__(self, settings: QSettings | None = None, parent: QObject | None = None):
        super().__init__(parent)
        self.qsettings = settings if settings is not None else QSettings()

    # -- recents ----------------------------------------------------------------------------------

    def _paths(self, key: str) -> list[str]:
        value = self.qsettings.value(key, [])
        if isinstance(value, str):
            value = [value] if value else []
        return [str(v) for v in (value or [])]

    def _remember(self, key: str, path: str | Path) -> None:
        path = str(Path(path).expanduser().resolve())
        paths = [p for p in self._paths(key) if p != path]
        self.qsettings.setValue(key, [path, *paths][:MAX_RECENT])
        self.qsettings.sync()
        self.recents_changed.emit()

    def _forget(self, key: str, path: str | Path) -> None:
        path = str(path)
        self.qsettings.setValue(key, [p for p in self._paths(key) if p != path])
        self.recents_changed.emit()

    @property
    def recent_projects(self) -> list[str]:
        return self._paths("recent/projects")

    @property
    def recent_folders(self) -> list[str]:
        return self._paths("recent/folders")

    def remember_project(self, path: str | Path) -> None:
        self._remember("recent/projects", path)

    def remember_folder(self, path: str | Path) -> None:
        self._remember("recent/folders", path)

    def forget_project(self, path: str | Path) -> None:
        self._forget("recent/projects", path)

    def forget_folder(self, path: str | Path) -> None:
        self._forget("recent/folders", path)

    # -- look -----------------------------------------------------------------------------------------

    @property
    def color_scheme(self) -> str:
        """"system" (follow the desktop), "light" or "dark": the View menu's choice."""
        value = self.qsettings.value("view/colorScheme", "system")
        return value if value in ("system", "light", "dark") else "system"

    def set_color_scheme(self, scheme: str) -> None:
        self.qsettings.setValue("view/colorScheme", scheme)
        self.qsettings.sync()

    # -- window state -----------------------------------------------------------------------------

    def geometry(self, key: str) -> QByteArray | None:
        value = self.qsettings.value(f"window/{key}")
        return value if isinstance(value, QByteArray) and not value.isEmpty() else None

    def set_geometry(self, key: str, value: QByteArray) -> None:
        self.qsettings.setValue(f"window/{key}", value)

    def sync(self) -> None:
        self.qsettings.sync()
