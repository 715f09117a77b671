"""Export page: export a run's model in the formats it will run in elsewhere, each one verified.

The work is `tlstudio.export.export_run` (the same as `tlstudio export`), run in the background;
this page only collects the choices and shows its progress and verification table. A plain
copy of model.keras is offered too, for when one file is all that is needed.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from PySide6.QtCore import Qt, QUrl, Slot
from PySide6.QtGui import QDesktopServices
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
    QLabel,
    QLineEdit,
    QProgressBar,
    QPushButton,
    QStyle,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from tlstudio.base.files import atomic_target
from tlstudio.base.text import format_bytes, format_percent
from tlstudio.export import FORMATS, QUANTIZATIONS, export_run
from tlstudio.gui.background import Task, TaskContext, TaskRunner, TensorFlowLoader
from tlstudio.gui.pages.base import Page
from tlstudio.gui.state.run_history import RunHistory
from tlstudio.gui.widgets.common import hint_label, named
from tlstudio.gui.widgets.run_combo import RunCombo
from tlstudio.runs.folder import MODEL_FILE

FORMAT_LABELS = {"keras": "Keras (.keras)", "savedmodel": "TensorFlow SavedModel",
                 "tflite": "TensorFlow Lite (.tflite)", "onnx": "ONNX (.onnx)"}
FORMAT_HELP = {"keras": "The whole classifier for Keras 3; loads with keras.saving.load_model.",
               "savedmodel": "For TensorFlow Serving and TF.js converters; signature serving_default.",
               "tflite": "For phones and small devices (LiteRT); can be quantized.",
               "onnx": "For onnxruntime and most other runtimes (opset 17)."}
QUANTIZE_LABELS = {"none": "none (float32)", "float16": "float16 weights", "dynamic": "dynamic range (int8 weights)",
                   "int8": "full int8 (uint8 in and out)"}
DEFAULT_FORMATS = ("keras", "savedmodel", "tflite")


def copy_file_atomic(source: Path, target: Path) -> Path:
    """Copy to a temporary file beside `target`, then rename: never a half-written model."""
    with atomic_target(target) as tmp:
        shutil.copyfile(source, tmp)
    return Path(target)


class ExportPage(Page):
    """Wraps the RunHistory: choose a run, formats and a folder; export and show the verification."""

    def __init__(self, history: RunHistory, runner: TaskRunner, tensorflow: TensorFlowLoader,
                 parent: QWidget | None = None):
        super().__init__("Export", "Save a trained model to run elsewhere. Every format is reloaded in its "
                         "own runtime and checked against the Keras model before it is called done. Each takes "
                         "raw RGB images (0–255) of the input size and returns class probabilities in the "
                         "order of labels.txt.", "exportPage", scroll=True, parent=parent)
        self._history = history
        self._runner = runner
        self._tensorflow = tensorflow
        self._task: Task | None = None
        self.last_saved: Path | None = None
        self.report = None  # the last tlstudio.export.ExportReport

        layout = QVBoxLayout(self.body)
        layout.setContentsMargins(0, 6, 4, 0)
        layout.setSpacing(10)
        run_box = QGroupBox("Model")
        run_form = QFormLayout(run_box)
        self.run_combo = RunCombo(history, "exportRunCombo", "Run to export",
                                  "The run whose best model (lowest validation loss) is exported.")
        self.run_combo.run_changed.connect(self._on_run_selected)
        run_form.addRow("Run", self.run_combo)
        self.details_label = QLabel()
        self.details_label.setObjectName("exportDetailsLabel")
        self.details_label.setWordWrap(True)
        self.details_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        run_form.addRow(self.details_label)
        layout.addWidget(run_box)

        export_box = QGroupBox("Export and verify")
        export_form = QFormLayout(export_box)
        formats_row = QGridLayout()  # two a row: four side by side do not fit a 1024 px screen
        self.format_checks: dict[str, QCheckBox] = {}
        for number, fmt in enumerate(FORMATS):
            check = named(QCheckBox(FORMAT_LABELS.get(fmt, fmt)), f"exportFormat_{fmt}",
                          FORMAT_LABELS.get(fmt, fmt), FORMAT_HELP.get(fmt))
            check.setChecked(fmt in DEFAULT_FORMATS)
            check.toggled.connect(self._refresh_buttons)
            self.format_checks[fmt] = check
            formats_row.addWidget(check, number // 2, number % 2)
        formats_row.setColumnStretch(2, 1)
        export_form.addRow("Formats", formats_row)
        self.quantize_combo = named(QComboBox(), "exportQuantizeCombo", "TensorFlow Lite quantization",
                                    "Smaller, faster TFLite models; quantized ones are judged by agreeing "
                                    "on the top class.")
        for value in QUANTIZATIONS:
            self.quantize_combo.addItem(QUANTIZE_LABELS.get(value, value), value)
        export_form.addRow("TFLite quantization", self.quantize_combo)
        folder_row = QHBoxLayout()
        self.folder_edit = named(QLineEdit(), "exportFolderEdit", "Export folder",
                                 "Where the exported files, labels.txt and the model card go.")
        self.folder_edit.setPlaceholderText("the run folder's export/ sub-folder")
        folder_row.addWidget(self.folder_edit, 1)
        self.folder_button = named(QPushButton("Choose…"), "exportChooseFolderButton", "Choose export folder")
        self.folder_button.clicked.connect(self.choose_folder)
        folder_row.addWidget(self.folder_button)
        export_form.addRow("Folder", folder_row)
        action_row = QHBoxLayout()
        self.export_button = named(QPushButton("Export and verify"), "exportButton", "Export and verify")
        self.export_button.setProperty("role", "primary")
        self.export_button.clicked.connect(self.start_export)
        action_row.addWidget(self.export_button)
        self.progress = named(QProgressBar(), "exportProgress", "Export progress")
        self.progress.setFixedWidth(240)
        self.progress.hide()
        action_row.addWidget(self.progress)
        self.cancel_button = named(QPushButton("Cancel"), "exportCancelButton", "Cancel the export",
                                   "Stop after the current step; nothing is written to the folder.")
        self.cancel_button.clicked.connect(self.cancel_export)
        self.cancel_button.hide()
        action_row.addWidget(self.cancel_button)
        self.open_button = named(QPushButton("Open folder"), "exportOpenFolderButton", "Open export folder")
        self.open_button.setEnabled(False)
        self.open_button.clicked.connect(self._open_folder)
        action_row.addWidget(self.open_button)
        action_row.addStretch(1)
        export_form.addRow(action_row)
        self.status_label = QLabel()
        self.status_label.setObjectName("exportStatusLabel")
        self.status_label.setWordWrap(True)
        self.status_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        export_form.addRow(self.status_label)
        self.results_table = named(QTableWidget(0, 7), "exportResultsTable", "Verification results",
                                   "Each format as reloaded in its own runtime and compared with Keras.")
        self.results_table.setHorizontalHeaderLabels(["Format", "Verified", "Top-1 agreement", "Max |Δp|",
                                                      "Size", "ms / image", "File or reason"])
        self.results_table.verticalHeader().hide()
        self.results_table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.results_table.setShowGrid(False)
        self.results_table.setAlternatingRowColors(True)
        header = self.results_table.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(6, QHeaderView.ResizeMode.Stretch)
        self.results_table.setMinimumHeight(150)
        export_form.addRow(self.results_table)
        layout.addWidget(export_box)

        copy_box = QGroupBox("Just the Keras file")
        copy_row = QHBoxLayout(copy_box)
        self.save_button = named(QPushButton("Save model.keras as…"), "exportSaveButton", "Save model as",
                                 "Copy the run's model.keras to a file you choose (no conversion).")
        self.save_button.setIcon(self.style().standardIcon(QStyle.StandardPixmap.SP_DialogSaveButton))
        self.save_button.clicked.connect(self.choose_target)
        copy_row.addWidget(self.save_button)
        self.copy_status_label = hint_label()
        self.copy_status_label.setObjectName("exportCopyStatusLabel")
        copy_row.addWidget(self.copy_status_label, 1)
        layout.addWidget(copy_box)
        layout.addStretch(1)

        history.changed.connect(self._on_history_changed)  # after the combo's own refill
        tensorflow.loaded.connect(self._refresh_buttons)
        self._on_history_changed()

    # -- the run --------------------------------------------------------------------------------

    @property
    def selected_run(self) -> Path | None:
        return self.run_combo.selected_run

    @Slot()
    def _on_history_changed(self) -> None:
        self._on_run_selected()  # its accuracy may have been written since
        self.summary_changed.emit()

    @Slot()
    def _on_run_selected(self, *_: object) -> None:
        run = self.selected_run
        self._refresh_buttons()
        if run is None:
            self.details_label.setText("")
            self.folder_edit.setText("")
            return
        self.folder_edit.setText(str(run / "export"))
        try:
            record = self._history.details(run)
        except (OSError, ValueError) as error:
            self.details_label.setText(f"Cannot read this run: {error}")
            return
        model = record.config.get("model", {})
        size = model.get("image_size") or "the backbone's default"
        classes = ", ".join(record.classes) if record.classes else "?"
        accuracy = format_percent((record.metrics or {}).get("val_accuracy"))
        self.details_label.setText(
            f"Backbone <b>{model.get('backbone', '?')}</b>, input {size} px, validation accuracy "
            f"<b>{accuracy}</b>, {len(record.classes)} classes ({classes}).")

    @Slot()
    def _refresh_buttons(self, *_: object) -> None:
        idle = self._task is None
        self.cancel_button.setVisible(not idle)
        has_run = self.selected_run is not None
        any_format = any(check.isChecked() for check in self.format_checks.values())
        self.export_button.setEnabled(idle and has_run and any_format and self._tensorflow.ready)
        self.save_button.setEnabled(idle and has_run)
        if not self._tensorflow.ready:
            self.export_button.setToolTip("Available once TensorFlow has loaded.")
        else:
            self.export_button.setToolTip("Convert, reload and verify each chosen format.")

    @Slot()
    def choose_folder(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Export into", self.folder_edit.text() or str(Path.home()))
        if folder:
            self.folder_edit.setText(folder)

    # -- export -----------------------------------------------------------------------------------

    @property
    def chosen_formats(self) -> list[str]:
        return [fmt for fmt, check in self.format_checks.items() if check.isChecked()]

    @Slot()
    def start_export(self) -> Task | None:
        """Export the selected run in the chosen formats, in the background."""
        run = self.selected_run
        formats = self.chosen_formats
        if run is None or not formats or self._task is not None:
            return None
        out_dir = Path(self.folder_edit.text().strip() or run / "export").expanduser()
        quantize = self.quantize_combo.currentData()

        def work(context: TaskContext):
            return export_run(run, formats, out_dir, quantize, task=context)

        self.results_table.setRowCount(0)
        self.progress.setRange(0, 0)
        self.progress.show()
        self.open_button.setEnabled(False)
        self._set_status(f"Exporting to {out_dir}…", "")
        self._task = self._runner.submit("exporting the model", work)
        self._task.progressed.connect(self._on_export_progress)
        self._task.messaged.connect(self._on_export_message)
        self._task.succeeded.connect(self._on_exported)
        self._task.failed.connect(self._on_export_failed)
        self._task.finished.connect(self._on_export_finished)
        self._refresh_buttons()
        return self._task

    @Slot(int, int)
    def _on_export_progress(self, done: int, total: int) -> None:
        self.progress.setRange(0, max(1, total))
        self.progress.setValue(done)

    @Slot(str)
    def _on_export_message(self, message: str) -> None:
        self.status_label.setText(message[:1].upper() + message[1:] + "…")

    @Slot(object)
    def _on_exported(self, report) -> None:
        self._task = None
        self.report = report
        self.progress.hide()
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
        failed = [r.label for r in report.results if not r.ok]
        if failed:
            self._set_status(f"Exported to {report.out_dir}, but {', '.join(failed)} failed: see the reason "
                             "in the table.", "error")
        else:
            self._set_status(f"Exported and verified on {report.verified_on}: {report.out_dir}", "")
        self.open_button.setEnabled(Path(report.out_dir).is_dir())
        self._refresh_buttons()

    @Slot(str)
    def _on_export_failed(self, message: str) -> None:
        self._task = None
        self.progress.hide()
        self._set_status(f"Export failed: {message}", "error")
        self._refresh_buttons()

    @Slot()
    def _on_export_finished(self) -> None:
        task = self.sender()
        if task is not None and task is self._task and task.cancelled:  # a cancelled task says nothing else
            self._task = None
            self.progress.hide()
            self._set_status("Export cancelled; nothing was written to the folder.", "")
            self._refresh_buttons()

    @Slot()
    def cancel_export(self) -> None:
        """Ask the running export to stop at its next step; its staging folder is removed."""
        if self._task is not None:
            self._task.cancel()
            self._set_status("Cancelling after the current step…", "")

    def _set_status(self, text: str, role: str) -> None:
        self.status_label.setText(text)
        self.status_label.setProperty("role", role)
        self.status_label.style().unpolish(self.status_label)
        self.status_label.style().polish(self.status_label)

    @Slot()
    def _open_folder(self) -> None:
        if self.report is not None:
            QDesktopServices.openUrl(QUrl.fromLocalFile(str(self.report.out_dir)))

    # -- plain copy -------------------------------------------------------------------------------

    @Slot()
    def choose_target(self) -> None:
        run = self.selected_run
        if run is None:
            return
        start = str(Path.home() / f"{run.name}.keras")
        path, _ = QFileDialog.getSaveFileName(self, "Save the model", start, "Keras model (*.keras)")
        if path:
            self.save_model(Path(path))

    def save_model(self, target: Path) -> Task | None:
        """Copy the selected run's model.keras to `target` (atomically, in the background)."""
        run = self.selected_run
        if run is None or self._task is not None:
            return None
        if target.suffix != ".keras":
            target = target.with_name(target.name + ".keras")
        source = run / MODEL_FILE

        def work(context: TaskContext) -> Path:
            return copy_file_atomic(source, target)

        self.copy_status_label.setText(f"Saving {target.name}…")
        self._task = self._runner.submit("saving the model", work)
        self._task.succeeded.connect(self._on_saved)
        self._task.failed.connect(self._on_save_failed)
        self._refresh_buttons()
        return self._task

    @Slot(object)
    def _on_saved(self, path: Path) -> None:
        self._task = None
        self.last_saved = path
        self.copy_status_label.setText(f"Saved to {path}.")
        self._refresh_buttons()

    @Slot(str)
    def _on_save_failed(self, message: str) -> None:
        self._task = None
        self.copy_status_label.setText(f"Could not save the model: {message} Choose another place.")
        self._refresh_buttons()

    @property
    def busy(self) -> bool:
        return self._task is not None

    def summary(self) -> str:
        return "model ready" if any(s.has_model for s in self._history.summaries) else ""
