"""The run folder: written as training goes, read back for comparisons and evaluation.

    config.json   the resolved Project used
    labels.txt    class names, one a line, in output order
    history.csv   one row per epoch: epoch, loss, accuracy, val_loss, val_accuracy, lr
    steps.csv     one row per optimizer step: step, epoch, loss, lr
    model.keras   the best model (by val_loss), written atomically
    metrics.json  final validation metrics, confusion matrix, per-class precision/recall/F1

CSV rows are flushed as they come, so a crash leaves every finished epoch on disk.
"""

from __future__ import annotations

import csv
import json
import os
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from tlstudio.config import Project
from tlstudio.files import atomic_target, write_text_atomic

HISTORY_COLUMNS = ("epoch", "loss", "accuracy", "val_loss", "val_accuracy", "lr")
STEP_COLUMNS = ("step", "epoch", "loss", "lr")
MODEL_FILE = "model.keras"


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
    def __init__(self, run_dir: str | os.PathLike) -> None:
        self.path = Path(run_dir)
        if self.path.exists() and any(self.path.iterdir()):
            raise RunFolderError(f"{self.path} already holds files; choose a new output folder so no run "
                                 "is overwritten.")
        try:
            self.path.mkdir(parents=True, exist_ok=True)
        except OSError as error:
            raise RunFolderError(f"cannot create the run folder {self.path} ({error.strerror}); "
                                 "choose a folder you can write to.") from None
        self._history = self._open_csv("history.csv", HISTORY_COLUMNS)
        self._steps = self._open_csv("steps.csv", STEP_COLUMNS)

    def _open_csv(self, name: str, columns: tuple[str, ...]):
        handle = open(self.path / name, "w", newline="", encoding="utf-8")
        writer = csv.writer(handle)
        writer.writerow(columns)
        handle.flush()
        return handle, writer

    def write_config(self, project: Project) -> None:
        write_text_atomic(self.path / "config.json", project.to_json() + "\n")

    def write_labels(self, classes: list[str]) -> None:
        write_text_atomic(self.path / "labels.txt", "".join(f"{name}\n" for name in classes))

    def add_step(self, step: int, epoch: int, loss: float, lr: float) -> None:
        self._steps[1].writerow((step, epoch, _number(loss), _number(lr)))

    def add_epoch(self, row: dict[str, float]) -> None:
        self._history[1].writerow([_number(row[c]) if c != "epoch" else row[c] for c in HISTORY_COLUMNS])
        self._history[0].flush()
        self._steps[0].flush()

    def save_model(self, model) -> None:
        save_model_atomic(model, self.path / MODEL_FILE)

    def write_metrics(self, metrics: dict[str, Any]) -> None:
        write_text_atomic(self.path / "metrics.json", json.dumps(metrics, indent=2) + "\n")

    def close(self) -> None:
        for handle, _ in (self._history, self._steps):
            if not handle.closed:
                handle.close()


def save_model_atomic(model, path: str | os.PathLike) -> None:
    """Save to a temporary .keras file beside `path`, then rename over it."""
    with atomic_target(path, suffix=".keras") as tmp:
        model.save(tmp)


def _number(value: float) -> str:
    return "" if value is None else f"{value:.6g}"


@dataclass
class RunRecord:
    run_dir: Path
    config: dict[str, Any]
    classes: list[str]
    history: list[dict[str, float]]
    steps: list[dict[str, float]]
    metrics: dict[str, Any] | None

    @property
    def model_path(self) -> Path:
        return self.run_dir / MODEL_FILE


def read_run(run_dir: str | os.PathLike) -> RunRecord:
    run_dir = Path(run_dir)
    if not (run_dir / "config.json").is_file():
        raise RunFolderError(f"{run_dir} is not a TL Studio run folder (no config.json); choose a folder "
                             "made by 'tlstudio train' or the Train button.")
    config = json.loads((run_dir / "config.json").read_text(encoding="utf-8"))
    labels = run_dir / "labels.txt"
    classes = labels.read_text(encoding="utf-8").splitlines() if labels.is_file() else []
    metrics_file = run_dir / "metrics.json"
    metrics = json.loads(metrics_file.read_text(encoding="utf-8")) if metrics_file.is_file() else None
    return RunRecord(run_dir, config, classes, _read_csv(run_dir / "history.csv"),
                     _read_csv(run_dir / "steps.csv"), metrics)


def _read_csv(path: Path) -> list[dict[str, float]]:
    if not path.is_file():
        return []
    with open(path, newline="", encoding="utf-8") as handle:
        rows = []
        for row in csv.DictReader(handle):
            rows.append({k: (float(v) if v not in ("", None) else float("nan")) for k, v in row.items()})
        return rows


def list_runs(root: str | os.PathLike) -> list[Path]:
    """Run folders directly under `root`, newest first."""
    root = Path(root)
    if not root.is_dir():
        return []
    runs = [p for p in root.iterdir() if p.is_dir() and (p / "config.json").is_file()]
    return sorted(runs, key=lambda p: (p / "config.json").stat().st_mtime, reverse=True)
