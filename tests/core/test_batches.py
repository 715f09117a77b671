"""The numpy image batches a JAX or PyTorch run trains on (no tf.data there): the same batches, order and
balance as the tf.data streams promise."""

from __future__ import annotations

import numpy as np

from tlstudio.data.batches import ImageBatches


def _images(n: int) -> np.ndarray:
    return np.arange(n, dtype=np.uint8)[:, None, None, None] * np.ones((1, 4, 4, 3), np.uint8)


def test_each_shuffled_epoch_is_a_whole_pass_in_a_new_seeded_order():
    labels = np.arange(10) % 2
    batches = ImageBatches(_images(10), labels, 2, 4, seed=3, shuffle=True)
    assert len(batches) == 3

    def epoch() -> list[int]:
        seen = [int(v) for i in range(len(batches)) for v in batches[i][0][:, 0, 0, 0]]
        batches.on_epoch_end()
        return seen

    first, second = epoch(), epoch()
    assert sorted(first) == sorted(second) == list(range(10)) and first != second
    again = ImageBatches(_images(10), labels, 2, 4, seed=3, shuffle=True)
    assert [int(v) for v in again[0][0][:, 0, 0, 0]] == first[:4]  # seeded


def test_batches_are_float_pixels_with_one_hot_labels_in_order_for_evaluation():
    x, y = ImageBatches(_images(5), np.array([0, 1, 2, 1, 0]), 3, 4)[1]
    assert x.dtype == np.float32 and x.shape == (1, 4, 4, 3) and x[0, 0, 0, 0] == 4.0
    assert y.tolist() == [[1.0, 0.0, 0.0]]


def test_balanced_batches_draw_every_class_equally_often():
    labels = np.array([0] * 18 + [1] * 2)  # nine to one
    batches = ImageBatches(_images(20), labels, 2, 10, seed=0, balanced=True)
    drawn = []
    for _ in range(20):  # epochs
        for i in range(len(batches)):
            x, y = batches[i]
            assert len(x) == 10  # full batches
            drawn.extend(y.argmax(1))
        batches.on_epoch_end()
    assert abs(np.mean(np.array(drawn) == 1) - 0.5) < 0.05


def test_a_memory_mapped_set_gives_the_same_batches(tmp_path):
    images = _images(12)
    mapped = np.lib.format.open_memmap(tmp_path / "x.npy", mode="w+", dtype=np.uint8, shape=images.shape)
    mapped[:] = images
    labels = np.arange(12) % 3
    in_memory = ImageBatches(images, labels, 3, 5, seed=1, shuffle=True)
    from_file = ImageBatches(mapped, labels, 3, 5, seed=1, shuffle=True)
    for i in range(len(in_memory)):
        assert np.array_equal(in_memory[i][0], from_file[i][0]) and np.array_equal(in_memory[i][1], from_file[i][1])
