"""The dataset layer: scan a folder -> DatasetIndex; decode once -> uint8 arrays; split; tf.data.

Importing this package does not import TensorFlow; `tlstudio.data.pipeline` (the tf.data streams) does,
and is imported where a run builds its streams.
"""

from __future__ import annotations

from tlstudio.data.dataset_index import DatasetIndex, ImageItem, SkippedFile
from tlstudio.data.demo import make_demo_dataset
from tlstudio.data.folder_walk import IMAGE_EXTENSIONS
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
from tlstudio.data.scan import scan
from tlstudio.data.split import Split, split_index, steps_per_epoch

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
    "fit_to_square",
    "load_image",
    "load_images",
    "make_demo_dataset",
    "open_rgb",
    "scan",
    "split_index",
    "steps_per_epoch",
]

