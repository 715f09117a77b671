"""Try-it page: drop or choose images (or a folder) and see what a run's model says about each.

Images are prepared exactly as in training (the run's image size and resize policy, through
`tlstudio.predict.predictor.load_predictor`). The model is loaded once per run and kept, so a prediction
after the first costs one decode and one call of the traced model. All model work runs in
background tasks (`tlstudio.gui.panels.predictions`); the slots here only draw results.
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Qt, Signal, Slot
from PySide6.QtGui import QDragEnterEvent, QDropEvent, QPixmap, QShowEvent
from PySide6.QtWidgets import (
    QCheckBox,
    QFileDialog,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QProgressBar,
    QPushButton,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from tlstudio.data import IMAGE_EXTENSIONS
from tlstudio.gui.background import Task, TaskContext, TaskRunner, TensorFlowLoader
from tlstudio.gui.pages.base import Page
from tlstudio.gui.panels.predictions import (
    ImageView,
    LoadedModel,
    PredictionBatch,
    TriedImage,
    TryState,
    load_model,
    predict_files,
    render_view,
)
from tlstudio.gui.state.run_history import RunHistory
from tlstudio.gui.widgets.common import ImageLabel, hint_label, int_spin, named, set_tab_chain
from tlstudio.gui.widgets.gallery import GalleryEntry, ImageGallery
from tlstudio.gui.widgets.probability_bars import MAX_BARS, ProbabilityBars
from tlstudio.gui.widgets.responsive import WrapAwareSplitter
from tlstudio.gui.widgets.run_combo import RunCombo
from tlstudio.gui.widgets.thumbnails import ThumbnailCache

VIEW_SIZE = 320
THUMBNAIL_SIZE = 56
VIEWS_KEPT = 64
DROP_HINT = "Drop images\nor a folder here"
PATH_ROLE = Qt.ItemDataRole.UserRole


class TryPage(Page):
    """Wraps the loaded model of the chosen run, the images tried so far, and the one looked at."""

    predictions_shown = Signal(object)  # PredictionBatch, after the list and the bars were updated
    view_shown = Signal()  # the large image (or its Grad-CAM overlay) was drawn

    def __init__(self, history: RunHistory, runner: TaskRunner, tensorflow: TensorFlowLoader,
                 parent: QWidget | None = None):
        super().__init__("Try it", "Drop images (or a folder) to see what the model says about each, prepared "
                         "exactly as in training; switch on the heat map to see where it looked.", "tryPage",
                         parent=parent)
        self._history = history
        self._runner = runner
        self._tensorflow = tensorflow
        self.model: LoadedModel | None = None
        self._load_task: Task | None = None
        self._predict_tasks: set[Task] = set()
        self._view_task: Task | None = None
        self.state = TryState(VIEWS_KEPT)
        self.thumbnails = ThumbnailCache(runner, THUMBNAIL_SIZE, parent=self)
        self.last_batch: PredictionBatch | None = None
        self.setAcceptDrops(True)

        layout = QVBoxLayout(self.body)
        layout.setContentsMargins(0, 6, 0, 0)
        layout.setSpacing(8)
        controls = QHBoxLayout()
        controls.addWidget(QLabel("Run"))
        self.run_combo = RunCombo(history, "tryRunCombo", "Model to try",
                                  "The run whose best model (lowest validation loss) answers.")
        controls.addWidget(self.run_combo)
        self.open_model_button = named(QPushButton("Model file…"), "tryOpenModelButton", "Open a model file",
                                       "Try an exported model: a .tflite (int8 too), .onnx or .keras file, or a "
                                       "SavedModel folder (pick its saved_model.pb).")
        self.open_model_button.clicked.connect(self.choose_model_file)
        controls.addWidget(self.open_model_button)
        self.choose_files_button = named(QPushButton("Add images…"), "tryChooseImagesButton", "Add images",
                                         "Pick image files to predict.")
        self.choose_files_button.clicked.connect(self.choose_files)
        controls.addWidget(self.choose_files_button)
        self.choose_folder_button = named(QPushButton("Add a folder…"), "tryChooseFolderButton",
                                          "Add a folder", "Predict every image in a folder and its sub-folders.")
        self.choose_folder_button.clicked.connect(self.choose_folder)
        controls.addWidget(self.choose_folder_button)
        self.clear_button = named(QPushButton("Clear"), "tryClearButton", "Clear the images",
                                  "Forget the images tried so far.")
        self.clear_button.clicked.connect(self.clear)
        controls.addWidget(self.clear_button)
        self.progress = named(QProgressBar(), "tryProgress", "Prediction progress")
        self.progress.setFixedWidth(160)
        self.progress.hide()
        controls.addWidget(self.progress)
        self.status_label = QLabel()
        self.status_label.setObjectName("tryStatusLabel")
        self.status_label.setWordWrap(True)
        controls.addStretch(1)
        layout.addLayout(controls)
        layout.addWidget(self.status_label)

        splitter = WrapAwareSplitter(Qt.Orientation.Horizontal)  # wrapped text beside it keeps its height
        splitter.setObjectName("trySplitter")
        splitter.setChildrenCollapsible(False)
        list_box = QGroupBox("Images")
        list_layout = QVBoxLayout(list_box)
        self.image_list = ImageGallery(self.thumbnails, "tryImageList", "Images tried",
                                       "Each image with the model's answer. Select one to look at it; "
                                       "double-click to open its folder.", grid=False)
        self.image_list.setMinimumWidth(130)
        list_layout.addWidget(self.image_list)
        splitter.addWidget(list_box)

        view_box = QGroupBox("What the model sees")
        view_layout = QVBoxLayout(view_box)
        self.image_label = ImageLabel(VIEW_SIZE, 140)
        self.image_label.setText(DROP_HINT)
        self.image_label.setObjectName("tryImageView")
        self.image_label.setAccessibleName("The image looked at")
        self.image_label.setProperty("role", "dropTarget")
        view_layout.addWidget(self.image_label, 0, Qt.AlignmentFlag.AlignHCenter)
        self.gradcam_check = named(QCheckBox("Grad-CAM heat map"), "tryGradCamCheck",
                                   "Grad-CAM heat map",
                                   "Show where the model looked: a heat map over the image, red where the last "
                                   "convolutional block found most evidence for the predicted class.")
        self.gradcam_check.toggled.connect(self._on_gradcam_toggled)
        view_layout.addWidget(self.gradcam_check, 0, Qt.AlignmentFlag.AlignHCenter)
        self.gradcam_reason = hint_label()
        self.gradcam_reason.setObjectName("tryGradCamReason")
        self.gradcam_reason.hide()
        view_layout.addWidget(self.gradcam_reason)
        self.view_caption = hint_label()
        self.view_caption.setObjectName("tryViewCaption")
        self.view_caption.setAlignment(Qt.AlignmentFlag.AlignHCenter)
        view_layout.addWidget(self.view_caption)
        view_layout.addStretch(1)
        splitter.addWidget(view_box)

        bars_box = QGroupBox("Prediction")
        bars_layout = QVBoxLayout(bars_box)
        k_row = QHBoxLayout()
        k_row.addWidget(QLabel("Show the top"))
        self.top_spin: QSpinBox = named(int_spin(1, MAX_BARS), "tryTopSpin", "Number of classes shown",
                                        "How many of the most probable classes to show.")
        self.top_spin.setValue(5)
        self.top_spin.valueChanged.connect(self._show_current)
        k_row.addWidget(self.top_spin)
        k_row.addStretch(1)
        bars_layout.addLayout(k_row)
        self.bars = ProbabilityBars()
        bars_layout.addWidget(self.bars)
        self.answer_label = QLabel()
        self.answer_label.setObjectName("tryAnswerLabel")
        self.answer_label.setWordWrap(True)
        self.answer_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        bars_layout.addWidget(self.answer_label)
        self.model_label = hint_label()
        self.model_label.setObjectName("tryModelLabel")
        bars_layout.addWidget(self.model_label)
        bars_layout.addStretch(1)
        splitter.addWidget(bars_box)
        splitter.setStretchFactor(0, 2)
        splitter.setStretchFactor(1, 3)
        splitter.setStretchFactor(2, 3)
        splitter.setSizes([260, 380, 380])
        layout.addWidget(splitter, 1)

        self.run_combo.run_changed.connect(self._on_run_changed)
        self.image_list.currentItemChanged.connect(self._show_current)
        tensorflow.loaded.connect(self._on_tensorflow_loaded)
        set_tab_chain(self.run_combo, self.choose_files_button, self.choose_folder_button,
                      self.clear_button, self.image_list, self.gradcam_check, self.top_spin)
        self._on_run_changed(self.run_combo.selected_run)

    # -- the model --------------------------------------------------------------------------------

    @property
    def busy(self) -> bool:
        return bool(self._predict_tasks) or self._load_task is not None or self._view_task is not None

    def showEvent(self, event: QShowEvent) -> None:  # noqa: N802
        super().showEvent(event)
        self._load_if_needed()

    @Slot(str)
    def _on_tensorflow_loaded(self, _device: str) -> None:
        self._refresh_controls()
        if self.isVisible() or self.state.waiting:
            self._load_if_needed()

    @Slot(object)
    def _on_run_changed(self, run: Path | None) -> None:
        # Ask the new model about every image asked about so far.
        pending = [path for task in self._predict_tasks for path in getattr(task, "paths", [])]
        self.state.ask_again(pending)
        self._cancel_predictions()
        self.model = None
        self.image_list.set_entries([])
        self._show_current()
        if self._load_task is not None:
            self._load_task.cancel()
            self._load_task = None
        if run is not None:
            try:  # a model file says its resize policy once loaded
                resize = self._history.details(run).image_input.resize if run.is_dir() else "center-crop"
            except (OSError, ValueError):
                resize = "center-crop"
            self.thumbnails.set_resize(resize)
            if self.isVisible() or self.state.waiting:
                self._load_if_needed()
        self.model_label.setText("")
        self._refresh_controls()

    def _load_if_needed(self) -> None:
        run = self.run_combo.selected_run
        if run is None or self.model is not None or self._load_task is not None or not self._tensorflow.ready:
            self._refresh_controls()
            return

        def work(context: TaskContext) -> LoadedModel:
            return load_model(run, context)

        self._load_task = self._runner.submit("loading the model", work)
        self._load_task.messaged.connect(self._on_load_message)
        self._load_task.succeeded.connect(self._on_model_loaded)
        self._load_task.failed.connect(self._on_load_failed)
        self._set_status("Loading the model…", "")
        self._refresh_controls()

    @Slot(str)
    def _on_load_message(self, message: str) -> None:
        self._set_status(message[:1].upper() + message[1:] + "…", "")

    @Slot(object)
    def _on_model_loaded(self, model: LoadedModel) -> None:
        self._load_task = None
        if model.run != self.run_combo.selected_run:
            self._load_if_needed()
            return
        self.model = model
        predictor = model.predictor
        self.thumbnails.set_resize(predictor.resize)
        self.model_label.setText(f"Answered by the {model.answered_by} · {len(predictor.classes)} classes · "
                                 f"{predictor.image_size} px · {predictor.resize} · loaded in {model.seconds:.1f} s")
        self.gradcam_check.setEnabled(model.can_explain)
        self._set_status("", "")
        self._refresh_controls()
        if self.state.waiting:
            waiting = self.state.take_waiting()
            self.add_paths(waiting, replace=True)

    @Slot(str)
    def _on_load_failed(self, message: str) -> None:
        self._load_task = None
        self._set_status(f"Could not load the model: {message}", "error")
        self._refresh_controls()

    @Slot()
    def choose_model_file(self) -> None:
        self.run_combo.choose_model_file("Choose a model to try")

    def open_model_file(self, path: Path) -> None:
        """Try an exported model (a SavedModel by its folder or its saved_model.pb) instead of a run."""
        self.run_combo.add_model_file(path)

    # -- predicting -------------------------------------------------------------------------------

    @Slot()
    def choose_files(self) -> None:
        patterns = " ".join(f"*{ext}" for ext in sorted(IMAGE_EXTENSIONS))
        paths, _ = QFileDialog.getOpenFileNames(self, "Choose images to try", str(Path.home()),
                                                f"Images ({patterns});;All files (*)")
        if paths:
            self.add_paths([Path(p) for p in paths])

    @Slot()
    def choose_folder(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Choose a folder of images", str(Path.home()))
        if folder:
            self.add_paths([Path(folder)])

    def add_paths(self, paths: list[Path], replace: bool = False) -> Task | None:
        """Predict image files and folders in the background; they are listed once predicted.

        Before the model has loaded they wait for it (and it starts loading).
        """
        paths = [Path(p) for p in paths]
        if self.model is None:
            self.state.wait_for(paths)
            self._load_if_needed()
            if self.run_combo.selected_run is None:
                self._set_status("Train a model on the Run page first; then try it here.", "error")
            return None
        model = self.model

        def work(context: TaskContext) -> PredictionBatch:
            return predict_files(model, paths, context)

        if len(paths) > 1 or any(path.is_dir() for path in paths):
            # Only for work that takes a while: redrawing a progress bar costs a one-image prediction time.
            self.progress.setRange(0, 0)
            self.progress.show()
        task = self._runner.submit("predicting", work)
        task.paths = paths  # type: ignore[attr-defined]
        task.replace = replace  # type: ignore[attr-defined]
        task.progressed.connect(self._on_predict_progress)
        task.succeeded.connect(self._on_predicted)
        task.failed.connect(self._on_predict_failed)
        task.finished.connect(self._on_predict_finished)
        self._predict_tasks.add(task)
        return task

    def _cancel_predictions(self) -> None:
        for task in self._predict_tasks:
            task.cancel()
        self._predict_tasks.clear()
        self.progress.hide()

    @Slot()
    def _on_predict_finished(self) -> None:
        self._predict_tasks.discard(self.sender())  # type: ignore[arg-type]
        if not self._predict_tasks:
            self.progress.hide()

    @Slot(int, int)
    def _on_predict_progress(self, done: int, total: int) -> None:
        if self.progress.isHidden():
            return
        self.progress.setRange(0, max(1, total))
        self.progress.setValue(done)

    @Slot(object)
    def _on_predicted(self, batch: PredictionBatch) -> None:
        replace = getattr(self.sender(), "replace", False)
        if self.model is None or batch.run != self.model.run:
            return  # the run changed meanwhile; its model will be asked again
        self.state.answered(batch.images, replace)
        self.last_batch = batch
        self._fill_list([image.path for image in batch.images][:1])
        count = len(batch.images)
        failed = sum(1 for image in batch.images if image.error)
        if count == 0:
            self._set_status("No image files there.", "error")
        else:
            per_image = batch.seconds / count * 1000
            note = f"; {failed} could not be read" if failed else ""
            self._set_status(f"{count} image{'s' if count != 1 else ''} predicted in {batch.seconds * 1000:.0f} ms "
                             f"({per_image:.0f} ms each){note}.", "error" if failed == count else "")
        self._refresh_controls()
        self.summary_changed.emit()
        self.predictions_shown.emit(batch)

    @Slot(str)
    def _on_predict_failed(self, message: str) -> None:
        self._set_status(f"Could not predict: {message}", "error")

    def _fill_list(self, select: list[Path]) -> None:
        classes = self.model.predictor.classes if self.model else []
        entries = []
        for image in self.tried.values():
            entries.append(GalleryEntry(image.path, image.caption(classes),
                                        f"{image.path}\nDouble-click to open its folder."))
        blocked = self.image_list.blockSignals(True)
        self.image_list.set_entries(entries)
        self.image_list.blockSignals(blocked)
        paths = self.image_list.paths
        row = paths.index(select[0]) if select and select[0] in paths else (0 if paths else -1)
        self.image_list.setCurrentRow(row)
        self._show_current()

    @Slot()
    def clear(self) -> None:
        self._cancel_predictions()
        self.state.clear()
        self.image_list.set_entries([])
        self._show_current()
        self._set_status("", "")
        self._refresh_controls()
        self.summary_changed.emit()

    # -- the image looked at ----------------------------------------------------------------------

    @property
    def tried(self) -> dict[Path, TriedImage]:
        return self.state.tried

    @property
    def current(self) -> TriedImage | None:
        item = self.image_list.currentItem()
        return self.tried.get(item.data(PATH_ROLE)) if item is not None else None

    @Slot()
    def _show_current(self, *_: object) -> None:
        image = self.current
        classes = self.model.predictor.classes if self.model else []
        if image is None:
            self.bars.set_values([])
            self.answer_label.setText("")
            self.view_caption.setText("")
            self.image_label.set_image(QPixmap())
            self.image_label.setText(DROP_HINT)
            return
        if image.error:
            self.bars.set_values([])
            self.answer_label.setText(f"{image.path.name} cannot be read: {image.error}")
        else:
            order = sorted(range(len(image.probabilities)), key=lambda i: -image.probabilities[i])
            k = min(self.top_spin.value(), len(order))
            self.bars.set_values([(classes[i], image.probabilities[i]) for i in order[:k]])
            best = order[0]
            self.answer_label.setText(f"The model says <b>{classes[best]}</b>, {image.probabilities[best]:.1%} "
                                      "sure.")
        self._request_view(image)

    def _request_view(self, image: TriedImage) -> None:
        """Draw the cached view of `image`, or render it (and its heat map) in the background."""
        explain = self.gradcam_check.isChecked() and self.model is not None and self.model.can_explain \
            and not image.error
        view = self.state.view(image.path)
        if view is not None and (not explain or view.overlay is not None):
            self._draw_view(view)
            return
        if image.error or self.model is None:
            self.image_label.set_image(QPixmap())
            self.image_label.setText("Cannot show this file.")
            return
        if self._view_task is not None:
            self._view_task.cancel()
        model, path, explain_class = self.model, image.path, image.top_class if explain else None

        def work(context: TaskContext) -> ImageView:
            return render_view(model, path, VIEW_SIZE, explain_class)

        self.view_caption.setText("Computing the heat map…" if explain else "")
        self._view_task = self._runner.submit("drawing the image", work)
        self._view_task.succeeded.connect(self._on_view_rendered)
        self._view_task.failed.connect(self._on_view_failed)

    @Slot(object)
    def _on_view_rendered(self, view: ImageView) -> None:
        self._view_task = None
        self.state.keep_view(view)
        current = self.current
        if current is not None and current.path == view.path:
            self._request_view(current)  # draws it, or asks for the overlay if it was toggled meanwhile

    @Slot(str)
    def _on_view_failed(self, message: str) -> None:
        self._view_task = None
        self.view_caption.setText(f"Could not draw the image: {message}")

    def _draw_view(self, view: ImageView) -> None:
        explain = self.gradcam_check.isChecked() and view.overlay is not None
        self.image_label.setText("")
        self.image_label.set_image(QPixmap.fromImage(view.overlay if explain else view.image))
        if explain and self.model is not None and view.explained_class is not None:
            name = self.model.predictor.classes[view.explained_class]
            self.view_caption.setText(
                f"The heat map is even: no part of the image counted more than another for “{name}” (a "
                "small input leaves the last convolutional block only a pixel or two)." if view.flat else
                f"Red: where the model found the most evidence for “{name}”.")
        else:
            self.view_caption.setText(f"{view.path.name}, as the model sees it (before scaling to "
                                      f"{self.model.predictor.image_size} px)." if self.model else view.path.name)
        self.view_shown.emit()

    @Slot(bool)
    def _on_gradcam_toggled(self, _checked: bool) -> None:
        image = self.current
        if image is not None:
            self._request_view(image)

    # -- drag and drop ----------------------------------------------------------------------------

    def dragEnterEvent(self, event: QDragEnterEvent) -> None:  # noqa: N802
        if event.mimeData().hasUrls() and any(url.isLocalFile() for url in event.mimeData().urls()):
            event.acceptProposedAction()

    def dropEvent(self, event: QDropEvent) -> None:  # noqa: N802
        paths = [Path(url.toLocalFile()) for url in event.mimeData().urls() if url.isLocalFile()]
        if paths:
            event.acceptProposedAction()
            self.add_paths(paths)

    # -- status -----------------------------------------------------------------------------------

    def _refresh_controls(self) -> None:
        has_run = self.run_combo.selected_run is not None
        for button in (self.choose_files_button, self.choose_folder_button):
            button.setEnabled(has_run)
        self.clear_button.setEnabled(bool(self.tried))
        self.gradcam_check.setEnabled(self.model is not None and self.model.can_explain)
        reason = self.model.why_no_explanation if self.model is not None else ""
        self.gradcam_reason.setText(reason)
        self.gradcam_reason.setVisible(bool(reason))
        if not has_run:
            self._set_status("Train a model on the Run page first; then try it here.", "")
        elif not self._tensorflow.ready and self._load_task is None:
            self._set_status("The model loads once TensorFlow has loaded…", "")

    def _set_status(self, text: str, role: str) -> None:
        self.status_label.setText(text)
        self.status_label.setProperty("role", role)
        self.status_label.style().unpolish(self.status_label)
        self.status_label.style().polish(self.status_label)

    def summary(self) -> str:
        return f"{len(self.tried)} image{'s' if len(self.tried) != 1 else ''}" if self.tried else ""
