"""Run page with a fake trainer that replays events: progress, plots, results, Stop, failures."""

from __future__ import annotations

from pathlib import Path

from gui_fakes import configure_fake, project_trained
from PySide6.QtCore import Qt
from PySide6.QtGui import QKeySequence

from tlstudio.backbones.registry import BACKBONES
from tlstudio.train.events import RunStatus


def train(qtbot, window, timeout=10_000):
    with qtbot.waitSignal(window.training_finished, timeout=timeout) as blocker:
        assert window.start_training()
    return blocker.args[0]


def test_a_finished_run_fills_plots_progress_and_result(qtbot, ready_window):
    window = ready_window
    outcome = train(qtbot, window)
    page = window.run_page
    assert outcome.status == RunStatus.FINISHED
    assert window.current_page_name == "run"
    counts = page.plots.point_counts()
    assert counts == {"loss": 15, "val_loss": 3, "accuracy": 3, "val_accuracy": 3, "learning_rate": 15}
    assert page.progress.value() == page.progress.maximum() == 15
    assert "Epoch 3/3" in page.progress_label.text()
    assert "images/s" in page.progress_label.text() and "ETA" in page.progress_label.text()
    assert "Finished" in page.result_label.text()
    assert page.metric_labels["val_accuracy"].text() == "90.0%"
    assert Path(page.run_folder_label.text()).is_dir()
    assert page.open_folder_button.isEnabled()
    assert "epoch 3/3" in page.log_view.toPlainText()
    assert window.train_action.isEnabled() and not window.stop_action.isEnabled()
    assert window.message_bar.isVisible() and window.message_bar.level == "info"
    # The trainer (in its own process) got the project as it was when Train was pressed.
    assert project_trained(outcome.run_dir) == window.project.project


def test_run_is_listed_and_overlaid_and_exportable(qtbot, ready_window, tmp_path):
    window = ready_window
    train(qtbot, window)
    train(qtbot, window)
    runs = window.run_page.runs_list
    assert runs.count() == 2
    runs.item(1).setCheckState(Qt.CheckState.Checked)
    assert len(window.run_page.plots.overlay_keys) == 1
    overlay = window.run_page.plots._overlays[window.run_page.plots.overlay_keys[0]]
    assert len(overlay[0].xData) == 15
    runs.item(1).setCheckState(Qt.CheckState.Unchecked)
    assert window.run_page.plots.overlay_keys == []

    export = window.export_page
    assert export.run_combo.count() == 2 and export.save_button.isEnabled()
    # The run's details name the backbone as the Model page does and the input size in pixels.
    model = window.project.project.model
    details = export.details_label.text()
    assert f"<b>{BACKBONES[model.backbone].label}</b>" in details, details
    assert f"input {model.resolved_image_size} px" in details and "90.0%" in details
    target = tmp_path / "exported" / "my_model"
    target.parent.mkdir()
    with qtbot.waitSignal(export.save_model(target).finished, timeout=5000):
        pass
    assert (tmp_path / "exported" / "my_model.keras").read_bytes() == b"fake model"
    assert "Saved to" in export.copy_status_label.text()
    assert [p.name for p in target.parent.iterdir()] == ["my_model.keras"]  # no temporary file left


def test_export_failure_is_one_clear_message(qtbot, ready_window, tmp_path):
    window = ready_window
    train(qtbot, window)
    task = window.export_page.save_model(tmp_path / "missing-folder" / "model.keras")
    with qtbot.waitSignal(task.finished, timeout=5000):
        pass
    assert "Could not save the model" in window.export_page.copy_status_label.text()
    assert window.export_page.save_button.isEnabled()


def test_stop_ends_the_run_as_stopped(qtbot, ready_window):
    configure_fake(wait_for_stop=True, batch_delay=0.01)
    window = ready_window
    with qtbot.waitSignal(window.training_finished, timeout=10_000) as finished:
        with qtbot.waitSignal(window.session.epoch_ended, timeout=5000):
            window.start_training()
        assert window.stop_action.isEnabled() and window.train_action.text() == "Queue"
        window.stop_action.trigger()
        assert window.stop_action.isEnabled() and window.stop_action.text() == "End now"  # a second press kills
    assert finished.args[0].status == RunStatus.STOPPED
    assert "Stopped" in window.run_page.result_label.text()
    assert window.train_action.isEnabled()


def test_failed_run_shows_one_message_and_app_stays_usable(qtbot, ready_window):
    configure_fake(fail_with="loss became NaN at epoch 1 step 5; lower the learning rate.")
    window = ready_window
    outcome = train(qtbot, window)
    assert outcome.status == RunStatus.FAILED
    assert window.message_bar.isVisible() and window.message_bar.level == "error"
    assert "NaN" in window.message_bar.text
    assert "Failed" in window.run_page.result_label.text()
    configure_fake()
    assert train(qtbot, window).status == RunStatus.FINISHED  # still usable


def test_a_crashing_trainer_becomes_a_failed_run(qtbot, ready_window):
    configure_fake(raise_error="RuntimeError: boom")
    window = ready_window
    outcome = train(qtbot, window)
    assert outcome.status == RunStatus.FAILED
    assert "RuntimeError: boom" in outcome.message
    assert window.train_action.isEnabled()


def test_batch_events_are_coalesced_but_none_is_lost(qtbot, ready_window):
    configure_fake(epochs=2, steps=400)
    window = ready_window
    groups = []
    window.session.batches_ended.connect(lambda events: groups.append(len(events)))
    train(qtbot, window)
    assert sum(groups) == 800
    assert len(groups) < 100  # ~20 a second at most, plus one flush per epoch
    assert window.run_page.plots.point_counts()["loss"] == 800


def test_preparation_progress_is_coalesced_but_ends_complete(qtbot, ready_window):
    configure_fake(prepare_steps=tuple(range(3001)))  # one event per decoded image
    window = ready_window
    seen = []
    window.session.prepared.connect(seen.append)
    train(qtbot, window)
    assert 2 <= len(seen) < 60
    assert (seen[0].done, seen[-1].done, seen[-1].total) == (0, 3000, 3000)


def test_phase_two_marker(qtbot, ready_window):
    configure_fake(epochs=2, phase_two_epochs=2)
    window = ready_window
    train(qtbot, window)
    markers = window.run_page.plots.phase_markers
    assert all(marker.isVisible() for marker in markers)
    assert markers[0].value() == 2


def test_train_does_not_wait_for_the_apps_own_tensorflow(make_window, demo_folder, qtbot):
    window = make_window(tensorflow="none")  # training runs in its own process, with its own TensorFlow
    window.open_folder(demo_folder)
    qtbot.waitUntil(lambda: window.dataset.index is not None, timeout=10_000)
    assert window.train_action.isEnabled()
    assert "Ready" in window.run_page.readiness_label.text()
    window.tensorflow._on_loaded("CPU (test)")
    assert window.run_page.device_label.text() == "Device: CPU (test)"


def test_shortcuts(window):
    assert window.train_action.shortcut() == QKeySequence("Ctrl+Return")
    assert window.stop_action.shortcut() == QKeySequence("Esc")
    assert window.open_action.shortcut() == QKeySequence("Ctrl+O")
    assert window.save_action.shortcut() == QKeySequence("Ctrl+S")


def test_keyboard_train_and_stop(qtbot, ready_window):
    configure_fake(wait_for_stop=True, batch_delay=0.01)
    window = ready_window
    window.activateWindow()
    with qtbot.waitSignal(window.training_finished, timeout=10_000) as finished:
        with qtbot.waitSignal(window.session.batches_ended, timeout=5000):
            qtbot.keyClick(window.step_list, Qt.Key.Key_Return, Qt.KeyboardModifier.ControlModifier)
        qtbot.keyClick(window.step_list, Qt.Key.Key_Escape)
    assert finished.args[0].status == RunStatus.STOPPED


def test_feature_cache_label_says_whether_and_why(qtbot, ready_window):
    window = ready_window
    label = window.run_page.cache_label
    assert label.isHidden()
    configure_fake(feature_cache=True, feature_cache_note="backbone frozen and no augmentation: features "
                                                          "computed once")
    train(qtbot, window)
    assert label.isVisible() and label.property("role") == "ready"
    assert "Feature cache in use</b>: backbone frozen and no augmentation" in label.text()

    configure_fake(feature_cache=False, feature_cache_note="Augmentation is on; set 'cached augmented copies' "
                                                           "to cache augmented features instead")
    with qtbot.waitSignal(window.session.phase_began, timeout=5000):
        window.start_training()
    assert "Feature cache not used</b>: augmentation is on; set 'cached augmented copies'" in label.text()
    assert label.property("role") == "hint"
    qtbot.waitUntil(lambda: not window.session.running, timeout=10_000)

    configure_fake(epochs=1, phase_two_epochs=1, feature_cache=True, feature_cache_note="backbone frozen")
    train(qtbot, window)
    assert "Feature cache not used</b> in phase 2: fine-tuning updates the backbone" in label.text()


def test_export_can_be_cancelled(qtbot, ready_window, tmp_path, monkeypatch):
    """Cancel reaches the export through its TaskState; the page says nothing was written."""
    import time

    def slow_export(run, formats, out_dir, quantize, task):
        task.message("converting keras")
        while True:  # the real export checks between steps; this one between sleeps
            task.check()
            time.sleep(0.01)

    monkeypatch.setattr("tlstudio.gui.pages.export.export_run", slow_export)
    window = ready_window
    train(qtbot, window)
    page = window.export_page
    window.show_page("export")
    task = page.start_export()
    assert task is not None and page.cancel_button.isVisible() and not page.export_button.isEnabled()
    with qtbot.waitSignal(task.finished, timeout=5000):
        page.cancel_button.click()
    assert "cancelled" in page.status_label.text() and not page.cancel_button.isVisible()
    assert page.export_button.isEnabled()
