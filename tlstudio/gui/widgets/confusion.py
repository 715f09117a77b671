"""The confusion matrix as a clickable heat map: a table of counts with coloured cells.

Rows are true classes, columns predicted classes (as in tlstudio.tools.evaluate). A cell's colour is
its share of its row (the true class): blue on the diagonal (right), red off it (wrong), so the
mistakes stand out whatever the class sizes. Clicking a cell, or moving to it with the keyboard,
emits `cell_selected(true, predicted)`.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from PySide6.QtCore import (
    QAbstractTableModel,
    QItemSelectionModel,
    QModelIndex,
    QPersistentModelIndex,
    Qt,
    Signal,
    Slot,
)
from PySide6.QtGui import QColor, QPainter, QPen
from PySide6.QtWidgets import (
    QAbstractItemView,
    QAbstractScrollArea,
    QHeaderView,
    QSizePolicy,
    QStyle,
    QStyledItemDelegate,
    QStyleOptionViewItem,
    QTableView,
    QWidget,
)

from tlstudio.gui.style import is_dark
from tlstudio.gui.widgets.common import named

CELL_SIZE = 52
RIGHT_RGB = (47, 111, 208)  # the app's accent
WRONG_RGB = (205, 56, 40)
EMPTY_RGB = (250, 251, 252)
EMPTY_DARK_RGB = (30, 34, 40)


def cell_colour(count: int, row_total: int, diagonal: bool, dark: bool = False) -> QColor:
    """The background's colour for nothing (near white, or near black in the dark scheme), the full
    colour for a whole row in one cell."""
    share = count / row_total if row_total else 0.0
    target = RIGHT_RGB if diagonal else WRONG_RGB
    strength = 0.0 if count == 0 else 0.12 + 0.88 * share
    empty = EMPTY_DARK_RGB if dark else EMPTY_RGB
    return QColor(*(round(e + (t - e) * strength) for e, t in zip(empty, target, strict=True)))


def cell_text_colour(count: int, row_total: int, dark: bool = False) -> QColor:
    share = count / row_total if row_total else 0.0
    return QColor("white") if share > 0.45 or dark else QColor("#1d2733")


class ConfusionMatrixModel(QAbstractTableModel):
    """A read-only table over a (classes x classes) count matrix."""

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.classes: list[str] = []
        self.matrix = np.zeros((0, 0), dtype=np.int64)

    def set_matrix(self, classes: list[str], matrix: np.ndarray) -> None:
        self.beginResetModel()
        self.classes = list(classes)
        self.matrix = np.asarray(matrix, dtype=np.int64).reshape(len(classes), len(classes))
        self.endResetModel()

    def rowCount(self, parent: QModelIndex | QPersistentModelIndex = QModelIndex()) -> int:  # noqa: N802, B008
        return 0 if parent.isValid() else len(self.classes)

    def columnCount(self, parent: QModelIndex | QPersistentModelIndex = QModelIndex()) -> int:  # noqa: N802, B008
        return 0 if parent.isValid() else len(self.classes)

    def headerData(self, section: int, orientation: Qt.Orientation,  # noqa: N802
                   role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not 0 <= section < len(self.classes):
            return None
        name = self.classes[section]
        if role == Qt.ItemDataRole.DisplayRole:
            return name
        if role == Qt.ItemDataRole.ToolTipRole:
            return f"true class {name}" if orientation == Qt.Orientation.Vertical else f"predicted as {name}"
        return None

    def data(self, index: QModelIndex | QPersistentModelIndex, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid():
            return None
        true, predicted = index.row(), index.column()
        count = int(self.matrix[true, predicted])
        row_total = int(self.matrix[true].sum())
        if role == Qt.ItemDataRole.DisplayRole:
            return str(count)
        if role == Qt.ItemDataRole.TextAlignmentRole:
            return Qt.AlignmentFlag.AlignCenter
        if role == Qt.ItemDataRole.BackgroundRole:
            return cell_colour(count, row_total, true == predicted, is_dark())
        if role == Qt.ItemDataRole.ForegroundRole:
            return cell_text_colour(count, row_total, is_dark())
        if role in (Qt.ItemDataRole.ToolTipRole, Qt.ItemDataRole.AccessibleTextRole):
            share = f" ({count / row_total:.0%} of {self.classes[true]})" if row_total else ""
            verdict = "right" if true == predicted else "wrong"
            return (f"true {self.classes[true]}, predicted {self.classes[predicted]}: {count} image"
                    f"{'s' if count != 1 else ''}{share}, {verdict}. Click to see them.")
        return None


class HeatCellDelegate(QStyledItemDelegate):
    """Paints a cell in its heat colour also when selected, and marks the selection with a frame."""

    def paint(self, painter: QPainter, option: QStyleOptionViewItem,
              index: QModelIndex | QPersistentModelIndex) -> None:
        selected = bool(option.state & QStyle.StateFlag.State_Selected)
        plain = QStyleOptionViewItem(option)
        plain.state &= ~QStyle.StateFlag.State_Selected
        plain.state &= ~QStyle.StateFlag.State_HasFocus
        dark = is_dark(option.palette)
        painter.fillRect(option.rect, index.data(Qt.ItemDataRole.BackgroundRole)
                         or QColor(*(EMPTY_DARK_RGB if dark else EMPTY_RGB)))
        super().paint(painter, plain, index)
        if selected:
            painter.save()
            painter.setPen(QPen(QColor("#ffffff" if dark else "#10233a"), 3))
            painter.drawRect(option.rect.adjusted(1, 1, -2, -2))
            painter.restore()


class ConfusionMatrixView(QTableView):
    """The heat map; `cell_selected(true, predicted)` when the user picks a cell."""

    cell_selected = Signal(int, int)

    def __init__(self, object_name: str = "evaluateConfusionMatrix", parent: QWidget | None = None):
        super().__init__(parent)
        named(self, object_name, "Confusion matrix",
              "Rows: true class; columns: predicted class. Click a cell to see its images.")
        self.matrix_model = ConfusionMatrixModel(self)
        self.setModel(self.matrix_model)
        self.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectItems)
        self.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.setCornerButtonEnabled(False)
        self.setWordWrap(False)
        for header in (self.horizontalHeader(), self.verticalHeader()):
            header.setSectionResizeMode(QHeaderView.ResizeMode.Fixed)
            header.setDefaultSectionSize(CELL_SIZE)
            header.setHighlightSections(True)
        self.horizontalHeader().setMinimumSectionSize(CELL_SIZE)
        self.verticalHeader().setDefaultAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        # As tall as its rows (the page gives the rest to the per-class table), scrolling when many.
        self.setSizeAdjustPolicy(QAbstractScrollArea.SizeAdjustPolicy.AdjustToContents)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Maximum)
        self.setProperty("role", "heatmap")
        self.setItemDelegate(HeatCellDelegate(self))
        self.selectionModel().currentChanged.connect(self._on_current_changed)

    def set_matrix(self, classes: list[str], matrix: np.ndarray) -> None:
        self.matrix_model.set_matrix(classes, matrix)
        width = max((self.fontMetrics().horizontalAdvance(c) for c in classes), default=0) + 16
        self.horizontalHeader().setDefaultSectionSize(max(CELL_SIZE, min(width, 120)))

    def select_cell(self, true: int, predicted: int) -> None:
        """Select a cell as a click would (emits `cell_selected`)."""
        index = self.matrix_model.index(true, predicted)
        if index == self.currentIndex():
            self.cell_selected.emit(true, predicted)
        else:
            self.selectionModel().setCurrentIndex(index, QItemSelectionModel.SelectionFlag.ClearAndSelect)

    @Slot(QModelIndex, QModelIndex)
    def _on_current_changed(self, current: QModelIndex, _previous: QModelIndex) -> None:
        if current.isValid():
            self.cell_selected.emit(current.row(), current.column())
