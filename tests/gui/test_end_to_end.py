"""End to end with the real Trainer: click through Data -> Model -> Training -> Run on tiny data."""

from __future__ import annotations

import json

import pytest
from PySide6.QtCore import QPoint, Qt

from tlstudio.data.demo import make_demo_dataset
from tlstudio.gui.worker import DEFAULT_TRAINER, process_alive
from tlstudio.train.events import RunStatus


@pytest.fixture
def tiny_folder(tmp_path):
    return make_demo_dataset(tmp_path / "tiny", per_class=8, size=48, seed=0)


def click_through(qtbot, window, folder, epochs: int) -> None:
    """Set the run up the way a person would, one page after the other."""
    window.show_page("data")
    data = window.data_page
    qtbot.keyClicks(data.folder_edit, str(folder))
    qtbot.keyClick(data.folder_edit, Qt.Key.Key_Return)
    qtbot.waitUntil(lambda: window.dataset.index is not None and not window.dataset.scanning, timeout=20_000)
    assert data.class_table.rowCount() == 3

    window.show_page("model")
    model = window.model_page
    for button in (model.none_radio, model.default_size_check):  # click the indicator, on the left
        qtbot.mouseClick(button, Qt.MouseButton.LeftButton, pos=QPoint(8, button.height() // 2))
    model.size_spin.setValue(48)

    window.show_page("training")
    training = window.training_page
    training.epochs_spin.setValue(epochs)
    training.batch_spin.setValue(8)
    training.image_cache_check.setChecked(False)

    project = window.project.project
    assert (project.model.weights, project.model.image_size) == ("none", 48)
    assert (project.training.epochs, project.training.batch_size) == (epochs, 8)
    window.show_page("run")


@pytest.mark.slow
def test_click_through_and_train_for_real(qtbot, make_window, tiny_folder):
    window = make_window(trainer=DEFAULT_TRAINER, tensorflow="real")
    click_through(qtbot, window, tiny_folder, epochs=2)
    assert window.run_page.train_button.isEnabled()
    with qtbot.waitSignal(window.training_finished, timeout=180_000) as finished:
        qtbot.mouseClick(window.run_page.train_button, Qt.MouseButton.LeftButton)
    outcome = finished.args[0]
    assert outcome.status == RunStatus.FINISHED, outcome.message
    counts = window.run_page.plots.point_counts()
    assert counts["loss"] > 0 and counts["learning_rate"] == counts["loss"]
    assert counts["val_loss"] == counts["accuracy"] == 2
    run_dir = outcome.run_dir
    assert run_dir.is_dir() and (run_dir / "model.keras").is_file() and (run_dir / "history.csv").is_file()
    assert run_dir.parent == window.history.root
    assert "Finished" in window.run_page.result_label.text()
    assert window.run_page.metric_labels["val_accuracy"].text().endswith("%")
    assert window.run_page.runs_list.count() == 1

    # Export: the run just trained is selected; export it as .keras and TFLite, each verified.
    window.show_page("export")
    export = window.export_page
    assert export.selected_run == run_dir
    for fmt, check in export.format_checks.items():
        check.setChecked(fmt in ("keras", "tflite"))
    with qtbot.waitSignal(export.start_export().finished, timeout=180_000):
        assert not export.export_button.isEnabled()
    assert export.report is not None and export.report.ok, export.status_label.text()
    assert export.results_table.rowCount() == 2
    assert {export.results_table.item(r, 1).text() for r in range(2)} == {"yes"}
    assert (run_dir / "export" / "model.keras").is_file() and (run_dir / "export" / "model.tflite").is_file()
    assert export.export_button.isEnabled() and export.open_button.isEnabled()


@pytest.mark.slow
def test_stop_keeps_a_loadable_model(qtbot, make_window, tiny_folder):
    window = make_window(trainer=DEFAULT_TRAINER, tensorflow="real")
    click_through(qtbot, window, tiny_folder, epochs=200)
    with qtbot.waitSignal(window.training_finished, timeout=180_000) as finished:
        with qtbot.waitSignal(window.session.epoch_ended, timeout=120_000):
            window.train_action.trigger()
        qtbot.mouseClick(window.run_page.stop_button, Qt.MouseButton.LeftButton)
    outcome = finished.args[0]
    assert outcome.status == RunStatus.STOPPED, outcome.message
    assert "Stopped" in window.run_page.result_label.text()
    import keras

    model = keras.saving.load_model(outcome.run_dir / "model.keras")
    assert model.output_shape == (None, 3)
    assert window.train_action.isEnabled()


@pytest.mark.slow
def test_closing_mid_training_asks_stops_and_leaves_no_worker(qtbot, make_window, tiny_folder):
    window = make_window(trainer=DEFAULT_TRAINER, tensorflow="real")
    click_through(qtbot, window, tiny_folder, epochs=200)
    with qtbot.waitSignal(window.session.epoch_ended, timeout=120_000):
        window.train_action.trigger()
    pid, run_dir = window.session.pid, window.session.run_dir
    assert pid and process_alive(pid)
    asked = []
    window.ask_stop_run = lambda: asked.append(True) or False  # "Cancel": the window stays, the run goes on
    window.close()
    assert asked and window.isVisible() and window.session.running
    window.ask_stop_run = lambda: True
    window.close()
    assert not window.isVisible()
    assert not window.session.running
    assert not process_alive(pid)
    assert json.loads((run_dir / "status.json").read_text())["status"] == "STOPPED"
    assert (run_dir / "model.keras").is_file()
