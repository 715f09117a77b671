"""Build the classifier: raw RGB -> backbone preprocessing -> backbone -> pooled head.

The freezing rule itself is `tlstudio.model.freezing`. In Keras 3.15 `training=False` alone does not keep BatchNorm
statistics fixed once its layers are trainable (docs/stack-notes.md #1), so BatchNormalization layers
are frozen one by one unless the user asks to train them. Recompile after any change
to `trainable`. Augmentation is never part of this model (docs/stack-notes.md #2).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from tlstudio.backbones import preprocessing
from tlstudio.backbones.preprocessing import preprocessing_layers
from tlstudio.backbones.registry import BackboneSpec, get_backbone
from tlstudio.backbones.weights import build_backbone
from tlstudio.model.freezing import BackboneLayers, freeze_backbone, layer_rows, weight_count
from tlstudio.settings.project import ModelSettings

if TYPE_CHECKING:
    import keras


# The head's layers by name: the feature cache splits the model at the pooling layer.
POOL_LAYER = "avg_pool"
DROPOUT_LAYER = "dropout"
OUTPUT_LAYER = "predictions"


@dataclass
class BuiltModel:
    model: keras.Model  # the whole classifier: raw 0-255 RGB in, class probabilities out
    backbone: keras.Model  # the pretrained part, nested in `model` as one layer
    spec: BackboneSpec


def build_model(model_settings: ModelSettings, num_classes: int, *, seed: int | None = None) -> BuiltModel:
    """The classifier for `model_settings`, uncompiled, with the freezing policy applied.

    Input: float32 (s, s, 3) raw 0-255 RGB. `seed` (when given) seeds Keras's global
    random state first, so random initialisation and dropout repeat. Raises
    `WeightsError` when the weights cannot be had.
    """
    import keras

    if num_classes < 2:
        raise ValueError(f"a classifier needs at least 2 classes, not {num_classes}")
    if seed is not None:
        keras.utils.set_random_seed(seed)
    spec = get_backbone(model_settings.backbone)
    size = model_settings.resolved_image_size
    backbone = build_backbone(spec, size, model_settings.weights)

    inputs = keras.Input(shape=(size, size, 3), dtype="float32", name="image")
    x = inputs
    for layer in preprocessing_layers(spec.preprocessing):
        x = layer(x)
    if model_settings.train_batchnorm:
        x = backbone(x)
    else:
        # Keep BatchNorm in inference mode even in unfrozen blocks (the keras-io recipe).
        x = backbone(x, training=False)
    x = keras.layers.GlobalAveragePooling2D(name=POOL_LAYER)(x)
    x = keras.layers.Dropout(model_settings.dropout, seed=seed, name=DROPOUT_LAYER)(x)
    regularizer = keras.regularizers.L2(model_settings.l2) if model_settings.l2 > 0 else None
    # float32 output even under a mixed-precision policy: a 16-bit softmax loses small probabilities.
    outputs = keras.layers.Dense(num_classes, activation="softmax", kernel_regularizer=regularizer,
                                 dtype="float32", name=OUTPUT_LAYER)(x)
    model = keras.Model(inputs, outputs, name=f"tlstudio_{spec.name}")
    freeze_backbone(backbone, model_settings.freeze, model_settings.train_batchnorm)
    return BuiltModel(model=model, backbone=backbone, spec=spec)


def count_parameters(model: keras.Model) -> tuple[int, int]:
    """(trainable, frozen) parameter counts of the backbone and the head; BatchNorm moving statistics
    count as frozen, the preprocessing layers' constants (ImageNet mean, channel order) not at all."""
    constants = {id(w) for layer in model.layers if layer.name.startswith(preprocessing.PREFIX) for w in layer.weights}
    trainable = sum(weight_count(w.shape) for w in model.trainable_weights)
    frozen = sum(weight_count(w.shape) for w in model.non_trainable_weights if id(w) not in constants)
    return trainable, frozen


def load_backbone_layers(backbone: str, num_classes: int = 2) -> BackboneLayers:
    """Build the model once (random weights) to list its backbone's layers, as freeze counts them."""
    settings = ModelSettings(backbone=backbone, weights="none", freeze=0, train_batchnorm=True)
    built = build_model(settings, num_classes)
    return BackboneLayers(backbone, layer_rows(built.backbone), num_classes)


def calibrate_batchnorm(model: keras.Model, backbone: keras.Model, images: np.ndarray) -> int:
    """Set every backbone BatchNorm's moving statistics from `images` (raw 0-255), in one pass.

    For a backbone without pretrained weights: its BatchNorm layers start at mean 0 and variance 1,
    which in inference mode lets activations shrink layer by layer until the features are ~1e-12
    and nothing can learn from them. One forward pass in training mode with momentum 0 makes
    each layer's moving statistics those of its real input (a data-dependent initialisation).
    Returns the number of BatchNorm layers set.
    """
    import keras

    norms = [layer for layer in backbone.layers if isinstance(layer, keras.layers.BatchNormalization)]
    saved = [(layer.trainable, layer.momentum) for layer in norms]
    import tensorflow as tf

    preprocessing = []
    for layer in model.layers[1:]:
        if layer is backbone:
            break
        preprocessing.append(layer)  # the backbone's own preprocessing, as inside the model

    @tf.function  # a graph frees each activation once used; eager kept ~3 GB alive for 64 images at 160 px
    def forward(x):
        for layer in preprocessing:
            x = layer(x)
        return backbone(x, training=True)

    try:
        for layer in norms:
            layer.trainable = True  # a frozen BatchNorm always runs in inference mode
            layer.momentum = 0.0
        forward(tf.convert_to_tensor(np.asarray(images, dtype=np.float32)))
    finally:
        for layer, (trainable, momentum) in zip(norms, saved, strict=True):
            layer.trainable = trainable
            layer.momentum = momentum
    return len(norms)
