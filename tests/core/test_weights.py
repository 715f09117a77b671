"""Weights: a file the test writes loads exactly; missing, misfit and offline cases name the fix."""

import h5py
import keras
import numpy as np
import pytest

from tlstudio.backbones.registry import BACKBONES, get_backbone
from tlstudio.backbones.weight_sources import imagenet_weights_cached, imagenet_weights_filename
from tlstudio.backbones.weights import WeightsError, build_backbone

MOBILENET_V2 = get_backbone("mobilenet_v2")


@pytest.fixture(scope="module")
def saved_mobilenet(tmp_path_factory):
    """A MobileNetV2 at 32 px with perturbed weights, saved as .weights.h5 and as legacy .h5."""
    folder = tmp_path_factory.mktemp("weights")
    model = build_backbone(MOBILENET_V2, 32, "none")
    rng = np.random.default_rng(0)
    model.set_weights([w + rng.normal(0, 0.01, w.shape).astype(w.dtype) for w in model.get_weights()])
    modern = folder / "mobilenet_v2.weights.h5"
    model.save_weights(modern)
    legacy = folder / "mobilenet_v2_notop.h5"
    # The layout of the Keras-applications downloads: one group per layer, by layer name.
    from keras.src.legacy.saving import legacy_h5_format

    with h5py.File(legacy, "w") as handle:
        legacy_h5_format.save_weights_to_hdf5_group(handle, model)
    return model, modern, legacy


def assert_same_weights(a: keras.Model, b: keras.Model) -> None:
    assert len(a.weights) == len(b.weights)
    for x, y in zip(a.get_weights(), b.get_weights(), strict=True):
        np.testing.assert_array_equal(x, y)


def test_weights_file_loads_exactly(saved_mobilenet):
    model, modern, _ = saved_mobilenet
    loaded = build_backbone(MOBILENET_V2, 32, str(modern))
    assert_same_weights(model, loaded)


def test_weights_file_fits_another_image_size(saved_mobilenet):
    model, modern, _ = saved_mobilenet
    assert_same_weights(model, build_backbone(MOBILENET_V2, 48, str(modern)))


def test_legacy_applications_h5_loads(saved_mobilenet):
    model, _, legacy = saved_mobilenet
    assert_same_weights(model, build_backbone(MOBILENET_V2, 32, str(legacy)))


def test_missing_file(tmp_path):
    missing = tmp_path / "nope.weights.h5"
    with pytest.raises(WeightsError, match=r"weights file .*nope\.weights\.h5 does not exist; choose another"):
        build_backbone(MOBILENET_V2, 32, str(missing))


def test_file_of_another_backbone_does_not_fit(saved_mobilenet, tmp_path):
    _, modern, legacy = saved_mobilenet
    small = get_backbone("mobilenet_v3_small")
    for path in (modern, legacy):
        with pytest.raises(WeightsError) as caught:
            build_backbone(small, 32, str(path))
        message = str(caught.value)
        assert message.startswith(f"weights file {path} does not fit MobileNetV3 Small at 32 px: ")
        assert message.endswith("; pick the file made for this backbone.")
        assert len(message) < 400 and "\n" not in message


@pytest.mark.slow
def test_same_structure_different_shapes_does_not_fit(tmp_path):
    narrow = keras.applications.MobileNetV2(include_top=False, weights=None, input_shape=(32, 32, 3),
                                            alpha=0.5)
    path = tmp_path / "narrow.weights.h5"
    narrow.save_weights(path)
    with pytest.raises(WeightsError, match=r"does not fit MobileNetV2 at 32 px: .*shape"):
        build_backbone(MOBILENET_V2, 32, str(path))


def test_not_a_weights_file(tmp_path):
    junk = tmp_path / "junk.weights.h5"
    junk.write_text("not hdf5")
    with pytest.raises(WeightsError, match="not a readable HDF5 file"):
        build_backbone(MOBILENET_V2, 32, str(junk))
    text = tmp_path / "weights.txt"
    text.write_text("x")
    with pytest.raises(WeightsError, match=r"not a Keras weights file \(\.weights\.h5 or \.h5\)"):
        build_backbone(MOBILENET_V2, 32, str(text))


@pytest.mark.parametrize("name, size", [("mobilenet_v2", 96), ("mobilenet_v3_small", 32),
                                        ("efficientnet_b0", 32)])
@pytest.mark.parametrize("lite0", [True, False], ids=["lite0-installed", "lite0-missing"])
def test_imagenet_offline_names_the_fix(monkeypatch, tmp_path, name, size, lite0):
    """Keras's get_file offline raises a bare Exception('URL fetch failure ...'); no network is used."""
    from keras.src.utils import file_utils

    requested = []

    def offline(fname, origin, **kwargs):
        requested.append(fname)
        raise Exception(f"URL fetch failure on {origin}: None -- [Errno -3] Temporary failure in name resolution")

    monkeypatch.setattr(file_utils, "get_file", offline)
    monkeypatch.setenv("TLSTUDIO_CACHE_DIR", str(tmp_path))  # nothing converted yet
    monkeypatch.setattr("tlstudio.backbones.weight_sources.package_installed", lambda spec: lite0)
    spec = get_backbone(name)
    with pytest.raises(WeightsError) as caught:
        build_backbone(spec, size, "imagenet")
    assert str(caught.value) == (
        f"Could not download the ImageNet weights for {spec.label} (no network?): connect once, "
        f"pick a backbone that works offline (SqueezeNet 1.1{', EfficientNet-Lite0' if lite0 else ''}), "
        "or choose a weights file, or use weights 'none'.")
    # The GUI offers these with one click.
    assert caught.value.alternatives == (("squeezenet1_1", "efficientnet_lite0") if lite0 else ("squeezenet1_1",))
    # The cache look-up predicts the very file the constructor asked for.
    assert requested == [imagenet_weights_filename(spec, size)]


def test_imagenet_weights_cached_looks_in_keras_home(monkeypatch, tmp_path):
    monkeypatch.setenv("KERAS_HOME", str(tmp_path))
    assert imagenet_weights_cached(MOBILENET_V2, 160) is None
    (tmp_path / "models").mkdir()
    cached = tmp_path / "models" / "mobilenet_v2_weights_tf_dim_ordering_tf_kernels_1.0_160_no_top.h5"
    cached.write_bytes(b"x")
    assert imagenet_weights_cached(MOBILENET_V2, 160) == cached
    assert imagenet_weights_cached(MOBILENET_V2, 150) is None  # Keras loads the 224 file then
    assert imagenet_weights_filename(MOBILENET_V2, 150).endswith("_1.0_224_no_top.h5")


def test_every_keras_backbone_has_a_known_imagenet_file():
    for spec in BACKBONES.values():
        if spec.weights_source == "keras":
            assert imagenet_weights_filename(spec, spec.default_size).endswith(".h5")


@pytest.mark.slow
def test_efficientnet_imagenet_file_computes_what_the_download_does(monkeypatch, tmp_path):
    """Keras adds a Rescaling to EfficientNet only for weights='imagenet'; a file must match that."""
    from keras.src.legacy.saving import legacy_h5_format
    from keras.src.utils import file_utils

    spec = get_backbone("efficientnet_b0")
    source = keras.applications.EfficientNetB0(include_top=False, weights=None, input_shape=(32, 32, 3))
    norm = next(layer for layer in source.layers if isinstance(layer, keras.layers.Normalization))
    norm.adapt_mean.assign([0.485, 0.456, 0.406])
    norm.adapt_variance.assign([0.229, 0.224, 0.225])  # what Keras's ImageNet file stores
    path = tmp_path / imagenet_weights_filename(spec, 32)
    with h5py.File(path, "w") as handle:
        legacy_h5_format.save_weights_to_hdf5_group(handle, source)
    monkeypatch.setattr(file_utils, "get_file", lambda *args, **kwargs: str(path))

    downloaded = build_backbone(spec, 32, "imagenet")  # as if Keras had downloaded this file
    from_file = build_backbone(spec, 32, str(path))
    assert len(downloaded.layers) == len(from_file.layers) + 1  # the extra Rescaling
    x = np.random.default_rng(0).uniform(0, 255, (2, 32, 32, 3)).astype("float32")
    expected = keras.ops.convert_to_numpy(downloaded(x, training=False))
    got = keras.ops.convert_to_numpy(from_file(x, training=False))
    np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-4 * np.abs(expected).max())
