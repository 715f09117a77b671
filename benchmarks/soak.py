"""Soak: many short runs in one app instance; the app's memory must stay flat. Run by hand, offscreen.

    python benchmarks/soak.py                 # 20 runs, about 4 minutes on 2 cores
    python benchmarks/soak.py --runs 5

The real MainWindow (its own TensorFlow loaded, as after start-up) trains the demo dataset 20 times
in a row through the Train action: SqueezeNet 1.1 with its shipped ImageNet weights, frozen, 2 epochs,
each run in its own worker process. After every run it notes the app's resident memory (VmRSS), its
peak so far (VmHWM), the largest worker's peak (getrusage of the children) and the run's time.
Target: the app's peak from the 2nd run to the last within 10 % (no memory kept per run), and the
last run about as fast as the second.

Settings, app data and caches go to a temporary folder; the user's own are never touched.
"""

from __future__ import annotations

import argparse
import os
import resource
import tempfile
import time
from pathlib import Path

SCRATCH = Path(tempfile.mkdtemp(prefix="tlstudio-soak-"))
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ["TLSTUDIO_CACHE_DIR"] = str(SCRATCH / "cache")


def memory_mb() -> tuple[float, float]:
    """(VmRSS, VmHWM) of this process in MB."""
    fields = dict(line.split(":", 1) for line in Path("/proc/self/status").read_text().splitlines() if ":" in line)
    return (int(fields["VmRSS"].split()[0]) / 1024, int(fields["VmHWM"].split()[0]) / 1024)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--epochs", type=int, default=2)
    args = parser.parse_args()

    from PySide6.QtCore import QEventLoop, QSettings, QTimer
    from PySide6.QtWidgets import QMessageBox

    from tlstudio.data.demo import make_demo_dataset
    from tlstudio.gui.app import create_application
    from tlstudio.gui.app_settings import AppSettings
    from tlstudio.gui.main_window import MainWindow
    from tlstudio.settings.project import Project

    app = create_application()
    data = make_demo_dataset(SCRATCH / "demo", per_class=60, size=128, seed=0)
    window = MainWindow(app_settings=AppSettings(QSettings(str(SCRATCH / "settings.ini"),
                                                           QSettings.Format.IniFormat)),
                        app_data_dir=SCRATCH / "appdata")
    window.ask_unsaved = lambda: QMessageBox.StandardButton.Discard
    window.show()
    window.start_loading_tensorflow()
    while not window.tensorflow.ready:
        app.processEvents(QEventLoop.ProcessEventsFlag.AllEvents, 50)
    window.project.replace(Project().copy_with(**{
        "data.folder": str(data), "model.backbone": "squeezenet1_1", "model.weights": "imagenet",
        "training.epochs": args.epochs}))
    while not (window.dataset.ready and window.train_action.isEnabled()):
        app.processEvents(QEventLoop.ProcessEventsFlag.AllEvents, 50)

    rows = []
    for number in range(1, args.runs + 1):
        loop = QEventLoop()
        window.training_finished.connect(loop.quit)
        started = time.perf_counter()
        if not window.start_training():
            raise RuntimeError(f"Train is blocked: {window.train_blocker()}")
        QTimer.singleShot(600_000, loop.quit)
        loop.exec()
        window.training_finished.disconnect(loop.quit)
        seconds = time.perf_counter() - started
        outcome = window.session.last_outcome
        rss, peak = memory_mb()
        worker_peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
        accuracy = (outcome.metrics or {}).get("val_accuracy") if outcome else None
        rows.append((number, seconds, rss, peak, worker_peak, outcome.status.value if outcome else "?", accuracy))
        print(f"run {number:2d}: {seconds:5.1f} s, {rows[-1][5]}, val acc "
              f"{accuracy if accuracy is None else f'{accuracy:.1%}'}; app RSS {rss:.0f} MB, app peak {peak:.0f} MB, "
              f"largest worker peak {worker_peak:.0f} MB", flush=True)
    window.shutdown()
    window.close()

    second, last = rows[min(1, len(rows) - 1)], rows[-1]
    growth = (last[3] - second[3]) / second[3]
    print()
    print("| Measurement | 2nd run | last run | change |")
    print("| --- | --- | --- | --- |")
    print(f"| app peak memory (VmHWM) | {second[3]:.0f} MB | {last[3]:.0f} MB | {growth:+.1%} |")
    print(f"| app memory after the run (VmRSS) | {second[2]:.0f} MB | {last[2]:.0f} MB | "
          f"{(last[2] - second[2]) / second[2]:+.1%} |")
    print(f"| run time | {second[1]:.1f} s | {last[1]:.1f} s | {(last[1] - second[1]) / second[1]:+.1%} |")
    print(f"\nall {len(rows)} runs {'FINISHED' if all(r[5] == 'FINISHED' for r in rows) else 'NOT all finished'}; "
          f"peak within 10 %: {'yes' if abs(growth) <= 0.10 else 'NO'}")
    return 0 if abs(growth) <= 0.10 else 1


if __name__ == "__main__":
    raise SystemExit(main())
