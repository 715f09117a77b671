"""Snapshot ensembles (Huang et al. 2017): with cosine restarts, a model kept at the end of every LR cycle,
and at the end of the run, optionally, one model that averages the last K of them.

The snapshots live in the run folder (`snapshots/epoch-<n>.keras`, listed with their validation figures
in `snapshots/snapshots.json`); a snapshot more than LEAVE_OUT_BELOW_BEST below the best is left out of
the ensemble, and metrics.json says which and why.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from tlstudio.base.files import write_text_atomic
from tlstudio.model import schedules
from tlstudio.model.averaging import build_ensemble_model, choose_members
from tlstudio.predict.predictor import inference_function, predict_in_batches
from tlstudio.runs.folder import SNAPSHOTS_FOLDER
from tlstudio.settings.project import ScheduleSettings
from tlstudio.train.events import Observer

LIST_FILE = "snapshots.json"


class Snapshots:
    def __init__(self, run_dir: Path, schedule: ScheduleSettings, observer: Observer) -> None:
        self.folder = Path(run_dir) / SNAPSHOTS_FOLDER
        self.schedule = schedule
        self.observer = observer

    def listed(self) -> list[dict[str, Any]]:
        try:
            return json.loads((self.folder / LIST_FILE).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return []

    def keep_if_cycle_ends(self, epochs_completed: int, phase_epochs_done: int, steps_per_epoch: int,
                           schedule_steps: int, row: dict[str, float], save: Callable[[Path], None]) -> None:
        """After a completed epoch: when it ends an LR cycle, `save(path)` the model there and list it."""
        if self.schedule.name != "cosine-restarts":
            return
        ends = schedules.cycle_ends(self.schedule, steps_per_epoch, schedule_steps)
        before, now = (phase_epochs_done - 1) * steps_per_epoch, phase_epochs_done * steps_per_epoch
        if not any(before < end <= now for end in ends):
            return
        self.folder.mkdir(exist_ok=True)
        name = f"epoch-{epochs_completed}.keras"
        save(self.folder / name)
        listed = self.listed()
        listed.append({"epoch": epochs_completed, "file": name, "val_accuracy": row["val_accuracy"],
                       "val_loss": row["val_loss"]})
        write_text_atomic(self.folder / LIST_FILE, json.dumps(listed, indent=2) + "\n")
        self.observer.on_log(f"snapshot at the end of an LR cycle (epoch {epochs_completed}): "
                             f"val accuracy {row['val_accuracy']:.1%}")

    def ensemble(self, wanted: int, x_val: np.ndarray, num_classes: int,
                 save_model: Callable[[Any], None]) -> tuple[np.ndarray, dict[str, Any]] | None:
        """The mean of the last `wanted` snapshots (the weak ones left out), saved with `save_model`; returns
        (its validation probabilities, what metrics.json says of it), or None with fewer than two."""
        snapshots = self.listed()[-wanted:] if wanted else []
        if len(snapshots) < 2:
            if wanted:
                self.observer.on_log(f"snapshot ensemble: {len(snapshots)} snapshot(s), at least 2 are needed; the "
                                     "best model is kept (train for more than one LR cycle).")
            return None
        import keras

        verdicts = choose_members([s["val_accuracy"] for s in snapshots], member="snapshot")
        members = [{"run": f"snapshot at epoch {snapshot['epoch']}", "val_accuracy": snapshot["val_accuracy"],
                    "val_loss": snapshot["val_loss"], "included": included, "why": why}
                   for snapshot, (included, why) in zip(snapshots, verdicts, strict=True)]
        chosen = [s for s, m in zip(snapshots, members, strict=True) if m["included"]]
        models = [keras.saving.load_model(self.folder / s["file"], compile=False) for s in chosen]
        model, shared = build_ensemble_model(models)
        save_model(model)
        infer = inference_function(model, x_val.shape[1:], x_val.dtype)
        probabilities = predict_in_batches(infer, x_val, num_classes)
        self.observer.on_log(f"snapshot ensemble: model.keras averages {len(chosen)} snapshots (epochs "
                             f"{', '.join(str(s['epoch']) for s in chosen)})")
        return probabilities, {"kind": "snapshots", "members": members, "shared_backbone": shared,
                               "validation": "the run's validation images"}
