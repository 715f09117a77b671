"""Evaluate page: the reliability diagram and ECE of a real run, and the Calibrate button."""

from __future__ import annotations

import json
import shutil

import pytest


@pytest.fixture
def own_trained_window(make_window, trained_project, tmp_path):
    """A window on a copy of the session's trained run: calibrating rewrites its model.keras."""
    shutil.copy(trained_project, tmp_path / "project.json")
    shutil.copytree(trained_project.parent / "runs", tmp_path / "runs")
    window = make_window()
    assert window.open_project(tmp_path / "project.json")
    return window


@pytest.mark.slow
def test_reliability_diagram_ece_and_calibrate(qtbot, own_trained_window, tmp_path):
    window = own_trained_window
    page = window.evaluate_page
    window.show_page("evaluate")
    qtbot.waitUntil(lambda: page.evaluation is not None or "Could not" in page.status_label.text(), timeout=60_000)
    split = page.split
    assert page.metric_labels["ece"].text() == f"{split.ece:.1%}"
    bins = page.reliability.bins
    assert sum(bins["counts"]) == len(split.records)
    assert "Calibrate" in page.calibration_label.text() and page.calibrate_button.isEnabled()

    run = page.run_combo.selected_run
    old = page.evaluation
    qtbot.mouseClick(page.calibrate_button, qtbot_left())
    qtbot.waitUntil(lambda: page.evaluation is not None and page.evaluation is not old
                    or "Could not" in page.status_label.text(), timeout=60_000)
    assert "Calibrated" in page.status_label.text(), page.status_label.text()
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["ece_after"] <= metrics["ece_before"]
    assert page.metric_labels["ece"].text() == f"{metrics['ece_after']:.1%}"
    assert "Calibrated (temperature" in page.calibration_label.text()
    assert (run / "model.uncalibrated.keras").is_file()
    page.grab().save(str(tmp_path / "evaluate_calibration.png"))


def qtbot_left():
    from PySide6.QtCore import Qt

    return Qt.MouseButton.LeftButton
