"""Horizontal bars of class probabilities, most probable first (the Try-it page's top-k)."""

from __future__ import annotations

from PySide6.QtWidgets import QGridLayout, QLabel, QProgressBar, QWidget

from tlstudio.gui.widgets.common import named

MAX_BARS = 10
_SCALE = 1000


class ProbabilityBars(QWidget):
    """Up to MAX_BARS rows of (class name, bar with its percentage); rows beyond the data hide."""

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.setObjectName("tryProbabilityBars")
        self.setAccessibleName("Top predictions")
        layout = QGridLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setHorizontalSpacing(10)
        layout.setVerticalSpacing(6)
        layout.setColumnStretch(1, 1)
        self.labels: list[QLabel] = []
        self.bars: list[QProgressBar] = []
        self.shown: list[tuple[str, float]] = []
        for row in range(MAX_BARS):
            label = QLabel()
            label.setObjectName(f"tryClassLabel_{row}")
            bar = named(QProgressBar(), f"tryProbabilityBar_{row}", f"Prediction {row + 1}")
            bar.setRange(0, _SCALE)
            bar.setTextVisible(True)
            bar.setMinimumWidth(70)
            layout.addWidget(label, row, 0)
            layout.addWidget(bar, row, 1)
            self.labels.append(label)
            self.bars.append(bar)
        self.set_values([])

    def set_values(self, values: list[tuple[str, float]]) -> None:
        """[(class name, probability 0..1)], shown in the order given."""
        self.shown = list(values[:MAX_BARS])
        for row, (label, bar) in enumerate(zip(self.labels, self.bars, strict=True)):
            shown = row < len(values)
            label.setVisible(shown)
            bar.setVisible(shown)
            if shown:
                name, probability = values[row]
                label.setText(f"<b>{name}</b>" if row == 0 else name)
                bar.setValue(round(max(0.0, min(1.0, probability)) * _SCALE))
                bar.setFormat(f"{probability:.1%}")
                bar.setAccessibleDescription(f"{name}: {probability:.1%}")
