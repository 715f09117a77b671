"""Render every page of the app offscreen to PNG files (for the README and for reviewing the look).

    python -m tlstudio.gui.screenshots docs/screenshots

Runs on the demo dataset with the real Trainer and the default project (a pretrained backbone
that loads offline: SqueezeNet 1.1 unless Keras has MobileNetV2's weights cached), in temporary
settings and data folders: the user's own are never touched.
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

WINDOW_SIZE = (1280, 860)


def _wait_until(app, condition: Callable[[], bool], timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out waiting for {what}")
        app.processEvents()
        time.sleep(0.01)
    for _ in range(5):  # let layouts and plots settle before grabbing
        app.processEvents()
        time.sleep(0.01)


def render(out_dir: Path) -> list[Path]:
    """Write the screenshots into `out_dir`; returns their paths in the order taken."""
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    scratch = Path(tempfile.mkdtemp(prefix="tlstudio-screenshots-"))
    os.environ.setdefault("TLSTUDIO_CACHE_DIR", str(scratch / "cache"))

    import numpy as np
    from PySide6.QtCore import QSettings, Qt
    from PySide6.QtWidgets import QMessageBox

    from tlstudio.data.demo import make_demo_dataset
    from tlstudio.gui.app import create_application
    from tlstudio.gui.app_settings import AppSettings
    from tlstudio.gui.main_window import MainWindow
    from tlstudio.train.events import RunStatus

    app = create_application()
    out_dir.mkdir(parents=True, exist_ok=True)
    settings = AppSettings(QSettings(str(scratch / "settings.ini"), QSettings.Format.IniFormat))
    window = MainWindow(app_settings=settings, app_data_dir=scratch / "appdata")
    window.ask_unsaved = lambda: QMessageBox.StandardButton.Discard
    window.resize(*WINDOW_SIZE)
    window.show()
    shots: list[Path] = []

    def shoot(name: str) -> None:
        app.processEvents()
        path = out_dir / f"{name}.png"
        window.grab().save(str(path))
        shots.append(path)
        print(f"wrote {path}", flush=True)

    earlier = make_demo_dataset(scratch / "my-photos", per_class=4, size=32)
    settings.remember_folder(earlier)
    shoot("01-start")

    window.start_loading_tensorflow()
    window.open_demo()
    _wait_until(app, lambda: window.dataset.ready and window.tensorflow.ready, 120, "the demo scan and TensorFlow")
    _wait_until(app, lambda: len(window.data_page.thumbnails) == 3, 30, "thumbnails")
    shoot("02-data")

    blocked = make_demo_dataset(scratch / "one-class", classes=["cats"], per_class=6, size=32)
    (blocked / "cats" / "broken.jpg").write_bytes(b"not really a JPEG")
    window.open_folder(blocked)
    _wait_until(app, lambda: window.dataset.index is not None and not window.dataset.scanning, 30, "scan")
    window.data_page.skipped_section.set_expanded(True)
    shoot("03-data-blocked")
    window.open_demo()
    _wait_until(app, lambda: window.dataset.ready, 30, "the demo scan")

    project = window.project
    window.show_page("model")
    model_page = window.model_page
    _wait_until(app, lambda: model_page.layer_model.rowCount() > 0, 120, "the layer list")
    rows = model_page.layer_model.rowCount()
    project.update({"model.freeze": rows - rows // 3})
    model_page.layer_table.scrollTo(model_page.layer_model.index(rows - rows // 3 - 6, 0))
    shoot("04-model")

    project.update({"augment.flip": True, "augment.rotate": 20.0, "augment.zoom": 0.15,
                    "schedule.warmup_epochs": 1.0, "training.augmented_copies": 3})
    window.show_page("training")
    training_page = window.training_page
    training_page.refresh_augment_preview()
    _wait_until(app, lambda: len(training_page.preview_images) == 12, 120, "the augmentation preview")
    shoot("05-training")

    # An earlier run to compare against (the head alone, constant LR, no augmentation), then the
    # textbook recipe shown live: train the head, then fine-tune the top of the backbone.
    project.update({"schedule.name": "constant", "schedule.warmup_epochs": 0.0, "training.epochs": 10,
                    "model.freeze": "all", "augment.flip": False, "augment.rotate": 0.0, "augment.zoom": 0.0,
                    "training.augmented_copies": 0})
    window.start_training()
    _wait_until(app, lambda: not window.session.running, 600, "the first run")
    project.update({"schedule.name": "cosine", "schedule.warmup_epochs": 1.0, "training.epochs": 6,
                    "augment.flip": True, "augment.rotate": 20.0, "augment.zoom": 0.15,
                    "training.fine_tune.epochs": 6, "training.fine_tune.unfreeze": 12})
    window.start_training()
    run_page = window.run_page
    _wait_until(app, lambda: run_page._last_batch is not None and run_page._last_batch.epoch >= 5
                and run_page._last_batch.batch >= run_page._last_batch.steps_in_epoch // 2,
                600, "the middle of the run")
    shoot("06-run-training")
    _wait_until(app, lambda: not window.session.running, 600, "the end of the run")
    outcome = window.session.last_outcome
    if outcome is None or outcome.status != RunStatus.FINISHED:
        raise RuntimeError(f"the screenshot run did not finish: {outcome}")
    window.message_bar.dismiss()
    runs = run_page.runs_list
    runs.item(runs.count() - 1).setCheckState(Qt.CheckState.Checked)
    shoot("07-run-finished")

    window.show_page("evaluate")
    evaluate_page = window.evaluate_page
    _wait_until(app, lambda: evaluate_page.evaluation is not None, 300, "the evaluation")
    matrix = evaluate_page.split.confusion_matrix.copy()
    np.fill_diagonal(matrix, -1)  # the most common mistake
    true, predicted = np.unravel_index(int(np.argmax(matrix)), matrix.shape)
    evaluate_page.matrix_view.select_cell(int(true), int(predicted))
    _wait_until(app, lambda: not evaluate_page.thumbnails.loading, 60, "the thumbnails")
    shoot("08-evaluate")

    window.show_page("try")
    try_page = window.try_page
    demo = Path(project.project.data.folder)
    tried = [path for folder in sorted(p for p in demo.iterdir() if p.is_dir())
             for path in sorted(folder.iterdir())[:3]]
    try_page.add_paths(tried)
    _wait_until(app, lambda: len(try_page.tried) == len(tried) and not try_page.busy, 300, "the predictions")
    right = [i for i, path in enumerate(try_page.image_list.paths)
             if try_page.tried[path].top_class == sorted(p.name for p in demo.iterdir() if p.is_dir()).index(
                 path.parent.name)]
    try_page.image_list.setCurrentRow(right[0] if right else 0)
    try_page.gradcam_check.setChecked(True)
    _wait_until(app, lambda: not try_page.busy and not try_page.thumbnails.loading, 120, "the heat map")
    shoot("09-try-it")

    window.show_page("export")
    export_page = window.export_page
    task = export_page.start_export()
    _wait_until(app, lambda: task.done, 600, "the export")
    shoot("10-export")

    window.close()
    return shots


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    out_dir = Path(args[0]) if args else Path("docs/screenshots")
    render(out_dir)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
