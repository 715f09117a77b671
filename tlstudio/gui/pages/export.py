"""Export page: export a run's model in the formats it will run in elsewhere, each one verified.

The work is `tlstudio.export.export_run` (the same as `tlstudio export`), run in the background;
this page only collects the choices and shows its progress and verification table. A plain
copy of model.keras is offered too, for when one file is all that is needed.
"""

from __future__ import annotations

from functools import partial
from pathlib import Path

from PySide6.QtCore import QUrl, Slot
from PySide6.QtGui import QDesktopServices
from PySide6.QtWidgets import QFileDialog, QVBoxLayout, QWidget

from tlstudio.base.files import copy_file_atomic
from tlstudio.export import export_run
from tlstudio.gui.background import Task, TaskContext, TaskRunner, TensorFlowLoader
from tlstudio.gui.pages.base import Page
from tlstudio.gui.panels.export_views import ExportBox, KerasCopyBox, RunDetailsBox
from tlstudio.gui.state.run_history import RunHistory
from tlstudio.gui.widgets.common import TaskHolder, set_status
from tlstudio.runs.folder import MODEL_FILE

EXPORT_FOLDER = "export"  # the default destination: a sub-folder of the run folder


class ExportPage(Page):
    """Wraps the RunHistory: choose a run, formats and a folder; export and show the verification."""

    def __init__(self, history: RunHistory, runner: TaskRunner, tensorflow: TensorFlowLoader,
                 parent: QWidget | None = None):
        super().__init__("Export", "Save a trained model to run elsewhere. Every format is reloaded in its "
                         "own runtime and checked against the Keras model before it is called done. Each takes "
                         "raw RGB images (0–255) of the input size and returns class probabilities in the "
                         "order of labels.txt.", "exportPage", scroll=True, parent=parent)
        self._history = history
        self._tensorflow = tensorflow
        self.last_saved: Path | None = None
        self.report = None  # the last tlstudio.export.ExportReport
        self.run_box = RunDetailsBox(history)
        self.export_box = ExportBox()
        self.copy_box = KerasCopyBox()
        # An export or a copy, one at a time; the bar shows the steps done (the status line names them).
        self._work = TaskHolder(runner, self.export_box.progress, name_stage=False, parent=self)
        layout = QVBoxLayout(self.body)
        layout.setContentsMargins(0, 6, 4, 0)
        layout.setSpacing(10)
        for box in (self.run_box, self.export_box, self.copy_box):
            layout.addWidget(box)
        layout.addStretch(1)

        # The panels' widgets by the page's names: the tests and the screenshot script reach them here.
        self.run_combo, self.details_label = self.run_box.run_combo, self.run_box.details_label
        self.format_checks, self.quantize_combo = self.export_box.format_checks, self.export_box.quantize_combo
        self.folder_edit, self.export_button = self.export_box.folder_edit, self.export_box.export_button
        self.progress, self.cancel_button = self.export_box.progress, self.export_box.cancel_button
        self.open_button, self.status_label = self.export_box.open_button, self.export_box.status_label
        self.results_table = self.export_box.results_table
        self.save_button, self.copy_status_label = self.copy_box.save_button, self.copy_box.copy_status_label

        self.run_combo.run_changed.connect(self._on_run_selected)
        for check in self.format_checks.values():
            check.toggled.connect(self._refresh_buttons)
        self.export_button.clicked.connect(self.start_export)
        self.cancel_button.clicked.connect(self.cancel_export)
        self.open_button.clicked.connect(self._open_folder)
        self.save_button.clicked.connect(self.choose_target)
        history.changed.connect(self._on_history_changed)  # after the combo's own refill
        tensorflow.loaded.connect(self._refresh_buttons)
        self._on_history_changed()

    # -- the run --------------------------------------------------------------------------------

    @property
    def selected_run(self) -> Path | None:
        return self.run_combo.selected_run

    @property
    def busy(self) -> bool:
        return self._work.busy

    @Slot()
    def _on_history_changed(self) -> None:
        self._on_run_selected()  # its accuracy may have been written since
        self.summary_changed.emit()

    @Slot()
    def _on_run_selected(self, *_: object) -> None:
        run = self.selected_run
        self._refresh_buttons()
        self.folder_edit.setText(str(run / EXPORT_FOLDER) if run is not None else "")
        self.run_box.show_run(run)

    @Slot()
    def _refresh_buttons(self, *_: object) -> None:
        idle = not self.busy
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
        self.export_box.choose_folder()

    # -- export -----------------------------------------------------------------------------------

    @property
    def chosen_formats(self) -> list[str]:
        return self.export_box.chosen_formats

    @Slot()
    def start_export(self) -> Task | None:
        """Export the selected run in the chosen formats, in the background."""
        run = self.selected_run
        formats = self.chosen_formats
        if run is None or not formats or self.busy:
            return None
        out_dir = Path(self.folder_edit.text().strip() or run / EXPORT_FOLDER).expanduser()
        quantize = self.quantize_combo.currentData()

        def work(context: TaskContext):
            return export_run(run, formats, out_dir, quantize, task=context)

        self.results_table.setRowCount(0)
        self.open_button.setEnabled(False)
        set_status(self.status_label, f"Exporting to {out_dir}…")
        task = self._work.start("exporting the model", work, messaged=self._on_export_message,
                                succeeded=self._on_exported, failed=self._on_export_failed,
                                cancelled=self._on_export_cancelled)
        self._refresh_buttons()
        return task

    def _on_export_message(self, message: str) -> None:
        self.status_label.setText(message[:1].upper() + message[1:] + "…")

    def _on_exported(self, report) -> None:
        self.report = report
        self.export_box.show_report(report)
        failed = [r.label for r in report.results if not r.ok]
        if failed:
            set_status(self.status_label, f"Exported to {report.out_dir}, but {', '.join(failed)} failed: see the "
                       "reason in the table.", "error")
        else:
            set_status(self.status_label, f"Exported and verified on {report.verified_on}: {report.out_dir}")
        self.open_button.setEnabled(Path(report.out_dir).is_dir())
        self._refresh_buttons()

    def _on_export_failed(self, message: str) -> None:
        set_status(self.status_label, f"Export failed: {message}", "error")
        self._refresh_buttons()

    def _on_export_cancelled(self) -> None:
        set_status(self.status_label, "Export cancelled; nothing was written to the folder.")
        self._refresh_buttons()

    @Slot()
    def cancel_export(self) -> None:
        """Ask the running export to stop at its next step; its staging folder is removed."""
        if self.busy:
            self._work.cancel()
            set_status(self.status_label, "Cancelling after the current step…")

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
        if run is None or self.busy:
            return None
        if target.suffix != ".keras":
            target = target.with_name(target.name + ".keras")
        source = run / MODEL_FILE

        def work(context: TaskContext) -> Path:
            return copy_file_atomic(source, target)

        self.copy_status_label.setText(f"Saving {target.name}…")
        task = self._work.start("saving the model", work, succeeded=self._on_saved, failed=self._on_save_failed,
                                cancelled=partial(self._on_save_failed, "the copy was cancelled."),
                                show_progress_bar=False)
        self._refresh_buttons()
        return task

    def _on_saved(self, path: Path) -> None:
        self.last_saved = path
        self.copy_status_label.setText(f"Saved to {path}.")
        self._refresh_buttons()

    def _on_save_failed(self, message: str) -> None:
        self.copy_status_label.setText(f"Could not save the model: {message} Choose another place.")
        self._refresh_buttons()

    def summary(self) -> str:
        return "model ready" if any(s.has_model for s in self._history.summaries) else ""
