"""The Run page's Result box: how the last run ended, its validation accuracy and loss, best epoch, time,
Polyak-averaging figures, and its run folder (with a button that opens it). It draws a RunResult and the
metrics that came with it.
"""

from __future__ import annotations

import math
from pathlib import Path

from PySide6.QtCore import QUrl, Slot
from PySide6.QtGui import QDesktopServices
from PySide6.QtWidgets import QFormLayout, QGroupBox, QHBoxLayout, QLabel, QPushButton, QVBoxLayout, QWidget

from tlstudio.base.text import format_percent
from tlstudio.gui.widgets.common import format_seconds, hint_label, named, set_status, text_label
from tlstudio.train.events import RunResult, RunStatus

METRIC_TITLES = (("val_accuracy", "Validation accuracy"), ("val_loss", "Validation loss"), ("best_epoch", "Best epoch"),
                 ("seconds", "Time"))
EMA_HELP = ("Polyak averaging: the last epoch's validation accuracy with the averaged weights (what the run keeps) "
            "and with the raw weights it trained.")


def _number(value: float | None) -> str:
    return f"{value:.4f}" if value is not None and math.isfinite(value) else "–"


class RunResultBox(QGroupBox):
    """Wraps the outcome of the last run of this session (none at first)."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__("Result", parent)
        layout = QVBoxLayout(self)
        self.result_label = text_label("runResultLabel", "No run yet in this session.", selectable=True)
        layout.addWidget(self.result_label)
        self.metrics_form = QFormLayout()
        self.metric_labels: dict[str, QLabel] = {}
        for key, title in METRIC_TITLES:
            label = QLabel("–")
            label.setObjectName(f"runMetric_{key}")
            self.metric_labels[key] = label
            self.metrics_form.addRow(title, label)
        self.ema_label = QLabel("–")
        self.ema_label.setObjectName("runMetric_ema")
        self.ema_label.setToolTip(EMA_HELP)
        self.metrics_form.addRow("Polyak average", self.ema_label)
        self.metrics_form.setRowVisible(self.ema_label, False)
        layout.addLayout(self.metrics_form)
        folder_row = QHBoxLayout()
        self.run_folder_label = hint_label()
        self.run_folder_label.setObjectName("runFolderLabel")
        folder_row.addWidget(self.run_folder_label, 1)
        self.open_folder_button = named(QPushButton("Open folder"), "runOpenFolderButton", "Open run folder")
        self.open_folder_button.setEnabled(False)
        self.open_folder_button.clicked.connect(self._open_run_folder)
        folder_row.addWidget(self.open_folder_button)
        layout.addLayout(folder_row)

    def reset(self, run_dir: Path | None) -> None:
        """A run is starting in `run_dir`: nothing to show but that it trains."""
        set_status(self.result_label, "Training…")
        for label in self.metric_labels.values():
            label.setText("–")
        self.show_folder(run_dir)
        self.open_folder_button.setEnabled(False)

    def show_folder(self, run_dir: str | Path | None) -> None:
        self.run_folder_label.setText(str(run_dir) if run_dir else "")

    def show_outcome(self, outcome: RunResult, status: str, seconds: float) -> None:
        """`status` names the outcome ("Finished"); `seconds` is the run's time when its metrics lack one."""
        message = outcome.message or ""
        if message.lower().startswith(status.lower()):  # "finished 8 epochs; …" reads on from the status
            text = f"<b>{status}</b>{message[len(status):]}"
        else:
            text = f"<b>{status}.</b> {message[:1].upper()}{message[1:]}"
        set_status(self.result_label, text, "error" if outcome.status == RunStatus.FAILED else "")
        metrics = outcome.metrics or {}
        self.metric_labels["val_accuracy"].setText(format_percent(metrics.get("val_accuracy")))
        self.metric_labels["val_loss"].setText(_number(metrics.get("val_loss")))
        best = metrics.get("best_epoch")
        self.metric_labels["best_epoch"].setText(str(best) if best is not None else "–")
        ema = metrics.get("ema")
        self.metrics_form.setRowVisible(self.ema_label, bool(ema))
        if ema:
            self.ema_label.setText(f"{format_percent(ema.get('val_accuracy_averaged'))} averaged · "
                                   f"{format_percent(ema.get('val_accuracy_raw'))} raw (epoch {ema.get('epoch')})")
        self.metric_labels["seconds"].setText(format_seconds(float(metrics.get("seconds", seconds))))
        if outcome.run_dir:
            self.show_folder(outcome.run_dir)
        self.open_folder_button.setEnabled(bool(outcome.run_dir and Path(outcome.run_dir).is_dir()))

    @Slot()
    def _open_run_folder(self) -> None:
        folder = self.run_folder_label.text()
        if folder and Path(folder).is_dir():
            QDesktopServices.openUrl(QUrl.fromLocalFile(folder))
