"""The Try-it page's background work, as plain functions of a loaded `Predictor` (no widgets).

Each runs in a TaskRunner thread. The predictor is loaded once per run and kept: its Keras
model is called through one traced `tf.function` (docs/stack-notes.md #7), so a prediction after the first
costs one decode and one call. One lock serialises the calls into the model, so a prediction and
a Grad-CAM never run in it at the same time.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PySide6.QtGui import QImage

from tlstudio.data import DataError, load_image
from tlstudio.gui.background import TaskContext
from tlstudio.gui.widgets.thumbnails import array_to_qimage
from tlstudio.predict.formats import ENGINE_LABELS, MODEL_FORMATS, model_name
from tlstudio.predict.predictor import PREDICT_BATCH, Predictor, image_files
from tlstudio.runs.folder import MODEL_FILE


@dataclass(frozen=True)
class TriedImage:
    """One file and what the model said about it (or why it could not be read)."""

    path: Path
    probabilities: tuple[float, ...] = ()
    error: str = ""

    @property
    def top_class(self) -> int:
        return int(np.argmax(self.probabilities)) if self.probabilities else -1

    def caption(self, classes: list[str]) -> str:
        """Its line in the image list: the file name, then the answer (or why there is none)."""
        if self.error:
            return f"{self.path.name}\ncannot be read: {self.error}"
        best = self.top_class
        return f"{self.path.name}\n{classes[best]} {self.probabilities[best]:.0%}"


@dataclass(frozen=True)
class PredictionBatch:
    run: Path
    images: list[TriedImage]
    seconds: float  # decoding and predicting, all images


@dataclass(frozen=True)
class ImageView:
    """An image as the model sees it (its resize policy), large enough to look at, and optionally
    the same with the Grad-CAM heat map of `explained_class` blended over it."""

    path: Path
    image: QImage
    overlay: QImage | None = None
    explained_class: int | None = None
    flat: bool = False  # the heat map is the same everywhere (says nothing about where)


def model_path(target: Path) -> Path:
    """What answers for `target`: a run folder's model.keras, else the exported file or SavedModel folder."""
    return target / MODEL_FILE if (target / MODEL_FILE).is_file() else target


@dataclass
class LoadedModel:
    run: Path  # the run folder or model file chosen
    predictor: Predictor
    lock: threading.Lock
    seconds: float

    @property
    def can_explain(self) -> bool:
        """Grad-CAM needs the Keras model itself (the run's model.keras gives it): the formats say which do."""
        model_format = MODEL_FORMATS.get(self.predictor.runtime.format)
        return model_format is not None and model_format.explainable

    @property
    def answered_by(self) -> str:
        """Which model and runtime answer, e.g. "ONNX model in onnxruntime"."""
        runtime = self.predictor.runtime
        name = model_name(runtime.format)
        quantized = " (int8)" if getattr(runtime, "quantized", False) else ""
        return f"{name}{quantized} in {ENGINE_LABELS.get(runtime.engine, runtime.engine)}"

    @property
    def why_no_explanation(self) -> str:
        """"" when Grad-CAM works, else why not, in one sentence."""
        if self.can_explain:
            return ""
        return (f"Grad-CAM needs the Keras model's gradients; this {self.answered_by} gives only its answers. "
                "Choose the run (or its .keras file) to see where it looked.")


class TryState:
    """What the Try-it page was asked and has answered, apart from how it draws them: the images tried
    (in order), those waiting for a model to load, and the last rendered views (a small LRU cache)."""

    def __init__(self, views_kept: int) -> None:
        self.tried: dict[Path, TriedImage] = {}
        self.waiting: list[Path] = []  # asked about before the model was loaded
        self._views: OrderedDict[Path, ImageView] = OrderedDict()
        self._views_kept = views_kept

    def ask_again(self, pending: list[Path]) -> None:
        """A new model: every image asked about so far (and `pending`) waits for it; old answers go."""
        self.wait_for([*self.tried, *pending])
        self.tried.clear()
        self._views.clear()

    def wait_for(self, paths: list[Path]) -> None:
        self.waiting = list(dict.fromkeys([*self.waiting, *paths]))

    def take_waiting(self) -> list[Path]:
        waiting, self.waiting = self.waiting, []
        return waiting

    def answered(self, images: list[TriedImage], replace: bool) -> None:
        if replace:
            self.tried.clear()
            self._views.clear()
        for image in images:
            self.tried[image.path] = image

    def clear(self) -> None:
        self.tried.clear()
        self._views.clear()
        self.waiting.clear()

    def view(self, path: Path) -> ImageView | None:
        return self._views.get(path)

    def keep_view(self, view: ImageView) -> None:
        self._views[view.path] = view
        self._views.move_to_end(view.path)
        while len(self._views) > self._views_kept:
            self._views.popitem(last=False)


def load_model(run: Path, context: TaskContext) -> LoadedModel:
    """Load the run's model.keras (or an exported .keras, .tflite, .onnx file or SavedModel folder) with
    its labels and preprocessing, through the predictor `tlstudio predict` uses, and call it once."""
    from tlstudio.predict.predictor import load_predictor

    start = time.perf_counter()
    context.message("loading the model")
    predictor = load_predictor(model_path(run))
    context.message("preparing the model")
    size = predictor.image_size
    predictor.predict_array(np.zeros((1, size, size, 3), np.uint8))  # the first call traces the graph
    return LoadedModel(run, predictor, threading.Lock(), time.perf_counter() - start)


def _reason(error: Exception) -> str:
    reason = getattr(error, "reason", None) or getattr(error, "strerror", None) or str(error)
    return str(reason)


def predict_files(model: LoadedModel, targets: list[Path], context: TaskContext) -> PredictionBatch:
    """Predict every image file in `targets` (files, or folders searched recursively), in order."""
    start = time.perf_counter()
    paths = [path for target in targets for path in image_files(target)]
    found: dict[Path, TriedImage] = {}
    decoded: list[tuple[Path, np.ndarray]] = []
    for done, path in enumerate(paths, start=1):
        if context.cancelled:
            break
        try:
            decoded.append((path, model.predictor.load(path)))
        except (DataError, OSError, ValueError) as error:
            found[path] = TriedImage(path, error=_reason(error))
        context.progress(done, len(paths) * 2)
    for first in range(0, len(decoded), PREDICT_BATCH):
        chunk = decoded[first:first + PREDICT_BATCH]
        with model.lock:
            probabilities = model.predictor.predict_array(np.stack([image for _, image in chunk]))
        for (path, _), row in zip(chunk, probabilities, strict=True):
            found[path] = TriedImage(path, tuple(float(p) for p in row))
        context.progress(len(paths) + first + len(chunk), len(paths) * 2)
    return PredictionBatch(model.run, [found[p] for p in paths if p in found], time.perf_counter() - start)


def render_view(model: LoadedModel, path: Path, size: int, explain_class: int | None) -> ImageView:
    """The image at `size` px as the model sees it; with a Grad-CAM overlay when `explain_class` is set."""
    predictor = model.predictor
    display = load_image(path, size, predictor.resize, predictor.info.max_megapixels)
    if explain_class is None:
        return ImageView(path, array_to_qimage(display))
    from tlstudio.tools.gradcam import gradcam, normalize_heatmap, overlay

    with model.lock:
        heatmap = gradcam(predictor.runtime.model, predictor.load(path), explain_class)
    blended = overlay(display, normalize_heatmap(heatmap, display.shape[:2]))
    flat = float(np.ptp(heatmap)) < 1e-6
    return ImageView(path, array_to_qimage(display), array_to_qimage(blended), explain_class, flat)
