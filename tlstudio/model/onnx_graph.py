"""A traced TensorFlow function as an ONNX graph, the one way TL Studio converts (export and the
feature cache's ONNX Runtime backbone alike): tf2onnx's `from_function` at opset 17, with its chatter
(log lines and prints) kept out of the user's console. tf2onnx imports TensorFlow: call it lazily."""

from __future__ import annotations

import contextlib
import logging

ONNX_OPSET = 17


def function_to_onnx(function, spec: list):
    """The ONNX ModelProto of a `tf.function` over `spec` (tf.TensorSpec list). ImportError without tf2onnx."""
    import tf2onnx

    logger = logging.getLogger("tf2onnx")
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        with contextlib.redirect_stdout(None):
            proto, _ = tf2onnx.convert.from_function(function, input_signature=spec, opset=ONNX_OPSET)
    finally:
        logger.setLevel(level)
    return proto
