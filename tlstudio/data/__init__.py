"""The dataset layer: scan a folder -> DatasetIndex; decode once -> uint8 arrays; split; tf.data.

Importing this package does not import TensorFlow: the pipeline names are loaded on first use,
so the GUI and the CLI's scan can start before TensorFlow has loaded.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from tlstudio.data.demo import make_demo_dataset
from tlstudio.data.images import (
    ALPHA_BACKGROUND,
    PAD_COLOR,
    RESAMPLE,
    RESIZE_POLICIES,
    DataError,
    ImageInput,
    UnusableImageError,
    fit_to_square,
    load_image,
    load_images,
    open_rgb,
)
from tlstudio.data.scan import IMAGE_EXTENSIONS, DatasetIndex, ImageItem, SkippedFile, scan
from tlstudio.data.split import Split, split_index, steps_per_epoch

if TYPE_CHECKING:
    from tlstudio.data.pipeline import evaluation_dataset, training_dataset

_PIPELINE_NAMES = frozenset({"training_dataset", "evaluation_dataset"})

__all__ = [
    "ALPHA_BACKGROUND",
    "IMAGE_EXTENSIONS",
    "PAD_COLOR",
    "RESAMPLE",
    "ImageInput",
    "RESIZE_POLICIES",
    "DataError",
    "DatasetIndex",
    "ImageItem",
    "SkippedFile",
    "Split",
    "UnusableImageError",
    "evaluation_dataset",
    "fit_to_square",
    "load_image",
    "load_images",
    "make_demo_dataset",
    "open_rgb",
    "scan",
    "split_index",
    "steps_per_epoch",
    "training_dataset",
]


def __getattr__(name: str) -> Any:
    # Lazy: only these names need TensorFlow (PEP 562 module __getattr__).
    if name in _PIPELINE_NAMES:
        from tlstudio.data import pipeline

        return getattr(pipeline, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
