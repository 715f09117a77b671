"""Run a trained or exported model on images, with the preprocessing recorded beside it.

Any of the four formats loads in its own runtime: a ``.keras`` file (Keras, called through a
``tf.function``: docs/stack-notes.md #7), a SavedModel folder (``tf.saved_model`` serving signature), a ``.tflite``
file (the LiteRT interpreter) and an ``.onnx`` file (onnxruntime). Labels and preprocessing (image
size, resize policy) come from ``model_card.json`` beside the model, else the run folder's
``config.json`` + ``labels.txt``, else ``labels.txt`` and the model's own input size.

Importing this module does not import TensorFlow; loading a predictor does.
"""

from __future__ import annotations

import json
import os
import threading
import warnings
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from tlstudio.data import IMAGE_EXTENSIONS, DataError, ImageInput, load_image
from tlstudio.data.images import DEFAULT_MAX_MEGAPIXELS, DEFAULT_RESIZE
from tlstudio.predict.formats import MODEL_FORMATS, file_formats_text, format_for_path
from tlstudio.runs.folder import CONFIG_FILE, LABELS_FILE
from tlstudio.settings.project import Project, ProjectError

CARD_FILE = "model_card.json"
# SavedModel's folder for files the graph does not use; the labels and card travel inside it.
SAVEDMODEL_EXTRA = "assets.extra"
ONNX_METADATA_KEY = "tlstudio"
PREDICT_BATCH = 64  # images per call when predicting many: the trainer, evaluation, export checks, Try it


class PredictorError(ValueError):
    """A model that cannot be loaded or used; the message is one sentence naming the file and the fix."""


@dataclass(frozen=True)
class ModelInfo:
    """What a model needs besides its weights: class names and the exact input preprocessing."""

    classes: list[str]
    image_size: int
    resize: str = DEFAULT_RESIZE
    max_megapixels: float = DEFAULT_MAX_MEGAPIXELS
    source: str = ""  # the file the facts were read from
    warnings: list[str] = field(default_factory=list)


def detect_format(path: str | os.PathLike) -> str:
    """The format (predict/formats.py) of a model file or folder; PredictorError otherwise."""
    path = Path(path)
    if not path.exists():
        raise PredictorError(f"{path} does not exist; check the model path.")
    found = format_for_path(path)
    if found:
        return found
    if path.is_dir():
        markers = " or ".join(f.folder_marker for f in MODEL_FORMATS.values() if f.folder_marker)
        raise PredictorError(f"{path} is a folder but not a SavedModel (no {markers}); give {file_formats_text()}.")
    raise PredictorError(f"{path} is not a model TL Studio can run; give {file_formats_text()}.")


# -- runtimes: float32 (N, s, s, 3) raw RGB in, (N, classes) probabilities out -----------------------


class Runtime:
    """One loaded model in its own runtime. Subclasses set ``image_size`` and ``num_classes``."""

    format: str = ""
    engine: str = ""  # the runtime's name, for reports
    image_size: int | None = None
    num_classes: int | None = None

    def __call__(self, batch: np.ndarray) -> np.ndarray:
        raise NotImplementedError


def predict_in_batches(call: Callable[[np.ndarray], Any], inputs: np.ndarray, num_classes: int,
                       on_batch: Callable[[int], None] | None = None, batch_size: int = PREDICT_BATCH) -> np.ndarray:
    """`call` over `inputs` in batches of `batch_size` (the last one partial), the answers stacked.

    Inputs keep their dtype (uint8 images are cast inside the traced call, not here); `on_batch`
    receives how many inputs are done after each batch.
    """
    out = []
    for first in range(0, len(inputs), batch_size):
        out.append(np.asarray(call(inputs[first:first + batch_size])))
        if on_batch is not None:
            on_batch(min(first + batch_size, len(inputs)))
    return np.concatenate(out) if out else np.zeros((0, num_classes), np.float32)


def inference_function(model, input_shape: tuple[int, ...], dtype: Any = np.float32):
    """One traced call of `model` (training=False) for any batch size: inputs of `input_shape` and
    `dtype` (uint8 images or float features), cast to float32 inside the graph. Under another Keras backend
    (a JAX or PyTorch training process) Keras's own compiled predict step runs it instead."""
    import keras

    if keras.config.backend() != "tensorflow":
        return lambda x: model.predict_on_batch(np.asarray(x, np.float32))
    import tensorflow as tf

    spec = tf.TensorSpec((None, *input_shape), tf.as_dtype(dtype))
    return tf.function(lambda x: model(tf.cast(x, tf.float32), training=False), input_signature=[spec])


def serving_function(model, size: int):
    """(tf.function, input signature): float32 raw RGB (N, size, size, 3) -> {"probabilities": ...}.

    The one traced call of a Keras model that prediction, evaluation and every export share.
    """
    import tensorflow as tf

    spec = [tf.TensorSpec((None, size, size, 3), tf.float32, name="image")]

    def serve(image):
        with warnings.catch_warnings():  # runs once, while tracing
            # Keras 3.15 warns when a loaded model's input arrives as a bare tensor, not [tensor].
            warnings.filterwarnings("ignore", message="The structure of `inputs`")
            # training=False explicitly: a random layer called without it keeps augmenting (docs/stack-notes.md #2).
            return {"probabilities": model(image, training=False)}

    return tf.function(serve, input_signature=spec), spec


class KerasRuntime(Runtime):
    format = "keras"
    engine = MODEL_FORMATS[format].engine

    def __init__(self, path: Path) -> None:
        import keras

        self.model = keras.saving.load_model(path, compile=False)
        _, height, width, _ = self.model.input_shape
        if height != width or height is None:
            raise PredictorError(f"{path} takes {height}x{width} images; TL Studio models take square ones.")
        self.image_size = int(height)
        self.num_classes = int(self.model.output_shape[-1])
        # A tf.function with a fixed signature traces once: a few ms a call instead of predict's
        # ~60 ms setup per call (docs/stack-notes.md #7).
        self._call, _ = serving_function(self.model, self.image_size)

    def __call__(self, batch: np.ndarray) -> np.ndarray:
        return self._call(np.asarray(batch, np.float32))["probabilities"].numpy()


class SavedModelRuntime(Runtime):
    format = "savedmodel"
    engine = MODEL_FORMATS[format].engine

    def __init__(self, path: Path) -> None:
        import tensorflow as tf

        self._loaded = tf.saved_model.load(str(path))  # keeps the variables alive
        if "serving_default" not in self._loaded.signatures:
            raise PredictorError(f"{path} has no serving_default signature; export it again with TL Studio.")
        self._signature = self._loaded.signatures["serving_default"]
        inputs = self._signature.structured_input_signature[1]
        if len(inputs) != 1:
            raise PredictorError(f"{path}'s serving signature takes {len(inputs)} inputs, not one image batch.")
        (self._input_name, spec), = inputs.items()
        shape = spec.shape.as_list()
        self.image_size = shape[1] if len(shape) == 4 and shape[1] == shape[2] else None
        (self._output_name, out_spec), = list(self._signature.structured_outputs.items())[:1]
        self.num_classes = out_spec.shape.as_list()[-1]

    def __call__(self, batch: np.ndarray) -> np.ndarray:
        import tensorflow as tf

        out = self._signature(**{self._input_name: tf.constant(np.asarray(batch, np.float32))})
        return out[self._output_name].numpy()


def tflite_interpreter_class() -> tuple[type, str]:
    """LiteRT's interpreter (ai-edge-litert) where installed, else TensorFlow's deprecated one."""
    try:
        from ai_edge_litert.interpreter import Interpreter

        return Interpreter, "ai-edge-litert"
    except ImportError:
        import tensorflow as tf

        return tf.lite.Interpreter, "tf.lite"


class TFLiteRuntime(Runtime):
    format = "tflite"

    def __init__(self, path: Path) -> None:
        interpreter_class, self.engine = tflite_interpreter_class()
        self._interpreter = interpreter_class(model_path=str(path))
        self._interpreter.allocate_tensors()
        self._input = self._interpreter.get_input_details()[0]
        self._output = self._interpreter.get_output_details()[0]
        shape = [int(d) for d in self._input["shape"]]
        self.image_size = shape[1] if len(shape) == 4 and shape[1] == shape[2] else None
        self.num_classes = int(self._output["shape"][-1])
        self.quantized = np.dtype(self._input["dtype"]).kind in "iu"  # int8 export: integer in and out
        self._lock = threading.Lock()  # an interpreter must not be used by two threads at once

    def __call__(self, batch: np.ndarray) -> np.ndarray:
        batch = np.asarray(batch, np.float32)
        out = np.empty((len(batch), self.num_classes), np.float32)
        with self._lock:
            for i in range(len(batch)):  # the converted graph has a batch of one
                self._interpreter.set_tensor(self._input["index"], _quantize(batch[i:i + 1], self._input))
                self._interpreter.invoke()
                out[i] = _dequantize(self._interpreter.get_tensor(self._output["index"]), self._output)[0]
        return out


def _quantize(values: np.ndarray, detail: dict) -> np.ndarray:
    """Float input to an integer input tensor's scale (full-integer models), else unchanged."""
    dtype = detail["dtype"]
    if not np.issubdtype(dtype, np.integer):
        return values.astype(dtype)
    scale, zero_point = detail["quantization"]
    info = np.iinfo(dtype)
    return np.clip(np.round(values / scale + zero_point), info.min, info.max).astype(dtype)


def _dequantize(values: np.ndarray, detail: dict) -> np.ndarray:
    if not np.issubdtype(detail["dtype"], np.integer):
        return values.astype(np.float32)
    scale, zero_point = detail["quantization"]
    return ((values.astype(np.float32) - zero_point) * scale).astype(np.float32)


class OnnxRuntime(Runtime):
    format = "onnx"
    engine = MODEL_FORMATS[format].engine

    def __init__(self, path: Path) -> None:
        try:
            import onnxruntime
        except ImportError:
            raise PredictorError("running an .onnx model needs onnxruntime; install it with "
                                 "'pip install onnxruntime'.") from None
        options = onnxruntime.SessionOptions()
        options.log_severity_level = 3  # errors only
        self._session = onnxruntime.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        self._input_name = self._session.get_inputs()[0].name
        shape = self._session.get_inputs()[0].shape
        self.image_size = shape[1] if len(shape) == 4 and shape[1] == shape[2] and isinstance(shape[1], int) \
            else None
        last = self._session.get_outputs()[0].shape[-1]
        self.num_classes = last if isinstance(last, int) else None
        self.metadata = dict(self._session.get_modelmeta().custom_metadata_map)

    def __call__(self, batch: np.ndarray) -> np.ndarray:
        return self._session.run(None, {self._input_name: np.asarray(batch, np.float32)})[0]


_RUNTIMES: dict[str, Callable[[Path], Runtime]] = {
    "keras": KerasRuntime, "savedmodel": SavedModelRuntime, "tflite": TFLiteRuntime, "onnx": OnnxRuntime,
}


def open_runtime(path: str | os.PathLike, fmt: str | None = None) -> Runtime:
    """Load a model file or folder in its own runtime (export's verification uses this too)."""
    path = Path(path)
    fmt = fmt or detect_format(path)
    try:
        return _RUNTIMES[fmt](path)
    except PredictorError:
        raise
    except Exception as error:  # each runtime raises its own types for a corrupt or foreign file
        first = (str(error).strip().splitlines() or [type(error).__name__])[0][:300]
        raise PredictorError(f"{path} cannot be loaded as {MODEL_FORMATS[fmt].a_model} ({type(error).__name__}: "
                             f"{first}); export it again.") from None


# -- labels and preprocessing ---------------------------------------------------------------------------


def _info_folders(path: Path, fmt: str) -> list[Path]:
    if fmt == "savedmodel":
        return [path / SAVEDMODEL_EXTRA, path, path.parent]
    return [path.parent]


def read_model_info(path: str | os.PathLike, fmt: str | None = None, runtime: Runtime | None = None) -> ModelInfo:
    """Class names and preprocessing for the model at ``path`` (see the module docstring for the order)."""
    path = Path(path)
    fmt = fmt or detect_format(path)
    folders = _info_folders(path, fmt)
    for folder in folders:
        card = folder / CARD_FILE
        if card.is_file():
            return _info_from_card(card)
    for folder in folders:
        if (folder / CONFIG_FILE).is_file() and (folder / LABELS_FILE).is_file():
            return _info_from_run_config(folder)
    metadata = getattr(runtime, "metadata", None) or {}
    if ONNX_METADATA_KEY in metadata:
        return _info_from_dict(json.loads(metadata[ONNX_METADATA_KEY]), f"{path} (embedded metadata)")
    for folder in folders:
        labels = folder / LABELS_FILE
        if labels.is_file() and runtime is not None and runtime.image_size:
            return ModelInfo(_read_labels(labels), int(runtime.image_size), source=str(labels), warnings=[
                f"no {CARD_FILE} beside {path}: assuming the {DEFAULT_RESIZE} resize policy; copy the "
                "model card from the export folder to use the one it was trained with"])
    raise PredictorError(f"no {CARD_FILE} or {LABELS_FILE} beside {path}; copy them from the export folder "
                         "(or the run folder) next to the model.")


def _read_labels(path: Path) -> list[str]:
    return [line.strip() for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def _info_from_dict(data: dict[str, Any], source: str) -> ModelInfo:
    try:
        image_input = ImageInput.from_facts(data["input"])
        return ModelInfo(classes=[str(c) for c in data["classes"]], image_size=image_input.size,
                         resize=image_input.resize, max_megapixels=image_input.max_megapixels, source=source)
    except (KeyError, TypeError, ValueError) as error:
        raise PredictorError(f"{source} lacks the field {error} (classes, input.image_size); export the model "
                             "again.") from None


def _info_from_card(card: Path) -> ModelInfo:
    try:
        data = json.loads(card.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as error:
        raise PredictorError(f"{card} cannot be read ({error}); copy it again from the export folder.") from None
    return _info_from_dict(data, str(card))


def _info_from_run_config(folder: Path) -> ModelInfo:
    try:
        project = Project.load(folder / CONFIG_FILE)
    except ProjectError as error:
        raise PredictorError(str(error)) from None
    image_input = project.image_input
    return ModelInfo(_read_labels(folder / LABELS_FILE), image_input.size, image_input.resize,
                     image_input.max_megapixels, source=str(folder / CONFIG_FILE))


# -- the predictor ------------------------------------------------------------------------------------


class Predictor:
    """A loaded model plus its labels and preprocessing; ``predict_paths`` for files, ``predict_array``
    for already-decoded images."""

    def __init__(self, runtime: Runtime, info: ModelInfo, model_path: Path) -> None:
        self.runtime = runtime
        self.info = info
        self.model_path = model_path

    @property
    def format(self) -> str:
        return self.runtime.format

    @property
    def classes(self) -> list[str]:
        return self.info.classes

    @property
    def image_size(self) -> int:
        return self.info.image_size

    @property
    def resize(self) -> str:
        return self.info.resize

    def load(self, path: str | os.PathLike) -> np.ndarray:
        """One image file decoded and fitted exactly as in training: (s, s, 3) uint8."""
        return load_image(path, self.image_size, self.resize, self.info.max_megapixels)

    def predict_array(self, images: np.ndarray) -> np.ndarray:
        """Probabilities (N, classes) for raw RGB images (N, s, s, 3), uint8 or float 0-255."""
        images = np.asarray(images)
        if images.ndim == 3:
            images = images[None]
        expected = (self.image_size, self.image_size, 3)
        if images.ndim != 4 or images.shape[1:] != expected:
            raise ValueError(f"images must have shape (N, {self.image_size}, {self.image_size}, 3), "
                             f"not {images.shape}")
        if len(images) == 0:
            return np.zeros((0, len(self.classes)), np.float32)
        return predict_in_batches(lambda batch: self.runtime(batch.astype(np.float32)), images, len(self.classes))

    def predict_paths(self, paths: Iterable[str | os.PathLike], top: int = 3) -> list[dict[str, Any]]:
        """One entry per path, in order: ``{"image", "top": [{"label", "probability"}]}`` or
        ``{"image", "error"}`` for a file that cannot be read (the rest still run)."""
        paths = [str(p) for p in paths]
        results: list[dict[str, Any]] = [{"image": p} for p in paths]
        decoded: list[tuple[int, np.ndarray]] = []
        for i, path in enumerate(paths):
            try:
                decoded.append((i, self.load(path)))
            except (DataError, OSError) as error:
                results[i]["error"] = _reason(error)
        if decoded:
            probabilities = self.predict_array(np.stack([image for _, image in decoded]))
            for (i, _), row in zip(decoded, probabilities, strict=True):
                results[i]["top"] = top_k(row, self.classes, top)
        return results


def top_k(probabilities: np.ndarray, classes: list[str], k: int = 3) -> list[dict[str, Any]]:
    """The k most probable classes, most probable first."""
    order = np.argsort(-np.asarray(probabilities), kind="stable")[: max(1, min(k, len(classes)))]
    return [{"label": classes[j], "probability": float(probabilities[j])} for j in order]


def _reason(error: Exception) -> str:
    reason = getattr(error, "reason", None)  # UnusableImageError carries the short reason
    if reason:
        return str(reason)
    return getattr(error, "strerror", None) or str(error)


def load_predictor(model_path: str | os.PathLike) -> Predictor:
    """Load any of the four formats with the labels and preprocessing recorded beside it."""
    path = Path(model_path).expanduser()
    fmt = detect_format(path)
    runtime = open_runtime(path, fmt)
    info = read_model_info(path, fmt, runtime)
    if runtime.num_classes is not None and runtime.num_classes != len(info.classes):
        raise PredictorError(f"{info.source} names {len(info.classes)} classes but {path} outputs "
                             f"{runtime.num_classes}; put the labels of this model beside it.")
    if runtime.image_size is not None and runtime.image_size != info.image_size:
        raise PredictorError(f"{info.source} says {info.image_size} px but {path} takes {runtime.image_size} "
                             "px; put the model card of this model beside it.")
    return Predictor(runtime, info, path)


def image_files(target: str | os.PathLike) -> list[Path]:
    """A file as given; a folder's image files (by extension, recursively, hidden ones skipped), sorted."""
    target = Path(target)
    if not target.is_dir():
        return [target]
    found = []
    for root, dirs, files in os.walk(target):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        found += [Path(root) / f for f in sorted(files)
                  if not f.startswith(".") and Path(f).suffix.lower() in IMAGE_EXTENSIONS]
    return found
