"""The Evaluate page's figures for one split of an `Evaluation`: the metrics row, the per-class table, the
calibration box, and the note beside an ensemble's run. Each panel draws a `SplitEvaluation` (or nothing);
the numbers are the core's (`tlstudio.tools.evaluate`).
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QAbstractItemView,
    QGroupBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from tlstudio.base.text import format_percent
from tlstudio.gui.widgets.common import hint_label, named
from tlstudio.gui.widgets.confusion import ConfusionMatrixView
from tlstudio.gui.widgets.reliability import ReliabilityDiagram
from tlstudio.tools.evaluate import SplitEvaluation

METRIC_TITLES = (("accuracy", "Accuracy"), ("top_k", "Top-3"), ("loss", "Loss"), ("macro_f1", "Macro F1"),
                 ("ece", "ECE"), ("images", "Images"))
NO_SPLIT_CALIBRATION = ("The reliability diagram and the expected calibration error (ECE) show whether the model's "
                        "confidence can be trusted.")


class MetricsRow(QWidget):
    """The split's headline numbers side by side, each under its title; `buttons` at the right end."""

    def __init__(self, buttons: list[QPushButton], parent: QWidget | None = None) -> None:
        super().__init__(parent)
        row = QHBoxLayout(self)
        row.setContentsMargins(0, 0, 0, 0)
        row.setSpacing(22)
        self.metric_labels: dict[str, QLabel] = {}
        self.metric_titles: dict[str, QLabel] = {}
        for key, title in METRIC_TITLES:
            title_label = QLabel(title)
            title_label.setProperty("role", "hint")
            value = QLabel("–")
            value.setObjectName(f"evaluateMetric_{key}")
            value.setProperty("role", "metric")
            value.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
            pair = QVBoxLayout()
            pair.setSpacing(0)
            pair.addWidget(title_label)
            pair.addWidget(value)
            row.addLayout(pair)
            self.metric_labels[key] = value
            self.metric_titles[key] = title_label
        row.addStretch(1)
        for button in buttons:
            row.addWidget(button, 0, Qt.AlignmentFlag.AlignBottom)

    def show_split(self, split: SplitEvaluation | None) -> None:
        if split is None:
            for label in self.metric_labels.values():
                label.setText("–")
            return
        k, top_k = split.top_k_accuracy
        self.metric_titles["top_k"].setText(f"Top-{k}")
        texts = {"accuracy": format_percent(split.accuracy), "top_k": format_percent(top_k),
                 "loss": f"{split.loss:.3f}" if math.isfinite(split.loss) else "–",
                 "macro_f1": f"{split.metrics.get(f'{split.name}_macro_f1', float('nan')):.2f}",
                 "images": str(len(split.records)), "ece": format_percent(split.ece)}
        for key, text in texts.items():
            self.metric_labels[key].setText(text)


class ConfusionBox(QGroupBox):
    """The confusion matrix as a heat map; a click on a cell says which (`matrix_view.cell_selected`)."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__("Confusion matrix", parent)
        layout = QVBoxLayout(self)
        layout.addWidget(hint_label("Rows: the true class. Columns: what the model said. Blue: right, red: wrong; "
                                    "the darker, the larger its share of the row. Click a cell."))
        self.matrix_view = ConfusionMatrixView()
        layout.addWidget(self.matrix_view)

    def show_split(self, split: SplitEvaluation | None) -> None:
        if split is None:
            self.matrix_view.set_matrix([], [])
        else:
            self.matrix_view.set_matrix(split.classes, split.confusion_matrix)


class ClassMetricsBox(QGroupBox):
    """Precision, recall, F1 and the number of images of each class."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__("Per class", parent)
        layout = QVBoxLayout(self)
        self.class_table = named(QTableWidget(0, 5), "evaluateClassTable", "Per-class metrics",
                                 "Precision: of the images called this class, the share that are. Recall: of "
                                 "this class's images, the share found. F1: their harmonic mean.")
        table = self.class_table
        table.setHorizontalHeaderLabels(["Class", "Precision", "Recall", "F1", "Images"])
        table.verticalHeader().hide()
        table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        table.setAlternatingRowColors(True)
        table.setShowGrid(False)
        header = table.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        layout.addWidget(table)

    def show_split(self, split: SplitEvaluation | None) -> None:
        if split is None:
            self.class_table.setRowCount(0)
            return
        per_class = split.per_class
        self.class_table.setRowCount(len(split.classes))
        for row, name in enumerate(split.classes):
            values = per_class.get(name, {})
            cells = [name, format_percent(values.get("precision")), format_percent(values.get("recall")),
                     f"{values.get('f1', float('nan')):.2f}", str(values.get("support", 0))]
            for column, text in enumerate(cells):
                item = QTableWidgetItem(text)
                if column:
                    item.setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
                self.class_table.setItem(row, column, item)


class CalibrationBox(QGroupBox):
    """The reliability diagram, the ECE and what calibrating did (from the run's metrics), and Calibrate."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__("Calibration", parent)
        layout = QHBoxLayout(self)
        self.reliability = ReliabilityDiagram()
        self.reliability.setMaximumHeight(190)
        layout.addWidget(self.reliability, 1)
        side = QVBoxLayout()
        self.calibration_label = hint_label("")
        self.calibration_label.setObjectName("evaluateCalibrationLabel")
        self.calibration_label.setMinimumWidth(180)
        side.addWidget(self.calibration_label, 1)
        self.calibrate_button = named(QPushButton("Calibrate"), "evaluateCalibrateButton", "Calibrate the model",
                                      "Fit one temperature on the validation images (temperature scaling) so the "
                                      "model's confidence matches how often it is right; the saved model and every "
                                      "export then give the calibrated probabilities. No prediction changes class.")
        side.addWidget(self.calibrate_button, 0, Qt.AlignmentFlag.AlignLeft)
        layout.addLayout(side)

    def show_split(self, split: SplitEvaluation | None, run_metrics: dict[str, Any]) -> None:
        """`run_metrics`: the run's metrics.json, which says whether (and how) it was calibrated."""
        if split is None:
            self.reliability.set_bins(None)
            self.calibration_label.setText(NO_SPLIT_CALIBRATION)
            return
        self.reliability.set_bins(split.reliability())
        self.calibration_label.setText(calibration_text(split, run_metrics))


def calibration_text(split: SplitEvaluation, run_metrics: dict[str, Any]) -> str:
    ece = f"ECE {format_percent(split.ece)}: on average the confidence is this far from the accuracy."
    if run_metrics.get("temperature") is not None:
        return (f"{ece}<br>Calibrated (temperature {run_metrics['temperature']:.3g}): ECE "
                f"{format_percent(run_metrics.get('ece_before'))} before, "
                f"{format_percent(run_metrics.get('ece_after'))} after, on the validation images. Exports give the "
                "calibrated probabilities.")
    return (f"{ece}<br>Bars under the diagonal: surer than right. <b>Calibrate</b> fits one temperature on the "
            "validation images; the saved model and its exports then give calibrated probabilities.")


def ensemble_text(run_metrics: dict[str, Any]) -> str:
    """For an ensemble's run (its metrics.json has an "ensemble" entry): its figures beside each member's;
    "" for any other run."""
    ensemble = run_metrics.get("ensemble")
    if not ensemble:
        return ""
    members = "; ".join(f"{Path(m['run']).name}: {m['val_accuracy']:.1%}"
                        + ("" if m.get("included", True) else f" (left out, {m['why']})")
                        for m in ensemble["members"])
    backbone = " The shared frozen backbone runs once." if ensemble.get("shared_backbone") else ""
    return (f"<b>Ensemble: {run_metrics['val_accuracy']:.1%}</b> on "
            f"{ensemble.get('validation', 'the validation images')}. Members: {members}.{backbone}")
