"""The Data page's class table: each class with its number of images (per split when the folder gives
one), its share of the data as a bar, and a strip of example thumbnails decoded in the background.

It shows the classes of the scan as the project counts them (`Project.included`: excluded files left out).
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QRect, QSize, Qt, Slot
from PySide6.QtGui import QColor, QImage, QPainter, QPalette, QPixmap
from PySide6.QtWidgets import (
    QAbstractItemView,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QStyle,
    QStyledItemDelegate,
    QStyleOptionViewItem,
    QTableWidget,
    QTableWidgetItem,
    QWidget,
)

from tlstudio.data import DatasetIndex
from tlstudio.gui.background import TaskContext, TaskRunner
from tlstudio.gui.state.dataset_model import DatasetModel
from tlstudio.gui.state.project_model import ProjectModel
from tlstudio.gui.style import is_dark
from tlstudio.gui.widgets.common import TaskHolder, named
from tlstudio.gui.widgets.thumbnails import decode_thumbnails

THUMBNAILS_PER_CLASS = 5
THUMBNAIL_SIZE = 44
SHARE_COLUMN, EXAMPLES_COLUMN = 2, 3


def _load_thumbnails(paths_by_class: dict[str, list[Path]], size: int, context: TaskContext,
                     pixel_ratio: float = 1.0) -> dict[str, list[QImage]]:
    decoded = decode_thumbnails([path for paths in paths_by_class.values() for path in paths], size,
                                "center-crop", context, pixel_ratio)
    return {name: [decoded[path] for path in paths if path in decoded] for name, paths in paths_by_class.items()}


class ShareDelegate(QStyledItemDelegate):
    """Draws a class's share of the data as a small bar with its percentage."""

    def paint(self, painter: QPainter, option: QStyleOptionViewItem, index) -> None:
        share = index.data(Qt.ItemDataRole.UserRole)
        if share is None:
            super().paint(painter, option, index)
            return
        painter.save()
        if option.state & QStyle.StateFlag.State_Selected:
            painter.fillRect(option.rect, option.palette.highlight())
        rect = option.rect.adjusted(6, option.rect.height() // 2 - 7, -52, -(option.rect.height() // 2 - 7))
        painter.setPen(Qt.PenStyle.NoPen)
        track = option.palette.color(QPalette.ColorRole.AlternateBase)
        painter.setBrush(track.lighter(170) if is_dark(option.palette) else track.darker(108))
        painter.drawRoundedRect(rect, 3, 3)
        filled = QRect(rect)
        filled.setWidth(max(2, int(rect.width() * float(share))))
        painter.setBrush(QColor("#3d7fc4"))
        painter.drawRoundedRect(filled, 3, 3)
        painter.setPen(option.palette.text().color())
        text_rect = QRect(rect.right() + 6, option.rect.top(), 46, option.rect.height())
        painter.drawText(text_rect, Qt.AlignmentFlag.AlignVCenter | Qt.AlignmentFlag.AlignLeft,
                         f"{float(share):.0%}")
        painter.restore()

    def sizeHint(self, option: QStyleOptionViewItem, index) -> QSize:  # noqa: N802
        return QSize(140, 24)


def _thumbnail_strip(images: list[QImage]) -> QWidget:
    strip = QWidget()
    layout = QHBoxLayout(strip)
    layout.setContentsMargins(4, 2, 4, 2)
    layout.setSpacing(4)
    for image in images:
        label = QLabel()
        label.setPixmap(QPixmap.fromImage(image))
        label.setFixedSize(THUMBNAIL_SIZE, THUMBNAIL_SIZE)
        layout.addWidget(label)
    layout.addStretch(1)
    return strip


class ClassTable(QTableWidget):
    """Wraps the DatasetModel's index as the ProjectModel counts it, and the example thumbnails of each class."""

    def __init__(self, project: ProjectModel, dataset: DatasetModel, runner: TaskRunner,
                 parent: QWidget | None = None) -> None:
        super().__init__(0, 4, parent)
        named(self, "dataClassTable", "Classes", "Each class: its images, its share of the data and a few examples.")
        self._project = project
        self._dataset = dataset
        self._thumbnail_task = TaskHolder(runner, parent=self)
        self.thumbnails: dict[str, list[QImage]] = {}
        self.setHorizontalHeaderLabels(["Class", "Images", "Share", "Examples"])
        self.verticalHeader().hide()
        self.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.setAlternatingRowColors(True)
        self.setShowGrid(False)
        self.verticalHeader().setDefaultSectionSize(THUMBNAIL_SIZE + 8)
        header = self.horizontalHeader()
        for column, mode in enumerate((QHeaderView.ResizeMode.ResizeToContents, QHeaderView.ResizeMode.ResizeToContents,
                                       QHeaderView.ResizeMode.Fixed, QHeaderView.ResizeMode.Stretch)):
            header.setSectionResizeMode(column, mode)
        self.setColumnWidth(SHARE_COLUMN, 150)
        self.setItemDelegateForColumn(SHARE_COLUMN, ShareDelegate(self))
        dataset.scan_started.connect(self._on_scan_started)
        dataset.scanned.connect(self._on_scanned)

    @Slot(str)
    def _on_scan_started(self, _folder: str) -> None:
        self.setRowCount(0)
        self.thumbnails = {}

    @Slot(object)
    def _on_scanned(self, index: DatasetIndex) -> None:
        self._fill(self._project.project.included(index))
        self._load_thumbnails()

    def show_index(self, index: DatasetIndex | None) -> None:
        """The classes of `index` (already without the project's excluded files); None: no scan (yet)."""
        if index is None:
            if not self._dataset.scanning:
                self.setRowCount(0)
        elif self.rowCount() != len(index.classes):
            self._fill(index)
        else:
            self._set_counts(index)

    def _fill(self, index: DatasetIndex) -> None:
        self.setRowCount(len(index.classes))
        for row, name in enumerate(index.classes):
            name_item = QTableWidgetItem(name)
            name_item.setToolTip(name)
            self.setItem(row, 0, name_item)
            self.setCellWidget(row, EXAMPLES_COLUMN, _thumbnail_strip(self.thumbnails.get(name, [])))
        self._set_counts(index)

    def _set_counts(self, index: DatasetIndex) -> None:
        """Each class's count and share (of the images the project uses: excluded files left out)."""
        counts = index.counts
        by_split = index.counts_by_split() if index.split_mode == "given" else {}
        total = max(1, len(index.items))
        for row, name in enumerate(index.classes):
            count_text = str(counts[name])
            if by_split:
                count_text += "  (" + ", ".join(f"{split} {per[name]}" for split, per in by_split.items()) + ")"
            count_item = QTableWidgetItem(count_text)
            count_item.setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
            self.setItem(row, 1, count_item)
            share_item = QTableWidgetItem()
            share_item.setData(Qt.ItemDataRole.UserRole, counts[name] / total)
            share_item.setToolTip(f"{counts[name] / total:.1%} of the usable images")
            self.setItem(row, SHARE_COLUMN, share_item)

    def _load_thumbnails(self) -> None:
        paths = self._dataset.example_paths(THUMBNAILS_PER_CLASS)
        if not paths:
            self._thumbnail_task.drop()
            return
        ratio = self.devicePixelRatioF()  # as many pixels as the screen shows: sharp at 200 %

        def work(context: TaskContext) -> dict[str, list[QImage]]:
            return _load_thumbnails(paths, THUMBNAIL_SIZE, context, ratio)

        self._thumbnail_task.start("loading thumbnails", work, succeeded=self._on_thumbnails_loaded)

    def _on_thumbnails_loaded(self, thumbnails: dict[str, list[QImage]]) -> None:
        self.thumbnails = thumbnails
        index = self._dataset.index
        if index is None:
            return
        for row, name in enumerate(index.classes):
            if row < self.rowCount():
                self.setCellWidget(row, EXAMPLES_COLUMN, _thumbnail_strip(thumbnails.get(name, [])))
