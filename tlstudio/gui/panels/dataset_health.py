"""The Data page's Health panel: `tlstudio.tools.dataset_health.check_health` run in the background, its findings
as thumbnails, and what the user does about each: move the file to another class, exclude it (recorded in
the project, the file untouched) or mark it fine.

The check and the file move are the core's; this panel only draws the report and writes the user's
decisions into the Project.
"""

from __future__ import annotations

from PySide6.QtCore import Signal, Slot
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QProgressBar,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from tlstudio.gui.background import Task, TaskContext, TaskRunner
from tlstudio.gui.state.bindings import bind_check
from tlstudio.gui.state.project_model import ALL, ProjectModel
from tlstudio.gui.widgets.common import TaskHolder, hint_label, named, text_label
from tlstudio.gui.widgets.gallery import GalleryEntry, ImageGallery
from tlstudio.gui.widgets.thumbnails import ThumbnailCache

THUMBNAIL_SIZE = 56
KIND_TITLES = {"duplicate": "Duplicate", "mislabeled": "Label?", "outlier": "Outlier", "low-information": "Image"}


class HealthPanel(QGroupBox):
    """Wraps one HealthReport (None until a check ran) and the project's exclude / marked-fine lists."""

    files_moved = Signal()  # a file changed class on disk: the folder wants scanning again
    checked = Signal()  # a check finished (or failed): for tests and the status bar

    def __init__(self, project: ProjectModel, runner: TaskRunner, parent: QWidget | None = None):
        super().__init__("Health", parent)
        self.setObjectName("dataHealthPanel")
        self._project = project
        self.report = None
        self.findings: list = []
        self.thumbnails = ThumbnailCache(runner, THUMBNAIL_SIZE, parent=self)
        layout = QVBoxLayout(self)
        layout.addLayout(self._check_row())
        self.keep_together_check = named(QCheckBox("Keep copies on one side of the split"),
                                         "dataKeepDuplicatesCheck", "Keep duplicate groups together",
                                         "Every group of copies of one picture goes wholly to training or wholly to "
                                         "validation, so no copy of a training image is validated on.")
        layout.addWidget(self.keep_together_check)
        self.gallery = ImageGallery(self.thumbnails, "dataHealthGallery", "Health findings",
                                    "Each flagged image and why. Select one, then move, exclude or mark it fine.",
                                    grid=False)
        self.gallery.setMinimumHeight(140)
        layout.addWidget(self.gallery, 1)
        layout.addLayout(self._actions_row())
        self.action_label = hint_label("")
        self.action_label.setObjectName("dataHealthActionLabel")
        layout.addWidget(self.action_label)
        self._checking = TaskHolder(runner, self.progress, parent=self)

        self._binding = bind_check(project, "data.keep_duplicates_together", self.keep_together_check)
        self.check_button.clicked.connect(self.check)
        self.move_button.clicked.connect(self.move_selected)
        self.exclude_button.clicked.connect(self.exclude_selected)
        self.fine_button.clicked.connect(self.mark_selected_fine)
        self.gallery.currentRowChanged.connect(self._on_selection)
        project.changed.connect(self._on_project_changed)
        self._refresh_actions()

    def _check_row(self) -> QHBoxLayout:
        """Check health, its progress, and the summary of what it found."""
        row = QHBoxLayout()
        self.check_button = named(QPushButton("Check health"), "dataHealthButton", "Check dataset health",
                                  "Look for duplicates, copies split across training and validation, likely label "
                                  "mistakes, outliers and near-blank images, with the project's pretrained backbone.")
        row.addWidget(self.check_button)
        self.progress = named(QProgressBar(), "dataHealthProgress", "Health check progress")
        self.progress.setMaximumWidth(220)
        self.progress.hide()
        row.addWidget(self.progress)
        self.summary_label = text_label("dataHealthSummary", "Not checked yet.")
        row.addWidget(self.summary_label, 1)
        return row

    def _actions_row(self) -> QHBoxLayout:
        """What to do about the selected finding: move the file to a class, exclude it, or mark it fine."""
        row = QHBoxLayout()
        row.addWidget(QLabel("Move to"))
        self.class_combo = named(QComboBox(), "dataHealthClassCombo", "Class to move the file to")
        row.addWidget(self.class_combo)
        self.move_button = named(QPushButton("Move"), "dataHealthMoveButton", "Move the file to that class",
                                 "Move the selected file into the chosen class's folder (the file is moved, not "
                                 "copied).")
        self.exclude_button = named(QPushButton("Exclude"), "dataHealthExcludeButton", "Exclude the file",
                                    "Leave the selected file out of training and validation; the project records "
                                    "it, the file itself stays where it is.")
        self.fine_button = named(QPushButton("Mark fine"), "dataHealthFineButton", "Mark the file fine",
                                 "The file is right as it is: the project records it and the check no longer "
                                 "lists it.")
        for button in (self.move_button, self.exclude_button, self.fine_button):
            row.addWidget(button)
        row.addStretch(1)
        return row

    @Slot(list)
    def _on_project_changed(self, keys: list) -> None:
        if ALL in keys or "data.folder" in keys:  # another folder: the report was about the old one
            self.report, self.findings = None, []
            self.gallery.set_entries([])
            self.summary_label.setText(self.summary())
            self.action_label.setText("")
        self._refresh_actions()

    # -- checking -------------------------------------------------------------------------------

    @property
    def busy(self) -> bool:
        return self._checking.busy

    @Slot()
    def check(self) -> Task | None:
        """Run the health check on a snapshot of the project, in the background."""
        project = self._project.snapshot()
        if self.busy or not project.data.folder:
            return None

        def work(context: TaskContext):
            from tlstudio.tools.dataset_health import check_health

            return check_health(project, task=context)

        self.summary_label.setText("Checking…")
        task = self._checking.start("checking dataset health", work, succeeded=self._on_checked, failed=self._on_failed)
        self._refresh_actions()
        return task

    def _on_checked(self, report) -> None:
        from tlstudio.tools.dataset_health import findings

        self.report = report
        self.thumbnails.set_resize(self._project.project.data.resize)
        self.findings = findings(report)
        self.class_combo.clear()
        self.class_combo.addItems(report.classes)
        self._show_findings()
        self.summary_label.setText(self.summary())
        self._refresh_actions()
        self.checked.emit()

    def _on_failed(self, message: str) -> None:
        self.summary_label.setText(f"Could not check: {message}")
        self._refresh_actions()
        self.checked.emit()

    def summary(self) -> str:
        report = self.report
        if report is None:
            return "Not checked yet."
        across = sum(group["across_classes"] for group in report.duplicates)
        return (f"{report.images} images: {len(report.duplicates)} duplicate group(s) ({across} across classes, "
                f"{len(report.leaks)} split across train and validation), {len(report.suspected_mislabeled)} "
                f"possible label mistake(s), {len(report.outliers)} outlier(s), {len(report.low_information)} "
                f"near-blank or dark; {report.seconds:.1f} s.")

    def _show_findings(self) -> None:
        root = self.report.root
        self.gallery.set_entries([GalleryEntry(root / finding.file, f"{KIND_TITLES[finding.kind]}: {finding.file}\n"
                                               f"{finding.text}", f"{root / finding.file}\n{finding.text}")
                                  for finding in self.findings])

    # -- acting on a finding ----------------------------------------------------------------------

    @property
    def selected(self):
        row = self.gallery.currentRow()
        return self.findings[row] if 0 <= row < len(self.findings) else None

    @Slot(int)
    def _on_selection(self, _row: int) -> None:
        finding = self.selected
        if finding is not None and finding.looks_like:
            self.class_combo.setCurrentText(finding.looks_like)
        self._refresh_actions()

    def _refresh_actions(self) -> None:
        chosen = self.selected is not None and not self.busy
        for button in (self.move_button, self.exclude_button, self.fine_button):
            button.setEnabled(chosen)
        self.class_combo.setEnabled(chosen)
        self.check_button.setEnabled(not self.busy and bool(self._project.project.data.folder))

    def _done_with_selected(self, message: str) -> None:
        row = self.gallery.currentRow()
        del self.findings[row]
        self.gallery.takeItem(row)
        self.action_label.setText(message)
        self._on_selection(self.gallery.currentRow())  # the next finding is selected now

    @Slot()
    def exclude_selected(self) -> None:
        finding = self.selected
        if finding is None:
            return
        excluded = list(self._project.project.data.exclude)
        if finding.file not in excluded:
            self._project.set("data.exclude", [*excluded, finding.file])
        self._done_with_selected(f"Excluded {finding.file} from training and validation (the file stays; remove it "
                                 "from data.exclude in the project to use it again).")

    @Slot()
    def mark_selected_fine(self) -> None:
        finding = self.selected
        if finding is None:
            return
        fine = list(self._project.project.data.marked_fine)
        if finding.file not in fine:
            self._project.set("data.marked_fine", [*fine, finding.file])
        self._done_with_selected(f"Marked {finding.file} fine.")

    @Slot()
    def move_selected(self) -> None:
        from tlstudio.tools.dataset_health import HealthError, move_to_class

        finding = self.selected
        if finding is None or self.report is None:
            return
        try:
            moved = move_to_class(self.report.root, finding.file, self.class_combo.currentText())
        except HealthError as error:
            self.action_label.setText(str(error))
            return
        self._done_with_selected(f"Moved {finding.file} to {moved}.")
        self.files_moved.emit()
