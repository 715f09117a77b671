"""Model ensembles: the mean of the members' probabilities, one backbone pass when they share a frozen
backbone, a run folder that exports (verified) and predicts like any run."""

import json

import numpy as np
import pytest

from tlstudio.settings.project import Project
from tlstudio.tools.ensemble import EnsembleError, make_ensemble
from tlstudio.train import RunStatus, Trainer


def trained(folder, run_dir, **changes):
    """A run beside the session's members, on their settings; one epoch: the tests only need it to exist."""
    settings = {"data.folder": str(folder), "model.backbone": "squeezenet1_1", "model.weights": "imagenet",
                "model.image_size": 48, "training.batch_size": 8, "training.epochs": 1, "training.image_cache": False}
    settings.update(changes)
    result = Trainer().run(Project().copy_with(**settings), run_dir=run_dir)
    assert result.status is RunStatus.FINISHED, result.message
    return run_dir


@pytest.fixture(scope="module")
def three_runs(ensemble_members):
    """The session's three SqueezeNet runs on one dataset and split, differing in their optimizer
    (tests/conftest.py); an ensemble only reads its members."""
    return ensemble_members


def count_fire_modules(model) -> int:
    def walk(layer):
        yield layer
        for inner in getattr(layer, "layers", []):
            yield from walk(inner)
    return sum(1 for layer in walk(model) if layer.name.endswith("squeeze1x1"))


@pytest.mark.slow
def test_ensemble_is_the_mean_of_its_members_and_runs_the_shared_backbone_once(three_runs, tmp_path):
    import keras

    folder, runs = three_runs
    result = make_ensemble(runs, tmp_path / "ens")
    assert result.shared_backbone
    assert (tmp_path / "ens" / "model.keras").is_file() and (tmp_path / "ens" / "labels.txt").is_file()
    assert json.loads((tmp_path / "ens" / "ensemble.json").read_text())["members"] == [str(r) for r in runs]
    assert len(result.members) == 3 and 0 <= result.metrics["val_accuracy"] <= 1

    ensemble = keras.saving.load_model(tmp_path / "ens" / "model.keras", compile=False)
    members = [keras.saving.load_model(run / "model.keras", compile=False) for run in runs]
    images = np.random.default_rng(0).uniform(0, 255, (5, 48, 48, 3)).astype(np.float32)
    mean = np.mean([m.predict_on_batch(images) for m in members], axis=0)
    np.testing.assert_allclose(ensemble.predict_on_batch(images), mean, rtol=1e-5, atol=1e-6)
    # One backbone in the graph, not three (SqueezeNet 1.1 has 8 fire modules).
    assert count_fire_modules(ensemble) == count_fire_modules(members[0]) == 8


@pytest.mark.slow
def test_members_with_different_backbones_are_each_kept_whole(three_runs, tmp_path):
    import keras

    folder, runs = three_runs
    other = trained(folder, tmp_path / "random", **{"model.weights": "none", "model.freeze": 0,
                                                    "optimizer.learning_rate": 1e-4})
    result = make_ensemble([runs[0], other], tmp_path / "ens")
    assert not result.shared_backbone
    ensemble = keras.saving.load_model(tmp_path / "ens" / "model.keras", compile=False)
    assert count_fire_modules(ensemble) == 16


@pytest.mark.slow
def test_runs_on_other_data_or_classes_are_refused(three_runs, tmp_path):
    from tlstudio.data.demo import make_demo_dataset

    folder, runs = three_runs
    elsewhere = make_demo_dataset(tmp_path / "other", per_class=20, size=48, seed=4)
    other = trained(elsewhere, tmp_path / "other-run")
    with pytest.raises(EnsembleError, match="same data"):
        make_ensemble([runs[0], other], tmp_path / "ens")
    with pytest.raises(EnsembleError, match="at least two runs"):
        make_ensemble([runs[0]], tmp_path / "ens2")
    reseeded = trained(folder, tmp_path / "reseeded", **{"training.seed": 7})
    with pytest.raises(EnsembleError, match="held out from every run"):
        make_ensemble([runs[0], reseeded], tmp_path / "ens3")


@pytest.mark.slow
def test_an_ensemble_exports_verified_and_predicts_like_a_run(three_runs, tmp_path, capsys):
    from tlstudio.cli import main

    folder, runs = three_runs
    assert main(["ensemble", *map(str, runs), "--out", str(tmp_path / "ens"), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["shared_backbone"] is True
    assert main(["export", str(tmp_path / "ens"), "--format", "keras,tflite", "--out", str(tmp_path / "exported"),
                 "--quiet"]) == 0
    out = capsys.readouterr().out
    assert "FAILED" not in out
    image = next((folder / "circle").iterdir())
    assert main(["predict", str(tmp_path / "exported" / "model.tflite"), str(image), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)[0]["top"][0]["label"] in ("circle", "square", "triangle")
