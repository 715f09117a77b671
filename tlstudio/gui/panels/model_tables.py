"""The Model page's two tables: the backbone choices with where their weights come from, and the
backbone's layers with their state under the freezing rule."""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import QAbstractTableModel, QModelIndex, QPersistentModelIndex, Qt
from PySide6.QtGui import QBrush, QColor
from PySide6.QtWidgets import QAbstractItemView, QHeaderView, QTableWidget, QTableWidgetItem, QWidget

from tlstudio.backbones.registry import BACKBONES
from tlstudio.backbones.weight_sources import imagenet_availability
from tlstudio.gui.widgets.common import named

WEIGHTS_COLUMN = 4  # the backbone table's "Weights" column: where the ImageNet weights come from
BACKBONE_ORDER = list(BACKBONES)  # the table's rows
ROW_HEIGHT = 22


class BackboneTable(QTableWidget):
    """One row per registry backbone: size, input, ImageNet top-1 and where its weights come from."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(len(BACKBONES), 5, parent)
        named(self, "modelBackboneTable", "Backbone", "The pretrained network; smaller ones train faster on a CPU.")
        self.setHorizontalHeaderLabels(["Backbone", "Parameters", "Input", "Top-1", "Weights"])
        self.horizontalHeaderItem(3).setToolTip("Top-1 accuracy on ImageNet")
        self.horizontalHeaderItem(WEIGHTS_COLUMN).setToolTip(
            "Where the ImageNet weights come from: shipped with TL Studio, an optional package, "
            "Keras's cache, or a download (↓)")
        self.verticalHeader().hide()
        self.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.setShowGrid(False)
        self.setAlternatingRowColors(True)
        self.verticalHeader().setDefaultSectionSize(ROW_HEIGHT)
        header = self.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        for row, spec in enumerate(BACKBONES.values()):
            cells = [spec.label, f"{spec.parameters_millions:g} M", f"{spec.default_size} px",
                     f"{spec.imagenet_top1:.1f} %", ""]
            for column, text in enumerate(cells):
                item = QTableWidgetItem(text)
                item.setToolTip(spec.description if column < WEIGHTS_COLUMN else spec.weights_origin)
                if column:
                    item.setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
                self.setItem(row, column, item)
        self.setFixedHeight(ROW_HEIGHT * len(BACKBONES) + 28)
        self.refresh_weights()

    def refresh_weights(self) -> None:
        """The "Weights" column: where each backbone's ImageNet weights would come from now."""
        for row, spec in enumerate(BACKBONES.values()):
            text = imagenet_availability(spec, spec.default_size).short
            item = self.item(row, WEIGHTS_COLUMN)
            if item is not None and item.text() != text:
                item.setText(text)


FROZEN_COLOR = QColor("#8a8f98")
PHASE_TWO_COLOR = QColor("#7b4fbf")


class LayerTableModel(QAbstractTableModel):
    """The backbone's layers with their state under the current freeze settings."""

    HEADERS = ("#", "Layer", "Type", "Parameters", "State")
    # Class-level defaults: Qt may ask a view's model for its size while the window is torn down,
    # after Python has already cleared the instance's attributes.
    rows: list | tuple = ()
    states: list | tuple = ()

    def set_rows(self, rows: list, states: list[str]) -> None:
        self.beginResetModel()
        self.rows, self.states = list(rows), list(states)
        self.endResetModel()

    def set_states(self, states: list[str]) -> None:
        self.states = list(states)
        if self.rows:
            self.dataChanged.emit(self.index(0, 0), self.index(len(self.rows) - 1, len(self.HEADERS) - 1))

    def rowCount(self, parent: QModelIndex | QPersistentModelIndex = QModelIndex()) -> int:  # noqa: N802, B008
        return 0 if parent.isValid() else len(self.rows)

    def columnCount(self, parent: QModelIndex | QPersistentModelIndex = QModelIndex()) -> int:  # noqa: N802, B008
        return 0 if parent.isValid() else len(self.HEADERS)

    def headerData(self, section: int, orientation: Qt.Orientation, role: int = Qt.ItemDataRole.DisplayRole) -> Any:  # noqa: N802
        if role == Qt.ItemDataRole.DisplayRole and orientation == Qt.Orientation.Horizontal:
            return self.HEADERS[section]
        return None

    def data(self, index: QModelIndex | QPersistentModelIndex, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid():
            return None
        row = self.rows[index.row()]
        state = self.states[index.row()] if index.row() < len(self.states) else ""
        column = index.column()
        if role == Qt.ItemDataRole.DisplayRole:
            return (str(row.index), row.name, row.type, f"{row.parameters:,}", state)[column]
        if role == Qt.ItemDataRole.ForegroundRole:
            if state == "frozen":
                return QBrush(FROZEN_COLOR)
            if state == "phase 2":
                return QBrush(PHASE_TWO_COLOR)
        if role == Qt.ItemDataRole.TextAlignmentRole and column in (0, 3):
            return int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        return None
