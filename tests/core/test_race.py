"""Optimizer race: each entrant is what a full run with its settings gives; the table, JSON and errors."""

import json

import pytest

from tlstudio.settings.project import Project
from tlstudio.tools.race import Entrant, RaceError, entrants_for, run_race
from tlstudio.train import RunStatus, Trainer


def frozen(folder, **changes):
    settings = {"data.folder": str(folder), "model.backbone": "squeezenet1_1", "model.weights": "imagenet",
                "model.image_size": 48, "training.batch_size": 8, "training.epochs": 3, "training.seed": 5,
                "training.image_cache": False}
    settings.update(changes)
    return Project().copy_with(**settings)


@pytest.mark.slow
def test_each_entrant_is_what_a_full_run_with_its_settings_gives(demo_folder, tmp_path):
    project = frozen(demo_folder)
    entrants = entrants_for(project, ["sgd", "adam"], [0.01])
    race = run_race(project, entrants)
    assert [e.status for e in race.entrants] == ["FINISHED", "FINISHED"]
    assert all(e.feature_cache and len(e.history) == 3 for e in race.entrants)
    for result in race.entrants:
        alone = Trainer().run(project.copy_with(**{"optimizer.name": result.entrant.optimizer,
                                                   "optimizer.learning_rate": result.entrant.learning_rate}),
                              run_dir=tmp_path / result.entrant.optimizer)
        assert alone.status is RunStatus.FINISHED
        assert [row["val_loss"] for row in alone.history] == pytest.approx(
            [row["val_loss"] for row in result.history], rel=1e-6)
        assert alone.metrics["val_accuracy"] == pytest.approx(result.val_accuracy)
    assert race.winner in race.entrants
    table = race.table()
    assert "sgd" in table and "adam" in table and "← best" in table
    json.dumps(race.to_dict())


def test_entrants_are_every_optimizer_with_every_lr():
    project = Project()
    entrants = entrants_for(project, ["sgd", "adam"], [1e-3, 3e-3])
    assert entrants == [Entrant("sgd", 1e-3), Entrant("sgd", 3e-3), Entrant("adam", 1e-3), Entrant("adam", 3e-3)]
    assert entrants_for(project, ["sgd", "adam"], None)[0].learning_rate == project.optimizer.learning_rate
    with pytest.raises(RaceError, match="unknown optimizer 'lion'"):
        entrants_for(project, ["lion", "adam"], None)
    with pytest.raises(RaceError, match="at least two entrants"):
        entrants_for(project, ["adam"], None)


@pytest.mark.slow
def test_cli_race_json(demo_folder, capsys):
    from tlstudio.cli import main

    code = main(["race", "--data", str(demo_folder), "--backbone", "squeezenet1_1", "--weights", "imagenet",
                 "--image-size", "48", "--batch-size", "8", "--epochs", "2", "--optimizers", "momentum,rmsprop",
                 "--lrs", "1e-3", "--json"])
    assert code == 0
    data = json.loads(capsys.readouterr().out)
    assert [(e["optimizer"], len(e["history"])) for e in data["entrants"]] == [("momentum", 2), ("rmsprop", 2)]
    assert data["best"]["optimizer"] in ("momentum", "rmsprop")
