"""The frozen backbone's forward pass through ONNX Runtime, for the feature cache.

With the whole backbone frozen, a run's backbone work is one forward pass per image (features.py).
On a CPU, ONNX Runtime runs the same graph faster than TensorFlow: 1.3-3x on the offline backbones
here (benchmarks/README.md). The graph is the feature extractor of the run's own model, converted with
tf2onnx once per backbone, weights and image size and kept in the user cache folder
(`backbones/<key>.onnx`); the key hashes the weights themselves, so a changed weights file, another
seed's random weights or BatchNorm statistics set from the data give a new graph.

Before a single feature is used, the runtime's features of the first images are compared with
TensorFlow's (`FEATURE_TOLERANCE`); any difference beyond it, a failed conversion or a missing package
falls back to TensorFlow with the reason in the run's log. Only the cache's features come from here:
the saved and exported models are the same Keras model as ever.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
from collections.abc import Callable
from pathlib import Path

import numpy as np

from tlstudio.base.cache_folder import BACKBONES, cache_folder, mark_cache_used, trim_cache
from tlstudio.base.files import atomic_target
from tlstudio.model.onnx_graph import ONNX_OPSET, function_to_onnx

CHECK_IMAGES = 4  # images whose features are compared with TensorFlow's before the runtime is trusted
# Largest allowed |onnx - tensorflow| as a share of the largest feature (float32 kernels differ in their
# summation order; measured 1e-6 of it on SqueezeNet 1.1 and EfficientNet-Lite0).
FEATURE_TOLERANCE = 1e-3
BATCH_SIZE = 32  # images per runtime call; smaller batches were no slower on 2 cores, and use less memory


class RuntimeUnavailable(Exception):
    """ONNX Runtime cannot stand in for TensorFlow here; the message says why, for the log."""


def graph_key(extractor, image_size: int) -> str:
    """Names a converted graph: the architecture, the input size, the weights' values and the versions
    of the converting packages."""
    import keras
    import tf2onnx

    digest = hashlib.blake2b(digest_size=16)
    for weight in extractor.weights:
        value = np.ascontiguousarray(weight.numpy())
        digest.update(repr((weight.path, value.shape, str(value.dtype))).encode())
        digest.update(value.data)
    described = json.dumps([extractor.name, [layer.name for layer in extractor.layers], image_size,
                            keras.__version__, tf2onnx.__version__, ONNX_OPSET, digest.hexdigest()])
    return hashlib.sha256(described.encode()).hexdigest()[:32]


class OnnxExtractor:
    """uint8 images in, the backbone's pooled float32 features out, through an ONNX Runtime session."""

    def __init__(self, session) -> None:
        self.session = session
        self.input_name = session.get_inputs()[0].name

    def __call__(self, images: np.ndarray) -> np.ndarray:
        return self.session.run(None, {self.input_name: np.ascontiguousarray(images, np.uint8)})[0]

    @classmethod
    def load(cls, path: Path) -> OnnxExtractor:
        import onnxruntime

        options = onnxruntime.SessionOptions()
        options.log_severity_level = 3
        # Idle threads sleep instead of spinning: no slower here, and kinder to the app's own process and to
        # whatever else shares the cores.
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        threads = os.environ.get("TLSTUDIO_ONNX_THREADS")
        if threads:
            options.intra_op_num_threads = int(threads)
        return cls(onnxruntime.InferenceSession(str(path), options, providers=["CPUExecutionProvider"]))


def convert(extractor, image_size: int, path: Path) -> None:
    """The extractor as an ONNX graph at `path`: uint8 NHWC images in (cast inside the graph, as the
    Keras model's own input is), features out, `training=False`."""
    import tensorflow as tf

    spec = [tf.TensorSpec((None, image_size, image_size, 3), tf.uint8, name="image")]

    @tf.function(input_signature=spec)
    def features(image):
        return tf.cast(extractor(tf.cast(image, tf.float32), training=False), tf.float32)

    proto = function_to_onnx(features, spec)
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_target(path, suffix=".onnx") as tmp:
        Path(tmp).write_bytes(proto.SerializeToString())


def onnx_extractor(extractor, image_size: int, check_images: np.ndarray,
                   log: Callable[[str], None] | None = None, folder: Path | None = None) -> OnnxExtractor:
    """An ONNX Runtime stand-in for `extractor`, converted now or read from the cache, and checked against
    TensorFlow on `check_images`. RuntimeUnavailable (with the reason) when it cannot be used."""
    try:
        import onnxruntime  # noqa: F401
        import tf2onnx  # noqa: F401
    except ImportError as error:
        raise RuntimeUnavailable(f"ONNX Runtime or tf2onnx is not installed ({error.name})") from None
    folder = folder or cache_folder(BACKBONES)
    path = folder / f"{graph_key(extractor, image_size)}.onnx"
    try:
        if not path.is_file():
            if log:
                log("feature cache: converting the backbone for ONNX Runtime (once per backbone, weights and size)")
            convert(extractor, image_size, path)
            trim_cache(keep=path)
        else:
            mark_cache_used(path)
        runtime = OnnxExtractor.load(path)
        sample = np.ascontiguousarray(check_images[:CHECK_IMAGES], np.uint8)
        theirs = runtime(sample)
    except Exception as error:  # any failure only costs the speed-up
        with contextlib.suppress(OSError):
            path.unlink()
        raise RuntimeUnavailable(f"the backbone could not run in ONNX Runtime ({_short(error)})") from None
    ours = np.asarray(extractor([sample.astype(np.float32)], training=False), np.float32)
    scale = max(float(np.abs(ours).max()), 1e-6)
    worst = float(np.abs(theirs - ours).max()) / scale if theirs.shape == ours.shape else float("inf")
    if not worst <= FEATURE_TOLERANCE:
        raise RuntimeUnavailable(f"ONNX Runtime's features differ from TensorFlow's by {worst:.1e} of their "
                                 f"range, above the {FEATURE_TOLERANCE:g} allowed")
    return runtime


def _short(error: Exception) -> str:
    text = str(error).strip().splitlines()
    return f"{type(error).__name__}: {text[0][:160]}" if text else type(error).__name__
