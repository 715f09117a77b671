"""A gallery of image files: thumbnails (decoded in the background) with a caption each.

Double-click (or Enter) on an image opens the folder that holds it in the file manager.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from PySide6.QtCore import QSize, Qt, QUrl, Signal, Slot
from PySide6.QtGui import QDesktopServices, QIcon, QKeyEvent, QPalette, QPixmap
from PySide6.QtWidgets import QAbstractItemView, QListView, QListWidget, QListWidgetItem, QWidget

from tlstudio.gui.widgets.common import named
from tlstudio.gui.widgets.thumbnails import ThumbnailCache

PATH_ROLE = Qt.ItemDataRole.UserRole


@dataclass(frozen=True)
class GalleryEntry:
    path: Path
    caption: str
    tooltip: str = ""


def reveal_in_file_manager(path: Path) -> bool:
    """Open the folder holding `path` (the file manager cannot select a file portably)."""
    return QDesktopServices.openUrl(QUrl.fromLocalFile(str(Path(path).parent)))


class ImageGallery(QListWidget):
    """Thumbnails with captions: a grid (captions under the images) or a list (beside them)."""

    file_activated = Signal(object)  # Path

    def __init__(self, thumbnails: ThumbnailCache, object_name: str, accessible_name: str, tooltip: str,
                 *, grid: bool, parent: QWidget | None = None):
        super().__init__(parent)
        named(self, object_name, accessible_name, tooltip)
        self._thumbnails = thumbnails
        self.grid = grid
        size = thumbnails.size
        self.setIconSize(QSize(size, size))
        self.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.setUniformItemSizes(True)
        if grid:
            self.setViewMode(QListView.ViewMode.IconMode)
            self.setResizeMode(QListView.ResizeMode.Adjust)
            self.setMovement(QListView.Movement.Static)
            self.setGridSize(QSize(size + 26, size + 40))
            self.setWordWrap(True)
        else:
            self.setViewMode(QListView.ViewMode.ListMode)
            self.setSpacing(2)
        self.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff if grid
                                          else Qt.ScrollBarPolicy.ScrollBarAsNeeded)
        placeholder = QPixmap(size, size)
        placeholder.fill(self.palette().color(QPalette.ColorRole.AlternateBase))
        self._placeholder = QIcon(placeholder)
        self._items: dict[Path, list[QListWidgetItem]] = {}
        thumbnails.ready.connect(self._on_thumbnails_ready)
        self.itemDoubleClicked.connect(self._on_item_double_clicked)

    @property
    def paths(self) -> list[Path]:
        return [self.item(i).data(PATH_ROLE) for i in range(self.count())]

    def set_entries(self, entries: list[GalleryEntry]) -> None:
        """Show `entries` in order; their thumbnails appear as they are decoded."""
        self.clear()
        self._items = {}
        for entry in entries:
            item = QListWidgetItem(self._placeholder, entry.caption)
            item.setData(PATH_ROLE, entry.path)
            item.setToolTip(entry.tooltip or str(entry.path))
            if self.grid:
                item.setTextAlignment(Qt.AlignmentFlag.AlignHCenter | Qt.AlignmentFlag.AlignTop)
            self.addItem(item)
            self._items.setdefault(entry.path, []).append(item)
        self._thumbnails.request([entry.path for entry in entries])

    def has_thumbnail(self, row: int) -> bool:
        """Whether the item in `row` shows its image yet (not the placeholder)."""
        return self._thumbnails.image(self.item(row).data(PATH_ROLE)) is not None

    @Slot(list)
    def _on_thumbnails_ready(self, paths: list) -> None:
        for path in paths:
            items = self._items.get(path)
            image = self._thumbnails.image(path)
            if items and image is not None:
                icon = QIcon(QPixmap.fromImage(image))
                for item in items:
                    item.setIcon(icon)

    @Slot(QListWidgetItem)
    def _on_item_double_clicked(self, item: QListWidgetItem) -> None:
        self._activate(item)

    def keyPressEvent(self, event: QKeyEvent) -> None:  # noqa: N802
        if event.key() in (Qt.Key.Key_Return, Qt.Key.Key_Enter) and self.currentItem() is not None:
            self._activate(self.currentItem())
            return
        super().keyPressEvent(event)

    def _activate(self, item: QListWidgetItem) -> None:
        path = item.data(PATH_ROLE)
        self.file_activated.emit(path)
        reveal_in_file_manager(path)
