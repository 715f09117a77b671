"""The model formats TL Studio exports and runs, declared once: their names, labels, file names and suffixes,
what runs them, and what applies to each (quantization, Grad-CAM).

The predictor, the export (file names, the augmentation scan) and the GUI read this table; none restates
a format's file name, suffix or words.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class ModelFormat:
    """One format a model is exported to and run in."""

    name: str  # the value in flags, results and reports: "keras"
    label: str  # a choice of it in a form: "Keras (.keras)"
    model_name: str  # what answers, in a sentence: "Keras model" ("an ONNX model in onnxruntime")
    article: str  # "a" or "an", before model_name
    file_name: str  # its file (or folder) in an export folder
    suffix: str  # the suffix of its file; "" for a folder format
    help: str  # one line on what it is for
    folder_marker: str = ""  # the file that makes a folder this format
    engine: str = ""  # what runs it, for reports ("" when chosen at load: the TFLite interpreter)
    quantizable: bool = False  # the export's quantization options apply
    explainable: bool = False  # Grad-CAM works on it: its runtime holds the Keras model and its gradients

    @property
    def a_model(self) -> str:
        """ "a Keras model", "an ONNX model"."""
        return f"{self.article} {self.model_name}"

    def artefact_name(self, quantize: str = "none") -> str:
        """The file (or folder) name in an export folder; a quantized file says how in its name."""
        if quantize == "none" or not self.quantizable:
            return self.file_name
        return f"{Path(self.file_name).stem}_{quantize}{self.suffix}"


MODEL_FORMATS: dict[str, ModelFormat] = {spec.name: spec for spec in (
    ModelFormat("keras", "Keras (.keras)", "Keras model", "a", "model.keras", ".keras",
                "The whole classifier for Keras 3; loads with keras.saving.load_model.",
                engine="keras", explainable=True),
    ModelFormat("savedmodel", "TensorFlow SavedModel", "SavedModel", "a", "savedmodel", "",
                "For TensorFlow Serving and TF.js converters; signature serving_default.",
                folder_marker="saved_model.pb", engine="tf.saved_model"),
    ModelFormat("tflite", "TensorFlow Lite (.tflite)", "TFLite model", "a", "model.tflite", ".tflite",
                "For phones and small devices (LiteRT); can be quantized.", quantizable=True),
    ModelFormat("onnx", "ONNX (.onnx)", "ONNX model", "an", "model.onnx", ".onnx",
                "For onnxruntime and most other runtimes (opset 17).", engine="onnxruntime"),
)}
FORMATS: tuple[str, ...] = tuple(MODEL_FORMATS)
# What the runtimes are called in a sentence ("a Keras model in Keras"); others by their own name.
ENGINE_LABELS = {"keras": "Keras", "tf.saved_model": "TensorFlow"}


def model_name(name: str) -> str:
    """What answers, in words, for the format `name` ("ONNX model"); an unknown name as it is."""
    model_format = MODEL_FORMATS.get(name)
    return model_format.model_name if model_format else name


def format_for_path(path: str | os.PathLike) -> str | None:
    """The format of a model file (by its suffix) or folder (by its marker file); None for anything else."""
    path = Path(path)
    for model_format in MODEL_FORMATS.values():
        if model_format.folder_marker and path.is_dir() and (path / model_format.folder_marker).is_file():
            return model_format.name
        if model_format.suffix and path.suffix.lower() == model_format.suffix and not path.is_dir():
            return model_format.name
    return None


def file_formats_text() -> str:
    """The model files and folders TL Studio runs, for a message: "a .keras, .tflite or .onnx file or a
    SavedModel folder"."""
    suffixes = [f.suffix for f in MODEL_FORMATS.values() if f.suffix]
    folders = [f.model_name for f in MODEL_FORMATS.values() if f.folder_marker]
    return f"a {', '.join(suffixes[:-1])} or {suffixes[-1]} file or a {' or '.join(folders)} folder"


def file_dialog_filter() -> str:
    """A file dialog's filter for every model file, and for a folder format's marker file."""
    patterns = [f"*{f.suffix}" if f.suffix else f.folder_marker for f in MODEL_FORMATS.values()]
    return f"Models ({' '.join(patterns)});;All files (*)"
