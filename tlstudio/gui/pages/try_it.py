"""Try-it page: drop or choose images (or a folder) and see what a run's model says about each.

Images are prepared exactly as in training (the run's image size and resize policy, through
`tlstudio.predict.predictor.load_predictor`). The model is loaded once per run and kept, so a prediction
after the first costs one decode and one call of the traced model. All model work runs in
background tasks (`tlstudio.gui.panels.predictions`); the page lists the images tried and its panels
(`tlstudio.gui.panels.try_views`) draw the one looked at and the model's answer.
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Qt, Signal, Slot
from PySide6.QtGui import QDragEnterEvent, QDropEvent, QShowEvent
from PySide6.QtWidgets import (
    QFileDialog,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QProgressBar,
    QPushButton,
    QSplitter,
    QVBoxLayout,
    QWidget,
)

from tlstudio.data import IMAGE_EXTENSIONS
from tlstudio.gui.background import Task, TaskContext, TaskRunner, TensorFlowLoader
from tlstudio.gui.pages.base import Page
from tlstudio.gui.panels.predictions import (
    LoadedModel,
    PredictionBatch,
    TriedImage,
    TryState,
    load_model,
    predict_files,
)
from tlstudio.gui.panels.try_views import ImageViewBox, PredictionBox
from tlstudio.gui.state.run_history import RunHistory
from tlstudio.gui.widgets.common import TaskHolder, named, set_status, set_tab_chain, text_label
from tlstudio.gui.widgets.gallery import GalleryEntry, ImageGallery
from tlstudio.gui.widgets.responsive import WrapAwareSplitter
from tlstudio.gui.widgets.run_combo import RunCombo
from tlstudio.gui.widgets.thumbnails import ThumbnailCache

THUMBNAIL_SIZE = 56
VIEWS_KEPT = 64
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
        self._loading = TaskHolder(runner, parent=self)
        self._predict_tasks: set[Task] = set()
        self.state = TryState(VIEWS_KEPT)
        self.thumbnails = ThumbnailCache(runner, THUMBNAIL_SIZE, parent=self)
        self.last_batch: PredictionBatch | None = None
        self.setAcceptDrops(True)
        controls = self._controls_row(history)
        self.status_label = text_label("tryStatusLabel")
        self.image_list = ImageGallery(self.thumbnails, "tryImageList", "Images tried",
                                       "Each image with the model's answer. Select one to look at it; "
                                       "double-click to open its folder.", grid=False)
        self.image_list.setMinimumWidth(130)
        self.view = ImageViewBox(self.state, runner)
        self.prediction = PredictionBox()
        layout = QVBoxLayout(self.body)
        layout.setContentsMargins(0, 6, 0, 0)
        layout.setSpacing(8)
        layout.addLayout(controls)
        layout.addWidget(self.status_label)
        layout.addWidget(self._views_splitter(), 1)

        # The panels' widgets by the page's names: the tests and the screenshot script reach them here.
        self.image_label, self.gradcam_check = self.view.image_label, self.view.gradcam_check
        self.gradcam_reason, self.view_caption = self.view.gradcam_reason, self.view.view_caption
        self.top_spin, self.bars = self.prediction.top_spin, self.prediction.bars
        self.answer_label, self.model_label = self.prediction.answer_label, self.prediction.model_label

        self.view.view_shown.connect(self.view_shown)
        self.top_spin.valueChanged.connect(self._show_current)
        self.run_combo.run_changed.connect(self._on_run_changed)
        self.image_list.currentItemChanged.connect(self._show_current)
        tensorflow.loaded.connect(self._on_tensorflow_loaded)
        set_tab_chain(self.run_combo, self.choose_files_button, self.choose_folder_button,
                      self.clear_button, self.image_list, self.gradcam_check, self.top_spin)
        self._on_run_changed(self.run_combo.selected_run)

    def _controls_row(self, history: RunHistory) -> QHBoxLayout:
        """Which model answers; the images to ask it about; the predictions' progress."""
        controls = QHBoxLayout()
        controls.addWidget(QLabel("Run"))
        self.run_combo = RunCombo(history, "tryRunCombo", "Model to try",
                                  "The run whose best model (lowest validation loss) answers.")
        controls.addWidget(self.run_combo)
        self.open_model_button = named(QPushButton("Model file…"), "tryOpenModelButton", "Open a model file",
                                       "Try an exported model: a .tflite (int8 too), .onnx or .keras file, or a "
                                       "SavedModel folder (pick its saved_model.pb).")
        self.choose_files_button = named(QPushButton("Add images…"), "tryChooseImagesButton", "Add images",
                                         "Pick image files to predict.")
        self.choose_folder_button = named(QPushButton("Add a folder…"), "tryChooseFolderButton",
                                          "Add a folder", "Predict every image in a folder and its sub-folders.")
        self.clear_button = named(QPushButton("Clear"), "tryClearButton", "Clear the images",
                                  "Forget the images tried so far.")
        for button, slot in ((self.open_model_button, self.choose_model_file),
                             (self.choose_files_button, self.choose_files),
                             (self.choose_folder_button, self.choose_folder), (self.clear_button, self.clear)):
            button.clicked.connect(slot)
            controls.addWidget(button)
        self.progress = named(QProgressBar(), "tryProgress", "Prediction progress")
        self.progress.setFixedWidth(160)
        self.progress.hide()
        controls.addWidget(self.progress)
        controls.addStretch(1)
        return controls

    def _views_splitter(self) -> QSplitter:
        """The images tried, the one looked at, and the model's answer, side by side."""
        splitter = WrapAwareSplitter(Qt.Orientation.Horizontal)  # wrapped text beside it keeps its height
        splitter.setObjectName("trySplitter")
        splitter.setChildrenCollapsible(False)
        list_box = QGroupBox("Images")
        QVBoxLayout(list_box).addWidget(self.image_list)
        for part in (list_box, self.view, self.prediction):
            splitter.addWidget(part)
        for position, stretch in enumerate((2, 3, 3)):
            splitter.setStretchFactor(position, stretch)
        splitter.setSizes([260, 380, 380])
        return splitter

    # -- the model --------------------------------------------------------------------------------

    @property
    def busy(self) -> bool:
        return bool(self._predict_tasks) or self._loading.busy or self.view.busy

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
        self._set_model(None)
        self.image_list.set_entries([])
        self._show_current()
        self._loading.drop()
        if run is not None:
            try:  # a model file says its resize policy once loaded
                resize = self._history.details(run).image_input.resize if run.is_dir() else "center-crop"
            except (OSError, ValueError):
                resize = "center-crop"
            self.thumbnails.set_resize(resize)
            if self.isVisible() or self.state.waiting:
                self._load_if_needed()
        self._refresh_controls()

    def _set_model(self, model: LoadedModel | None) -> None:
        self.model = model
        self.view.set_model(model)
        self.prediction.show_model(model)

    def _load_if_needed(self) -> None:
        run = self.run_combo.selected_run
        if run is None or self.model is not None or self._loading.busy or not self._tensorflow.ready:
            self._refresh_controls()
            return

        def work(context: TaskContext) -> LoadedModel:
            return load_model(run, context)

        self._loading.start("loading the model", work, messaged=self._on_load_message, succeeded=self._on_model_loaded,
                            failed=self._on_load_failed)
        set_status(self.status_label, "Loading the model…")
        self._refresh_controls()

    def _on_load_message(self, message: str) -> None:
        set_status(self.status_label, message[:1].upper() + message[1:] + "…")

    def _on_model_loaded(self, model: LoadedModel) -> None:
        if model.run != self.run_combo.selected_run:
            self._load_if_needed()
            return
        self.thumbnails.set_resize(model.predictor.resize)
        self._set_model(model)
        set_status(self.status_label, "")
        self._refresh_controls()
        if self.state.waiting:
            self.add_paths(self.state.take_waiting(), replace=True)

    def _on_load_failed(self, message: str) -> None:
        set_status(self.status_label, f"Could not load the model: {message}", "error")
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

        Before the model has loaded they wait for it (and it starts loading). Several batches may be
        predicted at once (each drop or choice is one), so these tasks are a set, not one TaskHolder.
        """
        paths = [Path(p) for p in paths]
        if self.model is None:
            self.state.wait_for(paths)
            self._load_if_needed()
            if self.run_combo.selected_run is None:
                set_status(self.status_label, "Train a model on the Run page first; then try it here.", "error")
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
            set_status(self.status_label, "No image files there.", "error")
        else:
            per_image = batch.seconds / count * 1000
            note = f"; {failed} could not be read" if failed else ""
            set_status(self.status_label, f"{count} image{'s' if count != 1 else ''} predicted in "
                       f"{batch.seconds * 1000:.0f} ms ({per_image:.0f} ms each){note}.",
                       "error" if failed == count else "")
        self._refresh_controls()
        self.summary_changed.emit()
        self.predictions_shown.emit(batch)

    @Slot(str)
    def _on_predict_failed(self, message: str) -> None:
        set_status(self.status_label, f"Could not predict: {message}", "error")

    def _fill_list(self, select: list[Path]) -> None:
        classes = self.model.predictor.classes if self.model else []
        entries = [GalleryEntry(image.path, image.caption(classes), f"{image.path}\nDouble-click to open its folder.")
                   for image in self.tried.values()]
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
        set_status(self.status_label, "")
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
        self.prediction.show_image(image, self.model.predictor.classes if self.model else [])
        self.view.show_image(image)

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
        self.view.set_model(self.model)
        if not has_run:
            set_status(self.status_label, "Train a model on the Run page first; then try it here.")
        elif not self._tensorflow.ready and not self._loading.busy:
            set_status(self.status_label, "The model loads once TensorFlow has loaded…")

    def summary(self) -> str:
        return f"{len(self.tried)} image{'s' if len(self.tried) != 1 else ''}" if self.tried else ""
