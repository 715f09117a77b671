"""The run folder: written as training goes, read back for comparisons and evaluation.

    config.json   the resolved Project used
    labels.txt    class names, one a line, in output order
    history.csv   one row per epoch: epoch, loss, accuracy, val_loss, val_accuracy, lr
    steps.csv     one row per optimizer step: step, epoch, loss, lr
    model.keras   the best model (by val_loss), written atomically
    metrics.json  final validation metrics, confusion matrix, per-class precision/recall/F1
    status.json   how the run stands: RUNNING, FINISHED, STOPPED or FAILED, with a one-sentence message
    resume.npz    the last completed epoch's weights, optimizer state and counters: what resuming
                  (after a crash) and continuing (more epochs) start from
    tensorboard/  TensorBoard event files, when the project asks for them
    snapshots/    with cosine restarts: the model at each cycle's end (epoch-<n>.keras) and snapshots.json

CSV rows are flushed as they come, so a crash leaves every finished epoch on disk; a resumed or
continued run truncates them to the epoch it starts from and appends.
"""

from __future__ import annotations

import csv
import json
import math
import os
import re
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from tlstudio.backbones.registry import BACKBONES
from tlstudio.base.files import atomic_target, write_text_atomic
from tlstudio.data.images import ImageInput
from tlstudio.settings.project import Project

CONFIG_FILE = "config.json"
LABELS_FILE = "labels.txt"
HISTORY_FILE = "history.csv"
STEPS_FILE = "steps.csv"
MODEL_FILE = "model.keras"
METRICS_FILE = "metrics.json"
STATUS_FILE = "status.json"
TENSORBOARD_FOLDER = "tensorboard"  # with training.tensorboard: Keras's TensorBoard event files
RESUME_FILE = "resume.npz"
SNAPSHOTS_FOLDER = "snapshots"  # with cosine restarts: the model at each cycle end, and snapshots.json
ENSEMBLE_FILE = "ensemble.json"  # an ensemble's run folder: the runs it averages and how
RUNNING = "RUNNING"  # status.json while a run trains; left behind by a run whose process was killed
UNFINISHED = (RUNNING, "FAILED", "STOPPED")  # status.json of a run that ended before its planned epochs
HISTORY_COLUMNS = ("epoch", "loss", "accuracy", "val_loss", "val_accuracy", "lr")
STEP_COLUMNS = ("step", "epoch", "loss", "lr")


class RunFolderError(ValueError):
    """The run folder cannot be created or written; the message names it and the fix."""


def new_run_dir(root: str | os.PathLike, backbone: str, now: datetime | None = None) -> Path:
    """`root/<YYYYmmdd-HHMMSS>-<backbone>`, with a suffix if that name is taken."""
    stamp = (now or datetime.now()).strftime("%Y%m%d-%H%M%S")
    base = Path(root) / f"{stamp}-{backbone}"
    candidate, n = base, 2
    while candidate.exists():
        candidate = base.with_name(f"{base.name}-{n}")
        n += 1
    return candidate


class RunFolderWriter:
    """Writes a new run folder (empty or absent), or, with `keep_epochs`, reopens an existing one to
    resume or continue it after its first `keep_epochs` epochs (later rows are dropped)."""

    def __init__(self, run_dir: str | os.PathLike, keep_epochs: int | None = None) -> None:
        self.path = Path(run_dir)
        if keep_epochs is not None:
            if not is_run_folder(self.path):
                raise RunFolderError(f"{self.path} is not a TL Studio run folder (no {CONFIG_FILE}); choose "
                                     "a run made by 'tlstudio train' or the Train button.")
            self._history = self._reopen_csv(HISTORY_FILE, HISTORY_COLUMNS, keep_epochs)
            self._steps = self._reopen_csv(STEPS_FILE, STEP_COLUMNS, keep_epochs)
            return
        if self.path.exists() and any(self.path.iterdir()):
            raise RunFolderError(f"{self.path} already holds files; choose a new output folder so no run "
                                 "is overwritten.")
        try:
            self.path.mkdir(parents=True, exist_ok=True)
        except OSError as error:
            raise RunFolderError(f"cannot create the run folder {self.path} ({error.strerror}); "
                                 "choose a folder you can write to.") from None
        self._history = self._open_csv(HISTORY_FILE, HISTORY_COLUMNS)
        self._steps = self._open_csv(STEPS_FILE, STEP_COLUMNS)

    def _open_csv(self, name: str, columns: tuple[str, ...]):
        handle = open(self.path / name, "w", newline="", encoding="utf-8")
        writer = csv.writer(handle)
        writer.writerow(columns)
        handle.flush()
        return handle, writer

    def _reopen_csv(self, name: str, columns: tuple[str, ...], keep_epochs: int):
        """The file's rows of epochs 1..keep_epochs, rewritten atomically, then opened to append."""
        rows = [row for row in _read_csv(self.path / name) if row.get("epoch", math.inf) <= keep_epochs]
        with atomic_target(self.path / name, suffix=".csv") as tmp, open(tmp, "w", newline="",
                                                                          encoding="utf-8") as handle:
            writer = csv.writer(handle)
            writer.writerow(columns)
            for row in rows:
                writer.writerow([_integer_or_number(row.get(c)) for c in columns])
        handle = open(self.path / name, "a", newline="", encoding="utf-8")
        return handle, csv.writer(handle)

    def write_status(self, status: str, message: str = "") -> None:
        write_status(self.path, status, message)

    def write_config(self, project: Project) -> None:
        write_text_atomic(self.path / CONFIG_FILE, project.to_json() + "\n")

    def write_labels(self, classes: list[str]) -> None:
        write_text_atomic(self.path / LABELS_FILE, "".join(f"{name}\n" for name in classes))

    def add_step(self, step: int, epoch: int, loss: float, lr: float) -> None:
        self._steps[1].writerow((step, epoch, _number(loss), _number(lr)))

    def add_epoch(self, row: dict[str, float]) -> None:
        self._history[1].writerow([_number(row[c]) if c != "epoch" else row[c] for c in HISTORY_COLUMNS])
        self._history[0].flush()
        self._steps[0].flush()

    def save_model(self, model) -> None:
        save_model_atomic(model, self.path / MODEL_FILE)

    def write_metrics(self, metrics: dict[str, Any]) -> None:
        write_metrics(self.path, metrics)

    def close(self) -> None:
        for handle, _ in (self._history, self._steps):
            if not handle.closed:
                handle.close()


def write_status(run_dir: str | os.PathLike, status: str, message: str = "") -> None:
    """status.json: RUNNING while a run trains, then how it ended (FINISHED, STOPPED, FAILED) and why."""
    write_text_atomic(Path(run_dir) / STATUS_FILE, json.dumps(
        {"status": str(status), "message": message, "updated": datetime.now().isoformat(timespec="seconds")},
        indent=2) + "\n")


def read_status(run_dir: str | os.PathLike) -> tuple[str | None, str]:
    """(status, message) from status.json; (None, "") for a run folder without one (an older run)."""
    try:
        data = json.loads((Path(run_dir) / STATUS_FILE).read_text(encoding="utf-8"))
        return str(data.get("status")), str(data.get("message", ""))
    except (OSError, ValueError, AttributeError):
        return None, ""


def discard_run_folder(run_dir: str | os.PathLike) -> bool:
    """Remove a run folder that holds nothing worth keeping (no completed epoch, no model): the files
    a run writes, then the folder if that emptied it. A folder with a model or a resume point is kept
    whole. Returns whether the folder is gone."""
    path = Path(run_dir)
    if (path / MODEL_FILE).exists() or (path / RESUME_FILE).exists():
        return False
    for name in (CONFIG_FILE, LABELS_FILE, HISTORY_FILE, STEPS_FILE, STATUS_FILE, METRICS_FILE):
        try:
            (path / name).unlink(missing_ok=True)
        except OSError:
            return False
    try:
        path.rmdir()
    except OSError:
        return False
    return True


def write_metrics(run_dir: str | os.PathLike, metrics: dict[str, Any]) -> None:
    """metrics.json of a run, written atomically (the trainer at the end, an evaluation adding a test split)."""
    write_text_atomic(Path(run_dir) / METRICS_FILE, json.dumps(metrics, indent=2) + "\n")


def is_run_folder(path: str | os.PathLike) -> bool:
    return (Path(path) / CONFIG_FILE).is_file()


def save_model_atomic(model, path: str | os.PathLike) -> None:
    """Save to a temporary .keras file beside `path`, then rename over it."""
    with atomic_target(path, suffix=".keras") as tmp:
        model.save(tmp)


def _number(value: float) -> str:
    return "" if value is None else f"{value:.6g}"


def _integer_or_number(value: float | None) -> str:
    if value is None or not math.isfinite(value):
        return ""
    return str(int(value)) if float(value).is_integer() else f"{value:.6g}"


@dataclass
class RunRecord:
    """What a run folder holds; `steps` is empty when read without them (they can be long)."""

    run_dir: Path
    config: dict[str, Any]
    classes: list[str]
    history: list[dict[str, float]]
    steps: list[dict[str, float]]
    metrics: dict[str, Any] | None

    @property
    def model_path(self) -> Path:
        return self.run_dir / MODEL_FILE

    @property
    def project(self) -> Project:
        """The resolved project the run used; ProjectError (a ValueError) when config.json is not one."""
        return Project.from_dict(self.config, source=str(self.run_dir / CONFIG_FILE))

    @property
    def image_input(self) -> ImageInput:
        """How the run turned files into inputs: what its model must be given again."""
        return self.project.image_input


def read_run(run_dir: str | os.PathLike, *, steps: bool = True) -> RunRecord:
    """Read a run folder; raises RunFolderError when it is none, OSError / ValueError when unreadable."""
    run_dir = Path(run_dir)
    if not is_run_folder(run_dir):
        raise RunFolderError(f"{run_dir} is not a TL Studio run folder (no {CONFIG_FILE}); choose a folder "
                             "made by 'tlstudio train' or the Train button.")
    config = json.loads((run_dir / CONFIG_FILE).read_text(encoding="utf-8"))
    labels = run_dir / LABELS_FILE
    classes = labels.read_text(encoding="utf-8").splitlines() if labels.is_file() else []
    metrics_file = run_dir / METRICS_FILE
    metrics = json.loads(metrics_file.read_text(encoding="utf-8")) if metrics_file.is_file() else None
    return RunRecord(run_dir, config, classes, _read_csv(run_dir / HISTORY_FILE),
                     _read_csv(run_dir / STEPS_FILE) if steps else [],
                     metrics if isinstance(metrics, dict) else None)


@dataclass(frozen=True)
class RunSummary:
    """One earlier run, as the run lists show it: cheap enough to make for every run on each refresh."""

    path: Path
    backbone: str
    epochs: int
    val_accuracy: float | None
    has_model: bool
    status: str | None = None  # status.json's; None for a run written before it existed
    status_message: str = ""
    resumable: bool = False  # resume.npz holds a completed epoch to resume or continue from
    ensemble_of: int = 0  # an ensemble's run folder: how many runs it averages

    @property
    def when(self) -> str:
        """'29 Nov 18:54' from the folder's timestamp, else the folder name."""
        try:
            return datetime.strptime(self.path.name[:15], "%Y%m%d-%H%M%S").strftime("%d %b %H:%M")
        except ValueError:
            return self.path.name

    @property
    def unfinished(self) -> bool:
        """It ended before its planned epochs: stopped, failed, or killed while RUNNING."""
        return self.status in UNFINISHED

    @property
    def can_resume(self) -> bool:
        """Resume (finish the planned epochs) needs a completed epoch to start from and epochs still to train;
        any run with a completed epoch can be continued for more epochs (`resumable`)."""
        return self.resumable and self.unfinished

    @property
    def label(self) -> str:
        accuracy = (f"val acc {self.val_accuracy:.1%}" if self.val_accuracy is not None
                    and math.isfinite(self.val_accuracy) else "no result")
        backbone = BACKBONES[self.backbone].label if self.backbone in BACKBONES else self.backbone
        state = {"STOPPED": " · stopped", "FAILED": " · failed", RUNNING: " · interrupted"}.get(self.status or "", "")
        trained = f"ensemble of {self.ensemble_of} runs" if self.ensemble_of else f"{self.epochs} epochs"
        return f"{self.when} · {backbone} · {trained} · {accuracy}{state}"


def summarize_run(path: str | os.PathLike) -> RunSummary:
    """A run's line in the lists; raises OSError / ValueError for a folder that cannot be read."""
    path = Path(path)
    record = read_run(path, steps=False)
    accuracy = (record.metrics or {}).get("val_accuracy")
    status, message = read_status(path)
    try:
        members = len(json.loads((path / ENSEMBLE_FILE).read_text(encoding="utf-8")).get("members", []))
    except (OSError, ValueError, AttributeError):
        members = 0
    return RunSummary(path, str(record.config.get("model", {}).get("backbone", "?")), len(record.history),
                      float(accuracy) if accuracy is not None else None, record.model_path.is_file(),
                      status, message, (path / RESUME_FILE).is_file(), members)


def _read_csv(path: Path) -> list[dict[str, float]]:
    if not path.is_file():
        return []
    with open(path, newline="", encoding="utf-8") as handle:
        rows = []
        for row in csv.DictReader(handle):
            rows.append({k: (float(v) if v not in ("", None) else float("nan")) for k, v in row.items()})
        return rows


def runs_root(project_file: str | os.PathLike | None, data_folder: str | None, app_data_dir: str | os.PathLike) -> Path:
    """Where the GUI puts a project's runs: beside a saved project file (`<project folder>/runs/`), or,
    for a project not saved yet, in the app's data folder under the data folder's name, so a user's
    data folder is never written to without asking."""
    if project_file is not None:
        return Path(project_file).parent / "runs"
    if not data_folder:
        return Path(app_data_dir) / "runs" / "untitled"
    name = re.sub(r"[^A-Za-z0-9._-]+", "_", Path(data_folder).name).strip("_") or "data"
    return Path(app_data_dir) / "runs" / name


def list_runs(root: str | os.PathLike) -> list[Path]:
    """Run folders directly under `root`, newest first."""
    root = Path(root)
    if not root.is_dir():
        return []
    runs = [p for p in root.iterdir() if p.is_dir() and is_run_folder(p)]
    return sorted(runs, key=lambda p: (p / CONFIG_FILE).stat().st_mtime, reverse=True)
