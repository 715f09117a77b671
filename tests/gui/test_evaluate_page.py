"""Evaluate page on a real trained run: metrics, the clickable confusion matrix, the biggest mistakes."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PySide6.QtCore import Qt, QUrl

from tlstudio.gui.widgets import gallery


def evaluated(qtbot, window):
    """Show the Evaluate page (which evaluates the newest run) and wait for the result."""
    page = window.evaluate_page
    assert page.run_combo.selected_run is not None
    window.show_page("evaluate")
    qtbot.waitUntil(lambda: page.evaluation is not None or "Could not" in page.status_label.text(),
                    timeout=60_000)
    assert page.evaluation is not None, page.status_label.text()
    return page


def test_shows_metrics_table_and_matrix(qtbot, trained_window):
    page = evaluated(qtbot, trained_window)
    split = page.split
    assert split is not None and split.name == "val"
    assert page.metric_labels["accuracy"].text() == f"{split.accuracy:.1%}"
    assert page.metric_titles["top_k"].text() == "Top-3"
    assert page.metric_labels["images"].text() == str(len(split.records))
    assert page.class_table.rowCount() == 3
    assert [page.class_table.item(r, 0).text() for r in range(3)] == ["circle", "square", "triangle"]
    assert sum(int(page.class_table.item(r, 4).text()) for r in range(3)) == len(split.records)
    model = page.matrix_view.matrix_model
    assert (model.rowCount(), model.columnCount()) == (3, 3)
    shown = np.array([[int(model.index(t, p).data()) for p in range(3)] for t in range(3)])
    assert np.array_equal(shown, split.confusion_matrix)
    assert not page.split_combo.isEnabled()  # no test/ folder: only validation images
    assert "accuracy" in trained_window.evaluate_page.summary()


def test_clicking_a_cell_shows_its_images(qtbot, trained_window):
    page = evaluated(qtbot, trained_window)
    matrix = page.split.confusion_matrix
    true, predicted = (int(i) for i in np.argwhere(matrix > 0)[0])
    view = page.matrix_view
    rect = view.visualRect(view.matrix_model.index(true, predicted))
    qtbot.mouseClick(view.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())
    assert page.selected_cell == (true, predicted)
    records = page.split.cell(true, predicted)
    assert page.cell_gallery.paths == [r.path for r in records]
    assert page.cell_gallery.count() == matrix[true, predicted]
    assert page.cell_gallery.item(0).text() == f"{records[0].confidence:.0%}"
    qtbot.waitUntil(lambda: all(page.cell_gallery.has_thumbnail(row) for row in range(page.cell_gallery.count())),
                    timeout=10_000)
    assert not page.cell_gallery.item(0).icon().isNull()
    assert page.split.classes[true] in page.cell_caption.text()


def test_mistakes_sorted_by_loss_and_double_click_opens_the_folder(qtbot, trained_window, monkeypatch):
    page = evaluated(qtbot, trained_window)
    split = page.split
    mistakes = split.mistakes()
    assert mistakes, "a one-epoch model from random weights makes mistakes"
    losses = [r.loss for r in mistakes]
    assert losses == sorted(losses, reverse=True)
    shown = page.mistakes_gallery
    assert shown.paths == [r.path for r in mistakes]
    first, classes = mistakes[0], split.classes
    caption = shown.item(0).text()
    assert classes[first.true] in caption and f"loss {first.loss:.2f}" in caption
    assert all(f"{entry['label']} {entry['probability']:.0%}" in caption for entry in first.top(classes, 3))
    opened: list[QUrl] = []
    monkeypatch.setattr(gallery.QDesktopServices, "openUrl", lambda url: opened.append(url) or True)
    centre = shown.visualItemRect(shown.item(0)).center()
    qtbot.mouseClick(shown.viewport(), Qt.MouseButton.LeftButton, pos=centre)  # an item view wants the press
    qtbot.mouseDClick(shown.viewport(), Qt.MouseButton.LeftButton, pos=centre)
    assert [Path(url.toLocalFile()) for url in opened] == [first.path.parent]


def test_no_run_says_what_to_do(window):
    window.show_page("evaluate")
    page = window.evaluate_page
    assert page.run_combo.selected_run is None and page.evaluation is None
    assert "Train a model" in page.status_label.text()
    assert not page.evaluate_button.isEnabled()


@pytest.mark.parametrize("name", ["evaluate", "try"])
def test_pages_wait_for_tensorflow(make_window, trained_project, name):
    window = make_window(tensorflow="none")
    window.open_project(trained_project)
    window.show_page(name)
    page = window.pages[name]
    assert not page.busy
    assert "TensorFlow" in page.status_label.text()


def test_test_split_is_offered_when_the_data_has_one(trained_window):
    """A dataset with a test/ folder gives a second split; the page switches between them."""
    from tlstudio.tools.evaluate import Evaluation, ImageRecord, SplitEvaluation, split_metrics

    page = trained_window.evaluate_page
    run = page.run_combo.selected_run
    classes = ["circle", "square", "triangle"]

    def split(name: str, probabilities: list[list[float]], truth: list[int]) -> SplitEvaluation:
        records = [ImageRecord(Path(f"/data/{name}/{i}.png"), t, int(np.argmax(p)), tuple(p), -float(np.log(p[t])))
                   for i, (p, t) in enumerate(zip(probabilities, truth, strict=True))]
        return SplitEvaluation(name, classes, records, split_metrics(name, np.array(truth), np.array(probabilities),
                                                                     classes))

    val = split("val", [[0.8, 0.1, 0.1], [0.2, 0.7, 0.1]], [0, 1])
    test = split("test", [[0.6, 0.3, 0.1], [0.5, 0.4, 0.1], [0.1, 0.1, 0.8]], [0, 1, 2])
    page.evaluations[run] = Evaluation(run, classes, {"val": val, "test": test})
    page._fill_splits()
    assert page.split_combo.isEnabled() and page.split_combo.count() == 2
    assert page.metric_labels["accuracy"].text() == "100.0%" and page.metric_labels["images"].text() == "2"
    page.split_combo.setCurrentIndex(page.split_combo.findData("test"))
    assert page.split.name == "test"
    assert page.metric_labels["accuracy"].text() == "66.7%" and page.metric_labels["images"].text() == "3"
    assert page.mistakes_gallery.paths == [Path("/data/test/1.png")]


@pytest.mark.slow
def test_ensemble_of_two_runs_from_the_evaluate_page(qtbot, make_window, tmp_path, ensemble_members):
    import shutil

    from tlstudio.settings.project import Project

    # Two of the session's SqueezeNet runs (adam, rmsprop; tests/conftest.py), copied into the project's runs.
    _, members = ensemble_members
    runs = [Path(shutil.copytree(members[i], tmp_path / "runs" / members[i].name)) for i in (0, 2)]
    path = tmp_path / "project.json"
    Project.load(runs[0] / "config.json").save(path)
    window = make_window()
    assert window.open_project(path)
    page = window.evaluate_page
    assert page.ensemble_button.isEnabled()
    task = page.make_ensemble(runs)
    with qtbot.waitSignal(task.finished, timeout=120_000):
        pass
    assert page.ensemble_result is not None, page.status_label.text()
    assert page.run_combo.selected_run == page.ensemble_result.run_dir
    assert page.ensemble_label.isVisibleTo(page) and "Ensemble:" in page.ensemble_label.text()
    assert "shared frozen backbone runs once" in page.ensemble_label.text()
    assert window.history.root / page.ensemble_result.run_dir.name == page.ensemble_result.run_dir
