"""tf.data pipelines: batch shapes and dtypes, one-hot labels, whole reshuffled epochs, seeded order."""

from __future__ import annotations

import numpy as np
import pytest

tf = pytest.importorskip("tensorflow")

from tlstudio.data.pipeline import evaluation_dataset, training_dataset  # noqa: E402
from tlstudio.data.split import steps_per_epoch  # noqa: E402

N, SIZE, CLASSES, BATCH = 10, 8, 3, 4


def _data(n: int = N) -> tuple[np.ndarray, np.ndarray]:
    """Image i is filled with the value i, so every batch says which images it holds."""
    images = np.broadcast_to(np.arange(n, dtype=np.uint8)[:, None, None, None], (n, SIZE, SIZE, 3)).copy()
    labels = np.arange(n) % CLASSES
    return images, labels


def _ids(batch_images: tf.Tensor) -> list[int]:
    return [int(v) for v in batch_images.numpy()[:, 0, 0, 0]]


def _epochs(dataset: tf.data.Dataset, epochs: int) -> list[list[int]]:
    steps = steps_per_epoch(N, BATCH)
    batches = [_ids(x) for x, _ in dataset.take(steps * epochs)]
    return [sum(batches[e * steps:(e + 1) * steps], []) for e in range(epochs)]


def test_steps_per_epoch_counts_the_partial_batch() -> None:
    assert steps_per_epoch(10, 4) == 3
    assert steps_per_epoch(8, 4) == 2
    assert steps_per_epoch(0, 4) == 0


def test_training_batches_have_shapes_dtypes_and_one_hot_labels() -> None:
    images, labels = _data()
    dataset = training_dataset(images, labels, CLASSES, BATCH, seed=0)
    batches = list(dataset.take(steps_per_epoch(N, BATCH)))
    assert [int(x.shape[0]) for x, _ in batches] == [4, 4, 2]  # the last partial batch is kept
    for x, y in batches:
        assert x.dtype == tf.float32 and x.shape[1:] == (SIZE, SIZE, 3)
        assert y.dtype == tf.float32 and y.shape[1:] == (CLASSES,)
        ids = _ids(x)
        assert np.array_equal(y.numpy(), np.eye(CLASSES, dtype=np.float32)[labels[ids]])
    # Raw 0–255 pixel values: no scaling here, the backbone's preprocessing does that.
    assert float(tf.reduce_max(tf.concat([x for x, _ in batches], 0))) == N - 1


def test_training_dataset_is_endless_so_keras_keeps_one_iterator() -> None:
    dataset = training_dataset(*_data(), CLASSES, BATCH, seed=0)
    assert dataset.cardinality() == tf.data.INFINITE_CARDINALITY


def test_each_epoch_shows_every_image_once_in_a_new_order() -> None:
    epochs = _epochs(training_dataset(*_data(), CLASSES, BATCH, seed=3), 3)
    for order in epochs:
        assert sorted(order) == list(range(N))
    assert len({tuple(order) for order in epochs}) > 1  # reshuffled each epoch
    assert epochs[0] != list(range(N))  # shuffled at all


def test_same_seed_same_order_other_seed_different() -> None:
    first = _epochs(training_dataset(*_data(), CLASSES, BATCH, seed=11), 2)
    again = _epochs(training_dataset(*_data(), CLASSES, BATCH, seed=11), 2)
    other = _epochs(training_dataset(*_data(), CLASSES, BATCH, seed=12), 2)
    assert first == again
    assert first != other


def test_evaluation_dataset_is_one_ordered_pass() -> None:
    images, labels = _data()
    dataset = evaluation_dataset(images, labels, CLASSES, BATCH)
    batches = list(dataset)
    assert len(batches) == steps_per_epoch(N, BATCH)
    assert sum((_ids(x) for x, _ in batches), []) == list(range(N))
    assert all(x.dtype == tf.float32 and y.shape[1:] == (CLASSES,) for x, y in batches)


def test_bad_inputs_are_refused() -> None:
    images, labels = _data()
    with pytest.raises(ValueError, match="uint8"):
        training_dataset(images.astype(np.float32), labels, CLASSES, BATCH, seed=0)
    with pytest.raises(ValueError, match="labels"):
        training_dataset(images, labels + CLASSES, CLASSES, BATCH, seed=0)
    with pytest.raises(ValueError, match="empty"):
        training_dataset(images[:0], labels[:0], CLASSES, BATCH, seed=0)


def test_the_tf_data_streams_come_only_from_their_own_module() -> None:
    """The package re-exports the light names; the streams (which import TensorFlow) are imported from
    tlstudio.data.pipeline where a run builds them, never reached through a lazy package attribute."""
    import tlstudio.data as data

    assert data.steps_per_epoch is steps_per_epoch
    assert not hasattr(data, "training_dataset") and not hasattr(data, "evaluation_dataset")


def test_a_large_memory_mapped_set_streams_the_same_batches(tmp_path, monkeypatch):
    """Images in the image cache's memory-mapped file are read a batch at a time (never copied whole), and
    the batches are the very ones an in-memory array gives."""
    from tlstudio.data import pipeline

    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (21, 8, 8, 3), dtype=np.uint8)
    labels = np.arange(21) % 3
    mapped = np.lib.format.open_memmap(tmp_path / "x.npy", mode="w+", dtype=np.uint8, shape=images.shape)
    mapped[:] = images
    mapped.flush()
    mapped = np.load(tmp_path / "x.npy", mmap_mode="r")
    monkeypatch.setattr(pipeline, "STREAM_ABOVE_BYTES", 0)
    streamed = pipeline.training_dataset(mapped[:18], labels[:18], 3, 4, seed=7)
    monkeypatch.setattr(pipeline, "STREAM_ABOVE_BYTES", 1 << 40)
    in_memory = pipeline.training_dataset(images[:18], labels[:18], 3, 4, seed=7)
    for (xa, ya), (xb, yb) in zip(streamed.take(10), in_memory.take(10), strict=True):
        np.testing.assert_array_equal(xa.numpy(), xb.numpy())
        np.testing.assert_array_equal(ya.numpy(), yb.numpy())
    monkeypatch.setattr(pipeline, "STREAM_ABOVE_BYTES", 0)
    ordered = np.concatenate([x.numpy() for x, _ in pipeline.evaluation_dataset(mapped, labels, 3, 5)])
    np.testing.assert_array_equal(ordered, images.astype(np.float32))
