"""The headless CLI end to end: demo-data, scan, train; and bad flags in one line."""

import json
import subprocess
import sys

import numpy as np
import pytest

from tlstudio.cli import main


def run_cli(*args, cwd=None):
    return subprocess.run([sys.executable, "-m", "tlstudio", *map(str, args)], capture_output=True,
                          text=True, cwd=cwd, timeout=600)


@pytest.mark.slow
def test_demo_data_scan_train_and_the_model_reloads_in_a_fresh_process(tmp_path):
    data = tmp_path / "shapes"
    made = run_cli("demo-data", data, "--per-class", 10, "--size", 48)
    assert made.returncode == 0, made.stderr

    scanned = run_cli("scan", data, "--json")
    assert scanned.returncode == 0, scanned.stderr
    report = json.loads(scanned.stdout)
    assert report["classes"] == ["circle", "square", "triangle"] and report["images"] == 30
    assert set(report) >= {"classes", "counts", "images", "skipped", "ignored", "warnings", "errors"}

    out = tmp_path / "runs" / "first"
    trained = run_cli("train", "--data", data, "--backbone", "mobilenet_v2", "--weights", "none",
                      "--image-size", 32, "--epochs", 2, "--batch-size", 8, "--lr", 0.01,
                      "--augment", "flip,rotate", "--out", out, "--save-project", tmp_path / "p.json")
    assert trained.returncode == 0, trained.stderr
    assert "validation accuracy" in trained.stdout and str(out) in trained.stdout
    assert "epoch 2/2" in trained.stdout
    metrics = json.loads((out / "metrics.json").read_text())

    # The validation images, decoded exactly as training decoded them.
    from tlstudio.data import load_images, scan
    from tlstudio.settings.project import Project

    project = Project.load(tmp_path / "p.json")
    split = project.split(scan(data))
    images = load_images([item.path for item in split.val], 32, project.data.resize)
    np.save(tmp_path / "val.npy", images)
    labels = np.array([item.label for item in split.val])

    # A process that never imports tlstudio: the saved model needs nothing of ours.
    code = ("import sys, numpy as np, keras;"
            f"m = keras.saving.load_model({str(out / 'model.keras')!r});"
            f"p = m.predict(np.load({str(tmp_path / 'val.npy')!r}).astype('float32'), verbose=0);"
            "print(' '.join(map(str, p.argmax(1)))); assert 'tlstudio' not in sys.modules")
    fresh = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert fresh.returncode == 0, fresh.stderr
    predicted = np.array(fresh.stdout.split(), dtype=int)
    assert len(predicted) == len(labels)
    assert (predicted == labels).mean() == pytest.approx(metrics["val_accuracy"])

    # The saved project reproduces the run from the file alone.
    again = run_cli("train", tmp_path / "p.json", "--out", tmp_path / "runs" / "second", "--quiet")
    assert again.returncode == 0, again.stderr
    first_history = (out / "history.csv").read_text()
    assert (tmp_path / "runs" / "second" / "history.csv").read_text() == first_history

    # One more epoch on the first run, in its own folder, from where it ended.
    more = run_cli("train", "--continue", out, "--epochs", 1, "--quiet")
    assert more.returncode == 0, more.stderr
    assert "epoch 3/3" in more.stdout
    assert (out / "history.csv").read_text().startswith(first_history)
    assert len((out / "history.csv").read_text().splitlines()) == 4


@pytest.mark.parametrize("argv, expected", [
    (["train", "--data", ".", "--optimizer", "lion"],
     "--optimizer: invalid choice: 'lion' (choose from 'sgd', 'momentum'"),
    (["train", "--data", ".", "--schedule", "linear"], "--schedule: invalid choice: 'linear'"),
    (["train", "--data", ".", "--lr", "-1"], "--lr -1.0: "),
    (["train", "--data", ".", "--freeze", "most"], "--freeze most: must be 'all' or a number"),
    (["train", "--data", ".", "--augment", "blur"], "--augment: unknown augmentation 'blur'; choose from: flip"),
    (["train"], "no data folder: give --data FOLDER"),
    (["train", "--continue", "runs/x"], "--continue needs --epochs N"),
    (["train", "--data", ".", "--beta-1", "1.5"], "--beta-1 1.5: "),
    (["train", "--data", ".", "--schedule", "inverse-time", "--inverse-time-rate", "0"], "--inverse-time-rate 0.0: "),
    (["train", "--resume", "runs/x", "--lr", "0.1"], "--resume goes on with the run's own settings and folder; "
                                                     "drop --lr"),
])
def test_bad_flag_is_one_line_naming_the_flag(argv, expected, capsys):
    with pytest.raises(SystemExit) as raised:
        sys.exit(main(argv))
    assert raised.value.code == 2
    err = capsys.readouterr().err.strip()
    assert expected in err
    assert len(err.splitlines()) == 1


def test_every_optimizer_and_schedule_parameter_has_a_flag(tmp_path):
    from tlstudio.cli.main import build_parser
    from tlstudio.cli.options import resolve_project

    args = build_parser().parse_args([
        "train", "--data", str(tmp_path), "--optimizer", "adam", "--beta-1", "0.8", "--beta-2", "0.99",
        "--epsilon", "1e-7", "--rho", "0.95", "--initial-accumulator", "0.2", "--clipnorm", "1.5",
        "--schedule", "inverse-time", "--inverse-time-rate", "2", "--step-epochs", "3", "--gamma", "0.5",
        "--decay-rate", "0.8", "--plateau-factor", "0.3", "--plateau-patience", "4", "--plateau-min-lr", "1e-5"])
    project = resolve_project(args)
    assert (project.optimizer.beta_1, project.optimizer.beta_2, project.optimizer.epsilon) == (0.8, 0.99, 1e-7)
    assert (project.optimizer.rho, project.optimizer.initial_accumulator, project.optimizer.clipnorm) == (
        0.95, 0.2, 1.5)
    schedule = project.schedule
    assert (schedule.name, schedule.inverse_time_rate, schedule.step_epochs, schedule.gamma) == (
        "inverse-time", 2.0, 3, 0.5)
    assert (schedule.decay_rate, schedule.plateau_factor, schedule.plateau_patience, schedule.plateau_min_lr) == (
        0.8, 0.3, 4, 1e-5)


def test_scan_reports_errors_with_exit_status(tmp_path, capsys):
    (tmp_path / "one").mkdir()
    assert main(["scan", str(tmp_path)]) == 1
    assert "error" in capsys.readouterr().out.lower()


@pytest.mark.slow
def test_ctrl_c_stops_gracefully_and_keeps_the_run(tmp_path):
    import signal
    import time

    from tlstudio.data.demo import make_demo_dataset

    data = make_demo_dataset(tmp_path / "shapes", per_class=10, size=48, seed=0)
    out = tmp_path / "run"
    process = subprocess.Popen(
        [sys.executable, "-m", "tlstudio", "train", "--data", str(data), "--weights", "none", "--image-size",
         "32", "--epochs", "500", "--batch-size", "8", "--freeze", "0", "--out", str(out)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 240
    while not (out / "history.csv").is_file() or len((out / "history.csv").read_text().splitlines()) < 2:
        assert process.poll() is None and time.monotonic() < deadline, process.communicate()
        time.sleep(0.2)
    process.send_signal(signal.SIGINT)
    stdout, stderr = process.communicate(timeout=240)
    assert process.returncode == 3, stderr
    assert "stopped" in stdout and "stopping after this batch" in stderr
    assert {p.name for p in out.iterdir()} >= {"model.keras", "metrics.json", "history.csv", "steps.csv"}


@pytest.mark.slow
def test_train_with_defaults_only_learns_offline(tmp_path):
    """A first run with no flags picks a pretrained backbone that loads without the network and learns."""
    import os

    env = dict(os.environ, KERAS_HOME=str(tmp_path / "empty-keras"))  # nothing downloaded, ever
    data = tmp_path / "shapes"
    assert subprocess.run([sys.executable, "-m", "tlstudio", "demo-data", str(data), "--per-class", "16",
                           "--size", "64"], capture_output=True, text=True, env=env).returncode == 0
    out = tmp_path / "run"
    trained = subprocess.run([sys.executable, "-m", "tlstudio", "train", "--data", str(data), "--out", str(out)],
                             capture_output=True, text=True, env=env, timeout=600)
    assert trained.returncode == 0, trained.stderr
    assert trained.stdout.startswith("training squeezenet1_1 at 227 px")
    config = json.loads((out / "config.json").read_text())
    assert (config["model"]["backbone"], config["model"]["weights"], config["model"]["freeze"]) == (
        "squeezenet1_1", "imagenet", "all")
    assert json.loads((out / "metrics.json").read_text())["val_accuracy"] >= 0.8  # chance is 0.33
