"""Render every page of the app offscreen to PNG files (for the README and for reviewing the look).

    python -m tlstudio.gui.screenshots docs/screenshots
    python -m tlstudio.gui.screenshots DIR --size 1024x600 [--scale 2] [--dark]

`--size` is the window's size in logical pixels, `--scale` Qt's scale factor (QT_SCALE_FACTOR: the
PNGs are that many times larger), `--dark` the dark colour scheme. Each page is also checked by
tlstudio.gui.layout_check and what it finds is printed.

Runs on the demo dataset with the real Trainer and the default project (a pretrained backbone
that loads offline: SqueezeNet 1.1 unless Keras has MobileNetV2's weights cached), in temporary
settings and data folders: the user's own are never touched.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

WINDOW_SIZE = (1280, 860)


class _Camera:
    """Takes the screenshots of one window: waits for what a shot needs, grabs the window, checks its layout."""

    def __init__(self, app, window, out_dir: Path) -> None:
        self.app = app
        self.window = window
        self.out_dir = out_dir
        self.shots: list[Path] = []

    def wait_until(self, condition: Callable[[], bool], timeout_s: float, what: str) -> None:
        deadline = time.monotonic() + timeout_s
        while not condition():
            if time.monotonic() > deadline:
                raise TimeoutError(f"timed out waiting for {what}")
            self.app.processEvents()
            time.sleep(0.01)
        self.settle(5)  # let layouts and plots settle before grabbing

    def settle(self, passes: int) -> None:
        for _ in range(passes):
            self.app.processEvents()
            time.sleep(0.01)

    def shoot(self, name: str) -> None:
        from tlstudio.gui.layout_check import layout_problems

        self.settle(10)  # pages that fit wrapped text to their width take a pass or two
        path = self.out_dir / f"{name}.png"
        self.window.grab().save(str(path))
        self.shots.append(path)
        problems = layout_problems(self.window)
        print(f"wrote {path}" + "".join(f"\n  layout: {problem}" for problem in problems), flush=True)


def render(out_dir: Path, size: tuple[int, int] = WINDOW_SIZE, dark: bool = False) -> list[Path]:
    """Write the screenshots into `out_dir`; returns their paths in the order taken. (A scale factor
    must be in QT_SCALE_FACTOR before this is called: Qt reads it once, when it starts.)"""
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    scratch = Path(tempfile.mkdtemp(prefix="tlstudio-screenshots-"))
    os.environ.setdefault("TLSTUDIO_CACHE_DIR", str(scratch / "cache"))

    from PySide6.QtCore import QSettings
    from PySide6.QtWidgets import QMessageBox

    from tlstudio.gui.app import create_application
    from tlstudio.gui.app_settings import AppSettings
    from tlstudio.gui.main_window import MainWindow
    from tlstudio.gui.style import apply_style

    app = create_application()
    out_dir.mkdir(parents=True, exist_ok=True)
    settings = AppSettings(QSettings(str(scratch / "settings.ini"), QSettings.Format.IniFormat))
    scheme = "dark" if dark else "light"
    settings.set_color_scheme(scheme)
    apply_style(app, scheme)
    window = MainWindow(app_settings=settings, app_data_dir=scratch / "appdata")
    window.ask_unsaved = lambda: QMessageBox.StandardButton.Discard
    window.resize(*size)
    window.show()
    camera = _Camera(app, window, out_dir)
    for take in (_data_pages, _model_and_training_pages, _run_pages, _evaluate_page, _try_page, _export_page):
        take(camera, scratch)
    window.close()
    return camera.shots


def _data_pages(camera: _Camera, scratch: Path) -> None:
    """The start panel (with a recent folder), the demo's Data page, and a folder that blocks training."""
    from tlstudio.data.demo import make_demo_dataset

    window = camera.window
    earlier = make_demo_dataset(scratch / "my-photos", per_class=4, size=32)
    window.app_settings.remember_folder(earlier)
    camera.shoot("01-start")
    window.start_loading_tensorflow()
    window.open_demo()
    camera.wait_until(lambda: window.dataset.ready and window.tensorflow.ready, 120, "the demo scan and TensorFlow")
    camera.wait_until(lambda: len(window.data_page.thumbnails) == 3, 30, "thumbnails")
    camera.shoot("02-data")
    blocked = make_demo_dataset(scratch / "one-class", classes=["cats"], per_class=6, size=32)
    (blocked / "cats" / "broken.jpg").write_bytes(b"not really a JPEG")
    window.open_folder(blocked)
    camera.wait_until(lambda: window.dataset.index is not None and not window.dataset.scanning, 30, "scan")
    window.data_page.skipped_section.set_expanded(True)
    camera.shoot("03-data-blocked")
    window.open_demo()
    camera.wait_until(lambda: window.dataset.ready, 30, "the demo scan")


def _model_and_training_pages(camera: _Camera, _scratch: Path) -> None:
    """The Model page with the top third of the backbone unfrozen; the Training page with augmentation."""
    window, project = camera.window, camera.window.project
    window.show_page("model")
    model_page = window.model_page
    camera.wait_until(lambda: model_page.layer_model.rowCount() > 0, 120, "the layer list")
    rows = model_page.layer_model.rowCount()
    project.update({"model.freeze": rows - rows // 3})
    model_page.layer_table.scrollTo(model_page.layer_model.index(rows - rows // 3 - 6, 0))
    camera.shoot("04-model")
    project.update({"augment.flip": True, "augment.rotate": 20.0, "augment.zoom": 0.15,
                    "schedule.warmup_epochs": 1.0, "training.augmented_copies": 3})
    window.show_page("training")
    training_page = window.training_page
    training_page.refresh_augment_preview()
    camera.wait_until(lambda: len(training_page.preview_images) == 12, 120, "the augmentation preview")
    camera.shoot("05-training")


def _run_pages(camera: _Camera, _scratch: Path) -> None:
    """An earlier run to compare against (the head alone, constant LR, no augmentation), then the textbook
    recipe shown live: train the head, then fine-tune the top of the backbone."""
    from PySide6.QtCore import Qt

    from tlstudio.train.events import RunStatus

    window, project = camera.window, camera.window.project
    project.update({"schedule.name": "constant", "schedule.warmup_epochs": 0.0, "training.epochs": 10,
                    "model.freeze": "all", "augment.flip": False, "augment.rotate": 0.0, "augment.zoom": 0.0,
                    "training.augmented_copies": 0})
    window.start_training()
    camera.wait_until(lambda: not window.session.running, 600, "the first run")
    project.update({"schedule.name": "cosine", "schedule.warmup_epochs": 1.0, "training.epochs": 6,
                    "augment.flip": True, "augment.rotate": 20.0, "augment.zoom": 0.15,
                    "training.fine_tune.epochs": 6, "training.fine_tune.unfreeze": 12})
    window.start_training()
    live = window.run_page.live
    camera.wait_until(lambda: live.last_batch is not None and live.last_batch.epoch >= 5
                      and live.last_batch.batch >= live.last_batch.steps_in_epoch // 2, 600, "the middle of the run")
    camera.shoot("06-run-training")
    camera.wait_until(lambda: not window.session.running, 600, "the end of the run")
    outcome = window.session.last_outcome
    if outcome is None or outcome.status != RunStatus.FINISHED:
        raise RuntimeError(f"the screenshot run did not finish: {outcome}")
    window.message_bar.dismiss()
    runs = window.run_page.runs_list
    runs.item(runs.count() - 1).setCheckState(Qt.CheckState.Checked)
    camera.shoot("07-run-finished")


def _evaluate_page(camera: _Camera, _scratch: Path) -> None:
    """The evaluation, with the cell of the most common mistake chosen."""
    import numpy as np

    camera.window.show_page("evaluate")
    page = camera.window.evaluate_page
    camera.wait_until(lambda: page.evaluation is not None, 300, "the evaluation")
    matrix = page.split.confusion_matrix.copy()
    np.fill_diagonal(matrix, -1)  # the most common mistake
    true, predicted = np.unravel_index(int(np.argmax(matrix)), matrix.shape)
    page.matrix_view.select_cell(int(true), int(predicted))
    camera.wait_until(lambda: not page.thumbnails.loading, 60, "the thumbnails")
    camera.shoot("08-evaluate")


def _try_page(camera: _Camera, _scratch: Path) -> None:
    """Three images of each class tried; a rightly answered one looked at with its heat map."""
    window = camera.window
    window.show_page("try")
    page = window.try_page
    demo = Path(window.project.project.data.folder)
    classes = sorted(p.name for p in demo.iterdir() if p.is_dir())
    tried = [path for name in classes for path in sorted((demo / name).iterdir())[:3]]
    page.add_paths(tried)
    camera.wait_until(lambda: len(page.tried) == len(tried) and not page.busy, 300, "the predictions")
    right = [i for i, path in enumerate(page.image_list.paths)
             if page.tried[path].top_class == classes.index(path.parent.name)]
    page.image_list.setCurrentRow(right[0] if right else 0)
    page.gradcam_check.setChecked(True)
    camera.wait_until(lambda: not page.busy and not page.thumbnails.loading, 120, "the heat map")
    camera.shoot("09-try-it")


def _export_page(camera: _Camera, _scratch: Path) -> None:
    """An export in the default formats, verified."""
    camera.window.show_page("export")
    task = camera.window.export_page.start_export()
    camera.wait_until(lambda: task.done, 600, "the export")
    camera.shoot("10-export")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tlstudio.gui.screenshots",
                                     description="Render every page of the app to PNG files.")
    parser.add_argument("out_dir", nargs="?", default="docs/screenshots", type=Path)
    parser.add_argument("--size", default=f"{WINDOW_SIZE[0]}x{WINDOW_SIZE[1]}",
                        help="window size in logical pixels, WxH (default %(default)s)")
    parser.add_argument("--scale", type=float, default=None, help="Qt's scale factor, e.g. 2 for 200%%")
    parser.add_argument("--dark", action="store_true", help="the dark colour scheme")
    args = parser.parse_args(sys.argv[1:] if argv is None else argv)
    try:
        width, height = (int(part) for part in args.size.lower().split("x"))
    except ValueError:
        parser.error(f"--size {args.size!r} is not WxH, e.g. 1024x600")
    if args.scale is not None:
        if "PySide6.QtWidgets" in sys.modules and sys.modules["PySide6.QtWidgets"].QApplication.instance():
            parser.error("--scale must be given before Qt starts; run it in a fresh process")
        os.environ["QT_SCALE_FACTOR"] = f"{args.scale:g}"
    render(args.out_dir, (width, height), args.dark)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
