"""The frozen backbone through ONNX Runtime: the same features as TensorFlow's, converted once, and a
fallback to TensorFlow (with the reason logged) whenever it cannot be trusted."""

import numpy as np
import pytest

from tlstudio.model.build import build_model
from tlstudio.settings.project import Project
from tlstudio.train import feature_runtime
from tlstudio.train.features import FeatureHead, compute_features


@pytest.fixture(scope="module")
def head():
    project = Project().copy_with(**{"model.backbone": "squeezenet1_1", "model.image_size": 48,
                                     "model.weights": "none", "training.seed": 3})
    return FeatureHead.split(build_model(project.model, 3, seed=3).model)


def images(n: int, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (n, 48, 48, 3), dtype=np.uint8)


def test_onnx_runtime_gives_tensorflows_features_and_converts_once(head, tmp_path, monkeypatch):
    monkeypatch.setenv("TLSTUDIO_CACHE_DIR", str(tmp_path))
    x_train, x_val = images(37, 0), images(9, 1)
    want_train, want_val, _ = compute_features(head, x_train, x_val, batch_size=8, runtime="tensorflow")

    log: list[str] = []
    train, val, from_store = compute_features(head, x_train, x_val, batch_size=8, runtime="auto", log=log.append)
    assert not from_store
    assert any("converting the backbone" in line for line in log)
    assert any("runs in ONNX Runtime" in line for line in log)
    scale = np.abs(want_train).max()
    np.testing.assert_allclose(train, want_train, atol=1e-4 * scale, rtol=1e-3)
    np.testing.assert_allclose(val, want_val, atol=1e-4 * scale, rtol=1e-3)
    assert train.dtype == np.float32 and train.shape == want_train.shape
    assert len(list((tmp_path / "backbones").glob("*.onnx"))) == 1

    # The next run on other data reuses the converted graph.
    log.clear()
    compute_features(head, images(5, 2), images(3, 3), batch_size=8, runtime="auto", log=log.append)
    assert not any("converting" in line for line in log)
    assert any("runs in ONNX Runtime" in line for line in log)


def test_features_that_differ_from_tensorflows_fall_back_with_the_reason(head, tmp_path, monkeypatch):
    monkeypatch.setenv("TLSTUDIO_CACHE_DIR", str(tmp_path))
    monkeypatch.setattr(feature_runtime, "FEATURE_TOLERANCE", -1.0)  # nothing can pass the check
    x_train, x_val = images(6, 4), images(2, 5)
    want, _, _ = compute_features(head, x_train, x_val, batch_size=8, runtime="tensorflow")
    log: list[str] = []
    train, _, _ = compute_features(head, x_train, x_val, batch_size=8, runtime="auto", log=log.append)
    assert any("computing features with TensorFlow, as ONNX Runtime's features differ" in line for line in log)
    np.testing.assert_array_equal(train, want)


def test_a_graph_that_cannot_run_falls_back_and_is_not_kept(head, tmp_path, monkeypatch):
    monkeypatch.setenv("TLSTUDIO_CACHE_DIR", str(tmp_path))
    monkeypatch.setattr(feature_runtime, "convert",
                        lambda extractor, size, path: path.parent.mkdir(parents=True, exist_ok=True)
                        or path.write_bytes(b"not an onnx graph"))
    log: list[str] = []
    train, _, _ = compute_features(head, images(4, 6), images(2, 7), batch_size=8, runtime="auto", log=log.append)
    assert train.shape[0] == 4
    assert any("could not run in ONNX Runtime" in line for line in log)
    assert not list((tmp_path / "backbones").glob("*.onnx"))  # a broken graph is not reused


def test_augmented_copies_and_the_tensorflow_setting_never_use_the_runtime(head, tmp_path, monkeypatch):
    monkeypatch.setenv("TLSTUDIO_CACHE_DIR", str(tmp_path))
    log: list[str] = []
    compute_features(head, images(4, 8), images(2, 9), batch_size=8, runtime="tensorflow", log=log.append)
    compute_features(head, images(4, 8), images(2, 9), batch_size=8, runtime="auto", log=log.append,
                     augment=lambda x: x, copies=2)
    assert log == []
    assert not (tmp_path / "backbones").exists()
