"""Training in its own process, seen from the window: a killed or stuck worker, Resume and Train more
(real worker, tiny model), the queue, `gui --train`, and what the Run page says after a failed start."""

from __future__ import annotations

import csv
import json
import os
import signal

import pytest
from gui_fakes import configure_fake
from gui_helpers import wait_for_scan
from PySide6.QtCore import Qt

from tlstudio.data.demo import make_demo_dataset
from tlstudio.gui import worker
from tlstudio.gui.worker import DEFAULT_TRAINER, process_alive
from tlstudio.train.events import RunStatus


def epochs_in(path) -> list[int]:
    with open(path, newline="") as handle:
        return [int(row["epoch"]) for row in csv.DictReader(handle)]


@pytest.fixture
def real_window(make_window, tmp_path, qtbot):
    """The real trainer in its worker, on 3 x 8 tiny images: SqueezeNet, random weights, 32 px, 4 epochs."""
    folder = make_demo_dataset(tmp_path / "tiny", per_class=8, size=48, seed=0)
    window = make_window(trainer=DEFAULT_TRAINER)
    window.open_folder(folder)
    wait_for_scan(qtbot, window)
    window.project.update({"model.backbone": "squeezenet1_1", "model.weights": "none", "model.image_size": 32,
                           "model.freeze": 0, "training.epochs": 4, "training.batch_size": 8,
                           "training.image_cache": False, "schedule.name": "exponential"})
    assert window.train_action.isEnabled(), window.train_blocker()
    return window


@pytest.mark.slow
def test_a_killed_worker_leaves_the_window_and_its_epochs_and_resume_finishes_the_run(qtbot, real_window):
    window = real_window
    with qtbot.waitSignal(window.training_finished, timeout=180_000) as finished:
        window.start_training()
        qtbot.waitUntil(lambda: window.run_page.plots.point_counts()["val_loss"] >= 2, timeout=180_000)
        pid, run_dir = window.session.pid, window.session.run_dir
        os.kill(pid, signal.SIGKILL)  # what the kernel's out-of-memory killer does
    outcome = finished.args[0]
    assert window.isVisible() and not window.session.running and not process_alive(pid)
    assert outcome.status == RunStatus.FAILED and "crashed" in outcome.message and "Resume" in outcome.message
    assert window.message_bar.level == "error" and "Failed" in window.run_page.result_label.text()
    assert json.loads((run_dir / "status.json").read_text())["status"] == "FAILED"
    assert (run_dir / "model.keras").is_file()
    completed = epochs_in(run_dir / "history.csv")
    assert len(completed) >= 2

    page = window.run_page
    assert page.selected_run().path == run_dir and "failed" in page.runs_list.currentItem().text()
    assert page.resume_button.isEnabled()
    with qtbot.waitSignal(window.training_finished, timeout=180_000) as resumed:
        qtbot.mouseClick(page.resume_button, Qt.MouseButton.LeftButton)
    assert resumed.args[0].status == RunStatus.FINISHED, resumed.args[0].message
    assert epochs_in(run_dir / "history.csv") == [1, 2, 3, 4]  # the same total, no epoch twice
    assert page.plots.point_counts()["val_loss"] == 4  # the earlier epochs drawn again, then the new ones
    assert window.run_page.runs_list.count() == 1


@pytest.mark.slow
def test_train_more_extends_the_files_and_the_curves(qtbot, real_window):
    window = real_window
    window.project.update({"training.epochs": 2})
    with qtbot.waitSignal(window.training_finished, timeout=180_000) as first:
        window.start_training()
    run_dir = first.args[0].run_dir
    steps_per_epoch = len(epochs_in(run_dir / "steps.csv")) // 2
    page = window.run_page
    assert page.more_button.isEnabled() and not page.resume_button.isEnabled()  # it finished its plan
    page.more_epochs_spin.setValue(2)
    with qtbot.waitSignal(window.training_finished, timeout=180_000) as more:
        qtbot.mouseClick(page.more_button, Qt.MouseButton.LeftButton)
    assert more.args[0].status == RunStatus.FINISHED, more.args[0].message
    assert epochs_in(run_dir / "history.csv") == [1, 2, 3, 4]
    with open(run_dir / "steps.csv", newline="") as handle:
        steps = [int(row["step"]) for row in csv.DictReader(handle)]
    assert steps == list(range(1, 4 * steps_per_epoch + 1))
    counts = page.plots.point_counts()
    assert counts["val_loss"] == 4 and counts["loss"] == 4 * steps_per_epoch
    assert "epoch 4/4" in page.log_view.toPlainText()


def test_train_while_training_queues_the_settings(qtbot, ready_window):
    configure_fake(wait_for_stop=True, batch_delay=0.01)
    window = ready_window
    with qtbot.waitSignal(window.session.epoch_ended, timeout=10_000):
        assert window.start_training()
    first_dir = window.session.run_dir
    window.project.update({"optimizer.learning_rate": 0.0042})
    assert window.train_action.isEnabled() and window.train_action.text() == "Queue"
    assert window.start_training()
    page = window.run_page
    assert page.queue_box.isVisible() and page.queue_list.count() == 1
    assert "0.0042" in page.queue_list.item(0).text()
    configure_fake()  # the queued run finishes on its own
    outcomes = []
    window.training_finished.connect(outcomes.append)
    window.stop_training()
    qtbot.waitUntil(lambda: len(outcomes) == 2, timeout=20_000)
    first, second = outcomes
    assert first.status == RunStatus.STOPPED and first.run_dir == first_dir
    assert second.status == RunStatus.FINISHED and second.run_dir != first_dir
    assert not page.queue_box.isVisible()
    config = json.loads((second.run_dir / "config.json").read_text())
    assert config["optimizer"]["learning_rate"] == 0.0042
    assert page.runs_list.count() == 2


def test_a_queued_run_can_be_removed(qtbot, ready_window):
    configure_fake(wait_for_stop=True, batch_delay=0.01)
    window = ready_window
    with qtbot.waitSignal(window.session.epoch_ended, timeout=10_000):
        window.start_training()
    window.start_training()
    window.run_page.queue_list.setCurrentRow(0)
    window.run_page.remove_queued_button.click()
    assert window.queue == [] and not window.run_page.queue_box.isVisible()
    with qtbot.waitSignal(window.training_finished, timeout=10_000):
        window.stop_training()
    qtbot.wait(200)
    assert not window.session.running


def test_gui_train_starts_training_once_the_data_is_scanned(qtbot, window, demo_folder, tmp_path):
    from tlstudio.settings.project import Project

    project = tmp_path / "project.json"
    Project().copy_with(**{"data.folder": str(demo_folder)}).save(project)
    with qtbot.waitSignal(window.training_finished, timeout=20_000) as finished:
        window.open_target(str(project))
        window.train_when_ready()
    assert finished.args[0].status == RunStatus.FINISHED


def test_gui_demo_train_waits_for_the_demo_to_be_made(qtbot, window):
    with qtbot.waitSignal(window.training_finished, timeout=60_000) as finished:
        window.open_demo()  # made in the background on first use
        window.train_when_ready()
    assert finished.args[0].status == RunStatus.FINISHED
    assert window.dataset.index is not None and len(window.dataset.index.classes) == 3


def test_a_failed_start_says_so_where_progress_stood(qtbot, ready_window):
    configure_fake(raise_error="RuntimeError: no model for you")
    window = ready_window
    with qtbot.waitSignal(window.training_finished, timeout=10_000):
        window.start_training()
    page = window.run_page
    assert page.progress_label.text() == "Failed before training began."
    assert "Failed" in page.result_label.text() and "no model for you" in page.log_view.toPlainText()


def test_a_stuck_worker_is_ended_after_stop(qtbot, ready_window, monkeypatch):
    monkeypatch.setattr(worker, "UNRESPONSIVE_S", 1.0)
    configure_fake(wait_for_stop=True, batch_delay=0.01)
    window = ready_window
    with qtbot.waitSignal(window.session.epoch_ended, timeout=10_000):
        window.start_training()
    pid = window.session.pid
    os.kill(pid, signal.SIGSTOP)  # a worker that no longer answers, not even its heartbeat
    try:
        with qtbot.waitSignal(window.training_finished, timeout=15_000) as finished:
            window.stop_training()
        assert finished.args[0].status == RunStatus.STOPPED
        assert "has not answered" in window.run_page.log_view.toPlainText()
        assert not process_alive(pid)
    finally:
        if process_alive(pid):
            os.kill(pid, signal.SIGKILL)
