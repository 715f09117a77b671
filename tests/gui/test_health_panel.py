"""Data page Health panel: a real check (offline SqueezeNet features) on data with a planted cross-class
copy and a moved image; moving, excluding and marking fine write the files or the project."""

from __future__ import annotations

import shutil

from gui_helpers import wait_for_scan
from PySide6.QtCore import Qt

from tlstudio.data.demo import make_demo_dataset


def test_health_panel_lists_findings_and_acts_on_them(qtbot, window, tmp_path):
    data = make_demo_dataset(tmp_path / "shapes", per_class=14, size=48, seed=5)
    shutil.copy(data / "circle/circle_002.png", data / "square/circle_002.png")  # one picture, two labels
    (data / "triangle/triangle_004.png").rename(data / "circle/t_904.png")  # a triangle labeled circle
    window.open_folder(data)
    wait_for_scan(qtbot, window)
    window.project.update({"model.backbone": "squeezenet1_1", "model.weights": "imagenet",
                           "model.image_size": 96})
    panel = window.data_page.health_panel
    assert panel.check_button.isEnabled() and not panel.exclude_button.isEnabled()
    with qtbot.waitSignal(panel.checked, timeout=90_000):
        qtbot.mouseClick(panel.check_button, Qt.MouseButton.LeftButton)
    assert panel.report is not None, panel.summary_label.text()
    assert "1 across classes" in panel.summary_label.text()
    files = [finding.file for finding in panel.findings]
    assert panel.gallery.count() == len(files)
    assert {"circle/circle_002.png", "square/circle_002.png"} <= set(files)
    assert files.index("square/circle_002.png") < 2  # label conflicts first
    qtbot.waitUntil(lambda: panel.gallery.has_thumbnail(0), timeout=10_000)

    panel.gallery.setCurrentRow(files.index("square/circle_002.png"))
    qtbot.mouseClick(panel.exclude_button, Qt.MouseButton.LeftButton)
    assert window.project.project.data.exclude == ["square/circle_002.png"]
    assert (data / "square/circle_002.png").is_file()  # the file itself stays
    assert "square/circle_002.png" not in [finding.file for finding in panel.findings]
    assert window.project.modified

    panel.gallery.setCurrentRow([f.file for f in panel.findings].index("circle/circle_002.png"))
    qtbot.mouseClick(panel.fine_button, Qt.MouseButton.LeftButton)
    assert window.project.project.data.marked_fine == ["circle/circle_002.png"]

    moved = next(f for f in panel.findings if f.file == "circle/t_904.png")
    assert moved.looks_like == "triangle"
    panel.gallery.setCurrentRow(panel.findings.index(moved))
    assert panel.class_combo.currentText() == "triangle"  # what it looks like, ready to move
    qtbot.mouseClick(panel.move_button, Qt.MouseButton.LeftButton)
    assert (data / "triangle/t_904.png").is_file() and not (data / "circle/t_904.png").exists()
    wait_for_scan(qtbot, window)
    assert window.dataset.index.counts["triangle"] == 14

    panel.keep_together_check.setChecked(True)
    assert window.project.project.data.keep_duplicates_together
    window.data_page.grab().save(str(tmp_path / "data_health.png"))
