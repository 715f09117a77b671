"""Pick two or more earlier runs to average into one model (the Evaluate page's "Ensemble…")."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QDialog, QDialogButtonBox, QListWidget, QListWidgetItem, QVBoxLayout, QWidget

from tlstudio.gui.widgets.common import hint_label, named
from tlstudio.model.averaging import MIN_MEMBERS
from tlstudio.runs.folder import RunSummary


class EnsembleDialog(QDialog):
    def __init__(self, summaries: list[RunSummary], parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Average runs into one model")
        self.setObjectName("ensembleDialog")
        layout = QVBoxLayout(self)
        layout.addWidget(hint_label(
            "Tick two or more runs on the same data and classes. Their predicted probabilities are averaged into "
            "one model, measured on the validation images every run held out; a run more than 5 points below the "
            "best is left out. Where the runs share a frozen backbone, it runs once. The ensemble is saved as a "
            "run of its own, to evaluate, try and export like any run."))
        self.runs_list = named(QListWidget(), "ensembleRunsList", "Runs to average")
        for summary in summaries:
            if not summary.has_model:
                continue
            item = QListWidgetItem(summary.label)
            item.setData(Qt.ItemDataRole.UserRole, str(summary.path))
            item.setFlags(item.flags() | Qt.ItemFlag.ItemIsUserCheckable)
            item.setCheckState(Qt.CheckState.Unchecked)
            self.runs_list.addItem(item)
        self.runs_list.itemChanged.connect(self._update_ok)
        layout.addWidget(self.runs_list)
        self.buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel)
        self.buttons.button(QDialogButtonBox.StandardButton.Ok).setText("Make ensemble")
        self.buttons.accepted.connect(self.accept)
        self.buttons.rejected.connect(self.reject)
        layout.addWidget(self.buttons)
        self.resize(560, 380)
        self._update_ok()

    def chosen(self) -> list[Path]:
        return [Path(self.runs_list.item(i).data(Qt.ItemDataRole.UserRole)) for i in range(self.runs_list.count())
                if self.runs_list.item(i).checkState() == Qt.CheckState.Checked]

    def _update_ok(self, *_: object) -> None:
        self.buttons.button(QDialogButtonBox.StandardButton.Ok).setEnabled(len(self.chosen()) >= MIN_MEMBERS)
