"""L-BFGS for the head: full-batch on cached features, each iteration an epoch; refused with the reason
wherever the backbone (or part of it) would train."""

import csv

import pytest

from tlstudio.settings.project import Project
from tlstudio.train import RecordingObserver, RunStatus, Trainer
from tlstudio.train.readiness import training_blocker


def frozen(folder, **changes):
    settings = {"data.folder": str(folder), "model.backbone": "squeezenet1_1", "model.weights": "imagenet",
                "model.image_size": 48, "training.batch_size": 8, "training.epochs": 8, "training.image_cache": False,
                "optimizer.name": "lbfgs"}
    settings.update(changes)
    return Project().copy_with(**settings)


def test_lbfgs_fits_the_head_on_cached_features_an_iteration_an_epoch(demo_folder, tmp_path):
    recorder = RecordingObserver()
    result = Trainer().run(frozen(demo_folder), recorder, run_dir=tmp_path / "run")
    assert result.status is RunStatus.FINISHED, result.message
    logs = [e for e in recorder.events if isinstance(e, str)]
    assert any(line.startswith("L-BFGS: fitting the head full-batch on") for line in logs)
    iterations = len(result.history)
    assert 1 <= iterations <= 8
    assert result.history[-1]["loss"] < result.history[0]["loss"]
    with open(tmp_path / "run" / "steps.csv", newline="") as handle:
        steps = list(csv.DictReader(handle))
    assert [int(row["step"]) for row in steps] == list(range(1, iterations + 1))
    assert result.metrics["val_accuracy"] >= 0.5  # 3 classes: well above chance on pretrained features


@pytest.mark.parametrize("changes, expected", [
    ({"model.freeze": 0}, "needs the whole backbone frozen"),
    ({"training.feature_cache": False}, "switch the feature cache on"),
    ({"augment.flip": True}, "cache augmented copies"),
    ({"training.fine_tune.epochs": 2}, "set fine-tuning epochs to 0"),
])
def test_lbfgs_is_refused_with_the_reason_where_layers_would_train(demo_folder, tmp_path, changes, expected):
    project = frozen(demo_folder, **changes)
    assert expected in training_blocker(project)
    result = Trainer().run(project, run_dir=tmp_path / "run")
    assert result.status is RunStatus.FAILED and expected in result.message
