"""Frozen-feature cache: with the whole backbone frozen, run it once per image, train the head on the result.

A frozen backbone gives the same pooled features for an image every epoch, so ten epochs of
full forward passes do the same backbone work ten times. The head model built here shares its
Dropout and Dense layers with the full model, so what it learns is already in the model that
is saved: the saved model is the same kind of model as without the cache.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from tlstudio.base.cache_folder import FEATURES, cache_folder, mark_cache_used, trim_cache
from tlstudio.base.files import atomic_target
from tlstudio.base.tasks import TaskState
from tlstudio.data.cache import release_pages
from tlstudio.model.build import DROPOUT_LAYER, OUTPUT_LAYER, POOL_LAYER
from tlstudio.settings.project import Project
from tlstudio.train.backend import active_backend

HEAD_LAYERS = (DROPOUT_LAYER, OUTPUT_LAYER)
FEATURE_LAYER = POOL_LAYER
FEATURE_STORE_FORMAT = 1


def feature_cache_decision(project: Project, backbone, phase: int) -> tuple[bool, str]:
    """(use the cache?, why, in words for the log and the GUI)."""
    training = project.training
    reason = _features_change(project, backbone, phase)
    if reason:
        return False, reason
    if project.augment.enabled and training.augmented_copies == 0:
        return False, ("augmentation is on; set 'cached augmented copies' to cache augmented features "
                       "instead")
    if project.augment.enabled:
        return True, (f"backbone frozen: features of {training.augmented_copies} augmented copies per image "
                      "computed once")
    return True, "backbone frozen and no augmentation: features computed once"


def validation_cache_decision(project: Project, backbone, phase: int) -> bool:
    """With augmentation on and no cached copies the training images go through the backbone every step,
    but validation images are never augmented: with the backbone frozen their features are the same every
    epoch, so they are computed once and each epoch validates the head on them."""
    return (_features_change(project, backbone, phase) is None and project.augment.enabled
            and project.training.augmented_copies == 0)


def _features_change(project: Project, backbone, phase: int) -> str | None:
    """Why an image's backbone features cannot be computed once and kept for the phase (None: they can)."""
    if not project.training.feature_cache:
        return "feature cache off in the settings"
    backend = active_backend()
    if backend != "tensorflow":
        return f"the feature pass runs on the tensorflow backend, and this run trains on {backend}"
    if phase == 2:
        return "fine-tuning updates the backbone, so its features change every step"
    if project.model.train_batchnorm:
        return "BatchNorm layers run in training mode, so features change every step"
    if any(layer.trainable and layer.weights for layer in backbone.layers):
        return "some backbone layers are trainable (freeze is not 'all')"
    return None


@dataclass
class FeatureHead:
    """The full model split at the pooled features: `extractor` (image -> features), `head` (features -> probs)."""

    extractor: object
    head: object

    @classmethod
    def split(cls, model) -> FeatureHead:
        import keras

        pooled = model.get_layer(FEATURE_LAYER).output
        extractor = keras.Model(model.inputs, pooled, name="feature_extractor")
        features = keras.Input(shape=(pooled.shape[-1],), dtype="float32", name="features")
        x = features
        for name in HEAD_LAYERS:
            x = model.get_layer(name)(x)
        return cls(extractor, keras.Model(features, x, name="head"))

    def extract(self, images: np.ndarray, batch_size: int, augment: Callable | None = None,
                progress: Callable[[int, int], None] | None = None, task: TaskState | None = None
                ) -> np.ndarray:
        """Pooled features of uint8 images, batched through one traced function; `task.check()` between
        batches (Cancelled when the task was cancelled)."""
        import tensorflow as tf

        extractor = self.extractor

        # One trace for every batch size, the last partial batch included.
        @tf.function(input_signature=[tf.TensorSpec((None, *images.shape[1:]), tf.uint8)])
        def run(batch):
            x = tf.cast(batch, tf.float32)
            if augment is not None:
                x = tf.cast(augment(x), tf.float32)
            return tf.cast(extractor(x, training=False), tf.float32)

        return run_batched(lambda batch: run(batch).numpy(), images, batch_size, progress, task,
                           extractor.output.shape[-1])


class FeatureStore:
    """Pooled features of a frozen backbone kept on disk between runs (the user cache folder), so a
    second run, an LR range test or an optimizer race on the same data does not run the backbone again.

    The key is a hash of the decoded training and validation images themselves (so of the files, the
    image size and the resize policy), the backbone, where its weights come from (a weights file by its
    path, size and time; random weights by the seed that made them) and the Keras version. Features of
    augmented copies are not kept: they depend on the augmentation's random stream, which the rest of a
    run goes on drawing from. A store that cannot be read or written is a missed speed-up, never an error.
    """

    def __init__(self, folder: Path | None = None) -> None:
        self.folder = folder or cache_folder(FEATURES)

    @staticmethod
    def key(project: Project, x_train: np.ndarray, x_val: np.ndarray, images_key: str | None = None) -> str:
        """`images_key` (RunData.images_key) names the images' content without reading them; without it the
        decoded pixels are hashed."""
        import keras

        model = project.model
        weights: object = model.weights
        if model.weights_file is not None:
            stat = model.weights_file.stat() if model.weights_file.is_file() else None
            weights = [str(model.weights_file.resolve()), stat.st_size if stat else 0,
                       stat.st_mtime_ns if stat else 0]
        elif model.weights == "none":
            weights = ["none", project.training.seed]  # random weights: the seed made them
        digest = hashlib.sha256()
        for images in (x_train, x_val):
            digest.update(repr((images.shape, str(images.dtype))).encode())
            if images_key is None:
                digest.update(np.ascontiguousarray(images).data)
        if images_key is not None:
            digest.update(f"images {images_key}".encode())
        described = json.dumps([FEATURE_STORE_FORMAT, keras.__version__, model.backbone, weights,
                                model.resolved_image_size, digest.hexdigest()])
        return hashlib.sha256(described.encode()).hexdigest()[:32]

    def path(self, key: str) -> Path:
        return self.folder / f"{key}.npz"

    def has(self, key: str) -> bool:
        return self.path(key).is_file()

    def load(self, key: str, train_images: int, val_images: int) -> tuple[np.ndarray, np.ndarray] | None:
        try:
            with np.load(self.path(key), allow_pickle=False) as data:
                train, val = data["train"], data["val"]
        except (OSError, ValueError, KeyError):
            return None
        if len(train) != train_images or len(val) != val_images or train.dtype != np.float32:
            return None
        mark_cache_used(self.path(key))
        return train, val

    def save(self, key: str, train: np.ndarray, val: np.ndarray) -> None:
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            with atomic_target(self.path(key), suffix=".npz") as tmp, open(tmp, "wb") as handle:
                np.savez(handle, train=train.astype(np.float32), val=val.astype(np.float32))
            trim_cache(keep=self.path(key))
        except OSError:
            pass


def compute_features(feature_head: FeatureHead, x_train: np.ndarray, x_val: np.ndarray, *, batch_size: int,
                     augment: Callable | None = None, copies: int = 1, store: FeatureStore | None = None,
                     key: str | None = None, progress: Callable[[int, int], None] | None = None,
                     task: TaskState | None = None, runtime: str = "tensorflow",
                     log: Callable[[str], None] | None = None) -> tuple[np.ndarray, np.ndarray, bool]:
    """(training features, validation features, read from the store?). The training images go through the
    backbone `copies` times when `augment` is given (each copy freshly augmented); without it the features
    come from `store` under `key` when an earlier run left them there, and are left there otherwise.
    `runtime` "auto" runs the backbone through ONNX Runtime when it gives TensorFlow's features
    (feature_runtime.py; what it did goes to `log`). `progress(done, total)` over all images; Cancelled when
    `task` was cancelled."""
    if store is not None and key is not None and augment is None:
        stored = store.load(key, len(x_train), len(x_val))
        if stored is not None:
            return stored[0], stored[1], True
    total = len(x_train) * copies + len(x_val)
    done = 0
    fast = None
    if runtime == "auto" and augment is None and total:
        from tlstudio.train.feature_runtime import RuntimeUnavailable, onnx_extractor

        size = (x_train if len(x_train) else x_val).shape[1]
        try:
            fast = onnx_extractor(feature_head.extractor, size, x_train if len(x_train) else x_val, log)
        except RuntimeUnavailable as reason:
            if log:
                log(f"feature cache: computing features with TensorFlow, as {reason}")
        else:
            if log:
                log("feature cache: the backbone runs in ONNX Runtime (its features checked against TensorFlow's)")

    def extract(images, with_augment=None):
        nonlocal done
        before = done
        report = (lambda count, _of: progress(before + count, total)) if progress else None
        if fast is not None:
            from tlstudio.train.feature_runtime import BATCH_SIZE

            features = run_batched(fast, images, BATCH_SIZE, report, task, feature_head.extractor.output.shape[-1])
        else:
            features = feature_head.extract(images, max(batch_size, 64), with_augment, report, task=task)
        done += len(images)
        return features

    train = np.concatenate([extract(x_train, augment) for _ in range(copies)])
    val = extract(x_val)
    if store is not None and key is not None and augment is None:
        store.save(key, train, val)
    return train, val, False


def run_batched(runtime: Callable[[np.ndarray], np.ndarray], images: np.ndarray, batch_size: int,
                progress: Callable[[int, int], None] | None, task: TaskState | None, width: int) -> np.ndarray:
    """`runtime` (a batch of uint8 images -> their features) over `images` in batches, as one float32 array
    of `width` features each; `task.check()` between batches (Cancelled when it was cancelled)."""
    chunks, total = [], len(images)
    for start in range(0, total, batch_size):
        if task is not None:
            task.check()
        chunks.append(runtime(images[start:start + batch_size]))
        release_pages(images)  # a memory-mapped image set is read once, never held
        if progress:
            progress(min(start + batch_size, total), total)
    return np.concatenate(chunks).astype(np.float32, copy=False) if chunks else np.zeros((0, width), np.float32)
