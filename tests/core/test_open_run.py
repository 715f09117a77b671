"""Every tool that reads a run opens it one way: the same checks, the same one-sentence messages, each in the
tool's own error type (which the CLI and the GUI catch)."""

import pytest

from tlstudio.predict.open_run import RunDataError, RunOpenError, load_run_model, open_run, read_trained_run
from tlstudio.settings.project import Project

NO_MODEL = "has no model.keras; train the run to the end of one epoch first"


@pytest.fixture
def untrained_run(demo_folder, tmp_path):
    """A run folder that stopped before its first epoch ended: config and labels, no model.keras."""
    run = tmp_path / "run"
    run.mkdir()
    Project().copy_with(**{"data.folder": str(demo_folder)}).save(run / "config.json")
    (run / "labels.txt").write_text("circle\nsquare\ntriangle\n")
    return run


def test_a_run_without_its_model_is_refused_alike_by_every_tool(untrained_run, tmp_path):
    from tlstudio.export import ExportError, export_run
    from tlstudio.tools.calibrate import CalibrationError, calibrate_run
    from tlstudio.tools.ensemble import EnsembleError, make_ensemble
    from tlstudio.tools.evaluate import EvaluationError, evaluate_run

    with pytest.raises(RunOpenError, match=NO_MODEL):
        read_trained_run(untrained_run)
    with pytest.raises(EvaluationError, match=NO_MODEL):
        evaluate_run(untrained_run)
    with pytest.raises(CalibrationError, match=NO_MODEL):
        calibrate_run(untrained_run)
    with pytest.raises(EnsembleError, match=NO_MODEL):
        make_ensemble([untrained_run, untrained_run], tmp_path / "ensemble")
    with pytest.raises(ExportError, match=NO_MODEL):
        export_run(untrained_run, ["keras"], tmp_path / "export")
    assert not (tmp_path / "ensemble").exists() and not (tmp_path / "export").exists()


def test_a_folder_that_is_no_run_or_holds_a_broken_config_is_named(tmp_path):
    with pytest.raises(RunOpenError, match="not a TL Studio run folder"):
        read_trained_run(tmp_path)
    (tmp_path / "config.json").write_text('{"training": {"epochs": -3}}')
    with pytest.raises(RunOpenError, match="epochs"):
        read_trained_run(tmp_path)


def test_images_that_cannot_be_read_are_a_data_error_of_the_run(untrained_run, tmp_path):
    (untrained_run / "model.keras").write_bytes(b"stand-in: no model is loaded before the images")
    project = Project.load(untrained_run / "config.json")
    project.data.folder = str(tmp_path / "gone")
    project.save(untrained_run / "config.json")
    with pytest.raises(RunDataError, match="gone") as raised:
        open_run(untrained_run)
    assert raised.value.run_dir == untrained_run and "gone" in raised.value.reason


def test_a_broken_model_file_is_named_with_the_fix(untrained_run):
    (untrained_run / "model.keras").write_bytes(b"half a zip file")
    with pytest.raises(RunOpenError, match=r"model\.keras cannot be loaded .*; train the run again\.$"):
        load_run_model(read_trained_run(untrained_run))


def test_opening_a_run_decodes_the_validation_images_and_reports_the_stages(untrained_run):
    from tlstudio.base.tasks import RecordingTask

    (untrained_run / "model.keras").write_bytes(b"stand-in: opening a run does not load its model")
    task = RecordingTask()
    opened = open_run(untrained_run, splits=("val", "test"), task=task)
    assert list(opened.items) == ["val"]  # no test/ folder: no test split
    size = opened.project.image_input.size
    assert opened.total == 6 and opened.images["val"].shape == (6, size, size, 3)  # 2 of each class's 12
    assert sorted(opened.labels("val").tolist()) == [0, 0, 1, 1, 2, 2]
    assert task.reports[0] == ("scanning images", 0, 0) and task.reports[-1] == ("decoding images", 6, 6)
