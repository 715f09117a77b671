"""A fake Trainer that replays a run's events (and writes a small run folder) without TensorFlow.

It runs in the app's worker process, so `configure_fake` passes its settings through an environment
variable the worker inherits.
"""

from __future__ import annotations

import csv
import json
import os
import time
from pathlib import Path

from tlstudio.settings.project import Project
from tlstudio.train.events import (
    BatchEnd,
    EpochEnd,
    Observer,
    PhaseBegin,
    PrepareProgress,
    RunResult,
    RunStatus,
    StopToken,
    TrainBegin,
    TrainEnd,
)


class FakeTrainer:
    """Replays `epochs` x `steps` batches. Class attributes configure what the next run does."""

    epochs = 3
    steps = 5
    batch_delay = 0.0
    fail_with: str | None = None  # return FAILED with this message after the first epoch
    raise_error: Exception | None = None  # raise this from run() (a bug in the trainer)
    wait_for_stop = False  # keep stepping (slowly) until Stop is pressed
    phase_two_epochs = 0
    prepare_steps: tuple[int, ...] = (0, 5, 10)  # images decoded, as reported before training
    feature_cache = False  # what phase 1's PhaseBegin says about the frozen-feature cache
    feature_cache_note = ""

    def run(self, project: Project, observer: Observer | None = None, stop_token: StopToken | None = None,
            run_dir: Path | None = None) -> RunResult:
        for key, value in json.loads(os.environ.get(SETTINGS_VARIABLE, "{}")).items():
            setattr(self, key, tuple(value) if key == "prepare_steps" else value)
        observer = observer or Observer()
        stop_token = stop_token or StopToken()
        if self.raise_error is not None:
            name, _, text = self.raise_error.partition(": ")
            raise {"RuntimeError": RuntimeError, "MemoryError": MemoryError}.get(name, Exception)(text)
        run_dir = Path(run_dir)
        run_dir.mkdir(parents=True, exist_ok=True)
        (run_dir / "config.json").write_text(project.to_json())
        (run_dir / "status.json").write_text(json.dumps({"status": "RUNNING"}))
        (run_dir / "labels.txt").write_text("circle\nsquare\ntriangle\n")
        for done in self.prepare_steps:
            observer.on_prepare(PrepareProgress("decoding images", done, self.prepare_steps[-1]))
        epochs = self.epochs + self.phase_two_epochs
        total_steps = epochs * self.steps
        observer.on_train_begin(TrainBegin(str(run_dir), ("circle", "square", "triangle"), 30, 6, epochs,
                                           self.steps, total_steps, 8, "CPU (fake)", 48, project.model.backbone))
        observer.on_phase_begin(PhaseBegin(1, 1, 1, 1e-3, 3843, 2_200_000, "training the head",
                                           self.feature_cache, self.feature_cache_note))
        observer.on_log("fake run started")
        history, steps_rows = [], []
        status, message = RunStatus.FINISHED, f"finished {epochs} epochs; validation accuracy 90.0%."
        step = 0
        epoch = 0
        while epoch < epochs or (self.wait_for_stop and not stop_token.stop_requested):
            epoch += 1
            phase = 2 if epoch > self.epochs else 1
            if phase == 2 and epoch == self.epochs + 1:
                observer.on_phase_begin(PhaseBegin(2, epoch, step + 1, 1e-4, 400_000, 1_800_000, "fine-tuning", False,
                                                   "fine-tuning updates the backbone, so its features change"))
            for batch in range(1, self.steps + 1):
                step += 1
                loss = 1.5 / (1 + 0.3 * step)
                lr = 1e-3 * (0.9 ** step)
                observer.on_train_batch_end(BatchEnd(step, epoch, batch, self.steps, loss, 0.5, lr, 120.0, phase,
                                                     eta_seconds=float(total_steps - step)))
                steps_rows.append({"step": step, "epoch": epoch, "loss": loss, "lr": lr})
                if self.batch_delay:
                    time.sleep(self.batch_delay)
                if stop_token.stop_requested:
                    break
            if stop_token.stop_requested:
                status, message = RunStatus.STOPPED, f"stopped after {epoch - 1} complete epoch(s)."
                break
            row = {"epoch": epoch, "loss": 1.0 / epoch, "accuracy": 0.5 + 0.1 * epoch, "val_loss": 1.1 / epoch,
                   "val_accuracy": 0.45 + 0.1 * epoch, "lr": 1e-3}
            history.append(row)
            observer.on_epoch_end(EpochEnd(epoch, max(epochs, epoch), row["loss"], row["accuracy"], row["val_loss"],
                                           row["val_accuracy"], 1e-3, 0.5, 100.0, True, phase, 1.0))
            if self.fail_with and epoch == 1:
                status, message = RunStatus.FAILED, self.fail_with
                break
        self._write(run_dir, history, steps_rows)
        metrics = {"val_accuracy": 0.9, "val_loss": 0.3, "best_epoch": len(history), "seconds": 1.0}
        (run_dir / "metrics.json").write_text(json.dumps(metrics))
        (run_dir / "status.json").write_text(json.dumps({"status": status.value, "message": message}))
        observer.on_train_end(TrainEnd(status, message, str(run_dir), len(history), len(history), 0.9, 0.3, 1.0))
        return RunResult(status, message, run_dir, metrics, history)

    @staticmethod
    def _write(run_dir: Path, history: list[dict], steps: list[dict]) -> None:
        for name, rows, columns in (("history.csv", history, ["epoch", "loss", "accuracy", "val_loss",
                                                                "val_accuracy", "lr"]),
                                    ("steps.csv", steps, ["step", "epoch", "loss", "lr"])):
            with open(run_dir / name, "w", newline="") as handle:
                writer = csv.DictWriter(handle, columns)
                writer.writeheader()
                writer.writerows(rows)
        (run_dir / "model.keras").write_bytes(b"fake model")


SETTINGS_VARIABLE = "TLSTUDIO_FAKE_TRAINER"
FAKE_TRAINER = "gui_fakes:FakeTrainer"
WORKER_ENVIRONMENT = {"PYTHONPATH": os.pathsep.join(filter(None, [str(Path(__file__).parent),
                                                                  os.environ.get("PYTHONPATH", "")]))}


def configure_fake(**settings) -> None:
    """What the next runs of FakeTrainer do (in the worker process); `raise_error` as "RuntimeError: boom"."""
    os.environ[SETTINGS_VARIABLE] = json.dumps(settings)


def project_trained(run_dir: Path) -> Project:
    """The settings a (fake) run was given, from its folder."""
    return Project.from_dict(json.loads((Path(run_dir) / "config.json").read_text()))
