"""The converters: a run's inference model written as .keras, SavedModel, TFLite and ONNX.

Converter paths (chosen by testing them with TensorFlow 2.21 / Keras 3.15):

- keras: ``model.save`` of the inference model (no optimizer, augmentation stripped).
- savedmodel: ``tf.saved_model.save`` of a ``tf.Module`` holding the model's variables and one
  ``tf.function`` that calls the model with ``training=False`` (``keras.export.ExportArchive`` stores
  every variable twice in Keras 3.15: a 2x larger folder). Its ``serving_default(image)`` takes
  float32 raw RGB 0-255 (N, s, s, 3) and returns ``{"probabilities": (N, classes)}``.
- tflite: ``tf.lite.TFLiteConverter.from_saved_model`` on that SavedModel; float16 and dynamic-range
  set ``Optimize.DEFAULT`` (+ float16 weights); int8 is full-integer with a representative dataset of
  training images, uint8 input (scale 1: the raw pixels) and uint8 output.
- onnx: ``tf2onnx.convert.from_function`` (opset 17) on the same ``training=False`` function. Keras's
  own ``model.export(format="onnx")`` uses opset 15 and traces without ``training=False`` (docs/stack-notes.md #9).

TensorFlow, tf2onnx and onnx are imported inside the functions that use them, so importing this
module stays cheap.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from tlstudio.export.augmentation_scan import find_augmentation
from tlstudio.export.model_card import input_facts
from tlstudio.model.onnx_graph import function_to_onnx
from tlstudio.predict.predictor import ONNX_METADATA_KEY
from tlstudio.settings.project import Project

if TYPE_CHECKING:
    from tlstudio.export.staging import Staging

REPRESENTATIVE_IMAGES = 200


@dataclass(frozen=True)
class Source:
    """What every converter starts from."""

    model: Any  # the inference keras.Model
    size: int
    function: Any  # serving_function(model, size)
    spec: list


def convert(fmt: str, quantize: str, source: Source, staging: Staging, name: str, project: Project,
            train_paths: list[Path], classes: list[str]) -> None:
    """Write ``fmt`` as ``name`` into the staging folder; ValueError if its graph holds augmentation."""
    target = staging.path / name
    if fmt == "keras":
        _save_keras(source.model, target)
    elif fmt == "savedmodel":
        write_savedmodel(source.model, target, source.function)
    elif fmt == "tflite":
        representative = None
        if quantize == "int8":
            representative = _representative_images(project, train_paths)
        target.write_bytes(tflite_bytes(staging.saved_model(source), quantize, representative))
    elif fmt == "onnx":
        metadata = {"classes": classes, "input": input_facts(project)}
        write_onnx(source.function, source.spec, target, {ONNX_METADATA_KEY: json.dumps(metadata)})
    found = find_augmentation(target)
    if found:
        raise ValueError(f"the exported graph holds random augmentation ({', '.join(found[:3])})")


def _save_keras(model, path: Path) -> None:
    model.save(path)


def write_savedmodel(model, folder: Path, function) -> None:
    """A SavedModel whose ``serving_default`` is ``function`` (from ``serving_function``)."""
    import tensorflow as tf  # lazy: TensorFlow loads only when a SavedModel is written

    # A plain tf.Module holding the model's tf.Variables: keras.export.ExportArchive (and
    # model.export) store every variable twice in Keras 3.15 (19 MB instead of 9.8 MB for
    # MobileNetV2) and take three times as long.
    module = tf.Module()
    module.model_variables = [variable.value for variable in model.weights]
    module.serve = function
    tf.saved_model.save(module, str(folder), signatures={"serving_default": function})


def tflite_bytes(saved_model: Path, quantize: str, representative: np.ndarray | None = None) -> bytes:
    """Convert a serving SavedModel to a TFLite flatbuffer at the given precision."""
    import tensorflow as tf  # lazy: TensorFlow loads only when TFLite is converted

    converter = tf.lite.TFLiteConverter.from_saved_model(str(saved_model))
    if quantize in ("float16", "dynamic", "int8"):
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
    if quantize == "float16":
        converter.target_spec.supported_types = [tf.float16]
    if quantize == "int8":
        if representative is None or not len(representative):
            raise ValueError("int8 needs training images for calibration")
        samples = representative.astype(np.float32)

        def dataset():
            for image in samples:
                yield [image[None]]

        converter.representative_dataset = dataset
        converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
        converter.inference_input_type = tf.uint8
        converter.inference_output_type = tf.uint8
    return converter.convert()


def _representative_images(project: Project, train_paths: list[Path]) -> np.ndarray:
    if not train_paths:
        raise ValueError(f"int8 needs the training images to calibrate, and {project.data.folder} cannot be read")
    rng = np.random.default_rng(project.training.seed)
    chosen = sorted(rng.permutation(len(train_paths))[:REPRESENTATIVE_IMAGES])
    size = project.model.resolved_image_size
    images = project.image_input.load_many([train_paths[i] for i in chosen])
    # A black and a white image pin the input range to exactly 0..255, so the uint8 input's
    # scale is 1 and raw pixels go in unchanged.
    extremes = np.stack([np.zeros((size, size, 3), np.uint8), np.full((size, size, 3), 255, np.uint8)])
    return np.concatenate([images, extremes])


def write_onnx(function, spec: list, path: Path, metadata: dict[str, str] | None = None) -> None:
    """ONNX (opset 17) of a ``serving_function``: input "image", output "probabilities"."""
    try:  # lazy: tf2onnx imports TensorFlow; without it only this format fails
        import onnx
        import tf2onnx  # noqa: F401  (function_to_onnx needs it)
    except ImportError:
        raise ValueError("ONNX export needs tf2onnx and onnx; install them with 'pip install tf2onnx onnx'") \
            from None
    proto = function_to_onnx(function, spec)
    for key, value in (metadata or {}).items():
        entry = proto.metadata_props.add()
        entry.key, entry.value = key, value
    onnx.save(proto, str(path))
