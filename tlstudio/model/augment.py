"""Random augmentation of training batches with Keras's own preprocessing layers.

The augmenter runs inside the training step, in a wrapper model that only `fit()` sees (or
eagerly for the preview), on float32 raw 0-255 images. It is never part of the saved model:
random layers inside a model stay random at serving time and break export
(docs/stack-notes.md #2). The export therefore strips random layers from the model it loads
(`strip_augmentation`) and scans every file it writes for them (`tlstudio.export.augmentation_scan`).

Keras is imported inside the functions that use it, so importing this module does not load TensorFlow.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from tlstudio.settings.project import AugmentSettings

if TYPE_CHECKING:
    import keras

VALUE_RANGE = (0.0, 255.0)


def make_augmenter(settings: AugmentSettings, seed: int | None) -> keras.Sequential | None:
    """A Sequential of the enabled random layers, ending in a clip to 0-255; None if none is on.

    Call it with `training=True`. Each layer gets its own seed derived from `seed`, so a run
    repeats; `seed=None` draws fresh randomness.
    """
    import keras

    def layer_seed(offset: int) -> int | None:
        return None if seed is None else int(seed) + offset

    layers: list[keras.layers.Layer] = []
    if settings.flip or settings.vflip:
        mode = ("horizontal_and_vertical" if settings.flip and settings.vflip
                else "horizontal" if settings.flip else "vertical")
        layers.append(keras.layers.RandomFlip(mode, seed=layer_seed(0), name="flip"))
    if settings.rotate > 0:
        layers.append(keras.layers.RandomRotation(settings.rotate / 360.0, fill_mode="reflect",
                                                  seed=layer_seed(1), name="rotate"))
    if settings.zoom > 0:
        layers.append(keras.layers.RandomZoom(settings.zoom, fill_mode="reflect", seed=layer_seed(2),
                                              name="zoom"))
    if settings.translate > 0:
        layers.append(keras.layers.RandomTranslation(settings.translate, settings.translate,
                                                     fill_mode="reflect", seed=layer_seed(3), name="translate"))
    if settings.contrast > 0:
        layers.append(keras.layers.RandomContrast(settings.contrast, value_range=VALUE_RANGE,
                                                  seed=layer_seed(4), name="contrast"))
    if settings.brightness > 0:
        layers.append(keras.layers.RandomBrightness(settings.brightness, value_range=VALUE_RANGE,
                                                    seed=layer_seed(5), name="brightness"))
    if not layers:
        return None
    # Interpolation can overshoot slightly; ReLU(max_value) is a built-in clip to [0, 255].
    layers.append(keras.layers.ReLU(max_value=VALUE_RANGE[1], name="clip_0_255"))
    return keras.Sequential(layers, name="augmenter")


def preview(images_uint8: np.ndarray, settings: AugmentSettings, n: int, seed: int | None) -> np.ndarray:
    """`n` augmented samples (uint8, N x H x W x 3) for the GUI's preview grid.

    Sample i augments image i modulo the number given; one (H, W, 3) image is accepted too.
    With nothing switched on the samples are the images unchanged.
    """
    images = np.asarray(images_uint8)
    if images.ndim == 3:
        images = images[None]
    if images.ndim != 4 or images.shape[-1] != 3 or len(images) == 0:
        raise ValueError(f"expected RGB images shaped (N, H, W, 3), got {images.shape}")
    batch = images[np.arange(max(int(n), 0)) % len(images)].astype("float32")
    augmenter = make_augmenter(settings, seed)
    if augmenter is not None and len(batch):
        import keras

        batch = keras.ops.convert_to_numpy(augmenter(batch, training=True))
    return np.clip(np.rint(batch), 0, 255).astype(np.uint8)


# -- finding and stripping augmentation in a model or an exported file ----------------------------------


def all_layers(model) -> list:
    found = []
    for layer in getattr(model, "layers", []):
        found.append(layer)
        found += all_layers(layer)
    return found


def is_augmentation(layer) -> bool:
    # Keras's random image layers: RandomFlip, RandomRotation, RandomZoom, RandomContrast, ...
    return type(layer).__name__.startswith("Random")


def strip_augmentation(model):
    """The model without random augmentation layers (replaced by Identity); the same model if none."""
    import keras

    if not any(is_augmentation(layer) for layer in all_layers(model)):
        return model
    return keras.models.clone_model(
        model, clone_function=lambda layer: keras.layers.Identity(name=layer.name)
        if is_augmentation(layer) else layer)
