"""Form controls made from a setting's declaration (settings/fields.py), bound to the project model.

The control suits the field: a check box for a bool, a combo of labelled choices for a Literal, a
log-scale spin box for a rate, else a spin box with the field's range, step, decimals, unit and "off"
text. It is named, says the field's help as its tooltip, and carries the field's key in the
`settingKey` property (the drift test finds every generated control by it). Panels choose which fields
they show and where; none restates a label, a range or a help text.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from PySide6.QtCore import QObject, Qt, Slot
from PySide6.QtWidgets import QAbstractButton, QCheckBox, QComboBox, QDoubleSpinBox, QFormLayout, QGroupBox, QWidget

from tlstudio.gui.state.bindings import FieldBinding, bind_check, bind_combo, bind_optional_spin, bind_spin
from tlstudio.gui.state.project_model import ALL, ProjectModel
from tlstudio.gui.widgets.common import LogSpinBox, float_spin, int_spin, named
from tlstudio.settings.project import FieldSpec, describe

SETTING_KEY = "settingKey"
DEFAULT_DECIMALS = 2


def _spin(spec: FieldSpec, switched: bool) -> QWidget:
    setting = spec.setting
    if setting.log_scale:
        return LogSpinBox(setting.least, setting.most)
    decimals = 0 if spec.kind is int else (setting.decimals if setting.decimals is not None else DEFAULT_DECIMALS)
    low, high = spec.form_bounds(decimals, switched=switched)
    if spec.optional and setting.off:
        low -= spec.display_unit(decimals)  # one step below the bounds, shown as "off": the value that means None
    if spec.kind is int:
        spin = int_spin(int(low), int(high), suffix=setting.unit)
        if setting.step:
            spin.setSingleStep(int(setting.step))
    else:
        spin = float_spin(low, high, step=setting.step or 10.0 ** -decimals, decimals=decimals, suffix=setting.unit)
    if setting.off and not switched:
        spin.setSpecialValueText(setting.off)
    return spin


def _combo(spec: FieldSpec) -> QComboBox:
    combo = QComboBox()
    for value in spec.choices:
        combo.addItem(spec.label_of(value), value)
        if spec.help_of(value):
            combo.setItemData(combo.count() - 1, spec.help_of(value), Qt.ItemDataRole.ToolTipRole)
    return combo


def make_control(key: str, object_name: str, *, switched: bool = False) -> QWidget:
    """The unbound control for the field `key`, named `object_name`, its help as tooltip. A `switched` spin
    box (a check box beside it turns the setting off) offers only the values above the off value."""
    spec = describe(key)
    if spec.kind is bool:
        control: QWidget = QCheckBox(spec.label)
    elif spec.choices:
        control = _combo(spec)
    else:
        control = _spin(spec, switched)
    named(control, object_name, spec.label, spec.help)
    control.setProperty(SETTING_KEY, key)
    return control


def bind_control(model: ProjectModel, key: str, control: QWidget) -> FieldBinding:
    """Keep a control made by `make_control` and its field in step."""
    spec = describe(key)
    if isinstance(control, QAbstractButton):
        return bind_check(model, key, control)
    if isinstance(control, QComboBox):
        return bind_combo(model, key, control)
    if spec.optional and spec.setting.off:
        return bind_optional_spin(model, key, control)
    return bind_spin(model, key, control)


def field_control(model: ProjectModel, key: str, object_name: str) -> QWidget:
    """The control for `key`, made and bound (the binding lives as long as the control)."""
    control = make_control(key, object_name)
    bind_control(model, key, control)
    return control


def add_field_rows(form: QFormLayout, model: ProjectModel, rows: Mapping[str, str]) -> dict[str, QWidget]:
    """A row in `form` for each field key -> object name of `rows`, labelled, with the help on the label too;
    returns the controls by key."""
    controls = {}
    for key, object_name in rows.items():
        control = field_control(model, key, object_name)
        if isinstance(control, QCheckBox):
            form.addRow("", control)
        else:
            form.addRow(describe(key).label, control)
            form.labelForField(control).setToolTip(control.toolTip())
        controls[key] = control
    return controls


class SwitchedField(QObject):
    """A switch (a check box, or a checkable group box) that turns a numeric field off (0), and a spin box with
    the value it has when on. While the switch is off the spin box keeps the last value, which switching on
    brings back; the first time, it is the declared `on_value`."""

    def __init__(self, model: ProjectModel, key: str, switch: QCheckBox | QGroupBox, spin: QDoubleSpinBox) -> None:
        super().__init__(spin)
        self._model = model
        self.key = key
        self._switch = switch
        self._spin = spin
        self._off = describe(key).kind(0)
        self.remembered: Any = describe(key).setting.on_value
        self._updating = False
        switch.toggled.connect(self._on_edited)
        spin.valueChanged.connect(self._on_edited)
        model.changed.connect(self._on_model_changed)
        self.refresh()

    @Slot()
    def _on_edited(self, *_: Any) -> None:
        if self._updating:
            return
        on = self._switch.isChecked()
        if self._spin.isEnabled() or on:
            self.remembered = self._spin.value()
        self._model.set(self.key, self._spin.value() if on else self._off)
        self.refresh()

    @Slot(list)
    def _on_model_changed(self, keys: list) -> None:
        if ALL in keys or self.key in keys:
            self.refresh()

    def refresh(self) -> None:
        value = self._model.get(self.key)
        if value:
            self.remembered = value
        self._updating = True
        try:
            self._switch.setChecked(bool(value))
            self._spin.setValue(value or self.remembered)
            self._spin.setEnabled(bool(value))
        finally:
            self._updating = False
