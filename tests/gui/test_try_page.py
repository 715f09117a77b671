"""Try-it page on a real trained run: drop images, see the top-k bars, toggle the Grad-CAM overlay."""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np
from PySide6.QtCore import QMimeData, QPoint, QPointF, Qt, QUrl
from PySide6.QtGui import QDragEnterEvent, QDropEvent


def drop(page, *paths: Path) -> None:
    """Drag files over the page and drop them, as from a file manager (the handlers, called directly:
    QApplication only delivers drop events while a real drag is in progress)."""
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(p)) for p in paths])
    args = (Qt.DropAction.CopyAction, mime, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier)
    with warnings.catch_warnings():  # PySide6 6.12 marks the only constructor it offers as deprecated
        warnings.simplefilter("ignore", DeprecationWarning)
        enter = QDragEnterEvent(QPoint(20, 20), *args)
    enter.ignore()
    page.dragEnterEvent(enter)
    assert enter.isAccepted()
    event = QDropEvent(QPointF(20, 20), *args)
    event.ignore()
    page.dropEvent(event)
    assert event.isAccepted()


def data_folder(trained_project: Path) -> Path:
    return Path(json.loads(trained_project.read_text())["data"]["folder"])


def test_dropped_image_shows_predictions_and_grad_cam(qtbot, trained_window, trained_project):
    window = trained_window
    window.show_page("try")
    page = window.try_page
    image = sorted((data_folder(trained_project) / "circle").iterdir())[0]
    with qtbot.waitSignal(page.view_shown, timeout=60_000):
        with qtbot.waitSignal(page.predictions_shown, timeout=60_000) as shown:
            drop(page, image)
    batch = shown.args[0]
    assert [t.path for t in batch.images] == [image]
    tried = page.tried[image]
    assert len(tried.probabilities) == 3 and np.isclose(sum(tried.probabilities), 1.0, atol=1e-4)
    # The bars: every class (3 < top 5), most probable first, as the model said.
    order = np.argsort(tried.probabilities)[::-1]
    classes = page.model.predictor.classes
    assert [name for name, _ in page.bars.shown] == [classes[i] for i in order]
    assert page.bars.bars[0].format() == f"{tried.probabilities[order[0]]:.1%}"
    assert classes[order[0]] in page.answer_label.text()
    assert page.image_list.count() == 1 and page.image_list.currentRow() == 0
    # The exact preprocessing of training: the run's image size and resize policy.
    assert (page.model.predictor.image_size, page.model.predictor.resize) == (64, "center-crop")
    same = page.model.predictor.predict_array(page.model.predictor.load(image))[0]
    assert np.allclose(same, tried.probabilities, atol=1e-5)

    plain = page.image_label.image.toImage()
    assert not plain.isNull()
    assert page.gradcam_check.isEnabled()
    with qtbot.waitSignal(page.view_shown, timeout=60_000):
        page.gradcam_check.setChecked(True)
    assert page.image_label.image.toImage() != plain
    assert "evidence" in page.view_caption.text() or "even" in page.view_caption.text()
    with qtbot.waitSignal(page.view_shown, timeout=5000):
        page.gradcam_check.setChecked(False)  # drawn from the kept view, no new work
    assert page.image_label.image.toImage() == plain

    page.top_spin.setValue(1)
    assert len(page.bars.shown) == 1


def test_folder_and_unreadable_files(qtbot, trained_window, trained_project, tmp_path):
    page = trained_window.try_page
    trained_window.show_page("try")
    broken = tmp_path / "broken.png"
    broken.write_bytes(b"not an image")
    with qtbot.waitSignal(page.predictions_shown, timeout=60_000) as shown:
        drop(page, data_folder(trained_project), broken)
    batch = shown.args[0]
    assert len(batch.images) == 25
    assert page.tried[broken].error and not page.tried[broken].probabilities
    assert "could not be read" in page.status_label.text()
    assert page.image_list.count() == 25
    assert page.clear_button.isEnabled()
    page.clear_button.click()
    assert page.image_list.count() == 0 and not page.tried


def test_prediction_after_the_first_reuses_the_loaded_model(qtbot, trained_window, trained_project):
    page = trained_window.try_page
    trained_window.show_page("try")
    image = sorted((data_folder(trained_project) / "square").iterdir())[0]
    with qtbot.waitSignal(page.predictions_shown, timeout=60_000):
        drop(page, image)
    model = page.model
    with qtbot.waitSignal(page.predictions_shown, timeout=10_000) as again:
        page.add_paths([image])
    assert page.model is model  # not loaded again
    assert again.args[0].seconds < 1.0
