"""Run in a child process by test_small_screens.py, with QT_SCALE_FACTOR set before Qt starts (it
cannot change inside a running QApplication): open PROJECT at 1024×600 logical pixels, show every
page and print one JSON line: the device pixel ratio of a grab, each page's layout problems, and the
first Data-page thumbnail's pixel ratio and width in device pixels."""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")


def main(project: str, settings_dir: str, shots: str | None) -> None:
    from PySide6.QtCore import QSettings
    from PySide6.QtWidgets import QMessageBox

    from tlstudio.gui.app import create_application
    from tlstudio.gui.app_settings import AppSettings
    from tlstudio.gui.layout_check import layout_problems
    from tlstudio.gui.main_window import PAGE_NAMES, MainWindow

    app = create_application()
    settings = AppSettings(QSettings(str(Path(settings_dir) / "settings.ini"), QSettings.Format.IniFormat))
    window = MainWindow(app_settings=settings, app_data_dir=Path(settings_dir) / "appdata")
    window.ask_unsaved = lambda: QMessageBox.StandardButton.Discard
    window.resize(1024, 600)
    window.show()
    window.tensorflow._on_loaded("CPU")
    window.open_project(project)
    deadline = time.monotonic() + 60
    while (window.dataset.scanning or window.dataset.index is None) and time.monotonic() < deadline:
        app.processEvents()
        time.sleep(0.01)
    window.show_page("data")
    deadline = time.monotonic() + 30
    while len(window.data_page.thumbnails) < 3 and time.monotonic() < deadline:
        app.processEvents()
        time.sleep(0.01)
    thumbnail = next(iter(window.data_page.thumbnails.values()))[0]
    sharp = [thumbnail.devicePixelRatio(), thumbnail.width()]
    found, ratio = {}, 0.0
    for name in PAGE_NAMES:
        window.show_page(name)
        for _ in range(20):
            app.processEvents()
            time.sleep(0.01)
        image = window.grab()
        ratio = image.devicePixelRatio()
        if shots:
            image.save(str(Path(shots) / f"scale2-{name}.png"))
        problems = layout_problems(window)
        if problems:
            found[name] = problems
    print(json.dumps({"ratio": ratio, "size": [window.width(), window.height()], "problems": found,
                      "thumbnail": sharp}), flush=True)
    window.shutdown()


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], os.environ.get("TLSTUDIO_LAYOUT_SHOTS"))
