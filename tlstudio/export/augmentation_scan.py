"""Scan an exported file (any format) for random-augmentation layers or ops: none may ship.

Random layers inside a served model keep augmenting (docs/stack-notes.md #2); the export strips them
first (`tlstudio.model.augment.strip_augmentation`) and checks every file it writes with this.
TensorFlow, Keras and onnx are imported inside `find_augmentation`, each only for its own format.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from tlstudio.model.augment import all_layers
from tlstudio.predict.formats import format_for_path
from tlstudio.predict.predictor import tflite_interpreter_class

# Op types and layer names that only random augmentation puts in a graph.
_RANDOM_OP = re.compile(r"random|multinomial|bernoulli|rngreadandskip|imageprojectivetransform", re.I)
_AUGMENT_NAME = re.compile(r"random_(flip|rotation|zoom|translation|contrast|brightness|crop)", re.I)


def find_augmentation(path: str | os.PathLike) -> list[str]:
    """Random-augmentation layers or ops in an exported artefact (any format); [] when clean."""
    path = Path(path)
    names: list[tuple[str, str]] = []  # (op type, name)
    model_format = format_for_path(path)
    if model_format == "savedmodel":
        from tensorflow.core.protobuf import saved_model_pb2

        saved = saved_model_pb2.SavedModel()
        saved.ParseFromString((path / "saved_model.pb").read_bytes())
        for graph in saved.meta_graphs:
            names += [(n.op, n.name) for n in graph.graph_def.node]
            for function in graph.graph_def.library.function:
                names += [(n.op, n.name) for n in function.node_def]
    elif model_format == "keras":
        import keras

        model = keras.saving.load_model(path, compile=False)
        names = [(type(layer).__name__, layer.name) for layer in all_layers(model)]
        return [f"{kind} {name}" for kind, name in names if kind.startswith("Random")]
    elif model_format == "onnx":
        import onnx

        graph = onnx.load(str(path)).graph
        names = [(n.op_type, n.name) for n in graph.node]
    elif model_format == "tflite":
        interpreter_class, _ = tflite_interpreter_class()
        interpreter = interpreter_class(model_path=str(path))
        names = [(op["op_name"], "") for op in interpreter._get_ops_details()]
        names += [("", t["name"]) for t in interpreter.get_tensor_details()]
    return sorted({f"{op} {name}".strip() for op, name in names
                   if _RANDOM_OP.search(op) or _AUGMENT_NAME.search(name)})
