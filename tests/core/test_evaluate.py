"""evaluate_run: the run's own numbers back, per-image records for the GUI, and the test split."""

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from tlstudio.base.tasks import Cancelled, RecordingTask, TaskState
from tlstudio.settings.project import Project
from tlstudio.tools.evaluate import EvaluationError, classification_metrics, confusion_matrix, evaluate_run


@pytest.fixture(scope="module")
def run(pretrained_run, tmp_path_factory):
    """A copy of the session's Trainer run on a dataset given as train/ val/ test/ folders (tests/conftest.py):
    evaluating it adds the test split's numbers to its metrics.json."""
    return Path(shutil.copytree(pretrained_run, tmp_path_factory.mktemp("evaluate-run") / "run"))


@pytest.fixture(scope="module")
def evaluation(run):
    metrics_before = json.loads((run / "metrics.json").read_text())
    task = RecordingTask()
    evaluation = evaluate_run(run, task=task)
    return evaluation, metrics_before, task.reports


def test_validation_numbers_agree_with_metrics_json(evaluation):
    result, before, _ = evaluation
    val = result.val
    assert result.classes == before["classes"] and len(val.records) == before["val_images"] == 6
    assert val.accuracy == pytest.approx(before["val_accuracy"], abs=1e-6)
    assert val.loss == pytest.approx(before["val_loss"], abs=1e-4)
    assert val.top_k_accuracy == (3, pytest.approx(before["val_top3_accuracy"]))
    assert val.confusion_matrix.tolist() == before["confusion_matrix"]
    for name, numbers in before["per_class"].items():
        assert val.per_class[name] == pytest.approx(numbers, abs=1e-6)
    assert result.warnings == []


def test_the_test_split_is_evaluated_and_added_to_metrics_json(evaluation, run):
    result, before, _ = evaluation
    assert result.test is not None and len(result.test.records) == 6
    after = json.loads((run / "metrics.json").read_text())
    assert {k: after[k] for k in before} == before  # nothing of the run's own numbers changed
    assert after["test_accuracy"] == pytest.approx(result.test.accuracy)
    assert after["test_images"] == 6 and after["test_confusion_matrix"] == result.test.confusion_matrix.tolist()
    assert set(after["test_per_class"]) == set(before["classes"])


def test_records_explain_each_image(evaluation):
    result, _, _ = evaluation
    for split in (result.val, result.test):
        y_true = [r.true for r in split.records]
        probabilities = np.array([r.probabilities for r in split.records])
        assert all(r.predicted == int(np.argmax(r.probabilities)) for r in split.records)
        assert all(r.loss == pytest.approx(-np.log(max(r.probabilities[r.true], 1e-12))) for r in split.records)
        expected = classification_metrics(y_true, probabilities, result.classes)
        renamed = {f"{split.name}_{k.removeprefix('val_')}": v for k, v in expected.items() if k != "classes"}
        assert split.metrics == renamed | {f"{split.name}_images": 6}
        assert all(f"/{split.name}/" in r.path.as_posix() for r in split.records)


def test_confusion_cells_and_biggest_mistakes_for_the_gui(evaluation):
    result, _, _ = evaluation
    val = result.val
    matrix = val.confusion_matrix
    for true in range(3):
        for predicted in range(3):
            cell = val.cell(true, predicted)
            assert len(cell) == matrix[true, predicted]
            assert [r.confidence for r in cell] == sorted((r.confidence for r in cell), reverse=True)
    mistakes = val.mistakes()
    assert [r.loss for r in mistakes] == sorted((r.loss for r in mistakes), reverse=True)
    assert {r.path for r in val.records if not r.correct} <= {r.path for r in mistakes}
    assert all(not r.correct or r.confidence < 0.5 for r in mistakes)
    assert len(val.mistakes(low_confidence=1.01)) == len(val.records)  # every image below 101 %
    top = val.records[0].top(result.classes)
    assert len(top) == 3 and top[0]["label"] == result.classes[val.records[0].predicted]


def test_progress_reports_scanning_decoding_and_predicting(evaluation):
    _, _, events = evaluation
    stages = [stage for stage, _, _ in events]
    assert stages[0] == "scanning images" and "decoding images" in stages and stages[-1] == "predicting"
    assert events[-1][1] == events[-1][2] == 12


def test_a_cancelled_evaluation_writes_nothing(run):
    task = TaskState()
    task.cancel()
    before = (run / "metrics.json").read_text()
    with pytest.raises(Cancelled):
        evaluate_run(run, task=task)
    assert (run / "metrics.json").read_text() == before


def test_a_run_without_its_data_is_a_clear_error(run, tmp_path):
    copy = tmp_path / "run"
    shutil.copytree(run, copy)
    project = Project.load(copy / "config.json")
    project.data.folder = str(tmp_path / "gone")
    project.save(copy / "config.json")
    with pytest.raises(EvaluationError, match="gone"):
        evaluate_run(copy)
    with pytest.raises(EvaluationError, match="not a TL Studio run folder"):
        evaluate_run(tmp_path)


def test_confusion_matrix_and_classification_metrics_keep_their_signatures():
    assert confusion_matrix([0, 1, 1], [0, 0, 1], 2).tolist() == [[1, 0], [1, 1]]
    metrics = classification_metrics([0, 1], np.array([[0.9, 0.1], [0.4, 0.6]]), ["a", "b"])
    assert metrics["val_accuracy"] == 1.0 and metrics["val_top2_accuracy"] == 1.0 and "confusion_matrix" in metrics


def test_an_exported_model_is_evaluated_on_its_runs_images(run, tmp_path):
    from tlstudio.export import export_run
    from tlstudio.tools.evaluate import evaluate_model_file, source_run

    before = (run / "metrics.json").read_text()
    report = export_run(run, ["onnx"], tmp_path / "export")
    onnx = next(r.path for r in report.results if r.ok)
    assert source_run(onnx) == run
    evaluation = evaluate_model_file(onnx)
    keras = evaluate_run(run, update_metrics=False)
    assert evaluation.runtime == "onnx" and evaluation.model_path == onnx
    assert set(evaluation.splits) == set(keras.splits) == {"val", "test"}
    for name in ("val", "test"):
        mine, theirs = evaluation.splits[name], keras.splits[name]
        assert [r.predicted for r in mine.records] == [r.predicted for r in theirs.records]
        np.testing.assert_allclose([r.probabilities for r in mine.records],
                                   [r.probabilities for r in theirs.records], atol=1e-4)
    assert (run / "metrics.json").read_text() == before  # only the run's own model writes there
    (tmp_path / "export" / "model_card.json").unlink()
    with pytest.raises(EvaluationError, match="does not name a run folder"):
        evaluate_model_file(onnx)
