"""Two-way links between one control and one Project field.

A binding writes the control's value into the ProjectModel when the user changes it, and
refreshes the control whenever the model says that field changed (or a project was loaded).
A rejected value snaps the control back to what the Project holds.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from PySide6.QtCore import QObject, Slot
from PySide6.QtWidgets import QAbstractButton, QComboBox, QDoubleSpinBox, QSpinBox, QWidget

from tlstudio.gui.state.project_model import ALL, ProjectModel
from tlstudio.gui.widgets.common import LogSpinBox
from tlstudio.settings.project import describe


class FieldBinding(QObject):
    """Keeps `widget` and the Project field `key` in step."""

    def __init__(self, model: ProjectModel, key: str, widget: QWidget, signal: Any,
                 read: Callable[[], Any], write: Callable[[Any], None]):
        super().__init__(widget)
        self._model = model
        self.key = key
        self._widget = widget
        self._read = read
        self._write = write
        signal.connect(self._on_edited)
        model.changed.connect(self._on_model_changed)
        self.refresh()

    @Slot()
    def _on_edited(self, *_: Any) -> None:
        if not self._model.set(self.key, self._read()):
            self.refresh()

    @Slot(list)
    def _on_model_changed(self, keys: list) -> None:
        if ALL in keys or self.key in keys:
            self.refresh()

    def refresh(self) -> None:
        blocked = self._widget.blockSignals(True)
        try:
            self._write(self._model.get(self.key))
        finally:
            self._widget.blockSignals(blocked)


def fit_to_field(spin: QSpinBox | QDoubleSpinBox, key: str) -> None:
    """Make the spin box's range the Project field's (FieldSpec.form_bounds): a value the project accepts is
    never clamped on display, and one it refuses cannot be typed. Unbounded sides keep the spin box's own limit
    where the declaration names none."""
    low, high = describe(key).form_bounds(0 if isinstance(spin, QSpinBox) else spin.decimals())
    spin.setRange(low if low is not None else spin.minimum(), high if high is not None else spin.maximum())


def bind_spin(model: ProjectModel, key: str, spin: QSpinBox | QDoubleSpinBox) -> FieldBinding:
    if not isinstance(spin, LogSpinBox):  # its ladder of values has fixed ends of its own
        fit_to_field(spin, key)
    return FieldBinding(model, key, spin, spin.valueChanged, spin.value, spin.setValue)


def bind_optional_spin(model: ProjectModel, key: str, spin: QSpinBox | QDoubleSpinBox) -> FieldBinding:
    """A spin box whose minimum (shown with specialValueText) means None."""

    def read() -> Any:
        return None if spin.value() == spin.minimum() else spin.value()

    def write(value: Any) -> None:
        spin.setValue(spin.minimum() if value is None else value)

    return FieldBinding(model, key, spin, spin.valueChanged, read, write)


def bind_check(model: ProjectModel, key: str, button: QAbstractButton) -> FieldBinding:
    return FieldBinding(model, key, button, button.toggled, button.isChecked, button.setChecked)


def bind_combo(model: ProjectModel, key: str, combo: QComboBox) -> FieldBinding:
    """The combo's items carry the Project values as their data."""

    def write(value: Any) -> None:
        index = combo.findData(value)
        if index >= 0:
            combo.setCurrentIndex(index)

    return FieldBinding(model, key, combo, combo.currentIndexChanged, combo.currentData, write)
