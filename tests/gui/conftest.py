"""GUI test fixtures: isolated QSettings, a main-window factory, and a check for leftover threads."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from gui_helpers import dispose, wait_for_scan  # noqa: E402
from PySide6.QtCore import QCoreApplication, QSettings, QThread  # noqa: E402
from PySide6.QtWidgets import QMessageBox  # noqa: E402

# The offscreen platform plugin warns about things it cannot do; they say nothing about the app.
OFFSCREEN_NOISE = ("This plugin does not support",)


def pytest_collection_modifyitems(config, items):
    here = Path(__file__).parent
    for item in items:
        if here in Path(str(item.fspath)).parents:
            item.add_marker(pytest.mark.qt_log_ignore(*OFFSCREEN_NOISE))


@pytest.fixture(scope="session", autouse=True)
def isolated_qsettings(tmp_path_factory):
    """Nothing a test does may reach the user's own settings."""
    folder = tmp_path_factory.mktemp("qsettings")
    QSettings.setDefaultFormat(QSettings.Format.IniFormat)
    for scope in (QSettings.Scope.UserScope, QSettings.Scope.SystemScope):
        QSettings.setPath(QSettings.Format.IniFormat, scope, str(folder))
    QCoreApplication.setOrganizationName("tlstudio-tests")
    QCoreApplication.setApplicationName("tlstudio-tests")
    yield folder


@pytest.fixture(autouse=True)
def no_thread_left_running(monkeypatch):
    """Fail a test that leaves a QThread (or a pool thread of the app) running."""
    from tlstudio.gui.background import running_task_threads

    started: list[QThread] = []
    original_start = QThread.start

    def tracking_start(self, *args):
        started.append(self)
        return original_start(self, *args)

    monkeypatch.setattr(QThread, "start", tracking_start)
    yield
    import shiboken6

    running = [t for t in started if shiboken6.isValid(t) and t.isRunning()]
    busy = running_task_threads()
    for thread in running:  # don't let one leak take the rest of the session down
        thread.quit()
        thread.wait(10000)
    if running or busy:
        pytest.fail(f"test left {len(running)} QThread(s) and {busy} pool thread(s) running")


@pytest.fixture
def app_settings(tmp_path):
    from tlstudio.gui.app_settings import AppSettings

    return AppSettings(QSettings(str(tmp_path / "settings.ini"), QSettings.Format.IniFormat))


@pytest.fixture
def make_window(qtbot, tmp_path, app_settings):
    """Build MainWindows with a fake trainer (by default), temporary settings and data folders."""
    from gui_fakes import FAKE_TRAINER, WORKER_ENVIRONMENT

    from tlstudio.gui.main_window import MainWindow
    from tlstudio.gui.style import apply_style

    apply_style(QCoreApplication.instance())
    windows = []

    def make(trainer: str = FAKE_TRAINER, tensorflow: str = "fake"):
        window = MainWindow(app_settings=app_settings, app_data_dir=tmp_path / "appdata", trainer=trainer,
                            worker_environment=WORKER_ENVIRONMENT)
        window.ask_unsaved = lambda: QMessageBox.StandardButton.Discard
        window.ask_stop_run = lambda: True
        qtbot.addWidget(window)
        window.resize(1280, 820)
        window.show()
        if tensorflow == "fake":
            # Most tests never need TensorFlow itself: only that the app believes it has loaded.
            window.tensorflow._on_loaded("CPU (test)")
        elif tensorflow == "real":
            with qtbot.waitSignal(window.tensorflow.loaded, timeout=120_000):
                window.start_loading_tensorflow()
        windows.append(window)
        return window

    yield make
    for window in windows:
        dispose(window)
    windows.clear()


@pytest.fixture
def window(make_window):
    return make_window()


@pytest.fixture
def scanned(qtbot):
    return lambda window: wait_for_scan(qtbot, window)


@pytest.fixture(autouse=True)
def fresh_fake_trainer():
    from gui_fakes import configure_fake

    configure_fake()
    yield


@pytest.fixture
def ready_window(window, demo_folder, qtbot):
    """A window on the 3-class demo data, scanned, with TensorFlow 'loaded': Train is enabled."""
    window.open_folder(demo_folder)
    wait_for_scan(qtbot, window)
    assert window.train_action.isEnabled(), window.train_blocker()
    return window


@pytest.fixture(scope="session")
def trained_project(tmp_path_factory):
    """A project file with one real run beside it (runs/<run>/model.keras), trained once per session:
    the real Trainer, 3 demo classes x 8 images, 64 px, random initial weights, 1 epoch."""
    from tlstudio.data.demo import make_demo_dataset
    from tlstudio.runs.folder import new_run_dir
    from tlstudio.settings.project import Project
    from tlstudio.train.events import RunStatus
    from tlstudio.train.trainer import Trainer

    root = tmp_path_factory.mktemp("trained")
    data = make_demo_dataset(root / "shapes", per_class=8, size=48, seed=0)
    # 64 px (not 32) so the last convolutional block is 2 x 2 and Grad-CAM has a place to point at.
    project = Project().copy_with(**{"data.folder": str(data), "model.weights": "none", "model.image_size": 64,
                                     "training.epochs": 1, "training.batch_size": 8,
                                     "training.image_cache": False})
    path = root / "project.json"
    project.save(path)
    result = Trainer().run(project, run_dir=new_run_dir(root / "runs", project.model.backbone))
    assert result.status == RunStatus.FINISHED, result.message
    return path


@pytest.fixture
def trained_window(make_window, trained_project):
    """A window on the trained project, TensorFlow 'loaded' (it is imported already)."""
    window = make_window()
    assert window.open_project(trained_project)
    return window
