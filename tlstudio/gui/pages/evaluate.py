"""Evaluate page: what a run's model gets right and wrong on its validation (and test) images.

The numbers come from `tlstudio.tools.evaluate.evaluate_run`, run in the background; this page only
draws its `Evaluation` through its panels: the metrics, the confusion matrix as a clickable heat map,
the calibration, the images of the chosen cell and the biggest mistakes, all as thumbnails decoded off
the GUI thread.
"""

from __future__ import annotations

from functools import partial
from pathlib import Path

from PySide6.QtCore import Qt, Slot
from PySide6.QtGui import QShowEvent
from PySide6.QtWidgets import QComboBox, QHBoxLayout, QLabel, QProgressBar, QPushButton, QSplitter, QVBoxLayout, QWidget

from tlstudio.base.text import format_percent
from tlstudio.gui.background import Task, TaskContext, TaskRunner, TensorFlowLoader
from tlstudio.gui.pages.base import Page
from tlstudio.gui.panels.evaluation_images import CellImagesBox, MistakesBox
from tlstudio.gui.panels.evaluation_results import (
    CalibrationBox,
    ClassMetricsBox,
    ConfusionBox,
    MetricsRow,
    ensemble_text,
)
from tlstudio.gui.state.run_history import RunHistory
from tlstudio.gui.widgets.common import TaskHolder, named, set_status, set_tab_chain, text_label
from tlstudio.gui.widgets.responsive import WrapAwareSplitter
from tlstudio.gui.widgets.run_combo import RunCombo
from tlstudio.gui.widgets.thumbnails import ThumbnailCache
from tlstudio.model.averaging import MIN_MEMBERS
from tlstudio.predict.formats import model_name
from tlstudio.runs.folder import is_run_folder
from tlstudio.tools.evaluate import Evaluation, EvaluationError, SplitEvaluation, source_run

THUMBNAIL_SIZE = 72
SPLIT_TITLES = {"val": "Validation", "test": "Test"}


class EvaluatePage(Page):
    """Wraps one `Evaluation` per run (computed once, on demand) and the split being looked at."""

    def __init__(self, history: RunHistory, runner: TaskRunner, tensorflow: TensorFlowLoader,
                 parent: QWidget | None = None):
        super().__init__("Evaluate", "See what the model gets wrong: its accuracy on images it did not train on, "
                         "which classes it confuses, and the images it is most wrong about.", "evaluatePage",
                         parent=parent)
        self._history = history
        self._tensorflow = tensorflow
        self.evaluations: dict[Path, Evaluation] = {}
        self.selected_cell: tuple[int, int] | None = None
        self.ensemble_result = None
        self.calibrated_text = ""  # the calibration's result, shown until the next status
        self.thumbnails = ThumbnailCache(runner, THUMBNAIL_SIZE, parent=self)

        controls = self._controls_row(history)
        self._work = TaskHolder(runner, self.progress, parent=self)
        self.metrics = MetricsRow(self._file_buttons())
        self.warning_label = text_label("evaluateWarningLabel", role="warning", hidden=True)
        self.ensemble_label = text_label("evaluateEnsembleLabel", hidden=True)
        self.confusion, self.per_class, self.calibration = ConfusionBox(), ClassMetricsBox(), CalibrationBox()
        self.cell_images, self.mistakes = CellImagesBox(self.thumbnails), MistakesBox(self.thumbnails)
        layout = QVBoxLayout(self.body)
        layout.setContentsMargins(0, 6, 0, 0)
        layout.setSpacing(8)
        layout.addLayout(controls)
        for widget in (self.metrics, self.warning_label, self.ensemble_label):
            layout.addWidget(widget)
        layout.addWidget(self._results_splitter(), 1)

        # The panels' widgets by the page's names: the tests and the screenshot script reach them here.
        self.metric_labels, self.metric_titles = self.metrics.metric_labels, self.metrics.metric_titles
        self.matrix_view, self.class_table = self.confusion.matrix_view, self.per_class.class_table
        self.reliability, self.calibration_label = self.calibration.reliability, self.calibration.calibration_label
        self.calibrate_button = self.calibration.calibrate_button
        self.cell_caption, self.cell_gallery = self.cell_images.cell_caption, self.cell_images.cell_gallery
        self.mistakes_caption = self.mistakes.mistakes_caption
        self.mistakes_gallery = self.mistakes.mistakes_gallery

        self.run_combo.run_changed.connect(self._on_run_changed)
        self.split_combo.currentIndexChanged.connect(self._show_split)
        self.evaluate_button.clicked.connect(self.evaluate)
        self.ensemble_button.clicked.connect(self.choose_ensemble)
        self.open_model_button.clicked.connect(self.choose_model_file)
        self.calibrate_button.clicked.connect(self.calibrate)
        self.matrix_view.cell_selected.connect(self.show_cell)
        tensorflow.loaded.connect(self._on_tensorflow_loaded)
        set_tab_chain(self.run_combo, self.split_combo, self.evaluate_button, self.matrix_view, self.class_table,
                      self.calibrate_button, self.cell_gallery, self.mistakes_gallery)
        self._on_run_changed(self.run_combo.selected_run)

    def _controls_row(self, history: RunHistory) -> QHBoxLayout:
        """Which run and split, Evaluate again, and the evaluation's progress and status."""
        controls = QHBoxLayout()
        controls.addWidget(QLabel("Run"))
        self.run_combo = RunCombo(history, "evaluateRunCombo", "Run to evaluate",
                                  "The run whose best model (lowest validation loss) is evaluated.")
        controls.addWidget(self.run_combo)
        controls.addSpacing(8)
        controls.addWidget(QLabel("Images"))
        self.split_combo = named(QComboBox(), "evaluateSplitCombo", "Split to show",
                                 "The validation images, or the test images when the data folder has a test/ "
                                 "folder.")
        controls.addWidget(self.split_combo)
        self.evaluate_button = named(QPushButton("Evaluate again"), "evaluateButton", "Evaluate again",
                                     "Run the model over the images again (after the data folder changed).")
        controls.addWidget(self.evaluate_button)
        self.progress = named(QProgressBar(), "evaluateProgress", "Evaluation progress")
        self.progress.setFixedWidth(200)
        self.progress.hide()
        controls.addWidget(self.progress)
        self.status_label = text_label("evaluateStatusLabel")
        controls.addWidget(self.status_label, 1)
        return controls

    def _file_buttons(self) -> list[QPushButton]:
        """Evaluate an exported model file; average runs into an ensemble."""
        self.open_model_button = named(QPushButton("Model file…"), "evaluateOpenModelButton",
                                       "Evaluate an exported model file",
                                       "Evaluate an exported .tflite (int8 too), .onnx, .keras or SavedModel on the "
                                       "images of the run it was exported from (named in the model card beside it), "
                                       "to see what the shipped model gets right and wrong.")
        self.ensemble_button = named(QPushButton("Ensemble…"), "evaluateEnsembleButton", "Average runs into one model",
                                     "Average two or more runs on the same data into one model (a run of its own), "
                                     "measured beside each of them.")
        return [self.open_model_button, self.ensemble_button]

    def _results_splitter(self) -> QSplitter:
        """The matrix, per-class table and calibration on the left; the cell's images and the mistakes right."""
        splitter = WrapAwareSplitter(Qt.Orientation.Horizontal)  # wrapped text beside it keeps its height
        splitter.setObjectName("evaluateSplitter")
        splitter.setChildrenCollapsible(False)
        left = QWidget()
        left_layout = QVBoxLayout(left)
        left_layout.setContentsMargins(0, 0, 6, 0)
        left_layout.addWidget(self.confusion)
        left_layout.addWidget(self.per_class, 1)
        left_layout.addWidget(self.calibration)
        splitter.addWidget(left)
        right = QSplitter(Qt.Orientation.Vertical)
        right.setObjectName("evaluateGallerySplitter")
        right.setChildrenCollapsible(False)
        right.addWidget(self.cell_images)
        right.addWidget(self.mistakes)
        right.setSizes([300, 380])
        splitter.addWidget(right)
        splitter.setStretchFactor(0, 1)
        splitter.setStretchFactor(1, 1)
        splitter.setSizes([480, 560])
        return splitter

    # -- state ------------------------------------------------------------------------------------

    @property
    def busy(self) -> bool:
        return self._work.busy

    @property
    def evaluation(self) -> Evaluation | None:
        run = self.run_combo.selected_run
        return self.evaluations.get(run) if run is not None else None

    @property
    def split(self) -> SplitEvaluation | None:
        evaluation = self.evaluation
        if evaluation is None:
            return None
        return evaluation.splits.get(self.split_combo.currentData() or "val")

    def _run_metrics(self, run: Path | None) -> dict:
        """The run's metrics.json ({} when there is none or it cannot be read)."""
        try:
            return (self._history.details(run).metrics or {}) if run is not None else {}
        except (OSError, ValueError):
            return {}

    # -- evaluating -------------------------------------------------------------------------------

    def showEvent(self, event: QShowEvent) -> None:  # noqa: N802
        super().showEvent(event)
        self._evaluate_if_needed()

    @Slot(str)
    def _on_tensorflow_loaded(self, _device: str) -> None:
        self._refresh_controls()
        self._evaluate_if_needed()

    def _evaluate_if_needed(self) -> None:
        run = self.run_combo.selected_run
        if self.isVisible() and run is not None and run not in self.evaluations and not self.busy:
            self.evaluate()

    def _start(self, name: str, status: str, work, succeeded) -> Task:
        """Run one of the page's background jobs (one at a time), its stages shown in the status line."""
        set_status(self.status_label, status)
        task = self._work.start(name, work, messaged=self._on_message, succeeded=succeeded, failed=self._on_failed)
        self._refresh_controls()
        return task

    @Slot()
    def evaluate(self) -> Task | None:
        """Evaluate the selected run in the background (again, if it was already)."""
        run = self.run_combo.selected_run
        if run is None or self.busy or not self._tensorflow.ready:
            return None
        model_file = not is_run_folder(run)  # an exported model listed beside the runs

        def work(context: TaskContext) -> Evaluation:
            from tlstudio.tools.evaluate import evaluate_model_file, evaluate_run

            return evaluate_model_file(run, task=context) if model_file else evaluate_run(run, task=context)

        return self._start("evaluating the model", f"Evaluating {run.name}…", work, partial(self._on_evaluated, run))

    @Slot()
    def choose_ensemble(self) -> None:
        from tlstudio.gui.panels.ensemble_dialog import EnsembleDialog

        dialog = EnsembleDialog(self._history.summaries, self)
        if dialog.exec() == EnsembleDialog.DialogCode.Accepted:
            self.make_ensemble(dialog.chosen())

    def make_ensemble(self, runs: list[Path]) -> Task | None:
        """Average `runs` into a new run folder beside them, in the background; it is then selected here."""
        if len(runs) < MIN_MEMBERS or self.busy or not self._tensorflow.ready:
            return None
        from tlstudio.runs.folder import new_run_dir

        out = new_run_dir(self._history.root, "ensemble")

        def work(context: TaskContext):
            from tlstudio.tools.ensemble import make_ensemble

            return make_ensemble(runs, out, task=context)

        return self._start("making an ensemble", f"Averaging {len(runs)} runs…", work, self._on_ensemble_made)

    @Slot()
    def calibrate(self) -> Task | None:
        """Temperature-scale the selected run's model in the background, then evaluate it again."""
        run = self.run_combo.selected_run
        if run is None or self.busy or not self._tensorflow.ready:
            return None

        def work(context: TaskContext):
            from tlstudio.tools.calibrate import calibrate_run

            return calibrate_run(run, task=context)

        return self._start("calibrating the model", f"Calibrating {run.name}…", work, partial(self._on_calibrated, run))

    def _on_ensemble_made(self, result) -> None:
        self.ensemble_result = result
        self._history.refresh()
        self.run_combo.select(result.run_dir)
        self._show_ensemble(result.run_dir)
        self._refresh_controls()

    def _show_ensemble(self, run: Path | None) -> None:
        """For an ensemble's run: its figures beside each member's (from its metrics.json)."""
        text = ensemble_text(self._run_metrics(run))
        self.ensemble_label.setVisible(bool(text))
        if text:
            self.ensemble_label.setText(text)

    def _on_calibrated(self, run: Path, result) -> None:
        self.evaluations.pop(run, None)
        self._history.refresh()
        set_status(self.status_label, f"Calibrated: temperature {result.temperature:.3g}, ECE "
                   f"{format_percent(result.ece_before)} → {format_percent(result.ece_after)}.")
        self.calibrated_text = self.status_label.text()
        self.evaluate()

    def _on_message(self, stage: str) -> None:
        set_status(self.status_label, stage[:1].upper() + stage[1:] + "…")

    def _on_evaluated(self, run: Path, evaluation: Evaluation) -> None:
        self.evaluations[run] = evaluation
        if evaluation.model_path is not None:
            self.calibrated_text = (f"Evaluated the {model_name(evaluation.runtime)} "
                                    f"{evaluation.model_path.name} on the images of its run, "
                                    f"{Path(evaluation.run_dir).name}.")
        set_status(self.status_label, self.calibrated_text)
        self.calibrated_text = ""
        self._fill_splits()
        self._refresh_controls()
        self.summary_changed.emit()
        if self.run_combo.selected_run not in self.evaluations:
            self._evaluate_if_needed()  # the user chose another run meanwhile

    def _on_failed(self, message: str) -> None:
        set_status(self.status_label, f"Could not evaluate: {message}", "error")
        self._refresh_controls()

    @Slot()
    def choose_model_file(self) -> None:
        self.run_combo.choose_model_file("Choose an exported model to evaluate")

    def open_model_file(self, path: Path) -> None:
        """Evaluate an exported model (a SavedModel by its folder or its saved_model.pb) on its run's images."""
        self.run_combo.add_model_file(path)

    # -- showing ----------------------------------------------------------------------------------

    @Slot(object)
    def _on_run_changed(self, run: Path | None) -> None:
        resize = "center-crop"
        source = run
        if run is not None and not is_run_folder(run):
            try:
                source = source_run(run)  # an exported model: its run's images and settings
            except EvaluationError:
                source = None
        if source is not None:
            try:
                resize = self._history.details(source).image_input.resize
            except (OSError, ValueError):
                pass
        self.thumbnails.set_resize(resize)
        self._show_ensemble(source)
        self._fill_splits()
        if run is None:
            set_status(self.status_label, "Train a model on the Run page, then see here what it gets wrong.")
        elif run not in self.evaluations:
            set_status(self.status_label, "")
            self._evaluate_if_needed()
        self._refresh_controls()

    def _refresh_controls(self) -> None:
        idle, loaded, evaluation = not self.busy, self._tensorflow.ready, self.evaluation
        has_run = self.run_combo.selected_run is not None
        self.evaluate_button.setEnabled(has_run and idle and loaded)
        with_models = sum(1 for summary in self._history.summaries if summary.has_model)
        self.ensemble_button.setEnabled(with_models >= MIN_MEMBERS and idle and loaded)
        # An exported model file is evaluated as it is: only a run's own model can be calibrated.
        self.calibrate_button.setEnabled(evaluation is not None and idle and loaded and evaluation.model_path is None)
        self.open_model_button.setEnabled(idle)
        self.evaluate_button.setText("Evaluate again" if evaluation is not None else "Evaluate")
        if not loaded and has_run and idle and evaluation is None:
            set_status(self.status_label, "Evaluation starts once TensorFlow has loaded…")

    def _fill_splits(self) -> None:
        previous = self.split_combo.currentData()
        blocked = self.split_combo.blockSignals(True)
        self.split_combo.clear()
        evaluation = self.evaluation
        if evaluation is not None:
            for name, split in evaluation.splits.items():
                self.split_combo.addItem(f"{SPLIT_TITLES.get(name, name)} ({len(split.records)})", name)
        else:
            self.split_combo.addItem("Validation", "val")
        index = self.split_combo.findData(previous)
        self.split_combo.setCurrentIndex(max(index, 0))
        self.split_combo.setEnabled(self.split_combo.count() > 1)
        self.split_combo.setToolTip("The validation images, or the test images of the data folder's test/ folder."
                                    if self.split_combo.count() > 1 else
                                    "Only validation images: the data folder has no test/ folder.")
        self.split_combo.blockSignals(blocked)
        self._show_split()

    @Slot()
    def _show_split(self, *_: object) -> None:
        split = self.split
        self.selected_cell = None
        self.cell_images.clear()
        self.metrics.show_split(split)
        self.confusion.show_split(split)
        self.per_class.show_split(split)
        self.calibration.show_split(split, self._run_metrics(self.run_combo.selected_run) if split else {})
        self.mistakes.show_split(split)
        warnings = self.evaluation.warnings if split is not None else []
        self.warning_label.setText("\n".join(w[:1].upper() + w[1:] + "." for w in warnings))
        self.warning_label.setVisible(bool(warnings))

    @Slot(int, int)
    def show_cell(self, true: int, predicted: int) -> None:
        """Show the images of one confusion-matrix cell, most confident first."""
        split = self.split
        if split is None:
            return
        self.selected_cell = (true, predicted)
        self.cell_images.show_cell(split, true, predicted)

    def summary(self) -> str:
        split = self.evaluation.val if self.evaluation is not None else None
        if self.busy:
            return "evaluating…"
        return f"accuracy {format_percent(split.accuracy)}" if split is not None else ""
