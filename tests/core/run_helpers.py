"""Run builders and readers shared by the export, evaluation and inference tests."""

import json
import warnings
from pathlib import Path

import numpy as np

from tlstudio.predict.metrics import classification_metrics
from tlstudio.predict.open_run import dataset_split
from tlstudio.settings.project import Project

PRETRAINED_SMALL = {"model.backbone": "squeezenet1_1", "model.weights": "imagenet", "model.image_size": 48}


def colour_images(folder: Path, per_class: int, seed: int = 0) -> Path:
    """Noisy red / green / blue squares: a dataset even a tiny CNN learns with confident answers."""
    from PIL import Image

    rng = np.random.default_rng(seed)
    for name, rgb in {"red": (200, 40, 40), "green": (40, 180, 60), "blue": (40, 60, 200)}.items():
        (folder / name).mkdir(parents=True)
        for i in range(per_class):
            pixels = np.clip(rng.normal(rgb, 40, (40, 40, 3)), 0, 255).astype(np.uint8)
            Image.fromarray(pixels).save(folder / name / f"{i}.png")
    return folder


def tiny_cnn_run(root: Path) -> Path:
    """A run folder holding a two-layer CNN trained on colour squares (fast to convert)."""
    import keras

    from tlstudio.data import load_images

    data = colour_images(root / "colours", per_class=10)
    project = Project().copy_with(**{"data.folder": str(data), "model.image_size": 32, "model.weights": "none"})
    split = dataset_split(project)
    x_train = load_images([i.path for i in split.train], 32).astype("float32")
    y_train = np.array([i.label for i in split.train])
    keras.utils.set_random_seed(0)
    inputs = keras.Input((32, 32, 3), name="image")
    x = keras.layers.Rescaling(1 / 127.5, offset=-1)(inputs)
    x = keras.layers.Conv2D(8, 3, strides=2, activation="relu")(x)
    x = keras.layers.Conv2D(16, 3, strides=2, activation="relu")(x)
    x = keras.layers.GlobalAveragePooling2D()(x)
    model = keras.Model(inputs, keras.layers.Dense(3, activation="softmax")(x))
    model.compile(optimizer=keras.optimizers.Adam(0.01), loss="sparse_categorical_crossentropy")
    model.fit(x_train, y_train, epochs=30, batch_size=8, verbose=0)
    run = root / "run"
    run.mkdir()
    project.save(run / "config.json")
    (run / "labels.txt").write_text("blue\ngreen\nred\n")
    model.save(run / "model.keras")
    x_val = load_images([i.path for i in split.val], 32).astype("float32")
    metrics = classification_metrics([i.label for i in split.val], model.predict(x_val, verbose=0),
                                     ["blue", "green", "red"])
    (run / "metrics.json").write_text(json.dumps(metrics))
    return run


def validation_images(run: Path):
    from tlstudio.data import load_images

    project = Project.load(run / "config.json")
    paths = [item.path for item in dataset_split(project).val]
    return paths, load_images(paths, project.model.resolved_image_size, project.data.resize)


def keras_probabilities(run: Path, images: np.ndarray) -> np.ndarray:
    import keras

    model = keras.saving.load_model(run / "model.keras")
    with warnings.catch_warnings():  # Keras 3.15's "structure of `inputs`" notice
        warnings.simplefilter("ignore", UserWarning)
        return np.asarray(model(images.astype("float32"), training=False))


# -- the four formats -------------------------------------------------------------------------------------
