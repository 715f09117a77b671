"""Grad-CAM: where in the image the model looked for a class.

The heat map is taken at the last convolutional block of the backbone: the last layer with a 4-D
output inside the backbone (the nested ``keras.Model`` that ``build_model`` puts in the classifier;
for a flat model, the last 4-D layer of the model itself). The class score is the pre-softmax
logit when the model ends in a softmax Dense layer, so a confident class still gets gradients.

A Keras module: it imports Keras and TensorFlow at its top (the gradient tape is TensorFlow's), so the
window and the CLI import it only inside the function that draws a heat map.
"""

from __future__ import annotations

import weakref
from typing import Any

import keras
import numpy as np
import tensorflow as tf


class GradCamError(ValueError):
    """The model has no convolutional layer to explain, or the image does not fit it."""


def _is_model(layer: Any) -> bool:
    return isinstance(layer, keras.Model)


def _four_d(layer: Any) -> bool:
    if isinstance(layer, keras.layers.InputLayer):
        return False
    try:
        return len(layer.output.shape) == 4
    except (AttributeError, ValueError):  # a layer used more than once has no single output
        return False


def find_target_layer(model) -> tuple[Any | None, Any]:
    """(the backbone holding it, or None for a flat model; the last layer with a 4-D output)."""
    nested = [layer for layer in model.layers if _is_model(layer)]
    container = nested[-1] if nested else model
    for layer in reversed(container.layers):
        if _four_d(layer):
            return (container if nested else None), layer
    raise GradCamError(f"{model.name} has no layer with a 4-D (convolutional) output to explain.")


class GradCam:
    """Grad-CAM for one classifier; build once, call per image (the layer search is cached)."""

    def __init__(self, model) -> None:
        self.model = model
        self.backbone, self.layer = find_target_layer(model)
        if self.backbone is not None:
            # One backbone pass gives both the explained activations and the backbone's output.
            self._features = keras.Model(self.backbone.inputs, [self.layer.output, self.backbone.output])
        last = model.layers[-1]
        self._logits_of = last if (isinstance(last, keras.layers.Dense)
                                   and getattr(last.activation, "__name__", "") == "softmax") else None

    def _forward(self, images):
        """Runs the model layer by layer (the chain ``build_model`` makes): (activations, scores)."""
        x, activations = images, None
        for layer in self.model.layers:
            if isinstance(layer, keras.layers.InputLayer):
                continue
            if layer is self.backbone:
                activations, x = self._features(x, training=False)
            elif layer is self._logits_of:
                x = keras.ops.matmul(x, layer.kernel) + (layer.bias if layer.use_bias else 0.0)
            else:
                x = layer(x, training=False)
                if layer is self.layer:
                    activations = x
        if self._logits_of is None:
            x = keras.ops.log(keras.ops.maximum(x, 1e-12))
        return activations, x

    def __call__(self, image: np.ndarray, class_index: int | None = None) -> np.ndarray:
        image = np.asarray(image)
        expected = tuple(self.model.input_shape[1:])
        if image.shape != expected:
            raise GradCamError(f"the image has shape {image.shape}; this model takes {expected}.")
        batch = tf.constant(image[None].astype(np.float32))
        with tf.GradientTape() as tape:
            activations, scores = self._forward(batch)
            index = int(np.argmax(scores[0])) if class_index is None else int(class_index)
            if not 0 <= index < scores.shape[-1]:
                raise GradCamError(f"class index {index} is outside 0..{scores.shape[-1] - 1}.")
            score = scores[:, index]
        gradients = tape.gradient(score, activations)
        weights = tf.reduce_mean(gradients, axis=(1, 2), keepdims=True)  # one weight per channel
        cam = tf.nn.relu(tf.reduce_sum(weights * activations, axis=-1))[0].numpy()
        return normalize_heatmap(cam, image.shape[:2])


def normalize_heatmap(cam: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Upsample a (h, w) map to ``size`` (bilinear) and scale it to 0..1 (zeros when flat)."""
    cam = np.nan_to_num(np.asarray(cam, np.float32), nan=0.0, posinf=0.0, neginf=0.0)
    resized = tf.image.resize(cam[..., None], size, method="bilinear")[..., 0].numpy()
    resized = np.maximum(resized, 0.0)
    peak = float(resized.max()) if resized.size else 0.0
    return (resized / peak if peak > 0 else np.zeros_like(resized)).astype(np.float32)


_CACHE: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def gradcam(model, image_uint8: np.ndarray, class_index: int | None = None) -> np.ndarray:
    """Heat map float32 (H, W) in 0..1 of where ``model`` looked for ``class_index`` (default: its
    top class) in a raw RGB image of the model's input size."""
    explainer = _CACHE.get(model)
    if explainer is None:
        explainer = _CACHE[model] = GradCam(model)
    return explainer(image_uint8, class_index)


def overlay(image_uint8: np.ndarray, heatmap: np.ndarray, alpha: float = 0.45) -> np.ndarray:
    """The image with the heat map blended on top in a blue-to-red colour scale, uint8 (H, W, 3)."""
    h = np.clip(heatmap, 0.0, 1.0)[..., None]
    # A compact "jet": blue (0) -> cyan -> yellow -> red (1).
    colour = np.concatenate([np.clip(1.5 - np.abs(4 * h - 3), 0, 1), np.clip(1.5 - np.abs(4 * h - 2), 0, 1),
                             np.clip(1.5 - np.abs(4 * h - 1), 0, 1)], axis=-1) * 255.0
    blended = (1 - alpha * h) * image_uint8.astype(np.float32) + alpha * h * colour
    return np.clip(np.rint(blended), 0, 255).astype(np.uint8)
