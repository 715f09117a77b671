"""The Export page's boxes: the run to export and what it holds, the export's choices (formats, TFLite
quantization, folder) with its progress and verification table, and the plain copy of model.keras.

The boxes collect choices and draw results; the export itself is `tlstudio.export.export_run`.
"""

from __future__ import annotations

import html
from pathlib import Path

from PySide6.QtCore import Qt, Slot
from PySide6.QtWidgets import (
    QAbstractItemView,
    QCheckBox,
    QComboBox,
    QFileDialog,
    QFormLayout,
    QGridLayout,
    QGroupBox,
    QHBoxLayout,
    QHeaderView,
    QLineEdit,
    QProgressBar,
    QPushButton,
    QStyle,
    QTableWidget,
    QTableWidgetItem,
    QWidget,
)

from tlstudio.backbones.registry import BACKBONES
from tlstudio.base.text import format_bytes, format_percent
from tlstudio.export import FORMATS, QUANTIZATIONS
from tlstudio.gui.state.run_history import RunHistory
from tlstudio.gui.widgets.common import hint_label, named, text_label
from tlstudio.gui.widgets.run_combo import RunCombo
from tlstudio.predict.formats import MODEL_FORMATS

QUANTIZE_LABELS = {"none": "none (float32)", "float16": "float16 weights", "dynamic": "dynamic range (int8 weights)",
                   "int8": "full int8 (uint8 in and out)"}
DEFAULT_FORMATS = ("keras", "savedmodel", "tflite")
RESULT_COLUMNS = ["Format", "Verified", "Top-1 agreement", "Max |Δp|", "Size", "ms / image", "File or reason"]


class RunDetailsBox(QGroupBox):
    """Wraps the RunHistory: the run chosen, with its backbone, input size, accuracy and classes."""

    def __init__(self, history: RunHistory, parent: QWidget | None = None) -> None:
        super().__init__("Model", parent)
        self._history = history
        form = QFormLayout(self)
        self.run_combo = RunCombo(history, "exportRunCombo", "Run to export",
                                  "The run whose best model (lowest validation loss) is exported.")
        form.addRow("Run", self.run_combo)
        self.details_label = text_label("exportDetailsLabel", selectable=True)
        form.addRow(self.details_label)

    def show_run(self, run: Path | None) -> None:
        if run is None:
            self.details_label.setText("")
            return
        try:
            record = self._history.details(run)
            project = record.project
        except (OSError, ValueError) as error:
            self.details_label.setText(f"Cannot read this run: {error}")
            return
        classes = html.escape(", ".join(record.classes)) if record.classes else "?"
        accuracy = format_percent((record.metrics or {}).get("val_accuracy"))
        spec = BACKBONES.get(project.model.backbone)
        backbone = html.escape(spec.label if spec else project.model.backbone)
        self.details_label.setText(
            f"Backbone <b>{backbone}</b>, input {project.model.resolved_image_size} px, validation "
            f"accuracy <b>{accuracy}</b>, {len(record.classes)} classes ({classes}).")


class ExportBox(QGroupBox):
    """The formats, quantization and folder to export to; Export, its progress, Cancel, and the verification."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__("Export and verify", parent)
        form = QFormLayout(self)
        form.addRow("Formats", self._format_checks())
        self.quantize_combo = named(QComboBox(), "exportQuantizeCombo", "TensorFlow Lite quantization",
                                    "Smaller, faster TFLite models; quantized ones are judged by agreeing "
                                    "on the top class.")
        for value in QUANTIZATIONS:
            self.quantize_combo.addItem(QUANTIZE_LABELS.get(value, value), value)
        form.addRow("TFLite quantization", self.quantize_combo)
        form.addRow("Folder", self._folder_row())
        form.addRow(self._action_row())
        self.status_label = text_label("exportStatusLabel", selectable=True)
        form.addRow(self.status_label)
        self.results_table = named(QTableWidget(0, len(RESULT_COLUMNS)), "exportResultsTable",
                                   "Verification results",
                                   "Each format as reloaded in its own runtime and compared with Keras.")
        self.results_table.setHorizontalHeaderLabels(RESULT_COLUMNS)
        self.results_table.verticalHeader().hide()
        self.results_table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.results_table.setShowGrid(False)
        self.results_table.setAlternatingRowColors(True)
        header = self.results_table.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(len(RESULT_COLUMNS) - 1, QHeaderView.ResizeMode.Stretch)
        self.results_table.setMinimumHeight(150)
        form.addRow(self.results_table)

    def _format_checks(self) -> QGridLayout:
        grid = QGridLayout()  # two a row: four side by side do not fit a 1024 px screen
        self.format_checks: dict[str, QCheckBox] = {}
        for number, fmt in enumerate(FORMATS):
            model_format = MODEL_FORMATS[fmt]
            check = named(QCheckBox(model_format.label), f"exportFormat_{fmt}", model_format.label, model_format.help)
            check.setChecked(fmt in DEFAULT_FORMATS)
            self.format_checks[fmt] = check
            grid.addWidget(check, number // 2, number % 2)
        grid.setColumnStretch(2, 1)
        return grid

    def _folder_row(self) -> QHBoxLayout:
        row = QHBoxLayout()
        self.folder_edit = named(QLineEdit(), "exportFolderEdit", "Export folder",
                                 "Where the exported files, labels.txt and the model card go.")
        self.folder_edit.setPlaceholderText("the run folder's export/ sub-folder")
        row.addWidget(self.folder_edit, 1)
        self.folder_button = named(QPushButton("Choose…"), "exportChooseFolderButton", "Choose export folder")
        self.folder_button.clicked.connect(self.choose_folder)
        row.addWidget(self.folder_button)
        return row

    def _action_row(self) -> QHBoxLayout:
        row = QHBoxLayout()
        self.export_button = named(QPushButton("Export and verify"), "exportButton", "Export and verify")
        self.export_button.setProperty("role", "primary")
        row.addWidget(self.export_button)
        self.progress = named(QProgressBar(), "exportProgress", "Export progress")
        self.progress.setFixedWidth(240)
        self.progress.hide()
        row.addWidget(self.progress)
        self.cancel_button = named(QPushButton("Cancel"), "exportCancelButton", "Cancel the export",
                                   "Stop after the current step; nothing is written to the folder.")
        self.cancel_button.hide()
        row.addWidget(self.cancel_button)
        self.open_button = named(QPushButton("Open folder"), "exportOpenFolderButton", "Open export folder")
        self.open_button.setEnabled(False)
        row.addWidget(self.open_button)
        row.addStretch(1)
        return row

    @property
    def chosen_formats(self) -> list[str]:
        return [fmt for fmt, check in self.format_checks.items() if check.isChecked()]

    @Slot()
    def choose_folder(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Export into", self.folder_edit.text() or str(Path.home()))
        if folder:
            self.folder_edit.setText(folder)

    def show_report(self, report) -> None:
        """Each format's verification (a tlstudio.export.ExportReport), failures in red with their reason."""
        self.results_table.setRowCount(len(report.results))
        for row, result in enumerate(report.results):
            cells = [result.label, "yes" if result.ok else "FAILED", format_percent(result.top1_agreement),
                     f"{result.max_abs_diff:.2g}" if result.max_abs_diff is not None else "–",
                     format_bytes(result.size_bytes) if result.size_bytes is not None else "–",
                     f"{result.latency_ms:.2f}" if result.latency_ms is not None else "–",
                     result.path.name if result.path else result.reason]
            for column, text in enumerate(cells):
                item = QTableWidgetItem(text)
                item.setToolTip(text)
                if column == 1 and not result.ok:
                    item.setForeground(Qt.GlobalColor.darkRed)
                self.results_table.setItem(row, column, item)


class KerasCopyBox(QGroupBox):
    """Save a copy of the run's model.keras where the user chooses (no conversion)."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__("Just the Keras file", parent)
        row = QHBoxLayout(self)
        self.save_button = named(QPushButton("Save model.keras as…"), "exportSaveButton", "Save model as",
                                 "Copy the run's model.keras to a file you choose (no conversion).")
        self.save_button.setIcon(self.style().standardIcon(QStyle.StandardPixmap.SP_DialogSaveButton))
        row.addWidget(self.save_button)
        self.copy_status_label = hint_label()
        self.copy_status_label.setObjectName("exportCopyStatusLabel")
        row.addWidget(self.copy_status_label, 1)
