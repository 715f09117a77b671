"""What a phase fits on, built from a run's decoded images: the input builder that a run's phase strategies
and the LR range test share. A Keras module (it imports Keras at its top; light modules import it inside
functions). The tf.data streams (data/pipeline.py, TensorFlow) are imported where a TensorFlow run uses
them; under JAX or PyTorch the images come as numpy batches (data/batches.py) and TensorFlow is not needed.

- images: the uint8 images as an endless tf.data stream, through the model itself or, with augmentation
  on, through a training wrapper model whose augmentation runs in the training step's graph;
- cached features: with the backbone frozen, its pooled features computed once (or read from the feature
  store, where an earlier run left them), and the head trains on them;
- cached validation features: validation images are never augmented, so with the backbone frozen their
  features are computed once and each epoch validates the head on them.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import keras
import numpy as np

from tlstudio.base.tasks import Cancelled
from tlstudio.model.augment import make_augmenter
from tlstudio.settings.project import Project
from tlstudio.train.events import Observer, PrepareProgress, StopToken
from tlstudio.train.features import FeatureHead, FeatureStore, compute_features
from tlstudio.train.keras_metrics import compile_arguments
from tlstudio.train.prepare import RunData


class InputsStopped(Exception):
    """A stop came while the backbone features were computed; nothing was trained."""


@dataclass
class CachedValidation:
    """The validation images' backbone features and the head that reads them: valid while the backbone does
    not change (the run's final metrics read them too)."""

    head: Any
    features: np.ndarray
    labels: np.ndarray  # the validation images' labels, in the same order


@dataclass
class FitInputs:
    """What a phase fits: the model that trains, its training and validation inputs, and how many images
    each batch holds (the relay recovers each batch's loss from Keras's running mean with it)."""

    model: Any  # the model, a training wrapper with augmentation, or the head on cached features
    train: Any  # an endless tf.data stream; for a full-batch fit, (features, labels) arrays
    validation: Any  # a tf.data stream, or None when `cached_validation` validates instead
    samples_per_batch: Callable[[int], int]
    epoch_images: int  # the images an epoch trains on (each copy counted for a full-batch fit)
    cached_validation: CachedValidation | None = None
    # A stream of cached validation features the compiled head evaluates after each epoch, in place of
    # `validation` (FeatureValidation): (head, stream).
    feature_validation: tuple[Any, Any] | None = None


def balanced_class_weights(labels, num_classes: int) -> dict[int, float]:
    """n / (classes x count of the class), as scikit-learn's "balanced": every class weighs the same in total."""
    counts = np.bincount(np.asarray(labels, dtype=np.int64), minlength=num_classes)
    total = counts.sum()
    return {c: float(total / (num_classes * counts[c])) if counts[c] else 0.0 for c in range(num_classes)}


class InputBuilder:
    """A run's inputs for each kind of phase, from its decoded images (`RunData`) and its whole model."""

    def __init__(self, project: Project, data: RunData, model: Any, observer: Observer, stop_token: StopToken,
                 feature_store: FeatureStore | None) -> None:
        self.project, self.data, self.model = project, data, model
        self.observer, self.stop_token, self.feature_store = observer, stop_token, feature_store
        self.augmenter = make_augmenter(project.augment, seed=project.training.seed)

    @property
    def copies(self) -> int:
        """How many times each training image goes through the backbone for the feature cache."""
        return max(1, self.project.training.augmented_copies) if self.augmenter is not None else 1

    def store_key(self) -> str | None:
        """Where the frozen backbone's features of these images are kept between runs; None when they are not
        (augmented copies, or a worker that leaves the caches alone)."""
        if self.augmenter is not None or self.feature_store is None:
            return None
        data = self.data
        return FeatureStore.key(self.project, data.x_train, data.x_val, data.images_key)

    def images(self) -> FitInputs:
        """The images through the model, augmented in a training wrapper model when augmentation is on."""
        training, data = self.project.training, self.data
        num_classes = len(data.classes)
        if keras.config.backend() == "tensorflow":
            from tlstudio.data.pipeline import evaluation_dataset, training_dataset

            train = training_dataset(data.x_train, data.y_train, num_classes, training.batch_size,
                                     seed=training.seed, balanced=training.balanced_sampling)
            validation = evaluation_dataset(data.x_val, data.y_val, num_classes, training.batch_size)
        else:  # JAX or PyTorch: numpy batches, no TensorFlow in the process (data/batches.py)
            from tlstudio.data.batches import ImageBatches

            train = ImageBatches(data.x_train, data.y_train, num_classes, training.batch_size, seed=training.seed,
                                 shuffle=True, balanced=training.balanced_sampling)
            validation = ImageBatches(data.x_val, data.y_val, num_classes, training.batch_size)
        model = self.model
        if self.augmenter is not None:
            # Augmentation in the training step's graph, in a wrapper model used only for fit(): it runs on
            # the model's device (a GPU, where there is one, instead of the CPU feeding it), and Keras passes
            # training=False to it in validation. Only the model itself is ever saved or exported
            # (docs/stack-notes.md #2).
            inputs = keras.Input(shape=model.input_shape[1:], dtype="float32", name="image")
            model = keras.Model(inputs, model(self.augmenter(inputs)), name="training_model")
        return FitInputs(model, train, validation, self.samples_per_batch(always_full=False), len(data.x_train))

    def cached_features(self, store_key: str | None) -> tuple[Any, np.ndarray, np.ndarray, CachedValidation]:
        """(the head, training features, their labels, the validation features): the backbone's features of
        every image, computed once (`copies` augmented copies of each training image when augmentation is
        on), or read from the feature store under `store_key`."""
        data = self.data
        feature_head = FeatureHead.split(self.model)
        copies = self.copies
        total = len(data.x_train) * copies + len(data.x_val)
        started = time.perf_counter()
        train, val, from_disk = self._compute(
            "computing backbone features", feature_head, data.x_train, augment=self.augmenter, copies=copies,
            store=self.feature_store, key=store_key)
        if from_disk:
            self.observer.on_log(f"feature cache: backbone features of {total} images read from disk in "
                                 f"{time.perf_counter() - started:.2f} s (an earlier run on the same data "
                                 "computed them)")
        else:
            self.observer.on_log(f"backbone features of {total} images computed in "
                                 f"{time.perf_counter() - started:.1f} s")
        return (feature_head.head, train, np.tile(data.y_train, copies),
                CachedValidation(feature_head.head, val, data.y_val))

    def feature_datasets(self, head: Any, features: np.ndarray, labels: np.ndarray,
                         validation: CachedValidation) -> FitInputs:
        """The head on cached features, as endless tf.data streams."""
        from tlstudio.data.pipeline import feature_training_dataset  # the feature cache is TensorFlow's

        training, num_classes = self.project.training, len(self.data.classes)
        train = feature_training_dataset(features, labels, num_classes, training.batch_size, seed=training.seed,
                                         copies=self.copies, balanced=training.balanced_sampling)
        return FitInputs(head, train, self.validation_stream(validation),
                         self.samples_per_batch(always_full=self.copies > 1), len(self.data.x_train), validation)

    def validation_features(self) -> CachedValidation:
        """The validation images' backbone features, once, for a frozen backbone trained on augmented images;
        its head compiled to report what fit()'s validation would (loss and metrics)."""
        data = self.data
        feature_head = FeatureHead.split(self.model)
        started = time.perf_counter()
        _, val, _ = self._compute("computing validation features", feature_head, data.x_train[:0])
        self.observer.on_log(f"validation on cached features: the {len(data.x_val)} validation images are never "
                             f"augmented and the backbone is frozen, so their features were computed once "
                             f"({time.perf_counter() - started:.1f} s) and each epoch validates the head on them")
        feature_head.head.compile(**compile_arguments(self.project, len(data.classes)))
        return CachedValidation(feature_head.head, val, data.y_val)

    def validation_stream(self, validation: CachedValidation) -> Any:
        """The cached validation features as one ordered pass of batches."""
        from tlstudio.data.pipeline import feature_evaluation_dataset  # the feature cache is TensorFlow's

        return feature_evaluation_dataset(validation.features, validation.labels, len(self.data.classes),
                                          self.project.training.batch_size)

    def samples_per_batch(self, always_full: bool) -> Callable[[int], int]:
        """Images in each batch of an epoch: full batches, then whatever is left (or always full: balanced
        batches, and the cached augmented copies once they fill a batch)."""
        batch_size, n = self.project.training.batch_size, len(self.data.x_train)
        if self.project.training.balanced_sampling:
            return lambda batch: batch_size
        if always_full and n * self.project.training.augmented_copies >= batch_size:
            return lambda batch: batch_size
        return lambda batch: max(1, min(batch_size, n - batch * batch_size))

    def _compute(self, stage: str, feature_head: FeatureHead, x_train: np.ndarray, **options):
        training = self.project.training
        try:
            return compute_features(
                feature_head, x_train, self.data.x_val, batch_size=training.batch_size, task=self.stop_token,
                runtime=training.feature_runtime, log=self.observer.on_log,
                progress=lambda done, of: self.observer.on_prepare(PrepareProgress(stage, done, of)), **options)
        except Cancelled:
            raise InputsStopped("stopped while computing backbone features; nothing was trained.") from None
