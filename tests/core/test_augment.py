"""Augmentation: off means None, flips only mirror, preview is uint8 and repeatable, tf.data works."""

import numpy as np
import pytest

from tlstudio.model.augment import make_augmenter, preview
from tlstudio.settings.project import AugmentSettings

ALL_ON = AugmentSettings(flip=True, vflip=True, rotate=20, zoom=0.2, translate=0.1, contrast=0.3,
                         brightness=0.3)


def asymmetric_image(size: int = 16) -> np.ndarray:
    """An image that changes under every flip: a gradient plus a bright corner block."""
    y, x = np.mgrid[0:size, 0:size]
    image = np.stack([x * 255 // size, y * 255 // size, (x * y) % 256], axis=-1).astype(np.uint8)
    image[:4, :4] = 255
    return image


def test_nothing_on_gives_none_and_preview_returns_the_images():
    assert make_augmenter(AugmentSettings(), seed=0) is None
    image = asymmetric_image()
    out = preview(image, AugmentSettings(), n=3, seed=0)
    assert out.shape == (3, 16, 16, 3) and out.dtype == np.uint8
    assert all(np.array_equal(sample, image) for sample in out)


def test_every_augmentation_is_a_keras_layer():
    augmenter = make_augmenter(ALL_ON, seed=1)
    names = [type(layer).__name__ for layer in augmenter.layers]
    assert names == ["RandomFlip", "RandomRotation", "RandomZoom", "RandomTranslation", "RandomContrast",
                     "RandomBrightness", "ReLU"]
    assert augmenter.layers[0].mode == "horizontal_and_vertical"
    assert augmenter.layers[1].factor == pytest.approx((-20 / 360, 20 / 360))
    only_vertical = make_augmenter(AugmentSettings(vflip=True), seed=1)
    assert only_vertical.layers[0].mode == "vertical"


def test_flip_only_mirrors():
    image = asymmetric_image()
    out = preview(image, AugmentSettings(flip=True), n=16, seed=3)
    mirrored = image[:, ::-1]
    assert not np.array_equal(image, mirrored)
    flipped = [np.array_equal(sample, mirrored) for sample in out]
    kept = [np.array_equal(sample, image) for sample in out]
    assert all(f or k for f, k in zip(flipped, kept, strict=True))
    assert any(flipped) and any(kept)


def test_preview_is_uint8_in_range_and_repeatable_per_seed():
    images = np.stack([asymmetric_image(), 255 - asymmetric_image()])
    first = preview(images, ALL_ON, n=5, seed=7)
    assert first.shape == (5, 16, 16, 3) and first.dtype == np.uint8
    assert np.array_equal(first, preview(images, ALL_ON, n=5, seed=7))
    assert not np.array_equal(first, preview(images, ALL_ON, n=5, seed=8))
    assert not np.array_equal(first[0], images[0])


def test_output_stays_within_0_255_on_float_input():
    import keras

    augmenter = make_augmenter(AugmentSettings(contrast=0.9, brightness=0.9, rotate=45), seed=0)
    batch = np.random.default_rng(0).uniform(0, 255, (4, 16, 16, 3)).astype("float32")
    out = keras.ops.convert_to_numpy(augmenter(batch, training=True))
    assert out.dtype == np.float32 and out.min() >= 0.0 and out.max() <= 255.0


def test_works_inside_tf_data_map():
    import tensorflow as tf

    augmenter = make_augmenter(ALL_ON, seed=0)
    images = np.stack([asymmetric_image()] * 6).astype("float32")
    labels = np.arange(6)
    dataset = (tf.data.Dataset.from_tensor_slices((images, labels)).batch(3)
               .map(lambda x, y: (augmenter(x, training=True), y), num_parallel_calls=tf.data.AUTOTUNE))
    batches = [(x.numpy(), y.numpy()) for x, y in dataset]
    assert [x.shape for x, _ in batches] == [(3, 16, 16, 3)] * 2
    out = np.concatenate([x for x, _ in batches])
    assert out.dtype == np.float32 and out.min() >= 0.0 and out.max() <= 255.0
    assert not np.allclose(out, images)
    np.testing.assert_array_equal(np.concatenate([y for _, y in batches]), labels)
    # Called without `training`, as a pipeline may, the layers still augment (their default).
    plain = tf.data.Dataset.from_tensor_slices(images).batch(6).map(augmenter)
    assert not np.allclose(next(iter(plain)).numpy(), images)
