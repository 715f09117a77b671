"""tlstudio's Trainer on one benchmark case, in its own process. Prints one JSON line."""

import json
import resource
import sys
import tempfile
import time

START = time.perf_counter()

from cases import CASES, ROTATION_DEGREES, SEED, VAL_SPLIT  # noqa: E402

from tlstudio.config import Project  # noqa: E402
from tlstudio.train import EpochEnd, PhaseBegin, RecordingObserver, Trainer  # noqa: E402


def project_for(case_number: int, data: str, weights: str) -> Project:
    case = CASES[case_number]
    changes = {
        "data.folder": data, "data.val_split": VAL_SPLIT, "model.backbone": case.backbone,
        "model.image_size": case.image_size, "model.weights": weights, "model.dropout": 0.2,
        "optimizer.name": "adam", "optimizer.learning_rate": case.learning_rate, "schedule.name": "constant",
        "training.epochs": case.epochs, "training.batch_size": case.batch_size, "training.seed": SEED,
        "augment.flip": "flip" in case.augment,
        "augment.rotate": ROTATION_DEGREES if "rotate" in case.augment else 0.0,
    }
    project = Project().copy_with(**changes)
    if case.unfreeze_top:
        from tlstudio.model.build import backbone_layers, build_model

        layers = len(backbone_layers(build_model(project.model.model_copy(update={"weights": "none"}), 2).backbone))
        project = project.copy_with(**{"model.freeze": layers - case.unfreeze_top})
    return project


def main(case_number: int, data: str, weights: str) -> None:
    work_start = time.perf_counter()
    project = project_for(case_number, data, weights)
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
    main(int(sys.argv[1]), sys.argv[2], sys.argv[3])
