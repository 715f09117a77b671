"""Starting the desktop app: the QApplication, the main window, then TensorFlow in the background."""

from __future__ import annotations

import os
import sys

from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QApplication

from tlstudio.gui.style import apply_style

ORGANIZATION = "TL Studio"
APPLICATION = "TL Studio"


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
    apply_style(app)
    return app  # type: ignore[return-value]


def run_gui(target: str | None = None, demo: bool = False) -> int:
    """Open the main window on `target` (a project .json or a data folder), the demo, or the start panel.

    The window is shown before TensorFlow is imported; TensorFlow then loads in the background
    and Train stays disabled ("loading TensorFlow…") until it is ready. Returns the exit code.
    """
    app = create_application()
    from tlstudio.gui.main_window import MainWindow

    window = MainWindow()
    window.show()
    if target:
        window.open_target(target)
    elif demo:
        window.open_demo()
    # Let the window paint first: importing TensorFlow takes seconds.
    QTimer.singleShot(50, window.start_loading_tensorflow)
    return app.exec()
