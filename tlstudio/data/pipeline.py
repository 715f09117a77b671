"""tf.data pipelines over decoded uint8 image arrays.

Images stay uint8 in memory (a quarter of float32) and are cast per batch. The training set is
shuffled by index, not by image, so the shuffle buffer holds integers instead of a second copy of
the pixels. It is repeated on purpose: the trainer passes ``steps_per_epoch`` so Keras keeps one
iterator instead of rebuilding it (and stalling) every epoch (docs/stack-notes.md #5).

Batches carry raw 0–255 float32 pixels; each backbone's own preprocessing lives in the model.

A TensorFlow module: TensorFlow is imported at its top, so light modules import it inside the function that
builds a run's streams.
"""

from __future__ import annotations

import itertools
import os

import numpy as np
import tensorflow as tf

from tlstudio.data.cache import release_pages

AUTOTUNE = tf.data.AUTOTUNE
# Fixed parallelism and prefetch instead of tf.data's autotuner: its optimisation thread sleeps
# up to 10 s between rounds, and destroying an iterator waits for it, so every fit() on a
# repeated dataset ended with a stall of up to 10 s (measured: 10 s after a 3-epoch run).
PARALLEL_CALLS = max(1, min(8, os.cpu_count() or 1))
PREFETCH_BATCHES = 2
# Memory-mapped image sets larger than this are streamed from their file a batch at a time; smaller ones
# are copied into one tensor, which is a little faster per step.
STREAM_ABOVE_BYTES = 256 * 1024 * 1024
RELEASE_EVERY_BATCHES = 16


def _without_autotune(dataset: tf.data.Dataset) -> tf.data.Dataset:
    options = tf.data.Options()
    options.autotune.enabled = False
    return dataset.with_options(options)


def _checked_arrays(images_uint8: np.ndarray, labels_int: np.ndarray, num_classes: int,
                    batch_size: int) -> tuple[np.ndarray, np.ndarray]:
    images = np.asanyarray(images_uint8)  # a memmap stays one (streamed in _batches)
    labels = np.asarray(labels_int)
    if images.dtype != np.uint8 or images.ndim != 4 or images.shape[-1] != 3:
        raise ValueError(f"images must be a uint8 array of shape (N, H, W, 3), got {images.dtype} {images.shape}")
    if labels.ndim != 1 or len(labels) != len(images):
        raise ValueError(f"labels must be a 1-D array with one label per image, got shape {labels.shape} "
                         f"for {len(images)} images")
    if not np.issubdtype(labels.dtype, np.integer) and len(labels):
        raise ValueError(f"labels must be integers, got {labels.dtype}")
    if num_classes < 2:
        raise ValueError(f"num_classes must be at least 2, got {num_classes}")
    if len(labels) and (labels.min() < 0 or labels.max() >= num_classes):
        raise ValueError(f"labels must lie in 0..{num_classes - 1}, got {labels.min()}..{labels.max()}")
    if batch_size < 1:
        raise ValueError(f"batch_size must be at least 1, got {batch_size}")
    return images, labels.astype(np.int32)


def _batches(indices: tf.data.Dataset, images: np.ndarray, labels: np.ndarray,
             num_classes: int) -> tf.data.Dataset:
    """Maps batches of indices to (float32 images, one-hot float32 labels); casts per batch only.

    Images in a memory-mapped file (the image cache) are read a batch at a time from it, so a large set
    never sits in memory whole; smaller in-memory arrays become one constant tensor."""
    labels_t = tf.constant(labels)
    if isinstance(images, np.memmap) and images.nbytes > STREAM_ABOVE_BYTES:
        row_shape = images.shape[1:]
        reads = itertools.count(1)

        def rows(batch_indices: np.ndarray) -> np.ndarray:
            batch = np.asarray(images[batch_indices])  # fancy indexing copies the rows out of the map
            if next(reads) % RELEASE_EVERY_BATCHES == 0:
                release_pages(images)  # what was read leaves this process's memory (not the file cache)
            return batch

        def take(batch_indices: tf.Tensor) -> tf.Tensor:
            x = tf.numpy_function(rows, [batch_indices], images.dtype, stateful=False)
            x.set_shape((None, *row_shape))
            return x
    else:
        images_t = tf.constant(np.asarray(images))

        def take(batch_indices: tf.Tensor) -> tf.Tensor:
            return tf.gather(images_t, batch_indices)

    def gather(batch_indices: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
        x = tf.cast(take(batch_indices), tf.float32)
        y = tf.one_hot(tf.gather(labels_t, batch_indices), num_classes, dtype=tf.float32)
        return x, y

    return indices.map(gather, num_parallel_calls=PARALLEL_CALLS)


def _balanced_indices(labels: np.ndarray, batch_size: int, seed: int) -> tf.data.Dataset:
    """Endless full batches of indices in which every class is drawn equally often (each class's own
    images reshuffled every time they run out): balanced sampling for an imbalanced training set."""
    per_class = []
    for label in np.unique(labels):
        members = np.flatnonzero(labels == label).astype(np.int64)
        per_class.append(tf.data.Dataset.from_tensor_slices(members)
                         .shuffle(len(members), seed=seed + int(label), reshuffle_each_iteration=True).repeat())
    weights = [1.0 / len(per_class)] * len(per_class)
    return tf.data.Dataset.sample_from_datasets(per_class, weights=weights, seed=seed).batch(batch_size)


def training_dataset(images_uint8: np.ndarray, labels_int: np.ndarray, num_classes: int, batch_size: int,
                     seed: int, balanced: bool = False) -> tf.data.Dataset:
    """An endless, seeded, reshuffled-each-epoch stream of (float32 0–255 images, one-hot labels) batches.

    Epochs are kept whole: each pass of ``steps_per_epoch(n, batch_size)`` batches shows every image
    exactly once (the last batch may be partial). With `balanced`, batches are full and draw every class
    equally often instead (an "epoch" is then that many batches). Augmentation is not done here: it runs
    inside the training step (see `tlstudio.model.augment`).
    """
    images, labels = _checked_arrays(images_uint8, labels_int, num_classes, batch_size)
    n = len(images)
    if n == 0:
        # A repeated empty dataset would make fit() wait forever for its first batch.
        raise ValueError("the training set is empty")
    if balanced:
        dataset = _batches(_balanced_indices(labels, batch_size, seed), images, labels, num_classes)
        return _without_autotune(dataset.prefetch(PREFETCH_BATCHES))
    indices = (tf.data.Dataset.range(n)
               .shuffle(n, seed=seed, reshuffle_each_iteration=True)
               .batch(batch_size, drop_remainder=False))
    dataset = _batches(indices, images, labels, num_classes)
    # Shuffle and batch come before repeat, so every epoch is a whole, freshly shuffled pass.
    return _without_autotune(dataset.repeat().prefetch(PREFETCH_BATCHES))


def evaluation_dataset(images_uint8: np.ndarray, labels_int: np.ndarray, num_classes: int,
                       batch_size: int) -> tf.data.Dataset:
    """One ordered pass of (float32 0–255 images, one-hot labels) batches: no shuffle, no repeat."""
    images, labels = _checked_arrays(images_uint8, labels_int, num_classes, batch_size)
    indices = tf.data.Dataset.range(len(images)).batch(batch_size, drop_remainder=False)
    return _without_autotune(_batches(indices, images, labels, num_classes).prefetch(PREFETCH_BATCHES))


def feature_training_dataset(features: np.ndarray, labels_int: np.ndarray, num_classes: int, batch_size: int,
                             seed: int, copies: int = 1, balanced: bool = False) -> tf.data.Dataset:
    """Endless, seeded batches of cached backbone features (float32, (N, D)) and one-hot labels.

    With one copy per image every epoch is a whole pass, exactly like `training_dataset`. With
    `copies` augmented copies per image the stream runs over all of them in full batches, and an
    epoch (`steps_per_epoch(N / copies)` batches) sees a fresh random subset.
    """
    features = np.asarray(features, dtype=np.float32)
    labels = np.asarray(labels_int, dtype=np.int32)
    if features.ndim != 2 or len(features) != len(labels) or not len(features):
        raise ValueError(f"features must be a non-empty (N, D) array with one label each, got {features.shape}")
    n = len(features)
    if balanced:
        indices = _balanced_indices(labels, batch_size, seed)
        return _without_autotune(_batches(indices, features, labels, num_classes).prefetch(PREFETCH_BATCHES))
    indices = (tf.data.Dataset.range(n)
               .shuffle(n, seed=seed, reshuffle_each_iteration=True)
               .batch(batch_size, drop_remainder=copies > 1 and n >= batch_size))
    return _without_autotune(_batches(indices, features, labels, num_classes).repeat().prefetch(PREFETCH_BATCHES))


def feature_evaluation_dataset(features: np.ndarray, labels_int: np.ndarray, num_classes: int,
                               batch_size: int) -> tf.data.Dataset:
    """One ordered pass over cached validation features."""
    features = np.asarray(features, dtype=np.float32)
    labels = np.asarray(labels_int, dtype=np.int32)
    indices = tf.data.Dataset.range(len(features)).batch(batch_size, drop_remainder=False)
    return _without_autotune(_batches(indices, features, labels, num_classes).prefetch(PREFETCH_BATCHES))
