"""Shared fixtures: quiet TensorFlow, offscreen Qt, tiny synthetic datasets made per test."""

import os
import tempfile

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")
os.environ.setdefault("KERAS_BACKEND", "tensorflow")
# Decoded-image cache entries of the tests go to a throwaway folder, never the user's cache.
os.environ.setdefault("TLSTUDIO_CACHE_DIR", tempfile.mkdtemp(prefix="tlstudio-test-cache-"))

import pytest  # noqa: E402


@pytest.fixture
def demo_folder(tmp_path):
    """A 3-class shapes dataset: 12 images a class, 48 px, made fresh for each test."""
    from tlstudio.data.demo import make_demo_dataset

    return make_demo_dataset(tmp_path / "shapes", per_class=12, size=48, seed=0)
