"""Layers that turn raw 0-255 RGB into what a backbone was trained on.

Only built-in, serializable Keras layers (no Lambda, no custom classes), so a saved
`model.keras` loads with plain `keras.saving.load_model` in a process that never
imported tlstudio, and the exported model takes raw RGB.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from tlstudio.backbones.registry import PreprocessingMode

if TYPE_CHECKING:
    import keras

# The ImageNet statistics Keras's `imagenet_utils.preprocess_input` uses.
TORCH_MEAN = (0.485, 0.456, 0.406)
TORCH_STD = (0.229, 0.224, 0.225)
CAFFE_BGR_MEAN = (103.939, 116.779, 123.68)


PREFIX = "preprocess_"  # every preprocessing layer's name starts so; their constants are not parameters


def preprocessing_layers(mode: PreprocessingMode) -> list[keras.layers.Layer]:
    """The layers between the raw-RGB input and the backbone for a registry preprocessing mode.

    tf: x / 127.5 - 1; torch: (x / 255 - mean) / std; caffe: RGB -> BGR minus the ImageNet
    BGR mean; builtin: none (the backbone is built with its own preprocessing layers).
    """
    import keras

    if mode == "tf":
        return [keras.layers.Rescaling(1.0 / 127.5, offset=-1.0, name=f"{PREFIX}rescale")]
    if mode == "torch":
        return [
            keras.layers.Rescaling(1.0 / 255.0, name=f"{PREFIX}rescale"),
            keras.layers.Normalization(mean=list(TORCH_MEAN), variance=[s * s for s in TORCH_STD],
                                       name=f"{PREFIX}normalize"),
        ]
    if mode == "caffe":
        # A frozen 3x3 permutation plus bias does RGB -> BGR and the mean subtraction in one
        # built-in layer; its weights travel inside the saved model.
        layer = keras.layers.Dense(3, trainable=False, name=f"{PREFIX}bgr_mean")
        layer.build((None, None, None, 3))
        permutation = np.ascontiguousarray(np.eye(3, dtype="float32")[::-1])  # out[j] = in[2 - j]
        layer.set_weights([permutation, -np.asarray(CAFFE_BGR_MEAN, dtype="float32")])
        return [layer]
    if mode == "builtin":
        return []
    raise ValueError(f"unknown preprocessing mode {mode!r}; expected tf, torch, caffe or builtin")
