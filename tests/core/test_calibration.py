"""Temperature scaling: an overconfident run gets a lower ECE, and every exported format gives the calibrated
probabilities."""

import json
import warnings

import numpy as np
import pytest

from tlstudio.model.temperature import fit_temperature, tempered_probabilities
from tlstudio.predict.metrics import classification_metrics, expected_calibration_error, reliability_bins
from tlstudio.predict.open_run import dataset_split
from tlstudio.settings.project import Project


def _ambiguous_brightness(folder, per_class=100, seed=0):
    """'dark' and 'light' grey images whose brightness ranges overlap: about one in five looks like the other
    class, so a model that is always sure is often sure and wrong."""
    from PIL import Image

    rng = np.random.default_rng(seed)
    for name, mean in {"dark": 110.0, "light": 145.0}.items():
        (folder / name).mkdir(parents=True)
        for i in range(per_class):
            level = rng.normal(mean, 22.0)
            pixels = np.clip(rng.normal(level, 10.0, (32, 32, 3)), 0, 255).astype(np.uint8)
            Image.fromarray(pixels).save(folder / name / f"{i}.png")
    return folder


def _overconfident_run(root):
    """A run folder whose model thresholds the mean brightness with a far too steep softmax."""
    import keras

    from tlstudio.data import load_images

    data = _ambiguous_brightness(root / "grey")
    project = Project().copy_with(**{"data.folder": str(data), "model.image_size": 32, "model.weights": "none"})
    inputs = keras.Input((32, 32, 3), name="image")
    pooled = keras.layers.GlobalAveragePooling2D(name="avg_pool")(keras.layers.Rescaling(1 / 255)(inputs))
    head = keras.layers.Dense(2, activation="softmax", name="predictions")
    model = keras.Model(inputs, head(pooled))
    steep = 60.0  # logits of +-10 a quarter of the range away from the threshold: "99.99 % sure"
    head.set_weights([np.array([[-1.0, 1.0]] * 3) * steep / 3, np.array([1.0, -1.0]) * steep * 0.5])
    run = root / "run"
    run.mkdir()
    project.save(run / "config.json")
    (run / "labels.txt").write_text("dark\nlight\n")
    model.save(run / "model.keras")
    split = dataset_split(project)
    x_val = load_images([i.path for i in split.val], 32).astype("float32")
    metrics = classification_metrics([i.label for i in split.val], np.asarray(model(x_val)), ["dark", "light"])
    (run / "metrics.json").write_text(json.dumps(metrics))
    return run, x_val, np.array([i.label for i in split.val])


def _keras_probabilities(path, images):
    import keras

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        return np.asarray(keras.saving.load_model(path)(images, training=False))


def test_ece_is_zero_for_a_calibrated_forecaster_and_large_for_an_overconfident_one():
    rng = np.random.default_rng(0)
    confidence = rng.uniform(0.5, 1.0, 20000)
    y_true = (rng.uniform(size=confidence.size) > confidence).astype(int)  # class 0 right with p = confidence
    calibrated = np.stack([confidence, 1 - confidence], axis=1)
    assert expected_calibration_error(y_true, calibrated) < 0.02
    sure = np.stack([np.full(confidence.size, 0.999), np.full(confidence.size, 0.001)], axis=1)
    assert expected_calibration_error(y_true, sure) > 0.2
    table = reliability_bins(y_true, calibrated, bins=10)
    assert sum(table["counts"]) == confidence.size and len(table["accuracy"]) == 10
    assert classification_metrics(y_true, calibrated, ["a", "b"])["val_ece"] < 0.02


def test_fit_temperature_recovers_the_scale_of_overconfident_logits():
    rng = np.random.default_rng(1)
    logits = rng.normal(0, 1.5, (4000, 3))
    y_true = np.array([rng.choice(3, p=p) for p in tempered_probabilities(logits[None], 1.0)])
    temperature = fit_temperature(logits[None] * 4.0, y_true)  # the true logits, made four times too sharp
    assert temperature == pytest.approx(4.0, rel=0.1)


def test_calibrate_run_lowers_ece_and_every_export_gives_the_calibrated_probabilities(tmp_path, capsys):
    from tlstudio.cli import main
    from tlstudio.export import export_run
    from tlstudio.tools.calibrate import UNCALIBRATED_MODEL_FILE

    run, x_val, y_val = _overconfident_run(tmp_path)
    before = _keras_probabilities(run / "model.keras", x_val)

    assert main(["calibrate", str(run), "--json"]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed["temperature"] > 2
    assert printed["ece_after"] < 0.75 * printed["ece_before"]

    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["ece_before"] == pytest.approx(printed["ece_before"])
    assert metrics["ece_after"] == pytest.approx(metrics["val_ece"])
    after = _keras_probabilities(run / "model.keras", x_val)
    assert expected_calibration_error(y_val, after) == pytest.approx(metrics["ece_after"], abs=1e-6)
    assert (after.argmax(axis=1) == before.argmax(axis=1)).all()  # not one prediction changes its class
    assert np.allclose(_keras_probabilities(run / UNCALIBRATED_MODEL_FILE, x_val), before)  # nothing lost

    report = export_run(run, ["onnx", "tflite"], tmp_path / "export")
    assert report.ok
    for result in report.results:
        assert result.calibrated and result.max_abs_diff < 1e-4
        assert result.ece == pytest.approx(metrics["ece_after"], abs=1e-3)
    from tlstudio.predict.predictor import open_runtime

    for name, fmt in (("model.onnx", "onnx"), ("model.tflite", "tflite")):
        exported = open_runtime(tmp_path / "export" / name, fmt)(x_val)
        assert np.abs(exported - after).max() < 1e-4
        assert np.abs(exported - before).max() > 0.05  # the temperature is inside the exported file
    card = (tmp_path / "export" / "model_card.md").read_text()
    assert "Calibrated by temperature scaling" in card and "onnx" in card.split("## Calibration")[1].split("##")[0]
    assert json.loads((tmp_path / "export" / "model_card.json").read_text())["calibration"]["temperature"] > 2


def test_a_validation_set_without_mistakes_is_never_sharpened():
    rng = np.random.default_rng(2)
    y_true = rng.integers(0, 3, 200)
    logits = np.eye(3)[y_true] * 3.0 + rng.normal(0, 0.3, (200, 3))  # every answer right, none sure
    assert fit_temperature(logits[None], y_true) == 1.0


@pytest.mark.slow
def test_train_with_calibrate_writes_the_ece_before_and_after(demo_folder, tmp_path, capsys):
    from tlstudio.cli import main

    run = tmp_path / "run"
    assert main(["train", "--data", str(demo_folder), "--weights", "none", "--image-size", "32", "--epochs", "1",
                 "--batch-size", "8", "--quiet", "--out", str(run), "--calibrate"]) == 0
    assert "calibrated: temperature" in capsys.readouterr().out
    metrics = json.loads((run / "metrics.json").read_text())
    assert {"temperature", "ece_before", "ece_after"} <= set(metrics) and (run / "model.uncalibrated.keras").is_file()
