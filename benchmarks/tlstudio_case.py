"""tlstudio's Trainer on one benchmark case, in its own process. Prints one JSON line."""

import json
import resource
import sys
import tempfile
import time

START = time.perf_counter()

from cases import CASES, ROTATION_DEGREES, SEED, VAL_SPLIT  # noqa: E402

from tlstudio.settings.project import Project  # noqa: E402
from tlstudio.train import EpochEnd, PhaseBegin, RecordingObserver, Trainer  # noqa: E402


def frozen_layers_for(case_number: int) -> int | None:
    """Backbone layers to freeze so the top `unfreeze_top` train; asked once by run.py, outside the timing."""
    case = CASES[case_number]
    if not case.unfreeze_top:
        return None
    from tlstudio.model.build import build_model
    from tlstudio.model.freezing import backbone_layers
    from tlstudio.settings.project import ModelSettings

    settings = ModelSettings(backbone=case.backbone, image_size=case.image_size, weights="none")
    return len(backbone_layers(build_model(settings, 2).backbone)) - case.unfreeze_top


def project_for(case_number: int, data: str, weights: str, freeze: int | None = None) -> Project:
    case = CASES[case_number]
    changes = {
        "data.folder": data, "data.val_split": VAL_SPLIT, "model.backbone": case.backbone,
        "model.image_size": case.image_size, "model.weights": weights, "model.dropout": 0.2,
        "optimizer.name": "adam", "optimizer.learning_rate": case.learning_rate, "schedule.name": "constant",
        "training.epochs": case.epochs, "training.batch_size": case.batch_size, "training.seed": SEED,
        "augment.flip": "flip" in case.augment,
        "augment.rotate": ROTATION_DEGREES if "rotate" in case.augment else 0.0,
    }
    if case.unfreeze_top:
        changes["model.freeze"] = freeze if freeze is not None else frozen_layers_for(case_number)
    return Project().copy_with(**changes)


def main(case_number: int, data: str, weights: str, freeze: int | None) -> None:
    work_start = time.perf_counter()
    project = project_for(case_number, data, weights, freeze)
    recorder = RecordingObserver()
    with tempfile.TemporaryDirectory() as runs:
        result = Trainer().run(project, recorder, run_dir=f"{runs}/run")
    work_seconds = time.perf_counter() - work_start
    epochs = recorder.of_type(EpochEnd)
    phase = recorder.of_type(PhaseBegin)[0]
    train_seconds = sum(e.seconds for e in epochs)
    n_train = epochs[0].images_per_second * epochs[0].seconds if epochs else 0
    print(json.dumps({
        "side": "tlstudio", "case": case_number, "status": result.status.value,
        "total_seconds": time.perf_counter() - START, "work_seconds": work_seconds, "fit_seconds": train_seconds,
        "images_per_second": round(n_train) * len(epochs) / work_seconds,
        "val_accuracy": epochs[-1].val_accuracy if epochs else float("nan"),
        "best_val_accuracy": max((e.val_accuracy for e in epochs), default=float("nan")),
        "feature_cache": phase.feature_cache, "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }))


if __name__ == "__main__":
    main(int(sys.argv[1]), sys.argv[2], sys.argv[3], int(sys.argv[4]) if len(sys.argv) > 4 else None)
