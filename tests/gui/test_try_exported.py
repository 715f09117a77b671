"""Try it on what you ship: an exported ONNX file and an int8 TFLite file answer on the Try-it page
through the predictor `tlstudio predict` uses, give the Keras model's top-1 on the demo images, say
which runtime answered, and say why Grad-CAM is off for them."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

from tlstudio.gui.layout_check import layout_problems

SHOTS = os.environ.get("TLSTUDIO_LAYOUT_SHOTS")  # a folder: also save the page as PNG there, to look at


@pytest.fixture(scope="module")
def shipped(pretrained_run, tmp_path_factory):
    """A run that answers with a clear margin (the session's SqueezeNet 1.1 run, tests/conftest.py: its shipped
    ImageNet weights, 8 epochs of the head on 3 demo classes at 48 px), copied beside a project file (the
    Evaluate page adds the test split's numbers to metrics.json), exported as ONNX and as int8 TFLite."""
    import shutil

    from tlstudio.export import export_run
    from tlstudio.settings.project import Project

    root = tmp_path_factory.mktemp("shipped")
    run = Path(shutil.copytree(pretrained_run, root / "runs" / pretrained_run.name))
    project = Project.load(run / "config.json")
    project.save(root / "project.json")
    data = Path(project.data.folder)
    report = export_run(run, ["onnx"], root / "export")
    int8 = export_run(run, ["tflite"], root / "export", quantize="int8")
    files = {r.format: r.path for r in [*report.results, *int8.results] if r.ok}
    assert set(files) == {"onnx", "tflite"}, [(r.format, r.reason) for r in [*report.results, *int8.results]]
    return root / "project.json", run, data, files


def keras_top1(run: Path, images: list[Path]) -> list[int]:
    from tlstudio.predict.predictor import load_predictor

    predictor = load_predictor(run / "model.keras")
    return list(np.argmax(predictor.predict_array(np.stack([predictor.load(p) for p in images])), axis=1))


@pytest.mark.slow
def test_exported_onnx_and_int8_tflite_answer_like_keras(qtbot, make_window, shipped):
    from tlstudio.predict.predictor import image_files

    project, run, data, files = shipped
    window = make_window()
    assert window.open_project(project)
    window.show_page("try")
    page = window.try_page
    images = sorted(image_files(data))
    expected = keras_top1(run, images)

    for fmt, words in (("onnx", "ONNX model in onnxruntime"), ("tflite", "TFLite model (int8) in ")):
        page.open_model_file(files[fmt])
        assert page.run_combo.selected_run == files[fmt].resolve()
        page.add_paths(images, replace=True)
        qtbot.waitUntil(lambda: page.model is not None and len(page.tried) == len(images) and not page.busy,
                        timeout=120_000)
        assert page.model.predictor.runtime.format == fmt
        assert [page.tried[path].top_class for path in images] == expected, fmt
        assert words in page.model_label.text()
        assert not page.gradcam_check.isEnabled()
        assert page.gradcam_reason.isVisibleTo(page) and "Grad-CAM needs the Keras model" in page.gradcam_reason.text()
        page.image_list.setCurrentRow(0)
        # Once Qt has laid the page out again for the new caption (layout requests are posted events).
        qtbot.waitUntil(lambda: layout_problems(window) == [], timeout=5_000)
        if SHOTS:
            window.grab().save(str(Path(SHOTS) / f"try-{fmt}.png"))

    page.run_combo.select(run)  # back to the run: its Keras model can show where it looked
    qtbot.waitUntil(lambda: page.model is not None and not page.busy, timeout=120_000)
    assert page.gradcam_check.isEnabled() and not page.gradcam_reason.isVisibleTo(page)
    assert "Keras model in Keras" in page.model_label.text()


@pytest.mark.slow
def test_evaluate_an_exported_model_on_the_images_of_its_run(qtbot, make_window, shipped):
    """Evaluate takes an exported file too: its run (from the model card) gives the images, the shipped
    model gives the answers; it says which model answered, and only a run's own model can be calibrated."""
    from tlstudio.tools.evaluate import evaluate_run

    project, run, data, files = shipped
    window = make_window()
    assert window.open_project(project)
    window.show_page("evaluate")
    page = window.evaluate_page
    qtbot.waitUntil(lambda: page.evaluation is not None and not page.busy, timeout=120_000)
    keras_accuracy = page.evaluation.val.accuracy

    page.open_model_file(files["tflite"])
    assert page.run_combo.selected_run == files["tflite"].resolve()
    qtbot.waitUntil(lambda: page.evaluation is not None and not page.busy, timeout=120_000)
    evaluation = page.evaluation
    assert evaluation.model_path == files["tflite"].resolve() and evaluation.runtime == "tflite"
    assert evaluation.val.accuracy == pytest.approx(keras_accuracy, abs=1 / len(evaluation.val.records))
    assert "TFLite model" in page.status_label.text() and run.name in page.status_label.text()
    assert not page.calibrate_button.isEnabled()
    assert page.metric_labels["accuracy"].text() != "–"
    # metrics.json is the run's own: an exported model's evaluation leaves it alone.
    assert evaluate_run(run, update_metrics=False).val.accuracy == pytest.approx(keras_accuracy)
