"""The Project: JSON round trip, validation messages that name the field, atomic saves."""

import json

import pytest

from tlstudio.settings.project import AugmentSettings, Project, ProjectError


def test_round_trip_keeps_every_setting(tmp_path):
    project = Project(name="birds")
    project = project.copy_with(**{
        "data.folder": str(tmp_path), "data.resize": "pad", "model.backbone": "efficientnet_b0",
        "model.freeze": 40, "model.dropout": 0.3, "optimizer.name": "nesterov", "optimizer.momentum": 0.95,
        "schedule.name": "cosine-restarts", "schedule.warmup_epochs": 1.5, "training.epochs": 7,
        "training.fine_tune.epochs": 3, "augment.rotate": 20.0, "augment.flip": True,
    })
    path = tmp_path / "project.json"
    project.save(path)
    loaded = Project.load(path)
    assert loaded == project
    assert loaded.model.freeze == 40 and loaded.augment.enabled == ["flip", "rotate"]
    assert json.loads(path.read_text())["schema_version"] == 1


@pytest.mark.parametrize("content, field", [
    ({"optimizer": {"learning_rate": -0.1}}, "optimizer.learning_rate"),
    ({"model": {"backbone": "alexnet"}}, "model.backbone"),
    ({"model": {"freeze": "most"}}, "model.freeze"),
    ({"training": {"epochs": 0}}, "training.epochs"),
    ({"schedule": {"name": "linear"}}, "schedule.name"),
    ({"optimiser": {}}, "optimiser"),
])
def test_bad_project_file_names_the_field(tmp_path, content, field):
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(content))
    with pytest.raises(ProjectError) as raised:
        Project.load(path)
    message = str(raised.value)
    assert str(path) in message and f"'{field}'" in message
    assert "\n" not in message


def test_unreadable_and_invalid_json_give_one_sentence(tmp_path):
    with pytest.raises(ProjectError, match="no such project file"):
        Project.load(tmp_path / "missing.json")
    broken = tmp_path / "broken.json"
    broken.write_text('{"name": "x",')
    with pytest.raises(ProjectError, match="not valid JSON"):
        Project.load(broken)


def test_relative_data_folder_is_relative_to_the_project_file(tmp_path):
    (tmp_path / "photos").mkdir()
    path = tmp_path / "p.json"
    path.write_text(json.dumps({"data": {"folder": "photos"}}))
    assert Project.load(path).data.folder == str((tmp_path / "photos").resolve())


def test_image_size_below_backbone_minimum_is_refused():
    with pytest.raises(ProjectError, match="minimum"):
        Project.from_dict({"model": {"backbone": "inception_v3", "image_size": 64}})


def test_augment_names():
    assert AugmentSettings.from_names(["flip", "rotate"]).enabled == ["flip", "rotate"]
    with pytest.raises(ProjectError, match="unknown augmentation 'blur'"):
        AugmentSettings.from_names(["blur"])


def test_failed_save_leaves_the_old_file(tmp_path, monkeypatch):
    path = tmp_path / "p.json"
    Project(name="first").save(path)
    import tlstudio.settings.project as config

    def broken_replace(src, dst):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(config.os, "replace", broken_replace)
    with pytest.raises(OSError):
        Project(name="second").save(path)
    assert Project.load(path).name == "first"
    assert [p.name for p in tmp_path.iterdir()] == ["p.json"]
