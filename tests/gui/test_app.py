"""Launching the app: the window is shown before TensorFlow is imported; the Qt work-around holds."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import pytest

from tlstudio.gui import compat

LAUNCH = textwrap.dedent("""
    import json, os, sys
    from pathlib import Path
    from PySide6.QtCore import QSettings, QTimer
    from PySide6.QtWidgets import QMessageBox
    QSettings.setDefaultFormat(QSettings.Format.IniFormat)
    QSettings.setPath(QSettings.Format.IniFormat, QSettings.Scope.UserScope, sys.argv[1])
    import tlstudio.gui.main_window as main_window
    main_window.default_app_data_dir = lambda: Path(sys.argv[1]) / "appdata"
    seen = {}
    original_show = main_window.MainWindow.show

    def show(window):
        seen["tensorflow_imported_at_show"] = "tensorflow" in sys.modules
        original_show(window)
        seen["train_text_at_show"] = window.run_page.readiness_label.text()

        def poll():
            seen.setdefault("train_enabled_while_loading", window.train_action.isEnabled())
            if window.tensorflow.ready and window.dataset.index is not None:
                seen["train_enabled_when_ready"] = window.train_action.isEnabled()
                seen["page"] = window.current_page_name
                window.ask_unsaved = lambda: QMessageBox.StandardButton.Discard
                window.close()
            else:
                QTimer.singleShot(50, poll)

        QTimer.singleShot(0, poll)

    main_window.MainWindow.show = show
    from tlstudio.gui.app import run_gui
    seen["exit_code"] = run_gui(sys.argv[2] if len(sys.argv) > 2 else None, demo=len(sys.argv) == 2)
    print("RESULT " + json.dumps(seen))
""")


def launch(tmp_path, *args: str) -> dict:
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen", TF_CPP_MIN_LOG_LEVEL="3")
    done = subprocess.run([sys.executable, "-c", LAUNCH, str(tmp_path), *args], capture_output=True, text=True,
                          timeout=180, env=env)
    lines = [line for line in done.stdout.splitlines() if line.startswith("RESULT ")]
    assert done.returncode == 0 and lines, done.stderr[-3000:]
    return json.loads(lines[-1][len("RESULT "):])


@pytest.mark.slow
def test_window_shows_before_tensorflow_and_opens_a_folder(tmp_path, demo_folder):
    seen = launch(tmp_path, str(demo_folder))
    assert seen["tensorflow_imported_at_show"] is False
    assert seen["train_enabled_while_loading"] is False
    assert seen["train_enabled_when_ready"] is True
    assert seen["page"] == "data"
    assert seen["exit_code"] == 0


@pytest.mark.slow
def test_demo_launch_creates_the_demo_and_opens_it(tmp_path):
    seen = launch(tmp_path)
    assert seen["train_enabled_when_ready"] is True
    assert (tmp_path / "appdata" / "demo" / "shapes").is_dir()


def test_emit_and_void_calls_do_not_spend_singletons():
    """PySide6 6.12 on Python 3.11 hands out None/True without a reference (see compat.py)."""
    from PySide6.QtCore import QObject, Signal

    class Probe(QObject):
        fired = Signal()

    probe = Probe()
    for _ in range(200_000):  # more than None's and True's own reference counts
        probe.fired.emit()
        probe.setObjectName("x")
    assert sys.getrefcount(None) > 0 and sys.getrefcount(True) > 0
    if sys.version_info < (3, 12):
        assert compat.PROTECTED == compat.binding_leaks_singletons()


def test_exit_after_shown_reports_the_start_up_time(tmp_path, demo_folder):
    """The hook benchmarks/gui_responsiveness.py times start-up with."""
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen", TLSTUDIO_EXIT_AFTER_SHOWN="1",
               XDG_CONFIG_HOME=str(tmp_path / "config"), XDG_DATA_HOME=str(tmp_path / "data"))
    done = subprocess.run([sys.executable, "-m", "tlstudio", "gui", str(demo_folder)], capture_output=True,
                          text=True, timeout=120, env=env)
    assert done.returncode == 0, done.stderr[-3000:]
    line = next(line for line in done.stdout.splitlines() if line.startswith("window shown after"))
    assert 0 < float(line.split()[3]) < 60
    # The window wears the icon shipped in resources/icons at every size.
    assert "window icon: 16, 24, 32, 48, 64, 128, 256, 512 px" in done.stdout.splitlines()
