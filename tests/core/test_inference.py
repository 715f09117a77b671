"""load_predictor / Predictor: labels and preprocessing from beside the model, any format, bad images."""

import json
import shutil

import numpy as np
import pytest
from PIL import Image
from run_helpers import keras_probabilities, validation_images

from tlstudio.cli import main
from tlstudio.data import load_image
from tlstudio.export import export_run
from tlstudio.predict.predictor import PredictorError, image_files, load_predictor, read_model_info
from tlstudio.settings.project import Project


@pytest.fixture(scope="module")
def small_run(tiny_cnn_run):
    """The session's two-layer CNN run (tests/conftest.py), read only."""
    return tiny_cnn_run


@pytest.fixture(scope="module")
def exported(small_run, tmp_path_factory):
    report = export_run(small_run, ["keras", "onnx"], tmp_path_factory.mktemp("inference-export") / "out")
    assert report.ok, report.format_table()
    return report.out_dir


def test_a_run_model_reads_its_preprocessing_from_config_json(small_run):
    predictor = load_predictor(small_run / "model.keras")
    assert predictor.format == "keras" and predictor.classes == ["blue", "green", "red"]
    assert predictor.image_size == 32 and predictor.resize == "center-crop"
    assert predictor.info.source.endswith("config.json") and predictor.info.warnings == []


def test_predict_paths_gives_top_k_in_order_and_an_error_entry_for_a_bad_image(small_run, tmp_path):
    paths, images = validation_images(small_run)
    bad = tmp_path / "broken.jpg"
    bad.write_bytes(b"\xff\xd8\xff not really a jpeg")
    missing = tmp_path / "missing.png"
    predictor = load_predictor(small_run / "model.keras")
    entries = predictor.predict_paths([paths[0], bad, paths[1], missing], top=2)
    assert [e["image"] for e in entries] == [str(paths[0]), str(bad), str(paths[1]), str(missing)]
    assert set(entries[1]) == {"image", "error"} and entries[1]["error"]
    assert set(entries[3]) == {"image", "error"} and entries[3]["error"]
    expected = keras_probabilities(small_run, images[:2])
    for entry, row in zip([entries[0], entries[2]], expected, strict=True):
        assert [t["label"] for t in entry["top"]] == [predictor.classes[i] for i in np.argsort(-row)[:2]]
        assert entry["top"][0]["probability"] >= entry["top"][1]["probability"]
        assert entry["top"][0]["probability"] == pytest.approx(float(row.max()), abs=1e-5)
    assert len(predictor.predict_paths([paths[0]], top=10)[0]["top"]) == 3  # capped at the classes


def test_predict_array_matches_keras_and_checks_the_shape(small_run):
    _, images = validation_images(small_run)
    predictor = load_predictor(small_run / "model.keras")
    np.testing.assert_allclose(predictor.predict_array(images), keras_probabilities(small_run, images), atol=1e-5)
    assert predictor.predict_array(images[0]).shape == (1, 3)
    with pytest.raises(ValueError, match=r"\(N, 32, 32, 3\)"):
        predictor.predict_array(np.zeros((1, 16, 16, 3), np.uint8))


def test_single_image_keras_prediction_traces_once(small_run):
    predictor = load_predictor(small_run / "model.keras")
    _, images = validation_images(small_run)
    for count in (1, 3, 1, 1):
        predictor.predict_array(images[:count])
    # One fixed-signature tf.function: no retracing per call or per batch size (docs/stack-notes.md #7).
    assert predictor.runtime._call.experimental_get_tracing_count() == 1


def test_exported_models_read_the_model_card_and_agree(exported, small_run):
    paths, _ = validation_images(small_run)
    reference = load_predictor(small_run / "model.keras").predict_paths(paths)
    for name in ("model.keras", "model.onnx"):
        predictor = load_predictor(exported / name)
        assert predictor.info.source == str(exported / "model_card.json")
        got = predictor.predict_paths(paths)
        assert [e["top"][0]["label"] for e in got] == [e["top"][0]["label"] for e in reference]


def test_an_onnx_file_alone_uses_its_embedded_metadata(exported, tmp_path):
    shutil.copy(exported / "model.onnx", tmp_path / "model.onnx")
    predictor = load_predictor(tmp_path / "model.onnx")
    assert predictor.classes == ["blue", "green", "red"] and predictor.image_size == 32
    assert "embedded" in predictor.info.source


def test_the_recorded_resize_policy_is_applied(small_run, tmp_path):
    run = tmp_path / "run"
    shutil.copytree(small_run, run)
    project = Project.load(run / "config.json")
    project.data.resize = "pad"
    project.save(run / "config.json")
    wide = tmp_path / "wide.png"
    Image.fromarray(np.full((20, 60, 3), 200, np.uint8)).save(wide)
    predictor = load_predictor(run / "model.keras")
    assert predictor.resize == "pad"
    np.testing.assert_array_equal(predictor.load(wide), load_image(wide, 32, "pad"))


def test_labels_alone_fall_back_with_a_warning_and_missing_labels_are_an_error(small_run, tmp_path):
    shutil.copy(small_run / "model.keras", tmp_path / "model.keras")
    with pytest.raises(PredictorError, match="labels.txt"):
        load_predictor(tmp_path / "model.keras")
    (tmp_path / "labels.txt").write_text("a\nb\nc\n")
    predictor = load_predictor(tmp_path / "model.keras")
    assert predictor.classes == ["a", "b", "c"] and predictor.image_size == 32
    assert predictor.info.warnings and "center-crop" in predictor.info.warnings[0]
    (tmp_path / "labels.txt").write_text("a\nb\n")
    with pytest.raises(PredictorError, match="names 2 classes but"):
        load_predictor(tmp_path / "model.keras")


def test_a_path_that_is_not_a_model_is_refused(tmp_path):
    with pytest.raises(PredictorError, match="does not exist"):
        load_predictor(tmp_path / "nothing.keras")
    (tmp_path / "notes.txt").write_text("x")
    with pytest.raises(PredictorError, match="not a model"):
        load_predictor(tmp_path / "notes.txt")
    with pytest.raises(PredictorError, match="not a SavedModel"):
        load_predictor(tmp_path)
    (tmp_path / "fake.onnx").write_bytes(b"garbage")
    (tmp_path / "labels.txt").write_text("a\nb\n")
    with pytest.raises(PredictorError, match="cannot be loaded as an ONNX model"):
        load_predictor(tmp_path / "fake.onnx")


def test_image_files_expands_folders_sorted_and_skips_hidden(tmp_path):
    (tmp_path / "b").mkdir()
    (tmp_path / ".hidden").mkdir()
    for name in ("b/2.png", "b/1.jpg", "a.PNG", ".x.png", "notes.txt", ".hidden/3.png"):
        (tmp_path / name).write_bytes(b"")
    assert [p.relative_to(tmp_path).as_posix() for p in image_files(tmp_path)] == ["a.PNG", "b/1.jpg", "b/2.png"]
    assert image_files(tmp_path / "notes.txt") == [tmp_path / "notes.txt"]


def test_cli_predict_on_a_folder_and_a_run_folder(small_run, exported, capsys):
    folder = small_run.parent / "colours" / "red"
    assert main(["predict", str(exported / "model.onnx"), str(folder), "--top", "1"]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) == 10 and all(line.startswith(str(folder)) and "%" in line for line in lines)
    assert sum(": red " in line for line in lines) >= 8

    assert main(["predict", str(small_run), str(folder / "0.png"), "--json"]) == 0  # a run folder
    (entry,) = json.loads(capsys.readouterr().out)
    assert entry["image"] == str(folder / "0.png") and len(entry["top"]) == 3

    assert main(["predict", str(small_run), str(small_run / "config.json"), "--json"]) == 1
    (entry,) = json.loads(capsys.readouterr().out)
    assert set(entry) == {"image", "error"}
    assert main(["predict", str(small_run / "nothing.onnx"), str(folder)]) == 1
    assert "does not exist" in capsys.readouterr().err


def test_read_model_info_prefers_the_card(exported):
    info = read_model_info(exported / "model.keras")
    assert info.classes == ["blue", "green", "red"] and info.image_size == 32 and info.resize == "center-crop"
