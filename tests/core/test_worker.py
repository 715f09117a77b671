"""The training worker without Qt: the versioned message stream, the worker process (stop, end of
stdin, a crash, a SIGKILL), and resuming / continuing a run from its last completed epoch."""

from __future__ import annotations

import csv
import json
import math
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tlstudio.settings.project import Project
from tlstudio.train import (
    BatchEnd,
    EpochEnd,
    PhaseBegin,
    PrepareProgress,
    RecordingObserver,
    RunResult,
    RunStatus,
    StopToken,
    TrainBegin,
    TrainEnd,
    Trainer,
)
from tlstudio.train.worker.messages import (
    PROTOCOL_VERSION,
    MessageError,
    MessageWriter,
    TrainingJob,
    decode,
    encode_control,
    encode_event,
    encode_job,
    encode_result,
)

HERE = Path(__file__).parent

EVENTS = [
    PrepareProgress("decoding images", 3, 10),
    TrainBegin("/runs/a", ("cat", "dog"), 30, 6, 4, 4, 16, 8, "CPU", 48, "squeezenet1_1", 2, 8),
    PhaseBegin(2, 3, 9, 1e-4, 1000, 2000, "fine-tuning", False, "the backbone changes"),
    EpochEnd(3, 4, 0.5, 0.8, float("nan"), 0.75, 1e-3, 1.5, 20.0, True, 1, 2.0),
    TrainEnd(RunStatus.STOPPED, "stopped.", "/runs/a", 3, 2, 0.75, 0.6, 12.0),
]


def test_every_event_survives_the_round_trip():
    for event in EVENTS:
        back = decode(encode_event(event)).payload
        assert type(back) is type(event)
        for name, value in vars(event).items():
            other = getattr(back, name)
            assert other == value or (isinstance(value, float) and math.isnan(value) and math.isnan(other)), name
    batch = BatchEnd(5, 2, 1, 4, 0.3, 0.5, 1e-3, 99.0, 1, 7.5)
    assert decode(encode_event(batch)).payload == (batch,)
    result = RunResult(RunStatus.FINISHED, "finished.", Path("/runs/a"), {"val_accuracy": 0.9}, [{"epoch": 1.0}])
    assert decode(encode_result(result)).payload == result
    job = TrainingJob({"model": {"backbone": "x"}}, "/runs/a", "continue", 3)
    assert decode(encode_job(job)).payload == job


def test_unknown_fields_are_ignored_and_newer_versions_refused():
    line = json.loads(encode_event(EVENTS[0]))
    line["event"]["colour"] = "blue"  # a newer writer's extra field
    assert decode(json.dumps(line)).payload == EVENTS[0]
    line["v"] = PROTOCOL_VERSION + 1
    with pytest.raises(MessageError, match="newer"):
        decode(json.dumps(line))
    for bad in ("not json", "[1, 2]", '{"v": 1}', '{"v": 1, "type": "prepare", "event": {"stage": 1}}'):
        with pytest.raises(MessageError):
            decode(bad)
    assert decode(encode_control("heartbeat")).type == "heartbeat"


def test_batches_are_grouped_but_epochs_never_overtake_them():
    lines = []
    writer = MessageWriter(lines.append, interval_s=60.0)
    writer.on_train_batch_end(BatchEnd(1, 1, 1, 2, 1.0, 0.5, 1e-3, 1.0, 1))  # first one goes at once
    writer.on_train_batch_end(BatchEnd(2, 1, 2, 2, 1.0, 0.5, 1e-3, 1.0, 1))  # held back
    writer.on_epoch_end(EVENTS[3])
    kinds = [decode(line).type for line in lines]
    assert kinds == ["batches", "batches", "epoch_end"]


def start_worker(job: TrainingJob, *extra_path: Path) -> subprocess.Popen:
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(HERE), *map(str, extra_path),
                                                       os.environ.get("PYTHONPATH", "")]))
    process = subprocess.Popen([sys.executable, "-m", "tlstudio.train.worker.process"], stdin=subprocess.PIPE,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    process.stdin.write(encode_job(job))
    process.stdin.flush()
    return process


def read_until(process: subprocess.Popen, wanted, timeout: float = 120.0) -> list:
    """Messages until one of type `wanted` (or a predicate) arrives; fails on EOF or timeout."""
    deadline = time.monotonic() + timeout
    seen = []
    while time.monotonic() < deadline:
        line = process.stdout.readline()
        if not line:
            pytest.fail(f"the worker ended early (exit {process.wait()}): {process.stderr.read()[-2000:]}")
        message = decode(line)
        seen.append(message)
        if (message.type == wanted) if isinstance(wanted, str) else wanted(message):
            return seen
    pytest.fail(f"no {wanted} message within {timeout} s")


def test_worker_stops_on_request_and_on_the_end_of_its_stdin(tmp_path):
    for how in ("stop", "eof"):
        job = TrainingJob(Project().to_dict(), str(tmp_path / how), trainer="worker_fakes:UntilStopped")
        process = start_worker(job)
        seen = read_until(process, "batches", timeout=60)
        assert seen[0].type == "hello" and seen[0].fields["pid"] == process.pid
        if how == "stop":
            process.stdin.write(encode_control("stop"))
            process.stdin.flush()
        else:
            process.stdin.close()  # what the app's death looks like from the worker
        seen = read_until(process, "result", timeout=30)
        assert seen[-1].payload.status is RunStatus.STOPPED
        assert process.wait(timeout=30) == 0
        assert (tmp_path / how / "stopped-cleanly").is_file()
        assert "stray print" in process.stderr.read()


def test_a_crashing_trainer_is_a_failed_result_not_a_dead_worker(tmp_path):
    job = TrainingJob(Project().to_dict(), str(tmp_path / "run"), trainer="worker_fakes:Crashes")
    process = start_worker(job)
    seen = read_until(process, "result", timeout=60)
    result = seen[-1].payload
    assert result.status is RunStatus.FAILED and "RuntimeError: boom" in result.message
    assert any(m.type == "log" and "Traceback" in m.payload for m in seen)
    assert process.wait(timeout=30) == 0


def tiny(folder, **changes) -> Project:
    settings = {"data.folder": str(folder), "model.backbone": "squeezenet1_1", "model.image_size": 32,
                "model.weights": "none", "model.freeze": 0, "training.epochs": 4, "training.batch_size": 8,
                "training.seed": 3, "optimizer.name": "adam", "optimizer.learning_rate": 1e-3,
                "schedule.name": "exponential", "training.image_cache": False}
    settings.update(changes)
    return Project().copy_with(**settings)


def rows(path: Path) -> list[dict]:
    with open(path, newline="") as handle:
        return list(csv.DictReader(handle))


@pytest.mark.slow
def test_continue_extends_history_and_steps_without_a_gap_and_the_lr_goes_on(demo_folder, tmp_path):
    run = tmp_path / "run"
    first = Trainer().run(tiny(demo_folder, **{"training.epochs": 2}), run_dir=run)
    assert first.status is RunStatus.FINISHED, first.message
    recorder = RecordingObserver()
    second = Trainer().resume(run, recorder, more_epochs=2)
    assert second.status is RunStatus.FINISHED, second.message

    begin = recorder.of_type(TrainBegin)[0]
    assert (begin.epochs_done, begin.epochs, begin.steps_done) == (2, 4, 2 * begin.steps_per_epoch)
    assert [int(r["epoch"]) for r in rows(run / "history.csv")] == [1, 2, 3, 4]
    steps = rows(run / "steps.csv")
    assert [int(r["step"]) for r in steps] == list(range(1, 4 * begin.steps_per_epoch + 1))
    # Exponential decay per epoch (0.9 by default) goes on from step 2 x steps_per_epoch: no restart.
    lrs = [float(r["lr"]) for r in steps]
    assert lrs[2 * begin.steps_per_epoch] == pytest.approx(1e-3 * 0.9 ** 2, rel=1e-4)
    assert all(a > b for a, b in zip(lrs, lrs[1:], strict=False))
    assert json.loads((run / "status.json").read_text())["status"] == "FINISHED"
    assert json.loads((run / "metrics.json").read_text())["epochs_completed"] == 4


@pytest.mark.slow
def test_a_killed_worker_keeps_its_epochs_and_resume_finishes_the_run(demo_folder, tmp_path):
    run = tmp_path / "run"
    job = TrainingJob(tiny(demo_folder).to_dict(), str(run))
    process = start_worker(job)
    read_until(process, lambda m: m.type == "epoch_end" and m.payload.epoch == 2)
    process.send_signal(signal.SIGKILL)
    assert process.wait(timeout=30) == -signal.SIGKILL

    assert (run / "model.keras").is_file() and (run / "resume.npz").is_file()
    assert json.loads((run / "status.json").read_text())["status"] == "RUNNING"
    kept = [int(r["epoch"]) for r in rows(run / "history.csv")]
    assert kept[:2] == [1, 2]

    recorder = RecordingObserver()
    result = Trainer().resume(run, recorder)
    assert result.status is RunStatus.FINISHED, result.message
    assert [int(r["epoch"]) for r in rows(run / "history.csv")] == [1, 2, 3, 4]
    begin = recorder.of_type(TrainBegin)[0]
    assert [int(r["step"]) for r in rows(run / "steps.csv")] == list(range(1, 4 * begin.steps_per_epoch + 1))
    assert recorder.of_type(EpochEnd)[0].epoch == begin.epochs_done + 1
    again = Trainer().resume(run)
    assert again.status is RunStatus.FAILED and "continue it with more epochs" in again.message


def test_a_run_that_fails_before_its_first_epoch_leaves_no_folder(demo_folder, tmp_path):
    token = StopToken()
    token.request_stop()  # stopped while the images decode: the run folder exists, no epoch ran
    result = Trainer().run(tiny(demo_folder), stop_token=token, run_dir=tmp_path / "run")
    assert result.status is RunStatus.FAILED and result.run_dir is None
    assert "no run folder was kept" in result.message
    assert not (tmp_path / "run").exists()
