"""Whether a project can train: one rule for the Train button and `tlstudio train`."""

from tlstudio.cli import main
from tlstudio.data import scan
from tlstudio.settings.project import Project
from tlstudio.train.readiness import training_blocker


def test_reasons_name_the_fix(tmp_path, demo_folder):
    project = Project()
    assert "Choose a data folder" in training_blocker(project)
    project = project.copy_with(**{"data.folder": str(demo_folder)})
    assert training_blocker(project, scan(demo_folder)) is None
    missing = project.copy_with(**{"model.weights": str(tmp_path / "nope.h5")})
    assert training_blocker(missing) == (f"The weights file {tmp_path / 'nope.h5'} does not exist; choose another "
                                         "weights file or 'imagenet'.")
    one_class = tmp_path / "one"
    (one_class / "cats").mkdir(parents=True)
    (demo_folder / "circle" / "circle_000.png").rename(one_class / "cats" / "a.png")
    assert "class" in training_blocker(project.copy_with(**{"data.folder": str(one_class)}), scan(one_class))


def test_cli_refuses_before_making_a_run_folder(tmp_path, demo_folder, capsys):
    out = tmp_path / "run"
    code = main(["train", "--data", str(demo_folder), "--weights", str(tmp_path / "nope.h5"), "--out", str(out)])
    assert code == 2 and not out.exists()
    assert "nope.h5 does not exist" in capsys.readouterr().err
