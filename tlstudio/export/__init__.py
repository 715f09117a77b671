"""Export a run's model as .keras, SavedModel, TFLite and ONNX; verify each before calling it done.

The package's modules:

- ``orchestrate``: ``export_run``, the export of one run from start to finish.
- ``converters``: the .keras, SavedModel, TFLite and ONNX writers (and why each path was chosen).
- ``verify``: each file reloaded in its own runtime and judged against the Keras model.
- ``model_card``: model_card.json / model_card.md, the input facts and library versions.
- ``staging``: the staging folder, the atomic move into the export folder, destination errors.
- ``results``: the formats, file names, per-format results, progress and the report.

Finding and stripping random augmentation lives in ``tlstudio.model.augment``; it is re-exported here.
"""

from tlstudio.export.augmentation_scan import find_augmentation
from tlstudio.export.converters import REPRESENTATIVE_IMAGES, tflite_bytes, write_onnx, write_savedmodel
from tlstudio.export.model_card import CARD_MARKDOWN, card_markdown, library_versions, model_card
from tlstudio.export.orchestrate import export_run
from tlstudio.export.results import (
    QUANTIZATIONS,
    ExportError,
    ExportReport,
    FormatResult,
    artefact_name,
    parse_formats,
)
from tlstudio.export.verify import CLEAR_MARGIN, LATENCY_REPEATS, MAX_FLOAT_DIFF, MIN_QUANTIZED_AGREEMENT
from tlstudio.model.augment import strip_augmentation
from tlstudio.model.onnx_graph import ONNX_OPSET
from tlstudio.predict.formats import FORMATS

__all__ = [
    "CARD_MARKDOWN", "CLEAR_MARGIN", "FORMATS", "LATENCY_REPEATS", "MAX_FLOAT_DIFF", "MIN_QUANTIZED_AGREEMENT",
    "ONNX_OPSET", "QUANTIZATIONS", "REPRESENTATIVE_IMAGES", "ExportError", "ExportReport",
    "FormatResult", "artefact_name", "card_markdown", "export_run", "find_augmentation", "library_versions",
    "model_card", "parse_formats", "strip_augmentation", "tflite_bytes", "write_onnx", "write_savedmodel",
]
