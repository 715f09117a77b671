"""Starting the desktop app: the QApplication, the main window, then TensorFlow in the background."""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

from PySide6.QtCore import QTimer
from PySide6.QtGui import QIcon
from PySide6.QtWidgets import QApplication

from tlstudio.base.resources import resource_path
from tlstudio.gui.style import apply_style

ORGANIZATION = "TL Studio"
APPLICATION = "TL Studio"
# Set to 1 to print "window shown after X s" once the window is up, and quit (benchmarks/gui_responsiveness.py).
EXIT_AFTER_SHOWN = "TLSTUDIO_EXIT_AFTER_SHOWN"
_IMPORTED_AT = time.perf_counter()


def seconds_since_process_start() -> float:
    """From the start of this process (Linux's /proc), else from when this module was imported."""
    try:
        fields = Path("/proc/self/stat").read_text().rsplit(")", 1)[1].split()
        started = int(fields[19]) / os.sysconf("SC_CLK_TCK")
        return float(Path("/proc/uptime").read_text().split()[0]) - started
    except (OSError, ValueError, IndexError):
        return time.perf_counter() - _IMPORTED_AT


def create_application(argv: list[str] | None = None) -> QApplication:
    """The one QApplication, with the names QSettings stores under and the app's style."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    os.environ.setdefault("KERAS_BACKEND", "tensorflow")
    app = QApplication.instance()
    if app is None:
        app = QApplication(argv if argv is not None else sys.argv[:1])
    app.setOrganizationName(ORGANIZATION)
    app.setApplicationName(APPLICATION)
    app.setApplicationDisplayName(APPLICATION)
    app.setDesktopFileName("tlstudio")  # Wayland and docks match the window to resources/tlstudio.desktop
    app.setWindowIcon(app_icon())
    apply_style(app)
    return app  # type: ignore[return-value]


def app_icon() -> QIcon:
    """TL Studio's icon at every size it ships (`resources/icons/tlstudio-<size>.png`)."""
    icon = QIcon()
    for path in sorted(resource_path("icons").glob("tlstudio-*.png")):
        icon.addFile(str(path))
    return icon


def run_gui(target: str | None = None, demo: bool = False, train: bool = False) -> int:
    """Open the main window on `target` (a project .json or a data folder), the demo, or the start panel;
    with `train`, start training once the data is scanned.

    The window is shown before TensorFlow is imported; TensorFlow then loads in the background for
    Try it, Evaluate and Export (training runs in its own process). Returns the exit code.
    """
    app = create_application()
    from tlstudio.gui.main_window import MainWindow

    window = MainWindow()
    window.show()
    if target:
        window.open_target(target)
    elif demo:
        window.open_demo()
    if train and (target or demo):
        window.train_when_ready()
    if os.environ.get(EXIT_AFTER_SHOWN) == "1":
        # Runs once the event loop has shown (and painted) the window.
        QTimer.singleShot(0, window, lambda: _report_shown_and_quit(window))
    else:
        # Let the window paint first: importing TensorFlow takes seconds.
        QTimer.singleShot(50, window.start_loading_tensorflow)
    return app.exec()


def _report_shown_and_quit(window) -> None:
    from PySide6.QtWidgets import QMessageBox

    print(f"window shown after {seconds_since_process_start():.3f} s", flush=True)
    # Which shipped icon sizes were found (a build check reads it: the icon comes from resources/).
    sizes = sorted(size.width() for size in window.windowIcon().availableSizes())
    print("window icon: " + (", ".join(map(str, sizes)) + " px" if sizes else "none"), flush=True)
    # Opening a folder counts as a change; nothing a person did can be lost here, so don't ask.
    window.ask_unsaved = lambda: QMessageBox.StandardButton.Discard
    window.close()
