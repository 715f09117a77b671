"""Train one run through a frozen build's worker, the way the desktop app does it.

    python packaging/check_worker.py APP DATA_FOLDER RUN_FOLDER

Runs with the Python TL Studio is installed in (it needs PySide6), not inside the frozen app: it uses
the app's own `TrainingSession` (a QProcess, the job on stdin, messages on stdout) but starts
`APP worker`, the command a frozen app runs for each training run, and trains 1 epoch of SqueezeNet 1.1
with its shipped ImageNet weights. Prints the result; exit code 0 when the run finished.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path


def main(app: str, data: str, run_dir: str) -> int:
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    from PySide6.QtCore import QCoreApplication, QTimer

    import tlstudio.gui.worker as worker
    from tlstudio.settings.project import Project
    from tlstudio.train.events import RunStatus

    worker.worker_command = lambda: [app, "worker"]  # what worker_command() returns inside the frozen app
    qt = QCoreApplication(sys.argv[:1])
    project = Project().copy_with(**{"data.folder": data, "model.backbone": "squeezenet1_1",
                                     "model.weights": "imagenet", "training.epochs": 1,
                                     "training.batch_size": 8})
    session = worker.TrainingSession()
    results = []
    session.logged.connect(lambda line: print(f"worker log: {line}", flush=True))
    session.training_finished.connect(lambda result: (results.append(result), qt.quit()))
    QTimer.singleShot(600_000, qt.quit)  # a stuck worker fails the check instead of hanging it
    session.start(project, Path(run_dir))
    qt.exec()
    if not results:
        print("check_worker: the frozen worker sent no result within 10 minutes.", file=sys.stderr)
        session.kill()
        return 1
    result = results[0]
    print(f"worker result: {result.status.name}: {result.message}", flush=True)
    shown = {key: result.metrics.get(key) for key in ("val_accuracy", "val_loss", "epochs_completed", "seconds")}
    print(f"worker metrics: {shown}", flush=True)
    return 0 if result.status is RunStatus.FINISHED else 1


if __name__ == "__main__":
    if len(sys.argv) != 4:
        sys.exit(__doc__)
    sys.exit(main(*sys.argv[1:]))
