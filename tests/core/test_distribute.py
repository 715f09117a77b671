"""tf.distribute: a mirrored run over two logical CPU devices and a two-worker run on localhost ports train
the same weights as one device with the same global batch; on a multi-worker run only the chief writes.

Logical devices and MultiWorkerMirroredStrategy must be set up before TensorFlow starts its runtime, so
the distributed runs are `tlstudio train` subprocesses (with timeouts, so a stuck collective never hangs
the suite); the single-device reference runs in this process.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from tlstudio.settings.project import Project, ProjectError

RUN_TIMEOUT_S = 240
# 30 images: 24 training in two full global batches of 12 (6 per replica), 6 validation.
FLAGS = ["--backbone", "squeezenet1_1", "--image-size", "32", "--batch-size", "12", "--epochs", "2",
         "--dropout", "0", "--lr", "1e-3", "--seed", "3", "--quiet"]
FINE_TUNE = ["--weights", "none", "--freeze", "0"]  # every backbone weight trains: gradients all-reduced
HEAD_ON_FEATURES = ["--weights", "imagenet", "--freeze", "all"]  # the feature-cache head trains
TOLERANCE = 1e-5


@pytest.fixture(scope="module")
def shapes(tmp_path_factory) -> Path:
    """The data folder, beside a project file that keeps float32 (bfloat16 would round the comparison away)."""
    from tlstudio.data.demo import make_demo_dataset

    folder = make_demo_dataset(tmp_path_factory.mktemp("data") / "shapes", per_class=10, size=32, seed=0)
    Project.from_dict({"training": {"mixed_precision": "off"}}).save(folder.parent / "float32.json")
    return folder


def _single_device_run(data: Path, flags: list[str], out: Path) -> list[np.ndarray]:
    from tlstudio.cli.main import build_parser
    from tlstudio.cli.options import resolve_project
    from tlstudio.train.events import RunStatus
    from tlstudio.train.trainer import Trainer

    project = resolve_project(build_parser().parse_args(["train", *_project(data), *FLAGS, *flags]))
    result = Trainer().run(project, run_dir=out)
    assert result.status is RunStatus.FINISHED, result.message
    return _trained_weights(out)


def _trained_weights(run_dir: Path) -> list[np.ndarray]:
    from tlstudio.train.resume import ResumePoint

    return ResumePoint.load(run_dir).model_weights  # the last epoch's weights


def _largest_difference(a: list[np.ndarray], b: list[np.ndarray]) -> float:
    assert [w.shape for w in a] == [w.shape for w in b]
    return max(float(np.max(np.abs(x - y))) for x, y in zip(a, b, strict=True) if x.size)


def _project(data: Path) -> list[str]:
    return [str(data.parent / "float32.json"), "--data", str(data)]


def _train_command(data: Path, flags: list[str], out: Path) -> list[str]:
    return [sys.executable, "-m", "tlstudio", "train", *_project(data), *FLAGS, *flags, "--out", str(out)]


def _free_ports(count: int) -> list[int]:
    sockets = [socket.socket() for _ in range(count)]
    try:
        for s in sockets:
            s.bind(("127.0.0.1", 0))
        return [s.getsockname()[1] for s in sockets]
    finally:
        for s in sockets:
            s.close()


def test_strategy_and_devices_are_validated_project_settings():
    project = Project.from_dict({"training": {"strategy": "mirrored", "devices": ["gpu:0", "GPU:1"]}})
    assert project.training.devices == ["GPU:0", "GPU:1"]
    assert Project().training.strategy == "auto"
    with pytest.raises(ProjectError, match=r"training.devices.*'GPU0' is not a device name"):
        Project.from_dict({"training": {"devices": ["GPU0"]}})
    with pytest.raises(ProjectError, match="training.strategy"):
        Project.from_dict({"training": {"strategy": "parameter-server"}})


def _finish(processes: list[subprocess.Popen]) -> list[tuple[str, str]]:
    """Every process's (stdout, stderr); none is left running, whatever happens."""
    try:
        return [process.communicate(timeout=RUN_TIMEOUT_S) for process in processes]
    finally:
        for process in processes:
            if process.poll() is None:
                process.kill()
                process.communicate()


def test_tf_config_says_who_is_chief_and_a_missing_one_names_the_fix(monkeypatch):
    from tlstudio.train.distribute import Distribution, DistributionError, cluster_config, is_chief

    monkeypatch.delenv("TF_CONFIG", raising=False)
    with pytest.raises(DistributionError, match="needs the cluster in the TF_CONFIG environment variable"):
        cluster_config()
    monkeypatch.setenv("TF_CONFIG", '{"cluster": {"worker": ["a:1"]}, "task": {"type": "worker", "index": 3}}')
    with pytest.raises(DistributionError, match="task index 3"):
        cluster_config()
    workers = {"worker": ["a:1", "b:1"]}
    assert is_chief({"cluster": workers, "task": {"type": "worker", "index": 0}})
    assert not is_chief({"cluster": workers, "task": {"type": "worker", "index": 1}})
    assert not is_chief({"cluster": {**workers, "chief": ["c:1"]}, "task": {"type": "worker", "index": 0}})
    four = Distribution(None, "mirrored", ("GPU:0", "GPU:1", "GPU:2", "GPU:3"), 4)
    assert four.describe(30) == "mirrored: 4 replicas (GPU:0, GPU:1, GPU:2, GPU:3), global batch 30 = 7-8 per replica"


@pytest.mark.slow
def test_mirrored_over_two_cpu_devices_trains_the_single_device_weights(shapes, tmp_path):
    out = tmp_path / "mirrored"
    process = subprocess.Popen(
        _train_command(shapes, [*FINE_TUNE, "--strategy", "mirrored", "--cpu-devices", "2"], out),
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:  # the reference trains while the subprocess starts
        reference = _single_device_run(shapes, FINE_TUNE, tmp_path / "single")
    finally:
        [(stdout, stderr)] = _finish([process])
    assert process.returncode == 0, stderr[-3000:]
    assert "2 replicas" in stdout  # the run's first line names the devices
    assert "strategy mirrored: 2 replicas (CPU:0, CPU:1), global batch 12 = 6 per replica" in stderr
    assert _largest_difference(reference, _trained_weights(out)) < TOLERANCE


@pytest.mark.slow
def test_two_workers_on_localhost_train_the_single_device_weights_and_only_the_chief_writes(shapes, tmp_path):
    cluster = {"worker": [f"localhost:{port}" for port in _free_ports(2)]}
    outs = [tmp_path / "chief-run", tmp_path / "worker-run"]
    scratch = [tmp_path / "chief-tmp", tmp_path / "worker-tmp"]
    caches = [tmp_path / "chief-cache", tmp_path / "worker-cache"]
    processes = []
    try:
        for index in range(2):
            scratch[index].mkdir()
            env = {**os.environ, "TF_CONFIG": json.dumps({"cluster": cluster, "task": {"type": "worker",
                                                                                      "index": index}}),
                   "TMPDIR": str(scratch[index]), "TLSTUDIO_CACHE_DIR": str(caches[index])}
            processes.append(subprocess.Popen(
                _train_command(shapes, [*HEAD_ON_FEATURES, "--strategy", "multi-worker"], outs[index]),
                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env))
        reference = _single_device_run(shapes, HEAD_ON_FEATURES, tmp_path / "single")
    finally:
        results = _finish(processes)
    for process, (stdout, stderr) in zip(processes, results, strict=True):
        assert process.returncode == 0, stderr[-3000:]
        assert "2 replicas" in stdout
    assert "this is worker 0 (the chief)" in results[0][1]
    assert "run folder: none here" in results[1][0]
    assert (outs[0] / "model.keras").is_file() and (outs[0] / "history.csv").is_file()
    assert not outs[1].exists()  # the other worker trained in a temporary folder and removed it
    assert not list(scratch[1].glob("tlstudio-*"))
    assert not caches[1].exists() or not any(caches[1].rglob("*.npz"))  # nor did it write the caches
    assert _largest_difference(reference, _trained_weights(outs[0])) < TOLERANCE
