"""The Trainer on tiny synthetic data: events, phases, stop, NaN, reproducibility, the run folder."""

import csv
import json
import math

import numpy as np
import pytest

from tlstudio.settings.project import Project
from tlstudio.train import (
    BatchEnd,
    EpochEnd,
    Observer,
    PhaseBegin,
    RecordingObserver,
    RunStatus,
    StopToken,
    TrainBegin,
    TrainEnd,
    Trainer,
)

RUN_FILES = {"config.json", "labels.txt", "history.csv", "steps.csv", "model.keras", "metrics.json",
             "status.json", "resume.npz"}


def tiny_project(folder, **changes) -> Project:
    settings = {
        "data.folder": str(folder), "model.backbone": "mobilenet_v2", "model.image_size": 32,
        "model.weights": "none", "training.epochs": 2, "training.batch_size": 8, "training.seed": 3,
        "optimizer.learning_rate": 0.01,
    }
    settings.update(changes)
    return Project().copy_with(**settings)


def read_csv(path):
    with open(path, newline="") as handle:
        return list(csv.DictReader(handle))


@pytest.mark.slow
def test_run_writes_the_run_folder_and_reports_events_in_order(demo_folder, tmp_path):
    recorder = RecordingObserver()
    result = Trainer().run(tiny_project(demo_folder), recorder, run_dir=tmp_path / "run")

    assert result.status is RunStatus.FINISHED, result.message
    assert {p.name for p in (tmp_path / "run").iterdir()} == RUN_FILES
    kinds = [type(e) for e in recorder.events if not isinstance(e, str)]
    core = [k for k in kinds if k in (TrainBegin, PhaseBegin, BatchEnd, EpochEnd, TrainEnd)]
    assert core[0] is TrainBegin and core[1] is PhaseBegin and core[-1] is TrainEnd
    begin = recorder.of_type(TrainBegin)[0]
    batches = recorder.of_type(BatchEnd)
    assert len(batches) == 2 * begin.steps_per_epoch
    assert [b.step for b in batches] == list(range(1, len(batches) + 1))
    assert all(math.isfinite(b.loss) and b.learning_rate > 0 for b in batches)
    assert [e.epoch for e in recorder.of_type(EpochEnd)] == [1, 2]

    history = read_csv(tmp_path / "run" / "history.csv")
    assert list(history[0]) == ["epoch", "loss", "accuracy", "val_loss", "val_accuracy", "lr"]
    assert [row["epoch"] for row in history] == ["1", "2"]
    steps = read_csv(tmp_path / "run" / "steps.csv")
    assert len(steps) == len(batches)
    # steps.csv holds each batch's own loss; its mean over epoch 1 is Keras's epoch loss.
    epoch_one = [float(s["loss"]) for s in steps if s["epoch"] == "1"]
    sizes = [min(8, begin.train_images - 8 * i) for i in range(len(epoch_one))]
    assert np.average(epoch_one, weights=sizes) == pytest.approx(float(history[0]["loss"]), rel=1e-3)

    metrics = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert set(metrics["per_class"]) == {"circle", "square", "triangle"}
    assert np.array(metrics["confusion_matrix"]).sum() == begin.val_images
    assert (tmp_path / "run" / "labels.txt").read_text().split() == ["circle", "square", "triangle"]
    assert json.loads((tmp_path / "run" / "config.json").read_text())["model"]["backbone"] == "mobilenet_v2"


@pytest.mark.slow
def test_two_phase_fine_tuning_continues_epochs_with_smaller_lr(demo_folder, tmp_path):
    project = tiny_project(demo_folder, **{
        "training.epochs": 1, "training.fine_tune.epochs": 1, "training.fine_tune.unfreeze": 10,
        "training.fine_tune.lr_factor": 0.1, "schedule.name": "constant", "model.freeze": 0})
    recorder = RecordingObserver()
    result = Trainer().run(project, recorder, run_dir=tmp_path / "run")

    assert result.status is RunStatus.FINISHED, result.message
    phases = recorder.of_type(PhaseBegin)
    assert [(p.phase, p.first_epoch) for p in phases] == [(1, 1), (2, 2)]
    assert phases[1].learning_rate == pytest.approx(0.001)
    assert phases[1].trainable_parameters > phases[0].trainable_parameters
    epochs = recorder.of_type(EpochEnd)
    assert [(e.epoch, e.phase) for e in epochs] == [(1, 1), (2, 2)]
    batches = recorder.of_type(BatchEnd)
    for phase, lr in ((1, 0.01), (2, 0.001)):
        rates = [b.learning_rate for b in batches if b.phase == phase]
        assert rates and rates == pytest.approx([lr] * len(rates))
    assert batches[-1].step == len(batches)  # steps keep counting across phases


class StopAfter(Observer):
    def __init__(self, token, batches):
        self.token, self.batches, self.seen = token, batches, 0

    def on_train_batch_end(self, event):
        self.seen += 1
        if self.seen == self.batches:
            self.token.request_stop()


@pytest.mark.slow
def test_stop_after_two_batches_gives_stopped_and_a_loadable_model(demo_folder, tmp_path):
    import keras

    token = StopToken()
    observer = StopAfter(token, 2)
    result = Trainer().run(tiny_project(demo_folder, **{"training.epochs": 5}), observer, token,
                           run_dir=tmp_path / "run")

    assert result.status is RunStatus.STOPPED
    assert observer.seen == 2  # stopped within one batch
    assert result.history == []  # the partial epoch is never recorded
    assert {p.name for p in (tmp_path / "run").iterdir()} == RUN_FILES - {"resume.npz"}  # no epoch to resume
    model = keras.saving.load_model(tmp_path / "run" / "model.keras")
    assert model.predict(np.zeros((1, 32, 32, 3), np.float32), verbose=0).shape == (1, 3)


@pytest.mark.slow
@pytest.mark.parametrize("lr", [1e38, 1e8])
def test_a_diverging_loss_stops_the_run_names_the_lr_and_keeps_finite_weights(demo_folder, tmp_path, lr):
    import keras

    project = tiny_project(demo_folder, **{"optimizer.name": "sgd", "optimizer.learning_rate": lr,
                                           "schedule.name": "constant", "model.freeze": 0, "training.epochs": 5})
    result = Trainer().run(project, run_dir=tmp_path / "run")

    assert result.status is RunStatus.FAILED
    assert "the loss " in result.message and "at epoch 1 step" in result.message
    assert f"the learning rate {lr:.3g} is too high" in result.message and "lower it" in result.message
    model = keras.saving.load_model(tmp_path / "run" / "model.keras")
    assert all(np.isfinite(w).all() for w in model.get_weights())


@pytest.mark.slow
def test_same_seed_gives_the_same_history(demo_folder, tmp_path):
    project = tiny_project(demo_folder, **{"augment.flip": True, "augment.rotate": 10.0})
    first = Trainer().run(project, run_dir=tmp_path / "a")
    second = Trainer().run(project, run_dir=tmp_path / "b")
    assert first.status is second.status is RunStatus.FINISHED
    assert [row["loss"] for row in first.history] == pytest.approx([row["loss"] for row in second.history],
                                                                   rel=1e-6)
    assert (tmp_path / "a" / "steps.csv").read_text() == (tmp_path / "b" / "steps.csv").read_text()


def test_bad_data_folder_fails_with_a_message_and_no_crash(tmp_path):
    (tmp_path / "only_one" / "cats").mkdir(parents=True)
    from PIL import Image

    Image.new("RGB", (40, 40), "red").save(tmp_path / "only_one" / "cats" / "a.png")
    result = Trainer().run(tiny_project(tmp_path / "only_one"), run_dir=tmp_path / "run")
    assert result.status is RunStatus.FAILED
    assert "class" in result.message.lower()


def test_existing_run_folder_is_never_overwritten(demo_folder, tmp_path):
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    (run_dir / "model.keras").write_text("precious")
    result = Trainer().run(tiny_project(demo_folder), run_dir=run_dir)
    assert result.status is RunStatus.FAILED and "already holds files" in result.message
    assert (run_dir / "model.keras").read_text() == "precious"


def test_run_folder_summary_and_where_gui_runs_go(tmp_path):
    """The run lists' line is read by the core (no Qt): backbone, epochs, accuracy, whether a model is there."""
    from tlstudio.runs.folder import RunFolderWriter, runs_root, summarize_run

    writer = RunFolderWriter(tmp_path / "20261130-081600-squeezenet1_1")
    writer.write_config(Project().copy_with(**{"model.backbone": "squeezenet1_1"}))
    writer.write_labels(["a", "b"])
    for epoch in (1, 2):
        writer.add_epoch({"epoch": epoch, "loss": 1.0, "accuracy": 0.5, "val_loss": 1.0, "val_accuracy": 0.5,
                          "lr": 0.01})
    writer.write_metrics({"val_accuracy": 0.975})
    writer.close()
    summary = summarize_run(writer.path)
    assert (summary.backbone, summary.epochs, summary.val_accuracy, summary.has_model) == (
        "squeezenet1_1", 2, 0.975, False)
    assert summary.label == "30 Nov 08:16 · SqueezeNet 1.1 · 2 epochs · val acc 97.5%"
    assert runs_root(tmp_path / "p.json", "/data/x", tmp_path / "app") == tmp_path / "runs"
    assert runs_root(None, "/data/my photos", tmp_path / "app") == tmp_path / "app" / "runs" / "my_photos"
    assert runs_root(None, None, tmp_path / "app") == tmp_path / "app" / "runs" / "untitled"


@pytest.mark.slow
def test_tensorboard_event_files_when_asked(demo_folder, tmp_path):
    result = Trainer().run(tiny_project(demo_folder, **{"training.tensorboard": True, "training.epochs": 1}),
                           run_dir=tmp_path / "run")
    assert result.status is RunStatus.FINISHED, result.message
    for split in ("train", "validation"):
        assert list((tmp_path / "run" / "tensorboard" / split).glob("events.out.tfevents.*"))


def test_tensorboard_without_its_package_is_one_sentence_before_training(monkeypatch, demo_folder):
    import importlib.util

    from tlstudio.train.readiness import training_blocker

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "tensorboard" else real(name, *a))
    project = tiny_project(demo_folder, **{"training.tensorboard": True})
    assert training_blocker(project) == ("TensorBoard logs need the tensorboard package; install it (pip install "
                                         "tensorboard) or untick them.")


@pytest.mark.slow
def test_frozen_features_are_kept_on_disk_for_the_next_run_on_the_same_data(demo_folder, tmp_path, monkeypatch):
    monkeypatch.setenv("TLSTUDIO_CACHE_DIR", str(tmp_path / "cache"))
    project = tiny_project(demo_folder, **{"model.freeze": "all", "model.backbone": "squeezenet1_1"})
    first, second, other_lr = RecordingObserver(), RecordingObserver(), RecordingObserver()
    a = Trainer().run(project, first, run_dir=tmp_path / "a")
    b = Trainer().run(project, second, run_dir=tmp_path / "b")
    c = Trainer().run(project.copy_with(**{"optimizer.learning_rate": 0.001}), other_lr, run_dir=tmp_path / "c")
    assert a.status is b.status is c.status is RunStatus.FINISHED
    logs = [[e for e in r.events if isinstance(e, str)] for r in (first, second, other_lr)]
    assert not any("read from disk" in line for line in logs[0])
    assert any(line.startswith("feature cache: backbone features of") for line in logs[1])
    assert any("read from disk" in line for line in logs[2])
    assert "read from disk" in second.of_type(PhaseBegin)[0].feature_cache_note
    assert a.history == b.history  # the same features, so the same run
    assert len(list((tmp_path / "cache" / "features").glob("*.npz"))) == 1
    # Another backbone's (or other weights') features are never taken for these.
    Trainer().run(project.copy_with(**{"model.weights": "imagenet"}), run_dir=tmp_path / "d")
    assert len(list((tmp_path / "cache" / "features").glob("*.npz"))) == 2


@pytest.mark.slow
def test_class_weights_and_balanced_sampling_on_imbalanced_data(tmp_path):
    from tlstudio.data.demo import make_demo_dataset
    from tlstudio.train.inputs import balanced_class_weights

    folder = make_demo_dataset(tmp_path / "data", per_class=6, size=48, seed=1)
    extra = make_demo_dataset(tmp_path / "more", per_class=24, size=48, seed=2)
    for image in (extra / "circle").iterdir():  # circles: 30 images, squares and triangles: 6 each
        image.rename(folder / "circle" / f"more-{image.name}")
    assert balanced_class_weights([0] * 30 + [1] * 6 + [2] * 6, 3) == pytest.approx({0: 42 / 90, 1: 42 / 18,
                                                                                       2: 42 / 18})
    recorder = RecordingObserver()
    project = tiny_project(folder, **{"training.class_weights": "balanced", "training.balanced_sampling": True,
                                      "model.backbone": "squeezenet1_1", "model.freeze": "all"})
    result = Trainer().run(project, recorder, run_dir=tmp_path / "run")
    assert result.status is RunStatus.FINISHED, result.message
    logs = [e for e in recorder.events if isinstance(e, str)]
    assert any(line.startswith("class weights (balanced): circle 0.") for line in logs)
    assert any(line.startswith("balanced sampling:") for line in logs)
    recall = [line for line in logs if "validation recall per class" in line]
    assert len(recall) == 2 and "circle" in recall[0] and "triangle" in recall[0]


def test_balanced_sampling_draws_classes_equally():
    import numpy as np

    from tlstudio.data.pipeline import feature_training_dataset

    labels = np.array([0] * 90 + [1] * 10)
    features = np.random.default_rng(0).normal(size=(100, 4)).astype(np.float32)
    dataset = feature_training_dataset(features, labels, 2, 20, seed=0, balanced=True)
    seen = np.concatenate([y.numpy().argmax(1) for _, y in dataset.take(50)])
    assert len(seen) == 1000 and abs((seen == 1).mean() - 0.5) < 0.06


@pytest.mark.slow
def test_polyak_averaging_validates_and_saves_the_average_and_reports_both(demo_folder, tmp_path):
    import keras

    project = tiny_project(demo_folder, **{"optimizer.ema": 0.5, "model.backbone": "squeezenet1_1",
                                           "model.freeze": "all", "training.epochs": 3})
    result = Trainer().run(project, run_dir=tmp_path / "run")
    assert result.status is RunStatus.FINISHED, result.message
    ema = result.metrics["ema"]
    assert ema["decay"] == 0.5 and ema["epoch"] == 3
    assert 0 <= ema["val_accuracy_averaged"] <= 1 and 0 <= ema["val_accuracy_raw"] <= 1
    saved = keras.saving.load_model(tmp_path / "run" / "model.keras").get_weights()
    with np.load(tmp_path / "run" / "resume.npz") as state:
        raw = [state[f"w{i}"] for i in range(len(saved))]
    assert any(not np.allclose(a, b) for a, b in zip(saved, raw, strict=True))  # the average, not the raw


def test_cli_ema_flag_takes_an_optional_decay(tmp_path):
    from tlstudio.cli.main import build_parser
    from tlstudio.cli.options import resolve_project

    def ema(*flags):
        return resolve_project(build_parser().parse_args(["train", "--data", str(tmp_path), *flags])).optimizer.ema

    assert (ema(), ema("--ema"), ema("--ema", "0.995")) == (None, 0.99, 0.995)


@pytest.mark.slow
def test_snapshot_ensemble_keeps_a_model_at_each_cycle_end_and_averages_the_last_ones(demo_folder, tmp_path):
    import json

    import keras

    project = tiny_project(demo_folder, **{
        "model.backbone": "squeezenet1_1", "model.weights": "imagenet", "model.image_size": 48,
        "model.freeze": "all", "training.epochs": 4, "schedule.name": "cosine-restarts",
        "schedule.restart_epochs": 1.0, "schedule.period_multiplier": 1.0, "training.snapshot_ensemble": 3,
        "optimizer.learning_rate": 3e-3})
    result = Trainer().run(project, run_dir=tmp_path / "run")
    assert result.status is RunStatus.FINISHED, result.message
    snapshots = json.loads((tmp_path / "run" / "snapshots" / "snapshots.json").read_text())
    assert [s["epoch"] for s in snapshots] == [1, 2, 3, 4]  # one cycle an epoch: a snapshot at each end
    assert all((tmp_path / "run" / "snapshots" / s["file"]).is_file() for s in snapshots)
    ensemble = result.metrics["ensemble"]
    assert ensemble["kind"] == "snapshots" and len(ensemble["members"]) == 3 and ensemble["shared_backbone"]
    included = [m for m in ensemble["members"] if m["included"]]
    model = keras.saving.load_model(tmp_path / "run" / "model.keras", compile=False)
    members = [keras.saving.load_model(tmp_path / "run" / "snapshots" / f"epoch-{m['run'].split()[-1]}.keras",
                                       compile=False) for m in included]
    images = np.random.default_rng(0).uniform(0, 255, (4, 48, 48, 3)).astype(np.float32)
    np.testing.assert_allclose(model.predict_on_batch(images),
                               np.mean([m.predict_on_batch(images) for m in members], axis=0), rtol=1e-5, atol=1e-6)


def test_a_snapshot_ensemble_needs_cosine_restarts(demo_folder):
    from tlstudio.train.readiness import training_blocker

    project = tiny_project(demo_folder, **{"training.snapshot_ensemble": 3})
    assert "choose cosine with restarts" in training_blocker(project)
