"""The layout checker finds what a person would see wrong: cut-off and elided text, a first column too
narrow for its names, siblings on top of each other, a box squeezed below what it needs."""

from __future__ import annotations

from PySide6.QtWidgets import QGroupBox, QLabel, QTableWidget, QTableWidgetItem, QVBoxLayout, QWidget

from tlstudio.gui.layout_check import layout_problems


def shown(qtbot, widget: QWidget, width: int, height: int) -> QWidget:
    qtbot.addWidget(widget)
    widget.resize(width, height)
    widget.show()
    qtbot.waitExposed(widget)
    return widget


def test_a_roomy_layout_has_no_problems(qtbot):
    root = QWidget()
    layout = QVBoxLayout(root)
    layout.addWidget(QLabel("Validation accuracy"))
    layout.addWidget(QLabel("Best epoch"))
    assert layout_problems(shown(qtbot, root, 300, 120)) == []


def test_cut_off_and_elided_text(qtbot):
    root = QWidget()
    cut = QLabel("A label far too long for the room it has", root)
    cut.setGeometry(0, 0, 60, 20)
    elided = QLabel("MobileNetV3 Sm…", root)
    elided.setToolTip("MobileNetV3 Small")
    elided.setGeometry(0, 30, 200, 20)
    problems = layout_problems(shown(qtbot, root, 300, 80))
    assert any("60 px wide but its text needs" in p for p in problems)
    assert any("shows its text elided" in p for p in problems)


def test_overlapping_siblings_and_a_squeezed_box(qtbot):
    root = QWidget()
    layout = QVBoxLayout(root)
    first, second = QLabel("first"), QLabel("second")
    box = QGroupBox("Result")
    QVBoxLayout(box).addWidget(QLabel("Validation accuracy –"))
    for widget in (first, second, box):
        layout.addWidget(widget)
    shown(qtbot, root, 300, 200)
    second.setGeometry(first.geometry().translated(0, 4))  # drawn over the first, as a squeezed layout does
    box.setGeometry(box.x(), box.y(), box.width(), 12)
    problems = layout_problems(root)
    assert any("overlap by" in p for p in problems)
    assert any("Result" in p and "squeezed" in p for p in problems)


def test_first_column_too_narrow_for_its_names(qtbot):
    table = QTableWidget(1, 2)
    table.setHorizontalHeaderLabels(["Backbone", "Top-1"])
    table.setItem(0, 0, QTableWidgetItem("EfficientNetV2B0 with a long name"))
    table.setColumnWidth(0, 50)
    problems = layout_problems(shown(qtbot, table, 400, 120))
    assert any("first column is 50 px wide" in p for p in problems)


def test_overlap_of_widgets_in_nested_rows(qtbot):
    root = QWidget()
    layout = QVBoxLayout(root)
    top = QLabel("a diagram")
    layout.addWidget(top)
    row = QVBoxLayout()
    text = QLabel("its caption")
    row.addWidget(text)
    layout.addLayout(row)
    shown(qtbot, root, 300, 200)
    text.setGeometry(top.geometry().translated(0, 3))
    assert any("overlap by" in p for p in layout_problems(root))
