"""Speed features that must not change results: frozen-feature cache, decoded-image cache, compute plan."""

import numpy as np
import pytest

from tlstudio.settings.project import Project
from tlstudio.train import PhaseBegin, RecordingObserver, RunStatus, Trainer
from tlstudio.train.backend import Accelerator


def project_for(folder, **changes) -> Project:
    settings = {
        "data.folder": str(folder), "model.image_size": 32, "model.weights": "none", "model.freeze": "all",
        "model.dropout": 0.0, "training.epochs": 3, "training.batch_size": 8, "training.seed": 5,
        "optimizer.learning_rate": 0.05, "schedule.name": "constant",
    }
    settings.update(changes)
    return Project().copy_with(**settings)


def phase_events(recorder):
    return recorder.of_type(PhaseBegin)


def val_images(run_dir, folder):
    from tlstudio.data import load_images, scan

    project = Project.load(run_dir / "config.json")
    split = project.split(scan(folder))
    return load_images([item.path for item in split.val], 32, project.data.resize).astype(np.float32)


@pytest.mark.slow
def test_cached_head_learns_the_same_model_as_full_passes(demo_folder, tmp_path):
    import keras

    cached, full = RecordingObserver(), RecordingObserver()
    with_cache = Trainer().run(project_for(demo_folder), cached, run_dir=tmp_path / "cached")
    without = Trainer().run(project_for(demo_folder, **{"training.feature_cache": False}), full,
                            run_dir=tmp_path / "full")

    assert with_cache.status is without.status is RunStatus.FINISHED
    assert phase_events(cached)[0].feature_cache is True
    assert "features computed once" in phase_events(cached)[0].feature_cache_note
    assert phase_events(full)[0].feature_cache is False
    assert "off in the settings" in phase_events(full)[0].feature_cache_note
    assert any("feature cache in use" in e for e in cached.events if isinstance(e, str))
    assert any("feature cache not used" in e for e in full.events if isinstance(e, str))
    # Same seed, same maths: the histories agree to float32 rounding.
    for a, b in zip(with_cache.history, without.history, strict=True):
        assert a["loss"] == pytest.approx(b["loss"], rel=1e-3, abs=1e-5)
        assert a["val_accuracy"] == pytest.approx(b["val_accuracy"])
    # The saved model is a whole image classifier either way, and both answer alike.
    images = val_images(tmp_path / "cached", demo_folder)
    p_cached = keras.saving.load_model(tmp_path / "cached" / "model.keras").predict(images, verbose=0)
    p_full = keras.saving.load_model(tmp_path / "full" / "model.keras").predict(images, verbose=0)
    assert p_cached.shape == (len(images), 3)
    np.testing.assert_allclose(p_cached, p_full, atol=1e-3)


@pytest.mark.parametrize("changes, used, note", [
    ({}, True, "features computed once"),
    ({"augment.flip": True}, False, "augmentation is on"),
    ({"augment.flip": True, "training.augmented_copies": 2}, True, "2 augmented copies"),
    ({"model.freeze": 10}, False, "trainable"),
    ({"model.train_batchnorm": True}, False, "BatchNorm"),
    ({"training.feature_cache": False}, False, "off in the settings"),
])
def test_cache_says_whether_it_is_used_and_why(demo_folder, changes, used, note):
    """The rule on its own (the trainer's log and PhaseBegin carry exactly this; the test above runs it)."""
    from tlstudio.model.build import build_model
    from tlstudio.train.features import feature_cache_decision

    project = project_for(demo_folder, **changes)
    built = build_model(project.model, 3)
    assert feature_cache_decision(project, built.backbone, phase=1)[0] is used
    assert note in feature_cache_decision(project, built.backbone, phase=1)[1]
    assert feature_cache_decision(project, built.backbone, phase=2) == (
        (False, "feature cache off in the settings") if not project.training.feature_cache
        else (False, "fine-tuning updates the backbone, so its features change every step"))


@pytest.mark.slow
def test_second_run_reuses_decoded_images_until_a_file_changes(demo_folder, tmp_path, monkeypatch):
    monkeypatch.setenv("TLSTUDIO_CACHE_DIR", str(tmp_path / "cache"))
    project = project_for(demo_folder, **{"training.epochs": 1})

    def reused(name):
        recorder = RecordingObserver()
        Trainer().run(project, recorder, run_dir=tmp_path / name)
        return any("reused from the image cache" in e for e in recorder.events if isinstance(e, str))

    assert not reused("first")
    assert list((tmp_path / "cache" / "images").glob("*.npy"))
    assert reused("second")
    import os

    some_file = next(demo_folder.rglob("*.png"))
    os.utime(some_file, ns=(some_file.stat().st_atime_ns, some_file.stat().st_mtime_ns + 10**9))
    assert not reused("third")


CPU = Accelerator("tensorflow", "CPU (2 cores)", False)


def test_compute_plan_on_cpu_is_plain_float32():
    from tlstudio.settings.project import TrainingSettings
    from tlstudio.train.compute import plan_compute

    plan = plan_compute(TrainingSettings(), CPU)
    assert not plan.gpu and plan.mixed_precision == "off" and plan.jit_compile == "auto"
    assert not plan.deterministic
    assert plan.describe() == "backend tensorflow on CPU (2 cores)"
    assert plan_compute(TrainingSettings(deterministic="on"), CPU).jit_compile is False  # XLA is not deterministic
    forced = plan_compute(TrainingSettings(mixed_precision="float16", xla="on"), CPU)
    assert forced.mixed_precision == "off"  # 16-bit on a CPU would only be slower
    assert forced.jit_compile is True


def test_compute_plan_on_another_backends_gpu_reads_its_capability():
    """A JAX or PyTorch GPU gets the 16-bit type it computes fast, as TensorFlow's does."""
    from tlstudio.settings.project import TrainingSettings
    from tlstudio.train.compute import plan_compute

    h200 = plan_compute(TrainingSettings(), Accelerator("jax", "NVIDIA H200 (gpu:0)", True, (9, 0)))
    assert h200.mixed_precision == "bfloat16"
    assert h200.describe() == "backend jax on NVIDIA H200 (gpu:0), mixed bfloat16"
    t4 = plan_compute(TrainingSettings(), Accelerator("torch", "Tesla T4 (cuda:0)", True, (7, 5)))
    assert t4.mixed_precision == "float16"
    mps = plan_compute(TrainingSettings(), Accelerator("torch", "Apple GPU (mps)", True))
    assert mps.mixed_precision == "off"  # capability unknown: float32, as on an old GPU


@pytest.mark.slow
def test_bfloat16_on_a_cpu_that_has_it_trains_and_saves_a_float32_model(demo_folder, tmp_path, monkeypatch):
    """auto picks bfloat16 only where it pays (native bf16 CPU, backbone layers training); the saved model
    is float32, so prediction and every export see a plain model."""
    import keras

    from tlstudio.settings.project import TrainingSettings
    from tlstudio.train import compute

    monkeypatch.setattr(compute, "cpu_has_bfloat16", lambda: True)
    assert compute.plan_compute(TrainingSettings(), CPU, backbone_trains=True).mixed_precision == "bfloat16"
    assert compute.plan_compute(TrainingSettings(), CPU, backbone_trains=False).mixed_precision == "off"
    assert compute.plan_compute(TrainingSettings(mixed_precision="off"), CPU, backbone_trains=True).mixed_precision \
        == "off"  # off by the user's choice, always
    monkeypatch.setattr(compute, "cpu_has_bfloat16", lambda: False)
    assert compute.plan_compute(TrainingSettings(), CPU, backbone_trains=True).mixed_precision == "off"
    assert compute.plan_compute(TrainingSettings(mixed_precision="bfloat16"), CPU).mixed_precision == "off"

    monkeypatch.setattr(compute, "cpu_has_bfloat16", lambda: True)
    recorder = RecordingObserver()
    result = Trainer().run(project_for(demo_folder, **{"model.freeze": 0, "training.epochs": 2,
                                                        "optimizer.learning_rate": 1e-3}), recorder,
                           run_dir=tmp_path / "bf16")
    assert result.status is RunStatus.FINISHED
    assert any("mixed bfloat16" in e for e in recorder.events if isinstance(e, str))
    assert keras.mixed_precision.global_policy().name == "float32"  # put back after the build
    model = keras.saving.load_model(tmp_path / "bf16" / "model.keras")
    assert {layer.dtype_policy.name for layer in model.layers} == {"float32"}
    probabilities = model.predict(val_images(tmp_path / "bf16", demo_folder), verbose=0)
    assert probabilities.dtype == np.float32 and np.allclose(probabilities.sum(axis=1), 1, atol=1e-5)


@pytest.mark.slow
def test_augmented_frozen_run_validates_on_cached_features_with_the_same_figures(demo_folder, tmp_path):
    """With augmentation on (and no cached copies) the frozen backbone still runs on every training step,
    but the validation images are never augmented: their features are computed once, and each epoch's
    val_loss and val_accuracy are the ones validating on the images would give."""
    changes = {"augment.flip": True, "augment.rotate": 20.0, "training.epochs": 3}
    cached = RecordingObserver()
    with_cache = Trainer().run(project_for(demo_folder, **changes), cached, run_dir=tmp_path / "cached")
    without = Trainer().run(project_for(demo_folder, **changes, **{"training.feature_cache": False}),
                            RecordingObserver(), run_dir=tmp_path / "images")
    assert with_cache.status is without.status is RunStatus.FINISHED
    assert any(e.startswith("validation on cached features") for e in cached.events if isinstance(e, str))
    assert len(with_cache.history) == len(without.history) == 3
    for a, b in zip(with_cache.history, without.history, strict=True):
        assert a["loss"] == pytest.approx(b["loss"], rel=1e-3, abs=1e-5)
        assert a["val_loss"] == pytest.approx(b["val_loss"], rel=1e-3, abs=1e-5)
        assert a["val_accuracy"] == pytest.approx(b["val_accuracy"])
    assert with_cache.metrics["val_accuracy"] == pytest.approx(without.metrics["val_accuracy"])
