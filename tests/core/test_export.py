"""Export round trips: each format reloads in its own runtime and answers as the Keras model does.

Tolerances: float32 formats (keras, savedmodel, tflite, onnx) within 1e-4 of Keras's probabilities;
float16 TFLite within 0.02; dynamic-range and int8 TFLite by top-1 agreement.
"""

import errno
import json
from pathlib import Path

import numpy as np
import pytest
from run_helpers import keras_probabilities, validation_images

from tlstudio.base.tasks import Cancelled, RecordingTask, TaskState
from tlstudio.cli import main
from tlstudio.export import (
    FORMATS,
    MAX_FLOAT_DIFF,
    ExportError,
    artefact_name,
    export_run,
    find_augmentation,
    strip_augmentation,
)
from tlstudio.predict.predictor import open_runtime

FLOAT16_TOLERANCE = 0.02


# -- fixtures: the session's trained runs (tests/conftest.py); an export writes beside a run, never into it ----


@pytest.fixture(scope="module")
def run(pretrained_run) -> Path:
    """A real Trainer run: demo shapes, SqueezeNet 1.1 with its shipped ImageNet weights at 48 px."""
    return pretrained_run


@pytest.fixture(scope="module")
def small_run(tiny_cnn_run) -> Path:
    """A two-layer CNN run, for the quick tests."""
    return tiny_cnn_run


@pytest.fixture(scope="module")
def exported(run, tmp_path_factory):
    task = RecordingTask()
    report = export_run(run, list(FORMATS), tmp_path_factory.mktemp("export") / "out", task=task)
    return report, [(done, total, status) for status, done, total in task.reports]


@pytest.mark.slow
def test_every_format_is_exported_verified_and_reported(exported, run):
    report, steps = exported
    paths, _ = validation_images(run)
    assert report.ok and [r.format for r in report.results] == list(FORMATS)
    for result in report.results:
        assert result.ok, result.reason
        assert result.path == report.out_dir / artefact_name(result.format) and result.path.exists()
        assert result.top1_agreement == 1.0 and result.max_abs_diff <= MAX_FLOAT_DIFF
        assert result.deterministic and result.images == len(paths)
        assert result.size_bytes > 100_000 and result.latency_ms > 0
    names = {p.name for p in report.out_dir.iterdir()}
    assert names == {"model.keras", "savedmodel", "model.tflite", "model.onnx", "labels.txt", "model_card.json",
                     "model_card.md"}
    assert not [p for p in report.out_dir.parent.iterdir() if p.name.startswith(".")]  # staging removed
    # Progress: steps never go back, end at the total, and each format's result is announced.
    assert [done for done, _, _ in steps] == sorted(done for done, _, _ in steps)
    assert steps[-1][0] == steps[-1][1] and steps[-1][2].startswith("exported to")
    assert [status.split(":")[0] for _, _, status in steps if status.endswith(("verified", "FAILED"))] == [
        r.label for r in report.results]
    assert "keras" in report.format_table() and "100.0%" in report.format_table()


@pytest.mark.slow
def test_each_runtime_reloads_its_file_and_matches_keras(exported, run):
    report, _ = exported
    _, images = validation_images(run)
    expected = keras_probabilities(run, images)
    for result in report.results:
        runtime = open_runtime(result.path)
        got = runtime(images.astype("float32"))
        assert got.shape == expected.shape
        assert np.abs(got - expected).max() <= MAX_FLOAT_DIFF, result.format
        assert (got.argmax(1) == expected.argmax(1)).all()


@pytest.mark.slow
def test_savedmodel_serving_signature_takes_raw_rgb_of_the_trained_size(exported, run):
    import tensorflow as tf

    report, _ = exported
    loaded = tf.saved_model.load(str(report.out_dir / "savedmodel"))
    signature = loaded.signatures["serving_default"]
    (name, spec), = signature.structured_input_signature[1].items()
    assert name == "image" and spec.dtype == tf.float32 and spec.shape.as_list() == [None, 48, 48, 3]
    assert list(signature.structured_outputs) == ["probabilities"]
    _, images = validation_images(run)
    out = signature(image=tf.constant(images.astype("float32")))["probabilities"].numpy()
    assert np.abs(out - keras_probabilities(run, images)).max() <= MAX_FLOAT_DIFF
    # The SavedModel folder carries its labels and card, so it can be copied alone.
    assert (report.out_dir / "savedmodel" / "assets.extra" / "labels.txt").is_file()


@pytest.mark.slow
def test_no_augmentation_in_any_exported_graph(exported):
    report, _ = exported
    for result in report.results:
        assert find_augmentation(result.path) == [], result.format


def test_the_augmentation_scan_finds_random_layers_and_strip_removes_them(tmp_path):
    import keras

    inputs = keras.Input((8, 8, 3))
    x = keras.layers.RandomFlip("horizontal", name="random_flip")(inputs)
    x = keras.layers.GlobalAveragePooling2D()(x)
    model = keras.Model(inputs, keras.layers.Dense(2, activation="softmax")(x))
    model.save(tmp_path / "aug.keras")
    model.export(tmp_path / "aug_savedmodel", verbose=False)  # Keras's export keeps the flip (docs/stack-notes.md #2)
    assert any("RandomFlip" in found for found in find_augmentation(tmp_path / "aug.keras"))
    assert find_augmentation(tmp_path / "aug_savedmodel")

    stripped = strip_augmentation(model)
    assert not [layer for layer in stripped.layers if type(layer).__name__.startswith("Random")]
    image = np.random.default_rng(0).uniform(0, 255, (1, 8, 8, 3)).astype("float32")
    np.testing.assert_allclose(stripped(image), model(image, training=False), atol=1e-6)


@pytest.mark.slow
def test_labels_and_model_card_hold_the_same_facts(exported, run):
    report, _ = exported
    out = report.out_dir
    config = json.loads((run / "config.json").read_text())
    metrics = json.loads((run / "metrics.json").read_text())
    assert (out / "labels.txt").read_text() == (run / "labels.txt").read_text()
    card = json.loads((out / "model_card.json").read_text())
    assert card["classes"] == ["circle", "square", "triangle"]
    assert card["input"]["image_size"] == 48 and card["input"]["resize"] == "center-crop"
    assert card["input"]["range"] == [0, 255] and card["input"]["color"] == "RGB"
    assert card["backbone"]["name"] == "squeezenet1_1" and card["backbone"]["weights"] == config["model"]["weights"]
    assert card["training"] == config and card["validation_metrics"] == metrics
    assert [r["format"] for r in card["verification"]["results"]] == list(FORMATS)
    assert all(r["ok"] for r in card["verification"]["results"])
    assert {"tensorflow", "keras", "onnxruntime", "tf2onnx"} <= set(card["versions"]) and card["created"]
    markdown = (out / "model_card.md").read_text()
    for fact in ("circle", "triangle", "48×48", "center-crop", "SqueezeNet 1.1", "0–255", "savedmodel", "onnx",
                 card["versions"]["tensorflow"]):
        assert fact in markdown


@pytest.mark.slow
def test_predict_gives_the_keras_top1_for_each_format(exported, run, capsys):
    report, _ = exported
    paths, images = validation_images(run)
    classes = (run / "labels.txt").read_text().split()
    expected = [classes[i] for i in keras_probabilities(run, images).argmax(1)]
    for result in report.results:
        assert main(["predict", str(result.path), *map(str, paths), "--json", "--top", "2"]) == 0
        entries = json.loads(capsys.readouterr().out)
        assert [e["image"] for e in entries] == [str(p) for p in paths]
        assert all(len(e["top"]) == 2 and set(e["top"][0]) == {"label", "probability"} for e in entries)
        assert [e["top"][0]["label"] for e in entries] == expected, result.format


# -- quantized TFLite (on the tiny CNN: seconds to convert) -----------------------------------------------


@pytest.mark.parametrize("quantize", ["float16", "dynamic", "int8"])
def test_quantized_tflite_round_trip(small_run, tmp_path, quantize):
    report = export_run(small_run, ["tflite"], tmp_path / "out", quantize)
    (result,) = report.results
    assert result.ok, result.reason
    assert result.path.name == f"model_{quantize}.tflite" and result.quantize == quantize
    _, images = validation_images(small_run)
    expected = keras_probabilities(small_run, images)
    got = open_runtime(result.path)(images.astype("float32"))
    assert (got.argmax(1) == expected.argmax(1)).all()
    if quantize == "float16":
        assert np.abs(got - expected).max() <= FLOAT16_TOLERANCE
    if quantize == "int8":
        from tlstudio.predict.predictor import tflite_interpreter_class

        interpreter = tflite_interpreter_class()[0](model_path=str(result.path))
        detail = interpreter.get_input_details()[0]
        # Full integer with the raw pixels as input: uint8, scale 1, zero point 0.
        assert detail["dtype"] == np.uint8 and detail["quantization"] == (1.0, 0)


def test_a_format_that_fails_verification_is_reported_and_not_exported(small_run, tmp_path, monkeypatch):
    import tlstudio.export.verify as verify

    real_open = verify.open_runtime

    class Swapped:  # a broken conversion: the classes come out in reverse order
        def __init__(self, runtime):
            self.runtime, self.engine = runtime, runtime.engine

        def __call__(self, batch):
            return self.runtime(batch)[:, ::-1]

    def reversed_tflite(path, fmt=None):
        runtime = real_open(path, fmt)
        return Swapped(runtime) if fmt == "tflite" else runtime

    monkeypatch.setattr(verify, "open_runtime", reversed_tflite)
    out = tmp_path / "out"
    report = export_run(small_run, ["keras", "tflite"], out)
    keras_result, tflite_result = report.results
    assert keras_result.ok and not tflite_result.ok and not report.ok
    assert tflite_result.path is None and "differ from Keras" in tflite_result.reason
    assert not (out / "model.tflite").exists() and (out / "model.keras").exists()
    card = json.loads((out / "model_card.json").read_text())
    assert card["files"] == {"keras": "model.keras"}
    assert [r["ok"] for r in card["verification"]["results"]] == [True, False]


def test_exporting_again_replaces_the_files_and_keeps_the_others(small_run, tmp_path):
    out = tmp_path / "out"
    export_run(small_run, ["keras", "savedmodel"], out)
    first = (out / "savedmodel" / "saved_model.pb").stat().st_mtime_ns
    report = export_run(small_run, ["savedmodel"], out)
    assert report.ok and (out / "savedmodel" / "saved_model.pb").stat().st_mtime_ns != first
    assert (out / "model.keras").is_file()  # not part of this export, left alone
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]  # no staging or old copies left
    # The card still describes every verified file of this run in the folder.
    card = json.loads((out / "model_card.json").read_text())
    assert card["files"] == {"keras": "model.keras", "savedmodel": "savedmodel"}


# -- bad destinations --------------------------------------------------------------------------------------


def leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.rglob("*"))


def test_a_read_only_destination_gives_one_clear_error_and_no_files(small_run, tmp_path, monkeypatch, capsys):
    import tlstudio.export.staging as staging

    def refuse(parent, name):  # what mkdtemp raises in a read-only folder (chmod means nothing to root)
        raise PermissionError(errno.EACCES, "Permission denied", str(parent))

    monkeypatch.setattr(staging, "_make_staging_dir", refuse)
    out = tmp_path / "dest" / "out"
    with pytest.raises(ExportError, match="read-only") as caught:
        export_run(small_run, ["keras"], out)
    assert str(out) in str(caught.value) and "\n" not in str(caught.value)
    assert not out.exists() and leftovers(tmp_path / "dest") == []

    assert main(["export", str(small_run), "--format", "keras", "--out", str(out), "--quiet"]) == 1
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "read-only" in err and str(out) in err


def test_a_full_disk_leaves_no_half_written_file(small_run, tmp_path, monkeypatch):
    import tlstudio.export.converters as converters

    def half_written(model, path):
        Path(path).write_bytes(b"PK\x03\x04 half a zip")
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(converters, "_save_keras", half_written)
    out = tmp_path / "dest" / "out"
    with pytest.raises(ExportError, match="disk is full") as caught:
        export_run(small_run, ["onnx", "keras"], out)
    assert str(out) in str(caught.value)
    assert leftovers(tmp_path / "dest") == []


def test_a_destination_that_is_a_file_or_a_bad_run_folder_is_refused(small_run, tmp_path):
    (tmp_path / "taken").write_text("x")
    with pytest.raises(ExportError, match="is a file"):
        export_run(small_run, ["keras"], tmp_path / "taken")
    with pytest.raises(ExportError, match="not a TL Studio run folder"):
        export_run(tmp_path, ["keras"], tmp_path / "out")


def test_cli_export_prints_the_verification_table_and_rejects_bad_flags(small_run, tmp_path, capsys):
    out = tmp_path / "out"
    assert main(["export", str(small_run), "--format", "keras,onnx", "--out", str(out), "--quiet"]) == 0
    printed = capsys.readouterr().out
    assert "top-1 agree" in printed and "max |Δp|" in printed and "ms/image" in printed
    assert "model.keras" in printed and "model.onnx" in printed and str(out) in printed

    assert main(["export", str(small_run), "--format", "keras,coreml", "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "--format" in err and "keras, savedmodel, tflite, onnx" in err
    with pytest.raises(SystemExit) as caught:
        main(["export", str(small_run), "--quantize", "int4", "--out", str(out)])
    assert caught.value.code == 2
    assert "--quantize" in capsys.readouterr().err


def test_a_cancelled_export_leaves_the_destination_untouched(small_run, tmp_path):
    """Cancel from another thread (here: once the first format is converted): nothing is written."""

    class CancelAfterFirstFormat(TaskState):
        def message(self, text):
            super().message(text)
            if text.startswith("verifying"):
                self.cancel()

    out = tmp_path / "out"
    with pytest.raises(Cancelled):
        export_run(small_run, ["keras", "onnx"], out, task=CancelAfterFirstFormat())
    assert not out.exists() or not any(out.iterdir())
