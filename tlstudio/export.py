"""Export a run's model as .keras, SavedModel, TFLite and ONNX; verify each before calling it done.

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

Each artefact is written into a staging folder beside ``out_dir``, scanned for augmentation ops,
reloaded in its own runtime, run twice over the validation images, compared with the Keras model,
and only then moved into ``out_dir`` (one rename each). A format that fails is reported with its
reason and leaves no file behind.
"""

from __future__ import annotations

import contextlib
import errno
import json
import logging
import os
import platform
import re
import shutil
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

import numpy as np

from tlstudio.config import Project, ProjectError
from tlstudio.data import DataError, load_images
from tlstudio.data.images import ALPHA_BACKGROUND, PAD_COLOR
from tlstudio.evaluate import dataset_split
from tlstudio.inference import (
    CARD_FILE,
    FORMATS,
    LABELS_FILE,
    ONNX_METADATA_KEY,
    SAVEDMODEL_EXTRA,
    PredictorError,
    open_runtime,
    serving_function,
)
from tlstudio.registry import get_backbone
from tlstudio.train.runs import RunFolderError, read_run

QUANTIZATIONS: tuple[str, ...] = ("none", "float16", "dynamic", "int8")
CARD_MARKDOWN = "model_card.md"
ONNX_OPSET = 17
# Float32 formats must give Keras's probabilities within this (measured: 2e-5 at most).
MAX_FLOAT_DIFF = 1e-4
# Quantized TFLite (float16, dynamic, int8) is judged by its top-1 class instead: it must keep the
# top-1 of every image whose Keras top-1 leads the runner-up by more than CLEAR_MARGIN, and agree
# on at least MIN_QUANTIZED_AGREEMENT of all images (near-ties may flip).
CLEAR_MARGIN = 0.3
MIN_QUANTIZED_AGREEMENT = 0.8
REPRESENTATIVE_IMAGES = 200
LATENCY_REPEATS = 10
_SYNTHETIC_IMAGES = 16
# Op types and layer names that only random augmentation puts in a graph (docs/stack-notes.md #2).
_RANDOM_OP = re.compile(r"random|multinomial|bernoulli|rngreadandskip|imageprojectivetransform", re.I)
_AUGMENT_NAME = re.compile(r"random_(flip|rotation|zoom|translation|contrast|brightness|crop)", re.I)
_DESTINATION_ERRNOS = {errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EACCES, errno.EPERM}
_DESTINATION_TEXT = ("No space left on device", "Disk quota exceeded", "Read-only file system",
                     "Permission denied")


class ExportError(RuntimeError):
    """The export cannot be written or started; the message is one sentence naming the folder or file."""


@dataclass
class FormatResult:
    """One exported format and how its verification went; ``ok`` False means it was not exported."""

    format: str
    path: Path | None
    ok: bool
    reason: str = ""
    top1_agreement: float | None = None
    max_abs_diff: float | None = None
    size_bytes: int | None = None
    latency_ms: float | None = None
    quantize: str = "none"
    images: int = 0
    deterministic: bool | None = None
    engine: str = ""

    @property
    def label(self) -> str:
        return f"{self.format} ({self.quantize})" if self.quantize != "none" else self.format

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["path"] = str(self.path) if self.path else None
        return data


@dataclass(frozen=True)
class ExportProgress:
    """A step of the export: ``message`` says what runs now; ``result`` is set when a format is done."""

    step: int
    total: int
    message: str
    result: FormatResult | None = None


@dataclass
class ExportReport:
    out_dir: Path
    results: list[FormatResult]
    verified_on: str
    card: dict[str, Any] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return bool(self.results) and all(r.ok for r in self.results)

    def format_table(self) -> str:
        """The verification table the CLI prints and the GUI can show in a monospace font."""
        head = ("format", "ok", "top-1 agree", "max |Δp|", "size", "ms/image", "file")
        rows = [head]
        for r in self.results:
            rows.append((r.label, "yes" if r.ok else "FAILED", _percent(r.top1_agreement),
                         f"{r.max_abs_diff:.2g}" if r.max_abs_diff is not None else "-", _size(r.size_bytes),
                         f"{r.latency_ms:.2f}" if r.latency_ms is not None else "-",
                         r.path.name if r.path else r.reason))
        widths = [max(len(row[i]) for row in rows) for i in range(len(head) - 1)]
        return "\n".join("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=False)) + "  " + row[-1]
                         for row in rows)


def parse_formats(text: str) -> list[str]:
    """``"keras,onnx"`` (or ``"all"``) -> validated list; ValueError naming the choices."""
    names = [n.strip().lower() for n in text.split(",") if n.strip()]
    if names == ["all"]:
        return list(FORMATS)
    unknown = [n for n in names if n not in FORMATS]
    if unknown or not names:
        raise ValueError(f"unknown format {unknown[0]!r}; choose from {', '.join(FORMATS)} (or all)" if unknown
                         else f"no format given; choose from {', '.join(FORMATS)} (or all)")
    return list(dict.fromkeys(names))


def artefact_name(fmt: str, quantize: str = "none") -> str:
    """The file (or folder) name of a format inside the export folder."""
    if fmt == "tflite":
        return "model.tflite" if quantize == "none" else f"model_{quantize}.tflite"
    return {"keras": "model.keras", "savedmodel": "savedmodel", "onnx": "model.onnx"}[fmt]


# -- the export ---------------------------------------------------------------------------------------


def export_run(run_dir: str | os.PathLike, formats: list[str], out_dir: str | os.PathLike,
               quantize: str = "none", *, progress: Callable[[ExportProgress], None] | None = None,
               max_verify_images: int | None = None) -> ExportReport:
    """Export the run's model in ``formats`` into ``out_dir``, each verified; see the module docstring.

    ``quantize`` applies to TFLite. Raises ExportError for a bad run folder or destination;
    a format that fails conversion or verification is an ``ok=False`` result, not an exception.
    """
    formats = parse_formats(",".join(formats))
    if quantize not in QUANTIZATIONS:
        raise ValueError(f"unknown quantization {quantize!r}; choose from {', '.join(QUANTIZATIONS)}")
    run, project = _read_run(run_dir)
    out_dir = Path(out_dir).expanduser().absolute()
    total = 3 + 2 * len(formats)
    step = 0

    def report(message: str, result: FormatResult | None = None, advance: bool = True) -> None:
        nonlocal step
        step += advance
        if progress is not None:
            progress(ExportProgress(min(step, total), total, message, result))

    report("loading the model and the validation images", advance=False)
    with _Staging(out_dir) as staging:
        import keras

        try:
            model = strip_augmentation(keras.saving.load_model(run.model_path, compile=False))
        except Exception as error:  # a truncated or foreign file: Keras raises many types
            raise ExportError(f"{run.model_path} cannot be loaded ({_short(error)}); train the run again.") \
                from None
        size = project.model.resolved_image_size
        images, verified_on, train_paths = _verification_images(project, max_verify_images)
        # One traced training=False function serves as the reference and feeds every converter.
        function, spec = serving_function(model, size)
        expected = _predict(lambda batch: function(batch)["probabilities"].numpy(), images)
        source = _Source(model, size, function, spec)
        report("loaded")

        results: list[FormatResult] = []
        for fmt in formats:
            q = quantize if fmt == "tflite" else "none"
            result = FormatResult(fmt, None, False, quantize=q)
            name = artefact_name(fmt, q)
            report(f"converting {result.label}", advance=False)
            try:
                _convert(fmt, q, source, staging, name, project, train_paths, run.classes)
                report(f"verifying {result.label}")
                _verify(result, staging.path / name, images, expected)
            except _DestinationError as error:
                raise ExportError(_destination_message(out_dir, error.cause)) from None
            except Exception as error:  # a converter or runtime failure fails this format only
                if _is_destination_error(error):
                    raise ExportError(_destination_message(out_dir, error)) from None
                result.ok, result.reason = False, _short(error)
            if not result.ok:
                _remove(staging.path / name)
            else:
                result.path = out_dir / name
            results.append(result)
            report(f"{result.label}: {'verified' if result.ok else 'FAILED: ' + result.reason}", result)

        report("writing labels and the model card", advance=False)
        earlier = _earlier_results(out_dir, run.run_dir, {r.label for r in results})
        card = model_card(run, project, results, verified_on, earlier)
        _write_beside(staging, run.classes, card, [r for r in results if r.ok and r.format == "savedmodel"])
        report("written")
        names = [artefact_name(r.format, r.quantize) for r in results if r.ok]
        staging.commit(names + [LABELS_FILE, CARD_FILE, CARD_MARKDOWN])
        report(f"exported to {out_dir}")
    return ExportReport(out_dir, results, verified_on, card)


def _read_run(run_dir: str | os.PathLike):
    try:
        run = read_run(run_dir)
    except (RunFolderError, OSError, ValueError) as error:
        raise ExportError(str(error)) from None
    if not run.model_path.is_file():
        raise ExportError(f"{run.run_dir} has no {run.model_path.name}; train the run to the end of one "
                          "epoch first.")
    if not run.classes:
        raise ExportError(f"{run.run_dir} has no labels.txt; it is not a complete run folder.")
    try:
        project = Project.from_dict(run.config, source=str(run.run_dir / "config.json"))
    except ProjectError as error:
        raise ExportError(str(error)) from None
    return run, project


def _verification_images(project: Project, limit: int | None) -> tuple[np.ndarray, str, list[Path]]:
    """The validation images (uint8) and the training paths; synthetic images when the data is gone."""
    size = project.model.resolved_image_size
    try:
        split = dataset_split(project)
        paths = [item.path for item in split.val][: limit or None]
        if not paths:
            raise DataError(f"{project.data.folder} has no validation images")
        images = load_images(paths, size, project.data.resize, max_megapixels=project.data.max_megapixels)
        described = f"{len(paths)} validation images of {project.data.folder}"
        return images, described, [item.path for item in split.train]
    except (DataError, OSError) as error:
        # Still verify the conversion (same answers as Keras) on fixed random images.
        rng = np.random.default_rng(0)
        images = rng.integers(0, 256, (_SYNTHETIC_IMAGES, size, size, 3), dtype=np.uint8)
        return images, f"{_SYNTHETIC_IMAGES} random images (the data is not readable: {error})", []


# -- converters -----------------------------------------------------------------------------------------


class _DestinationError(Exception):
    def __init__(self, cause: BaseException) -> None:
        super().__init__(str(cause))
        self.cause = cause


@dataclass(frozen=True)
class _Source:
    model: Any  # the inference keras.Model
    size: int
    function: Any  # serving_function(model, size)
    spec: list


def _convert(fmt: str, quantize: str, source: _Source, staging: _Staging, name: str, project: Project,
             train_paths: list[Path], classes: list[str]) -> None:
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
        metadata = {"classes": classes, "input": _input_facts(project)}
        write_onnx(source.function, source.spec, target, {ONNX_METADATA_KEY: json.dumps(metadata)})
    found = find_augmentation(target)
    if found:
        raise ValueError(f"the exported graph holds random augmentation ({', '.join(found[:3])})")


def _save_keras(model, path: Path) -> None:
    model.save(path)


def write_savedmodel(model, folder: Path, function) -> None:
    """A SavedModel whose ``serving_default`` is ``function`` (from ``serving_function``)."""
    import tensorflow as tf

    # A plain tf.Module holding the model's tf.Variables: keras.export.ExportArchive (and
    # model.export) store every variable twice in Keras 3.15 (19 MB instead of 9.8 MB for
    # MobileNetV2) and take three times as long.
    module = tf.Module()
    module.model_variables = [variable.value for variable in model.weights]
    module.serve = function
    tf.saved_model.save(module, str(folder), signatures={"serving_default": function})


def tflite_bytes(saved_model: Path, quantize: str, representative: np.ndarray | None = None) -> bytes:
    """Convert a serving SavedModel to a TFLite flatbuffer at the given precision."""
    import tensorflow as tf

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
    images = load_images([train_paths[i] for i in chosen], size, project.data.resize,
                         max_megapixels=project.data.max_megapixels)
    # A black and a white image pin the input range to exactly 0..255, so the uint8 input's
    # scale is 1 and raw pixels go in unchanged.
    extremes = np.stack([np.zeros((size, size, 3), np.uint8), np.full((size, size, 3), 255, np.uint8)])
    return np.concatenate([images, extremes])


def write_onnx(function, spec: list, path: Path, metadata: dict[str, str] | None = None) -> None:
    """ONNX (opset 17) of a ``serving_function``: input "image", output "probabilities"."""
    try:
        import onnx
        import tf2onnx
    except ImportError:
        raise ValueError("ONNX export needs tf2onnx and onnx; install them with 'pip install tf2onnx onnx'") \
            from None
    logger = logging.getLogger("tf2onnx")
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        with contextlib.redirect_stdout(None):
            proto, _ = tf2onnx.convert.from_function(function, input_signature=spec, opset=ONNX_OPSET)
    finally:
        logger.setLevel(level)
    for key, value in (metadata or {}).items():
        entry = proto.metadata_props.add()
        entry.key, entry.value = key, value
    onnx.save(proto, str(path))


# -- augmentation ---------------------------------------------------------------------------------------


def _all_layers(model) -> list:
    found = []
    for layer in getattr(model, "layers", []):
        found.append(layer)
        found += _all_layers(layer)
    return found


def _is_augmentation(layer) -> bool:
    # Keras's random image layers: RandomFlip, RandomRotation, RandomZoom, RandomContrast, ...
    return type(layer).__name__.startswith("Random")


def strip_augmentation(model):
    """The model without random augmentation layers (replaced by Identity); the same model if none."""
    import keras

    if not any(_is_augmentation(layer) for layer in _all_layers(model)):
        return model
    return keras.models.clone_model(
        model, clone_function=lambda layer: keras.layers.Identity(name=layer.name)
        if _is_augmentation(layer) else layer)


def find_augmentation(path: str | os.PathLike) -> list[str]:
    """Random-augmentation layers or ops in an exported artefact (any format); [] when clean."""
    path = Path(path)
    names: list[tuple[str, str]] = []  # (op type, name)
    if path.is_dir():
        from tensorflow.core.protobuf import saved_model_pb2

        saved = saved_model_pb2.SavedModel()
        saved.ParseFromString((path / "saved_model.pb").read_bytes())
        for graph in saved.meta_graphs:
            names += [(n.op, n.name) for n in graph.graph_def.node]
            for function in graph.graph_def.library.function:
                names += [(n.op, n.name) for n in function.node_def]
    elif path.suffix == ".keras":
        import keras

        model = keras.saving.load_model(path, compile=False)
        names = [(type(layer).__name__, layer.name) for layer in _all_layers(model)]
        return [f"{kind} {name}" for kind, name in names if kind.startswith("Random")]
    elif path.suffix == ".onnx":
        import onnx

        graph = onnx.load(str(path)).graph
        names = [(n.op_type, n.name) for n in graph.node]
    elif path.suffix == ".tflite":
        from tlstudio.inference import tflite_interpreter_class

        interpreter = tflite_interpreter_class()[0](model_path=str(path))
        names = [(op["op_name"], "") for op in interpreter._get_ops_details()]
        names += [("", t["name"]) for t in interpreter.get_tensor_details()]
    return sorted({f"{op} {name}".strip() for op, name in names
                   if _RANDOM_OP.search(op) or _AUGMENT_NAME.search(name)})


# -- verification ---------------------------------------------------------------------------------------


def _predict(call: Callable[[np.ndarray], np.ndarray], images: np.ndarray, batch: int = 32) -> np.ndarray:
    out = [np.asarray(call(images[i:i + batch].astype(np.float32))) for i in range(0, len(images), batch)]
    return np.concatenate(out) if out else np.zeros((0, 0), np.float32)


def _verify(result: FormatResult, path: Path, images: np.ndarray, expected: np.ndarray) -> None:
    """Reload ``path`` in its own runtime, run the images twice, and judge it against Keras."""
    result.size_bytes = _disk_size(path)
    try:
        runtime = open_runtime(path, result.format)
    except PredictorError as error:
        result.ok, result.reason = False, str(error)
        return
    result.engine = runtime.engine
    first, second = _predict(runtime, images), _predict(runtime, images)
    result.images = len(images)
    result.deterministic = bool(np.array_equal(first, second) or np.abs(first - second).max() <= 1e-6)
    result.max_abs_diff = float(np.abs(first - expected).max()) if len(images) else 0.0
    agree = first.argmax(axis=1) == expected.argmax(axis=1)
    result.top1_agreement = float(agree.mean()) if len(images) else 1.0
    result.latency_ms = _latency_ms(runtime, images)
    result.ok, result.reason = _judge(result, agree, expected)


def _judge(result: FormatResult, agree: np.ndarray, expected: np.ndarray) -> tuple[bool, str]:
    """Float32 formats must match Keras within MAX_FLOAT_DIFF; quantized ones must keep the top-1
    class of every image Keras is sure about, and of at least MIN_QUANTIZED_AGREEMENT of all."""
    if not result.deterministic:
        return False, "gives different answers for the same images (random ops inside?)"
    if not np.isfinite(result.max_abs_diff):
        return False, "gives NaN or infinite probabilities"
    if result.quantize == "none":
        if result.max_abs_diff > MAX_FLOAT_DIFF:
            return False, (f"probabilities differ from Keras by up to {result.max_abs_diff:.2g} "
                           f"(> {MAX_FLOAT_DIFF:g})")
        return True, ""
    ordered = np.sort(expected, axis=1)
    sure = ordered[:, -1] - ordered[:, -2] > CLEAR_MARGIN if expected.shape[1] > 1 else np.ones(len(agree), bool)
    if (sure & ~agree).any():
        return False, (f"changes the top-1 class of {int((sure & ~agree).sum())} image(s) the Keras model is "
                       f"sure about (margin > {CLEAR_MARGIN:g})")
    if result.top1_agreement < MIN_QUANTIZED_AGREEMENT:
        return False, f"top-1 agreement {result.top1_agreement:.0%} is below {MIN_QUANTIZED_AGREEMENT:.0%}"
    return True, ""


def _latency_ms(runtime, images: np.ndarray) -> float | None:
    """Median time of one single-image call, after a warm-up call."""
    if not len(images):
        return None
    one = images[:1].astype(np.float32)
    runtime(one)
    times = []
    for _ in range(LATENCY_REPEATS):
        start = time.perf_counter()
        runtime(one)
        times.append(time.perf_counter() - start)
    return float(np.median(times) * 1000)


# -- labels and the model card --------------------------------------------------------------------------


def _input_facts(project: Project) -> dict[str, Any]:
    size = project.model.resolved_image_size
    return {
        "image_size": size, "shape": [None, size, size, 3], "layout": "NHWC", "dtype": "float32",
        "color": "RGB", "range": [0, 255], "resize": project.data.resize, "resample": "bicubic (Pillow)",
        "exif_orientation": "applied", "alpha_background": list(ALPHA_BACKGROUND), "pad_color": list(PAD_COLOR),
        "max_megapixels": project.data.max_megapixels,
        "note": "raw RGB 0-255: the backbone's preprocessing is inside the model; int8 TFLite takes uint8 "
                "pixels directly",
    }


def _earlier_results(out_dir: Path, run_dir: Path, labels: set[str]) -> list[dict[str, Any]]:
    """Verified formats of an earlier export of the same run into ``out_dir`` that this one keeps
    (e.g. model.tflite beside a new model_int8.tflite), so the card describes every file there."""
    try:
        card = json.loads((out_dir / CARD_FILE).read_text(encoding="utf-8"))
        if card.get("run_dir") != str(run_dir):
            return []
        earlier = card["verification"]["results"]
    except (OSError, ValueError, KeyError, TypeError):
        return []
    return [r for r in earlier if isinstance(r, dict) and r.get("ok") and r.get("path")
            and _result_label(r) not in labels and (out_dir / r["path"]).exists()]


def _result_label(result: dict[str, Any]) -> str:
    quantize = result.get("quantize", "none")
    return f"{result['format']} ({quantize})" if quantize != "none" else result["format"]


def model_card(run, project: Project, results: list[FormatResult], verified_on: str,
               earlier: list[dict[str, Any]] = ()) -> dict[str, Any]:
    """The facts the model card holds (model_card.json; model_card.md renders the same)."""
    spec = get_backbone(project.model.backbone)
    entries = [*earlier, *(_card_result(r) for r in results)]
    return {
        "card_version": 1,
        "name": project.name,
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
        "classes": list(run.classes),
        "input": _input_facts(project),
        "output": {"name": "probabilities", "shape": [None, len(run.classes)],
                   "meaning": "softmax probabilities in labels.txt order"},
        "backbone": {"name": spec.name, "label": spec.label, "weights": project.model.weights},
        "files": {_result_label(r): r["path"] for r in entries if r["ok"]},
        "verification": {"images": verified_on, "results": entries},
        "validation_metrics": run.metrics or {},
        "training": project.to_dict(),
        "run_dir": str(run.run_dir),
        "versions": library_versions(),
    }


def _card_result(result: FormatResult) -> dict[str, Any]:
    data = result.to_dict()
    data["path"] = result.path.name if result.path else None
    return data


def library_versions() -> dict[str, str]:
    versions = {"python": platform.python_version()}
    for name in ("tlstudio", "tensorflow", "keras", "numpy", "pillow", "tf2onnx", "onnx", "onnxruntime",
                 "ai-edge-litert"):
        try:
            versions[name] = version(name)
        except PackageNotFoundError:
            versions[name] = "not installed"
    return versions


def card_markdown(card: dict[str, Any]) -> str:
    """model_card.md: the same facts as model_card.json, for people."""
    model_input = card["input"]
    metrics = card.get("validation_metrics") or {}
    lines = [
        f"# Model card: {card['name']}", "",
        f"Exported {card['created']} by TL Studio from `{card['run_dir']}`.", "",
        "## Classes", "", *[f"{i}. {name}" for i, name in enumerate(card["classes"])], "",
        "## Input", "",
        f"- {model_input['image_size']}×{model_input['image_size']} RGB, float32, NHWC, raw values 0–255 "
        "(the backbone's preprocessing is inside the model; int8 TFLite takes uint8 pixels).",
        f"- Resize policy: **{model_input['resize']}** (Pillow bicubic), EXIF orientation applied, "
        f"transparency on {tuple(model_input['alpha_background'])}, padding colour "
        f"{tuple(model_input['pad_color'])}.",
        "- Output: softmax probabilities in the order of labels.txt.", "",
        "## Model", "",
        f"- Backbone: {card['backbone']['label']} (`{card['backbone']['name']}`), starting weights: "
        f"{card['backbone']['weights']}.", "",
        "## Validation metrics", "",
    ]
    for key in sorted(k for k, v in metrics.items() if isinstance(v, int | float) and not isinstance(v, bool)):
        lines.append(f"- {key}: {metrics[key]:.4g}")
    per_class = metrics.get("per_class") or {}
    if per_class:
        lines += ["", "| class | precision | recall | F1 | support |", "| --- | --- | --- | --- | --- |"]
        lines += [f"| {name} | {m['precision']:.3f} | {m['recall']:.3f} | {m['f1']:.3f} | {m['support']} |"
                  for name, m in per_class.items()]
    lines += ["", "## Verification", "", f"On {card['verification']['images']}; each file reloaded in its "
              "own runtime and run twice.", "",
              "| format | file | verified | top-1 agreement | max abs diff | size | ms/image | runtime |",
              "| --- | --- | --- | --- | --- | --- | --- | --- |"]
    for r in card["verification"]["results"]:
        verdict = "yes" if r["ok"] else f"FAILED: {r['reason']}"
        diff = f"{r['max_abs_diff']:.2g}" if r["max_abs_diff"] is not None else "-"
        latency = f"{r['latency_ms']:.2f}" if r["latency_ms"] is not None else "-"
        lines.append(f"| {_result_label(r)} | {r['path'] or '-'} | {verdict} | {_percent(r['top1_agreement'])} "
                     f"| {diff} | {_size(r['size_bytes'])} | {latency} | {r['engine'] or '-'} |")
    lines += ["", "## Training configuration", "", "```json", json.dumps(card["training"], indent=2), "```", "",
              "## Library versions", "", *[f"- {k}: {v}" for k, v in card["versions"].items()], ""]
    return "\n".join(lines)


def _write_beside(staging: _Staging, classes: list[str], card: dict[str, Any], savedmodels: list) -> None:
    """labels.txt and the card into the staging folder (atomic by the final rename, so plain writes)."""
    labels = "".join(f"{name}\n" for name in classes)
    card_json = json.dumps(card, indent=2) + "\n"
    targets = [staging.path]
    # A SavedModel folder copied alone still carries its labels and preprocessing.
    targets += [staging.path / artefact_name("savedmodel") / SAVEDMODEL_EXTRA for _ in savedmodels]
    try:
        for folder in targets:
            folder.mkdir(exist_ok=True)
            (folder / LABELS_FILE).write_text(labels, encoding="utf-8")
            (folder / CARD_FILE).write_text(card_json, encoding="utf-8")
        (staging.path / CARD_MARKDOWN).write_text(card_markdown(card), encoding="utf-8")
    except OSError as error:
        raise _DestinationError(error) from None


# -- the staging folder and atomic moves ----------------------------------------------------------------


def _make_staging_dir(parent: Path, name: str) -> Path:
    return Path(tempfile.mkdtemp(prefix=f".{name}.export-", dir=parent))


class _Staging:
    """A temporary folder beside ``out_dir`` (same file system, so moves are renames), always removed."""

    def __init__(self, out_dir: Path) -> None:
        self.out_dir = out_dir
        self._saved_model: Path | None = None
        if out_dir.exists() and not out_dir.is_dir():
            raise ExportError(f"{out_dir} is a file, not a folder; choose a folder for the export.")
        try:
            out_dir.parent.mkdir(parents=True, exist_ok=True)
            self.path = _make_staging_dir(out_dir.parent, out_dir.name)
        except OSError as error:
            raise ExportError(_destination_message(out_dir, error)) from None

    def __enter__(self) -> _Staging:
        return self

    def __exit__(self, *exc) -> None:
        shutil.rmtree(self.path, ignore_errors=True)

    def saved_model(self, source: _Source) -> Path:
        """The serving SavedModel TFLite converts from: the exported one, or a private copy."""
        exported = self.path / artefact_name("savedmodel")
        if exported.is_dir():
            return exported
        if self._saved_model is None:
            self._saved_model = self.path / ".tflite-source"
            write_savedmodel(source.model, self._saved_model, source.function)
        return self._saved_model

    def commit(self, names: list[str]) -> None:
        """Move each staged file or folder into ``out_dir`` with one rename (old ones replaced)."""
        try:
            self.out_dir.mkdir(exist_ok=True)
            for name in names:
                source, target = self.path / name, self.out_dir / name
                if source.is_dir():
                    old = self.path / f".old-{name}"
                    if target.exists():
                        os.replace(target, old)
                    os.replace(source, target)
                else:
                    os.replace(source, target)
        except OSError as error:
            raise ExportError(_destination_message(self.out_dir, error)) from None


def _is_destination_error(error: BaseException) -> bool:
    if isinstance(error, OSError) and error.errno in _DESTINATION_ERRNOS:
        return True
    return any(text in str(error) for text in _DESTINATION_TEXT)


def _destination_message(out_dir: Path, error: BaseException) -> str:
    code = getattr(error, "errno", None)
    text = str(error)
    if code in (errno.ENOSPC, errno.EDQUOT) or "No space left" in text or "quota" in text:
        return f"cannot write the export to {out_dir}: the disk is full; free some space or choose another folder."
    if code in (errno.EROFS, errno.EACCES, errno.EPERM) or "Read-only" in text or "Permission denied" in text:
        return (f"cannot write the export to {out_dir}: the folder is read-only; choose a folder you can "
                "write to.")
    reason = getattr(error, "strerror", None) or text
    return f"cannot write the export to {out_dir} ({reason}); choose another folder."


# -- small helpers --------------------------------------------------------------------------------------


def _remove(path: Path) -> None:
    if path.is_dir():
        shutil.rmtree(path, ignore_errors=True)
    elif path.exists():
        path.unlink()


def _disk_size(path: Path) -> int:
    if path.is_dir():
        return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())
    return path.stat().st_size


def _short(error: BaseException) -> str:
    lines = [line.strip() for line in str(error).strip().splitlines() if line.strip()]
    text = lines[0] if lines else type(error).__name__
    if not isinstance(error, ValueError | PredictorError):
        text = f"{type(error).__name__}: {text}"
    return text if len(text) <= 300 else text[:297] + "..."


def _percent(value: float | None) -> str:
    return f"{value:.1%}" if value is not None else "-"


def _size(size: int | None) -> str:
    if size is None:
        return "-"
    for unit in ("B", "KB", "MB", "GB"):
        if size < 1024 or unit == "GB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{size} B"
