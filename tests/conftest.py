"""Shared fixtures: quiet TensorFlow, offscreen Qt, tiny synthetic datasets made per test, and the trained runs
that many modules read, each trained once per session.

A session run is read-only: a test that changes a run (calibrate rewrites model.keras and metrics.json,
evaluate adds the test split's numbers to metrics.json) works on a copy (shutil.copytree of the run folder;
its data folder stays shared and is never written).
"""

import json
import os
import shutil
import tempfile
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")
os.environ.setdefault("KERAS_BACKEND", "tensorflow")
# Decoded-image cache entries of the tests go to a throwaway folder, never the user's cache.
os.environ.setdefault("TLSTUDIO_CACHE_DIR", tempfile.mkdtemp(prefix="tlstudio-test-cache-"))

import numpy as np  # noqa: E402
import pytest  # noqa: E402

# A real pretrained backbone that needs no network, at a small input size to keep tests fast.
PRETRAINED_SMALL = {"model.backbone": "squeezenet1_1", "model.weights": "imagenet", "model.image_size": 48}


@pytest.fixture
def demo_folder(tmp_path):
    """A 3-class shapes dataset: 12 images a class, 48 px, made fresh for each test."""
    from tlstudio.data.demo import make_demo_dataset

    return make_demo_dataset(tmp_path / "shapes", per_class=12, size=48, seed=0)


@pytest.fixture(scope="session")
def pretrained_run(tmp_path_factory) -> Path:
    """A real Trainer run, trained once per session: SqueezeNet 1.1 with its shipped ImageNet weights at 48 px,
    8 epochs of the head on cached features (as cheap as 2, and the answers then have clear margins), on demo
    shapes given as train/ val/ test/ folders (6 / 2 / 2 images a class). Read-only: copy it to change it."""
    from tlstudio.data.demo import make_demo_dataset
    from tlstudio.settings.project import Project
    from tlstudio.train import RunStatus, Trainer

    root = tmp_path_factory.mktemp("pretrained-run")
    flat = make_demo_dataset(root / "flat", per_class=10, size=40, seed=1)
    data = root / "shapes"
    for class_dir in sorted(p for p in flat.iterdir() if p.is_dir()):
        files = sorted(class_dir.iterdir())
        for split, chosen in (("train", files[:6]), ("val", files[6:8]), ("test", files[8:])):
            (data / split / class_dir.name).mkdir(parents=True)
            for path in chosen:
                shutil.copy(path, data / split / class_dir.name / path.name)
    shutil.rmtree(flat)
    project = Project().copy_with(**{
        "data.folder": str(data), **PRETRAINED_SMALL,
        "training.epochs": 8, "training.batch_size": 8, "optimizer.learning_rate": 0.01,
        "schedule.name": "constant"})
    result = Trainer().run(project, run_dir=root / "run")
    assert result.status is RunStatus.FINISHED, result.message
    return root / "run"


@pytest.fixture(scope="session")
def ensemble_members(tmp_path_factory) -> tuple[Path, list[Path]]:
    """Three real Trainer runs, trained once per session: SqueezeNet 1.1 with its shipped ImageNet weights at
    48 px, 2 epochs of the head, on one flat demo dataset (20 shapes a class) with one seed, so one split; they
    differ in their optimizer (adam, momentum, rmsprop) and so in their weights. Returns (data folder, runs).
    Read-only: copy them to change them."""
    from tlstudio.data.demo import make_demo_dataset
    from tlstudio.settings.project import Project
    from tlstudio.train import RunStatus, Trainer

    root = tmp_path_factory.mktemp("ensemble-members")
    folder = make_demo_dataset(root / "shapes", per_class=20, size=48, seed=0)
    runs = []
    for i, name in enumerate(("adam", "momentum", "rmsprop")):
        project = Project().copy_with(**{
            "data.folder": str(folder), **PRETRAINED_SMALL, "training.batch_size": 8, "training.epochs": 2,
            "training.image_cache": False, "optimizer.name": name, "optimizer.learning_rate": 3e-3})
        result = Trainer().run(project, run_dir=root / f"run-{i}")
        assert result.status is RunStatus.FINISHED, result.message
        runs.append(root / f"run-{i}")
    return folder, runs


def _colour_images(folder: Path, per_class: int, seed: int = 0) -> Path:
    """Noisy red / green / blue squares: a dataset even a tiny CNN learns with confident answers."""
    from PIL import Image

    rng = np.random.default_rng(seed)
    for name, rgb in {"red": (200, 40, 40), "green": (40, 180, 60), "blue": (40, 60, 200)}.items():
        (folder / name).mkdir(parents=True)
        for i in range(per_class):
            pixels = np.clip(rng.normal(rgb, 40, (40, 40, 3)), 0, 255).astype(np.uint8)
            Image.fromarray(pixels).save(folder / name / f"{i}.png")
    return folder


@pytest.fixture(scope="session")
def tiny_cnn_run(tmp_path_factory) -> Path:
    """A run folder (run/, beside its data colours/) holding a two-layer CNN trained on colour squares at 32 px,
    once per session: seconds to convert to any format. Read-only: copy it to change it."""
    import keras

    from tlstudio.data import load_images
    from tlstudio.predict.metrics import classification_metrics
    from tlstudio.predict.open_run import dataset_split
    from tlstudio.settings.project import Project

    root = tmp_path_factory.mktemp("tiny-cnn-run")
    data = _colour_images(root / "colours", per_class=10)
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
