"""The Try-it page's views of the image looked at: the image as the model sees it (with its Grad-CAM heat
map on request, rendered in the background and kept in the TryState), and the model's answer as
probability bars. The ranking is the core's (`predict.predictor.top_k`).
"""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal, Slot
from PySide6.QtGui import QPixmap
from PySide6.QtWidgets import QCheckBox, QGroupBox, QHBoxLayout, QLabel, QSpinBox, QVBoxLayout, QWidget

from tlstudio.gui.background import TaskContext, TaskRunner
from tlstudio.gui.panels.predictions import ImageView, LoadedModel, TriedImage, TryState, render_view
from tlstudio.gui.widgets.common import ImageLabel, TaskHolder, hint_label, int_spin, named, text_label
from tlstudio.gui.widgets.probability_bars import MAX_BARS, ProbabilityBars
from tlstudio.predict.predictor import top_k

VIEW_SIZE = 320
DROP_HINT = "Drop images\nor a folder here"


class ImageViewBox(QGroupBox):
    """Wraps the image looked at (a TriedImage), the loaded model that answered, and the TryState's kept views."""

    view_shown = Signal()  # the large image (or its Grad-CAM overlay) was drawn

    def __init__(self, state: TryState, runner: TaskRunner, parent: QWidget | None = None) -> None:
        super().__init__("What the model sees", parent)
        self._state = state
        self._render = TaskHolder(runner, parent=self)
        self.model: LoadedModel | None = None
        self.image: TriedImage | None = None
        layout = QVBoxLayout(self)
        self.image_label = ImageLabel(VIEW_SIZE, 140)
        self.image_label.setText(DROP_HINT)
        self.image_label.setObjectName("tryImageView")
        self.image_label.setAccessibleName("The image looked at")
        self.image_label.setProperty("role", "dropTarget")
        layout.addWidget(self.image_label, 0, Qt.AlignmentFlag.AlignHCenter)
        self.gradcam_check = named(QCheckBox("Grad-CAM heat map"), "tryGradCamCheck", "Grad-CAM heat map",
                                   "Show where the model looked: a heat map over the image, red where the last "
                                   "convolutional block found most evidence for the predicted class.")
        self.gradcam_check.toggled.connect(self._on_gradcam_toggled)
        layout.addWidget(self.gradcam_check, 0, Qt.AlignmentFlag.AlignHCenter)
        self.gradcam_reason = hint_label()
        self.gradcam_reason.setObjectName("tryGradCamReason")
        self.gradcam_reason.hide()
        layout.addWidget(self.gradcam_reason)
        self.view_caption = hint_label()
        self.view_caption.setObjectName("tryViewCaption")
        self.view_caption.setAlignment(Qt.AlignmentFlag.AlignHCenter)
        layout.addWidget(self.view_caption)
        layout.addStretch(1)

    @property
    def busy(self) -> bool:
        return self._render.busy

    def set_model(self, model: LoadedModel | None) -> None:
        """The model that answers now; Grad-CAM only where it can explain (or says why not)."""
        self.model = model
        self.gradcam_check.setEnabled(model is not None and model.can_explain)
        reason = model.why_no_explanation if model is not None else ""
        self.gradcam_reason.setText(reason)
        self.gradcam_reason.setVisible(bool(reason))

    def show_image(self, image: TriedImage | None) -> None:
        self.image = image
        if image is None:
            self.view_caption.setText("")
            self.image_label.set_image(QPixmap())
            self.image_label.setText(DROP_HINT)
            return
        self._request_view(image)

    def _request_view(self, image: TriedImage) -> None:
        """Draw the kept view of `image`, or render it (and its heat map) in the background."""
        model = self.model
        explain = self.gradcam_check.isChecked() and model is not None and model.can_explain and not image.error
        view = self._state.view(image.path)
        if view is not None and (not explain or view.overlay is not None):
            self._draw_view(view)
            return
        if image.error or model is None:
            self.image_label.set_image(QPixmap())
            self.image_label.setText("Cannot show this file.")
            return
        path, explain_class = image.path, image.top_class if explain else None

        def work(context: TaskContext) -> ImageView:
            return render_view(model, path, VIEW_SIZE, explain_class)

        self.view_caption.setText("Computing the heat map…" if explain else "")
        self._render.start("drawing the image", work, succeeded=self._on_view_rendered, failed=self._on_view_failed)

    def _on_view_rendered(self, view: ImageView) -> None:
        self._state.keep_view(view)
        if self.image is not None and self.image.path == view.path:
            self._request_view(self.image)  # draws it, or asks for the overlay if it was toggled meanwhile

    def _on_view_failed(self, message: str) -> None:
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
        if self.image is not None:
            self._request_view(self.image)


class PredictionBox(QGroupBox):
    """The model's answer for the image looked at: its top classes as bars, in words, and which model said it."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__("Prediction", parent)
        layout = QVBoxLayout(self)
        k_row = QHBoxLayout()
        k_row.addWidget(QLabel("Show the top"))
        self.top_spin: QSpinBox = named(int_spin(1, MAX_BARS), "tryTopSpin", "Number of classes shown",
                                        "How many of the most probable classes to show.")
        self.top_spin.setValue(5)
        k_row.addWidget(self.top_spin)
        k_row.addStretch(1)
        layout.addLayout(k_row)
        self.bars = ProbabilityBars()
        layout.addWidget(self.bars)
        self.answer_label = text_label("tryAnswerLabel", selectable=True)
        layout.addWidget(self.answer_label)
        self.model_label = hint_label()
        self.model_label.setObjectName("tryModelLabel")
        layout.addWidget(self.model_label)
        layout.addStretch(1)

    def show_model(self, model: LoadedModel | None) -> None:
        if model is None:
            self.model_label.setText("")
            return
        predictor = model.predictor
        self.model_label.setText(f"Answered by the {model.answered_by} · {len(predictor.classes)} classes · "
                                 f"{predictor.image_size} px · {predictor.resize} · loaded in {model.seconds:.1f} s")

    def show_image(self, image: TriedImage | None, classes: list[str]) -> None:
        if image is None or image.error:
            self.bars.set_values([])
            self.answer_label.setText(f"{image.path.name} cannot be read: {image.error}" if image else "")
            return
        top = top_k(image.probabilities, classes, self.top_spin.value())
        self.bars.set_values([(entry["label"], entry["probability"]) for entry in top])
        self.answer_label.setText(f"The model says <b>{top[0]['label']}</b>, {top[0]['probability']:.1%} sure.")
