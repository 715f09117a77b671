"""Evaluate page: what a run's model gets right and wrong on its validation (and test) images.

The numbers come from `tlstudio.tools.evaluate.evaluate_run`, run in the background; this page only
draws its `Evaluation`: the metrics, the confusion matrix as a clickable heat map, the images of
the chosen cell, and the biggest mistakes, all as thumbnails decoded off the GUI thread.
"""

from __future__ import annotations

import math
from pathlib import Path

from PySide6.QtCore import Qt, Slot
from PySide6.QtGui import QShowEvent
from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QGroupBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QProgressBar,
    QPushButton,
    QSplitter,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from tlstudio.base.text import format_percent
from tlstudio.gui.background import Task, TaskContext, TaskRunner, TensorFlowLoader
from tlstudio.gui.pages.base import Page
from tlstudio.gui.panels.predictions import FORMAT_NAMES
from tlstudio.gui.state.run_history import RunHistory
from tlstudio.gui.widgets.common import hint_label, named, set_tab_chain, show_progress
from tlstudio.gui.widgets.confusion import ConfusionMatrixView
from tlstudio.gui.widgets.gallery import GalleryEntry, ImageGallery
from tlstudio.gui.widgets.reliability import ReliabilityDiagram
from tlstudio.gui.widgets.responsive import WrapAwareSplitter
from tlstudio.gui.widgets.run_combo import RunCombo
from tlstudio.gui.widgets.thumbnails import ThumbnailCache
from tlstudio.tools.evaluate import (
    LOW_CONFIDENCE,
    Evaluation,
    EvaluationError,
    ImageRecord,
    SplitEvaluation,
    source_run,
)


def is_model_file(path: Path) -> bool:
    """An exported model listed beside the runs (a run folder holds config.json)."""
    return not (Path(path) / "config.json").is_file()

LOW_PERCENT = f"{LOW_CONFIDENCE * 100:g} %"  # the evaluation's threshold for a right but unsure answer

THUMBNAIL_SIZE = 72
MISTAKES_SHOWN = 100
CELL_IMAGES_SHOWN = 300
SPLIT_TITLES = {"val": "Validation", "test": "Test"}
METRIC_TITLES = (("accuracy", "Accuracy"), ("top_k", "Top-3"), ("loss", "Loss"), ("macro_f1", "Macro F1"),
                 ("ece", "ECE"), ("images", "Images"))


def top_text(record: ImageRecord, classes: list[str], k: int = 3) -> str:
    """'square 71% · circle 20% · star 9%'."""
    return " · ".join(f"{entry['label']} {entry['probability']:.0%}" for entry in record.top(classes, k))


def mistake_entry(record: ImageRecord, classes: list[str]) -> GalleryEntry:
    true, predicted = classes[record.true], classes[record.predicted]
    verdict = f"{true}, right but unsure" if record.correct else f"true {true} · predicted {predicted}"
    caption = f"{verdict}\n{top_text(record, classes)}\nloss {record.loss:.2f} · {record.path.name}"
    return GalleryEntry(record.path, caption, f"{record.path}\nDouble-click to open its folder.")


def cell_entry(record: ImageRecord, classes: list[str]) -> GalleryEntry:
    tooltip = f"{record.path}\n{top_text(record, classes)}\nDouble-click to open its folder."
    return GalleryEntry(record.path, f"{record.confidence:.0%}", tooltip)


class EvaluatePage(Page):
    """Wraps one `Evaluation` per run (computed once, on demand) and the split being looked at."""

    def __init__(self, history: RunHistory, runner: TaskRunner, tensorflow: TensorFlowLoader,
                 parent: QWidget | None = None):
        super().__init__("Evaluate", "See what the model gets wrong: its accuracy on images it did not train on, "
                         "which classes it confuses, and the images it is most wrong about.", "evaluatePage",
                         parent=parent)
        self._history = history
        self._runner = runner
        self._tensorflow = tensorflow
        self._task: Task | None = None
        self.evaluations: dict[Path, Evaluation] = {}
        self.selected_cell: tuple[int, int] | None = None
        self.thumbnails = ThumbnailCache(runner, THUMBNAIL_SIZE, parent=self)

        layout = QVBoxLayout(self.body)
        layout.setContentsMargins(0, 6, 0, 0)
        layout.setSpacing(8)

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
        self.ensemble_button = named(QPushButton("Ensemble…"), "evaluateEnsembleButton", "Average runs into one model",
                                     "Average two or more runs on the same data into one model (a run of its own), "
                                     "measured beside each of them.")
        self.open_model_button = named(QPushButton("Model file…"), "evaluateOpenModelButton",
                                       "Evaluate an exported model file",
                                       "Evaluate an exported .tflite (int8 too), .onnx, .keras or SavedModel on the "
                                       "images of the run it was exported from (named in the model card beside it), "
                                       "to see what the shipped model gets right and wrong.")
        self.open_model_button.clicked.connect(self.choose_model_file)
        self.progress = named(QProgressBar(), "evaluateProgress", "Evaluation progress")
        self.progress.setFixedWidth(200)
        self.progress.hide()
        controls.addWidget(self.progress)
        self.status_label = QLabel()
        self.status_label.setObjectName("evaluateStatusLabel")
        self.status_label.setWordWrap(True)
        controls.addWidget(self.status_label, 1)
        layout.addLayout(controls)

        metrics_row = QHBoxLayout()
        metrics_row.setSpacing(22)
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
            metrics_row.addLayout(pair)
            self.metric_labels[key] = value
            self.metric_titles[key] = title_label
        metrics_row.addStretch(1)
        metrics_row.addWidget(self.open_model_button, 0, Qt.AlignmentFlag.AlignBottom)
        metrics_row.addWidget(self.ensemble_button, 0, Qt.AlignmentFlag.AlignBottom)
        layout.addLayout(metrics_row)
        self.warning_label = QLabel()
        self.warning_label.setObjectName("evaluateWarningLabel")
        self.warning_label.setProperty("role", "warning")
        self.warning_label.setWordWrap(True)
        self.warning_label.hide()
        layout.addWidget(self.warning_label)
        self.ensemble_label = QLabel()
        self.ensemble_label.setObjectName("evaluateEnsembleLabel")
        self.ensemble_label.setWordWrap(True)
        self.ensemble_label.hide()
        layout.addWidget(self.ensemble_label)

        splitter = WrapAwareSplitter(Qt.Orientation.Horizontal)  # wrapped text beside it keeps its height
        splitter.setObjectName("evaluateSplitter")
        splitter.setChildrenCollapsible(False)
        left = QWidget()
        left_layout = QVBoxLayout(left)
        left_layout.setContentsMargins(0, 0, 6, 0)
        matrix_box = QGroupBox("Confusion matrix")
        matrix_layout = QVBoxLayout(matrix_box)
        matrix_layout.addWidget(hint_label("Rows: the true class. Columns: what the model said. Blue: right, red: "
                                           "wrong; the darker, the larger its share of the row. Click a cell."))
        self.matrix_view = ConfusionMatrixView()
        matrix_layout.addWidget(self.matrix_view)
        left_layout.addWidget(matrix_box)
        class_box = QGroupBox("Per class")
        class_layout = QVBoxLayout(class_box)
        self.class_table = named(QTableWidget(0, 5), "evaluateClassTable", "Per-class metrics",
                                 "Precision: of the images called this class, the share that are. Recall: of "
                                 "this class's images, the share found. F1: their harmonic mean.")
        self.class_table.setHorizontalHeaderLabels(["Class", "Precision", "Recall", "F1", "Images"])
        self.class_table.verticalHeader().hide()
        self.class_table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.class_table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.class_table.setAlternatingRowColors(True)
        self.class_table.setShowGrid(False)
        header = self.class_table.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        class_layout.addWidget(self.class_table)
        left_layout.addWidget(class_box, 1)
        left_layout.addWidget(self._calibration_box())
        splitter.addWidget(left)

        right = QSplitter(Qt.Orientation.Vertical)
        right.setObjectName("evaluateGallerySplitter")
        right.setChildrenCollapsible(False)
        cell_box = QGroupBox("Images of the chosen cell")
        cell_layout = QVBoxLayout(cell_box)
        self.cell_caption = hint_label("Click a cell of the confusion matrix to see its images here.")
        self.cell_caption.setObjectName("evaluateCellCaption")
        cell_layout.addWidget(self.cell_caption)
        self.cell_gallery = ImageGallery(self.thumbnails, "evaluateCellGallery", "Images of the chosen cell",
                                         "The images of one true/predicted pair with the model's confidence. "
                                         "Double-click to open the folder.", grid=True)
        cell_layout.addWidget(self.cell_gallery, 1)
        right.addWidget(cell_box)
        mistakes_box = QGroupBox("Biggest mistakes")
        mistakes_layout = QVBoxLayout(mistakes_box)
        self.mistakes_caption = hint_label(f"Wrong answers, and right ones given with less than {LOW_PERCENT} "
                                           "confidence, the most wrong (highest loss) first.")
        self.mistakes_caption.setObjectName("evaluateMistakesCaption")
        mistakes_layout.addWidget(self.mistakes_caption)
        self.mistakes_gallery = ImageGallery(self.thumbnails, "evaluateMistakesGallery", "Biggest mistakes",
                                             "Each image with its true class, the prediction and the top-3 "
                                             "probabilities. Double-click to open the folder.", grid=False)
        mistakes_layout.addWidget(self.mistakes_gallery, 1)
        right.addWidget(mistakes_box)
        right.setSizes([300, 380])
        splitter.addWidget(right)
        splitter.setStretchFactor(0, 1)
        splitter.setStretchFactor(1, 1)
        splitter.setSizes([480, 560])
        layout.addWidget(splitter, 1)

        self.run_combo.run_changed.connect(self._on_run_changed)
        self.split_combo.currentIndexChanged.connect(self._show_split)
        self.evaluate_button.clicked.connect(self.evaluate)
        self.ensemble_button.clicked.connect(self.choose_ensemble)
        self.calibrate_button.clicked.connect(self.calibrate)
        self.ensemble_result = None
        self.calibrated_text = ""  # the calibration's result, shown until the next status
        self.matrix_view.cell_selected.connect(self.show_cell)
        tensorflow.loaded.connect(self._on_tensorflow_loaded)
        set_tab_chain(self.run_combo, self.split_combo, self.evaluate_button,
                      self.matrix_view, self.class_table, self.calibrate_button, self.cell_gallery,
                      self.mistakes_gallery)
        self._on_run_changed(self.run_combo.selected_run)

    def _calibration_box(self) -> QGroupBox:
        box = QGroupBox("Calibration")
        layout = QHBoxLayout(box)
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
        return box

    # -- state ------------------------------------------------------------------------------------

    @property
    def busy(self) -> bool:
        return self._task is not None

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
        if self.isVisible() and run is not None and run not in self.evaluations and self._task is None:
            self.evaluate()

    @Slot()
    def evaluate(self) -> Task | None:
        """Evaluate the selected run in the background (again, if it was already)."""
        run = self.run_combo.selected_run
        if run is None or self._task is not None or not self._tensorflow.ready:
            return None

        model_file = is_model_file(run)

        def work(context: TaskContext) -> Evaluation:
            from tlstudio.tools.evaluate import evaluate_model_file, evaluate_run

            return evaluate_model_file(run, task=context) if model_file else evaluate_run(run, task=context)

        self.progress.setRange(0, 0)
        self.progress.show()
        self._set_status(f"Evaluating {run.name}…", "")
        self._task = self._runner.submit("evaluating the model", work)
        self._task.run = run  # type: ignore[attr-defined]
        show_progress(self.progress, self._task)
        self._task.messaged.connect(self._on_message)
        self._task.succeeded.connect(self._on_evaluated)
        self._task.failed.connect(self._on_failed)
        self._refresh_controls()
        return self._task

    @Slot()
    def choose_ensemble(self) -> None:
        from tlstudio.gui.panels.ensemble_dialog import EnsembleDialog

        dialog = EnsembleDialog(self._history.summaries, self)
        if dialog.exec() == EnsembleDialog.DialogCode.Accepted:
            self.make_ensemble(dialog.chosen())

    def make_ensemble(self, runs: list[Path]) -> Task | None:
        """Average `runs` into a new run folder beside them, in the background; it is then selected here."""
        if len(runs) < 2 or self._task is not None or not self._tensorflow.ready:
            return None
        from tlstudio.runs.folder import new_run_dir

        out = new_run_dir(self._history.root, "ensemble")

        def work(context: TaskContext):
            from tlstudio.tools.ensemble import make_ensemble

            return make_ensemble(runs, out, task=context)

        self.progress.setRange(0, 0)
        self.progress.show()
        self._set_status(f"Averaging {len(runs)} runs…", "")
        self._task = self._runner.submit("making an ensemble", work)
        show_progress(self.progress, self._task)
        self._task.messaged.connect(self._on_message)
        self._task.succeeded.connect(self._on_ensemble_made)
        self._task.failed.connect(self._on_failed)
        self._refresh_controls()
        return self._task

    @Slot(object)
    def _on_ensemble_made(self, result) -> None:
        self._task = None
        self.progress.hide()
        self.ensemble_result = result
        self._history.refresh()
        self.run_combo.select(result.run_dir)
        self._show_ensemble(result.run_dir)
        self._refresh_controls()

    def _show_ensemble(self, run: Path | None) -> None:
        """For an ensemble's run: its figures beside each member's (from its metrics.json)."""
        try:
            metrics = self._history.details(run).metrics if run is not None else None
        except (OSError, ValueError):
            metrics = None
        ensemble = (metrics or {}).get("ensemble")
        self.ensemble_label.setVisible(bool(ensemble))
        if not ensemble:
            return
        members = "; ".join(f"{Path(m['run']).name}: {m['val_accuracy']:.1%}"
                            + ("" if m.get("included", True) else f" (left out, {m['why']})")
                            for m in ensemble["members"])
        backbone = " The shared frozen backbone runs once." if ensemble.get("shared_backbone") else ""
        self.ensemble_label.setText(f"<b>Ensemble: {metrics['val_accuracy']:.1%}</b> on "
                                    f"{ensemble.get('validation', 'the validation images')}. Members: {members}."
                                    f"{backbone}")

    @Slot()
    def calibrate(self) -> Task | None:
        """Temperature-scale the selected run's model in the background, then evaluate it again."""
        run = self.run_combo.selected_run
        if run is None or self._task is not None or not self._tensorflow.ready:
            return None

        def work(context: TaskContext):
            from tlstudio.tools.calibrate import calibrate_run

            return calibrate_run(run, task=context)

        self.progress.setRange(0, 0)
        self.progress.show()
        self._set_status(f"Calibrating {run.name}…", "")
        self._task = self._runner.submit("calibrating the model", work)
        self._task.run = run  # type: ignore[attr-defined]
        show_progress(self.progress, self._task)
        self._task.messaged.connect(self._on_message)
        self._task.succeeded.connect(self._on_calibrated)
        self._task.failed.connect(self._on_failed)
        self._refresh_controls()
        return self._task

    @Slot(object)
    def _on_calibrated(self, result) -> None:
        run = getattr(self._task, "run", None) or Path(result.run_dir)
        self._task = None
        self.progress.hide()
        self.evaluations.pop(run, None)
        self._history.refresh()
        self._set_status(f"Calibrated: temperature {result.temperature:.3g}, ECE {format_percent(result.ece_before)} "
                         f"→ {format_percent(result.ece_after)}.", "")
        self.calibrated_text = self.status_label.text()
        self.evaluate()

    @Slot(str)
    def _on_message(self, stage: str) -> None:
        self._set_status(stage[:1].upper() + stage[1:] + "…", "")

    @Slot(object)
    def _on_evaluated(self, evaluation: Evaluation) -> None:
        run = getattr(self._task, "run", None) or Path(evaluation.run_dir)
        self._task = None
        self.progress.hide()
        self.evaluations[run] = evaluation
        if evaluation.model_path is not None:
            self.calibrated_text = (f"Evaluated the {FORMAT_NAMES.get(evaluation.runtime, evaluation.runtime)} "
                                    f"{evaluation.model_path.name} on the images of its run, "
                                    f"{Path(evaluation.run_dir).name}.")
        self._set_status(self.calibrated_text, "")
        self.calibrated_text = ""
        self._fill_splits()
        self._refresh_controls()
        self.summary_changed.emit()
        if self.run_combo.selected_run not in self.evaluations:
            self._evaluate_if_needed()  # the user chose another run meanwhile

    @Slot(str)
    def _on_failed(self, message: str) -> None:
        self._task = None
        self.progress.hide()
        self._set_status(f"Could not evaluate: {message}", "error")
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
        if run is not None and is_model_file(run):
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
            self._set_status("Train a model on the Run page, then see here what it gets wrong.", "")
        elif run not in self.evaluations:
            self._set_status("", "")
            self._evaluate_if_needed()
        self._refresh_controls()

    def _refresh_controls(self) -> None:
        has_run = self.run_combo.selected_run is not None
        self.evaluate_button.setEnabled(has_run and self._task is None and self._tensorflow.ready)
        with_models = sum(1 for summary in self._history.summaries if summary.has_model)
        self.ensemble_button.setEnabled(with_models >= 2 and self._task is None and self._tensorflow.ready)
        self.calibrate_button.setEnabled(self.evaluation is not None and self._task is None
                                         and self._tensorflow.ready and self.evaluation.model_path is None)
        self.open_model_button.setEnabled(self._task is None)
        self.evaluate_button.setText("Evaluate again" if self.evaluation is not None else "Evaluate")
        if not self._tensorflow.ready and has_run and self._task is None and self.evaluation is None:
            self._set_status("Evaluation starts once TensorFlow has loaded…", "")

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
        evaluation = self.evaluation
        self.selected_cell = None
        self.cell_gallery.set_entries([])
        self.cell_caption.setText("Click a cell of the confusion matrix to see its images here.")
        if split is None or evaluation is None:
            for label in self.metric_labels.values():
                label.setText("–")
            self.matrix_view.set_matrix([], [])
            self.class_table.setRowCount(0)
            self.mistakes_gallery.set_entries([])
            self.warning_label.hide()
            self.reliability.set_bins(None)
            self.calibration_label.setText("The reliability diagram and the expected calibration error (ECE) show "
                                           "whether the model's confidence can be trusted.")
            return
        classes = split.classes
        k, top_k = split.top_k_accuracy
        self.metric_titles["top_k"].setText(f"Top-{k}")
        self.metric_labels["accuracy"].setText(format_percent(split.accuracy))
        self.metric_labels["top_k"].setText(format_percent(top_k))
        self.metric_labels["loss"].setText(f"{split.loss:.3f}" if math.isfinite(split.loss) else "–")
        self.metric_labels["macro_f1"].setText(f"{split.metrics.get(f'{split.name}_macro_f1', float('nan')):.2f}")
        self.metric_labels["images"].setText(str(len(split.records)))
        self.metric_labels["ece"].setText(format_percent(split.ece))
        self.reliability.set_bins(split.reliability())
        self.calibration_label.setText(self._calibration_text(split))
        self.warning_label.setText("\n".join(w[:1].upper() + w[1:] + "." for w in evaluation.warnings))
        self.warning_label.setVisible(bool(evaluation.warnings))
        self.matrix_view.set_matrix(classes, split.confusion_matrix)
        self._fill_class_table(split)
        mistakes = split.mistakes(limit=MISTAKES_SHOWN)
        self.mistakes_gallery.set_entries([mistake_entry(r, classes) for r in mistakes])
        total = len(split.mistakes())
        shown = f" (the first {MISTAKES_SHOWN} shown)" if total > MISTAKES_SHOWN else ""
        self.mistakes_caption.setText(
            f"{total} image{'s' if total != 1 else ''}: wrong answers, and right ones given with less than "
            f"{LOW_PERCENT} confidence, the most wrong (highest loss) first{shown}. Double-click one to open "
            "its folder." if total else f"No mistakes: every image is right with at least {LOW_PERCENT} confidence.")

    def _calibration_text(self, split: SplitEvaluation) -> str:
        run = self.run_combo.selected_run
        try:
            metrics = (self._history.details(run).metrics or {}) if run is not None else {}
        except (OSError, ValueError):
            metrics = {}
        ece = f"ECE {format_percent(split.ece)}: on average the confidence is this far from the accuracy."
        if metrics.get("temperature") is not None:
            return (f"{ece}<br>Calibrated (temperature {metrics['temperature']:.3g}): ECE "
                    f"{format_percent(metrics.get('ece_before'))} before, {format_percent(metrics.get('ece_after'))} "
                    "after, on the validation images. Exports give the calibrated probabilities.")
        return (f"{ece}<br>Bars under the diagonal: surer than right. <b>Calibrate</b> fits one temperature on the "
                "validation images; the saved model and its exports then give calibrated probabilities.")

    def _fill_class_table(self, split: SplitEvaluation) -> None:
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

    @Slot(int, int)
    def show_cell(self, true: int, predicted: int) -> None:
        """Show the images of one confusion-matrix cell, most confident first."""
        split = self.split
        if split is None:
            return
        self.selected_cell = (true, predicted)
        records = split.cell(true, predicted)
        classes = split.classes
        self.cell_gallery.set_entries([cell_entry(r, classes) for r in records[:CELL_IMAGES_SHOWN]])
        what = (f"<b>{classes[true]}</b>, predicted right" if true == predicted
                else f"true <b>{classes[true]}</b>, predicted <b>{classes[predicted]}</b>")
        count = len(records)
        more = f" (the first {CELL_IMAGES_SHOWN} shown)" if count > CELL_IMAGES_SHOWN else ""
        self.cell_caption.setText(f"{what}: {count} image{'s' if count != 1 else ''}{more}, with the model's "
                                  "confidence in what it said, the most confident first." if count else
                                  f"{what}: no images.")

    def _set_status(self, text: str, role: str) -> None:
        self.status_label.setText(text)
        self.status_label.setProperty("role", role)
        self.status_label.style().unpolish(self.status_label)
        self.status_label.style().polish(self.status_label)

    def summary(self) -> str:
        split = self.evaluation.val if self.evaluation is not None else None
        if self._task is not None:
            return "evaluating…"
        return f"accuracy {format_percent(split.accuracy)}" if split is not None else ""
