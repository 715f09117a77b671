"""The model formats are declared once (predict/formats.py): the predictor, the export and the GUI read them."""

from __future__ import annotations

import pytest

from tlstudio.export.results import artefact_name, parse_formats
from tlstudio.predict.formats import FORMATS, MODEL_FORMATS, file_dialog_filter, file_formats_text, format_for_path
from tlstudio.predict.predictor import (
    KerasRuntime,
    OnnxRuntime,
    PredictorError,
    SavedModelRuntime,
    TFLiteRuntime,
    detect_format,
)


def test_each_format_names_its_file_and_is_found_by_it(tmp_path):
    assert FORMATS == ("keras", "savedmodel", "tflite", "onnx") == tuple(parse_formats("all"))
    assert [artefact_name(name) for name in FORMATS] == ["model.keras", "savedmodel", "model.tflite", "model.onnx"]
    assert artefact_name("tflite", "int8") == "model_int8.tflite" and artefact_name("onnx", "int8") == "model.onnx"
    for name, model_format in MODEL_FORMATS.items():
        target = tmp_path / model_format.artefact_name()
        if model_format.folder_marker:
            target.mkdir()
            (target / model_format.folder_marker).write_bytes(b"")
        else:
            target.write_bytes(b"")
        assert format_for_path(target) == detect_format(target) == name


def test_the_runtimes_are_the_formats_own():
    for runtime in (KerasRuntime, SavedModelRuntime, TFLiteRuntime, OnnxRuntime):
        assert runtime.format in MODEL_FORMATS
        assert runtime.engine == MODEL_FORMATS[runtime.format].engine
    assert [name for name, f in MODEL_FORMATS.items() if f.explainable] == ["keras"]
    assert [name for name, f in MODEL_FORMATS.items() if f.quantizable] == ["tflite"]


def test_messages_and_dialogs_list_the_formats(tmp_path):
    assert file_formats_text() == "a .keras, .tflite or .onnx file or a SavedModel folder"
    assert file_dialog_filter() == "Models (*.keras saved_model.pb *.tflite *.onnx);;All files (*)"
    (tmp_path / "model.txt").write_text("x")
    with pytest.raises(PredictorError, match="give a .keras, .tflite or .onnx file or a SavedModel folder"):
        detect_format(tmp_path / "model.txt")
    with pytest.raises(PredictorError, match="does not exist"):
        detect_format(tmp_path / "gone.keras")
    assert MODEL_FORMATS["onnx"].a_model == "an ONNX model"
