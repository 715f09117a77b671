"""Readers of a run folder shared by the export and inference tests (the runs themselves: tests/conftest.py)."""

import warnings
from pathlib import Path

import numpy as np

from tlstudio.predict.open_run import dataset_split
from tlstudio.settings.project import Project


def validation_images(run: Path):
    """The paths and decoded pixels of the run's validation images, as the run's model takes them."""
    from tlstudio.data import load_images

    project = Project.load(run / "config.json")
    paths = [item.path for item in dataset_split(project).val]
    return paths, load_images(paths, project.model.resolved_image_size, project.data.resize)


def keras_probabilities(run: Path, images: np.ndarray) -> np.ndarray:
    """The run's Keras model's answers on `images`: the reference every exported format is held to."""
    import keras

    model = keras.saving.load_model(run / "model.keras")
    with warnings.catch_warnings():  # Keras 3.15's "structure of `inputs`" notice
        warnings.simplefilter("ignore", UserWarning)
        return np.asarray(model(images.astype("float32"), training=False))

