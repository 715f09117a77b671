"""Image batches for Keras backends other than TensorFlow: the numpy twin of `pipeline`'s tf.data streams.

A JAX or PyTorch training process need not import TensorFlow, so its images reach fit() as a
`keras.utils.PyDataset`: the same uint8 arrays cast per batch to float32 0-255, one-hot labels, a seeded
shuffle of indices that changes every epoch (each epoch a whole pass), or balanced batches that draw every
class equally often. A memory-mapped image set is read a batch at a time, as in `pipeline`.

A Keras module: Keras is imported at its top.
"""

from __future__ import annotations

import math

import keras
import numpy as np

from tlstudio.data.cache import release_pages

RELEASE_EVERY_BATCHES = 16  # as in pipeline: what a memory-mapped set has read leaves this process's memory


class ImageBatches(keras.utils.PyDataset):
    """(float32 0-255 images, one-hot float32 labels) batches of `images` (uint8, (N, H, W, 3)).

    `shuffle`: a fresh seeded order every epoch; `balanced`: full batches in which every class is drawn equally
    often (each class's images reshuffled whenever they run out), `ceil(N / batch_size)` of them an epoch."""

    def __init__(self, images: np.ndarray, labels: np.ndarray, num_classes: int, batch_size: int, *,
                 seed: int = 0, shuffle: bool = False, balanced: bool = False) -> None:
        super().__init__()
        self.images = np.asanyarray(images)  # a memmap stays one
        self.labels = np.asarray(labels, dtype=np.int64)
        if self.images.ndim != 4 or len(self.labels) != len(self.images) or not len(self.images):
            raise ValueError(f"images must be a non-empty (N, H, W, 3) array with one label each, got "
                             f"{self.images.shape} and {self.labels.shape}")
        self.num_classes, self.batch_size = int(num_classes), int(batch_size)
        self.shuffle, self.balanced = shuffle, balanced
        self.rng = np.random.default_rng(seed)
        self.reads = 0
        self.order = self._new_order()

    def __len__(self) -> int:
        return math.ceil(len(self.images) / self.batch_size)

    def _new_order(self) -> np.ndarray:
        n = len(self.images)
        if self.balanced:
            return self._balanced_order(len(self) * self.batch_size)
        return self.rng.permutation(n) if self.shuffle else np.arange(n)

    def _balanced_order(self, count: int) -> np.ndarray:
        classes = np.unique(self.labels)
        drawn = self.rng.choice(len(classes), size=count)  # which class each place draws, equally likely
        order = np.empty(count, dtype=np.int64)
        for position, label in enumerate(classes):
            members = np.flatnonzero(self.labels == label)
            places = np.flatnonzero(drawn == position)
            repeats = math.ceil(len(places) / len(members)) if len(places) else 0
            shuffled = np.concatenate([self.rng.permutation(members) for _ in range(repeats)]) if repeats else members
            order[places] = shuffled[:len(places)]
        return order

    def __getitem__(self, index: int) -> tuple[np.ndarray, np.ndarray]:
        rows = self.order[index * self.batch_size:(index + 1) * self.batch_size]
        x = np.asarray(self.images[np.sort(rows)] if isinstance(self.images, np.memmap) else self.images[rows])
        if isinstance(self.images, np.memmap):
            x = x[np.argsort(np.argsort(rows))]  # read in file order, handed back in batch order
            self.reads += 1
            if self.reads % RELEASE_EVERY_BATCHES == 0:
                release_pages(self.images)
        y = np.eye(self.num_classes, dtype=np.float32)[self.labels[rows]]
        return x.astype(np.float32), y

    def on_epoch_end(self) -> None:
        if self.shuffle or self.balanced:
            self.order = self._new_order()
