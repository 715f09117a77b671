"""Every page at 1024×600, with large text, and at QT_SCALE_FACTOR=2: no label cut off or elided, no
group box squeezed, no two widgets on top of each other (checked from geometry and size hints by
tlstudio.gui.layout_check), and the window never larger than the screen size it was given."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from PySide6.QtGui import QFont
from PySide6.QtWidgets import QApplication

from tlstudio.gui.layout_check import layout_problems
from tlstudio.gui.main_window import PAGE_NAMES

SMALL = (1024, 600)
SHOTS = os.environ.get("TLSTUDIO_LAYOUT_SHOTS")  # a folder: also save each page as PNG there, to look at


def settle(qtbot, window) -> None:
    qtbot.wait(150)  # a page that grows to fit its wrapped text takes a pass or two of the event loop
    QApplication.processEvents()


def page_problems(qtbot, window, tag: str) -> dict[str, list[str]]:
    found = {}
    for name in PAGE_NAMES:
        window.show_page(name)
        settle(qtbot, window)
        if SHOTS:
            Path(SHOTS).mkdir(parents=True, exist_ok=True)
            window.grab().save(str(Path(SHOTS) / f"{tag}-{name}.png"))
        problems = layout_problems(window)
        if problems:
            found[name] = problems
    return found


def filled_window(qtbot, trained_window, trained_project):
    """A window on a real run, with Evaluate evaluated and an image tried, so every page has content."""
    window = trained_window
    window.show_page("evaluate")
    qtbot.waitUntil(lambda: window.evaluate_page.evaluation is not None, timeout=120_000)
    window.show_page("try")
    folder = Path(json.loads(trained_project.read_text())["data"]["folder"])
    image = sorted((folder / "circle").iterdir())[0]
    window.try_page.add_paths([image])
    qtbot.waitUntil(lambda: len(window.try_page.tried) == 1 and not window.try_page.busy, timeout=60_000)
    return window


@pytest.fixture
def font_scale():
    app = QApplication.instance()
    original = QFont(app.font())

    def scale(factor: float) -> None:
        font = QFont(original)
        font.setPointSizeF(original.pointSizeF() * factor)
        app.setFont(font)

    yield scale
    app.setFont(original)


@pytest.mark.slow
def test_every_page_holds_at_1024_by_600(qtbot, trained_window, trained_project):
    window = filled_window(qtbot, trained_window, trained_project)
    window.resize(*SMALL)
    settle(qtbot, window)
    assert (window.width(), window.height()) == SMALL, "the window's minimum size is larger than a 1024×600 screen"
    assert page_problems(qtbot, window, "1024x600") == {}
    window.resize(1280, 820)  # and back at the size the window first opens at
    settle(qtbot, window)
    assert page_problems(qtbot, window, "1280x820") == {}


@pytest.mark.slow
def test_every_page_holds_with_large_text(qtbot, trained_window, trained_project, font_scale):
    """Text scaled to 125 % (a laptop's "larger text" setting) at 1280×720 (a 720p screen)."""
    window = filled_window(qtbot, trained_window, trained_project)
    font_scale(1.25)
    window.resize(1280, 720)
    settle(qtbot, window)
    assert (window.width(), window.height()) == (1280, 720)
    assert page_problems(qtbot, window, "1280x720-text125") == {}


@pytest.mark.slow
def test_every_page_holds_at_scale_factor_2(trained_project, tmp_path):
    """QT_SCALE_FACTOR=2 in a child process (Qt reads it once, at start): 1024×600 logical pixels
    drawn on 2048×1200 device pixels, every page checked as above."""
    environment = {**os.environ, "QT_SCALE_FACTOR": "2", "QT_QPA_PLATFORM": "offscreen",
                   "TF_CPP_MIN_LOG_LEVEL": "3"}
    script = Path(__file__).with_name("layout_at_scale.py")
    done = subprocess.run([sys.executable, str(script), str(trained_project), str(tmp_path)], env=environment,
                          capture_output=True, text=True, timeout=240)
    assert done.returncode == 0, done.stderr[-3000:]
    report = json.loads(done.stdout.strip().splitlines()[-1])
    assert report["ratio"] == 2.0
    assert report["size"] == [1024, 600]
    assert report["problems"] == {}
    assert report["thumbnail"] == [2.0, 88]  # a 44 px thumbnail drawn from 88 device pixels: sharp


def test_the_first_window_fits_its_screen(qtbot, app_settings, tmp_path):
    from tlstudio.gui.main_window import PREFERRED_SIZE, MainWindow

    window = MainWindow(app_settings=app_settings, app_data_dir=tmp_path / "appdata")
    qtbot.addWidget(window)
    free = window.screen().availableGeometry().size()
    assert window.width() <= min(PREFERRED_SIZE.width(), free.width())
    assert window.height() <= min(PREFERRED_SIZE.height(), free.height())
    window.shutdown()


def test_a_size_saved_on_a_bigger_screen_is_made_to_fit(qtbot, tmp_path):
    from gui_helpers import dispose
    from PySide6.QtCore import QSettings

    from tlstudio.gui.app_settings import AppSettings
    from tlstudio.gui.main_window import MainWindow

    def make():
        settings = AppSettings(QSettings(str(tmp_path / "bigger.ini"), QSettings.Format.IniFormat))
        return MainWindow(app_settings=settings, app_data_dir=tmp_path / "appdata")

    first = make()
    first.resize(1900, 1150)  # as on a large monitor
    first.show()
    dispose(first)
    second = make()
    free = second.screen().availableGeometry().size()
    assert second.width() <= free.width() and second.height() <= free.height()
    dispose(second)
