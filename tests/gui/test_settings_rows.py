"""The Training and Model pages' form rows are made from the settings' declarations: every Project field has a
CLI flag or a form control (or a reason below), and each generated control says its field's label and help and
offers exactly the values its field accepts."""

from __future__ import annotations

import argparse

import pytest
from PySide6.QtWidgets import QAbstractSpinBox, QSpinBox, QWidget

from tlstudio.cli.main import build_parser
from tlstudio.cli.options import FLAG_FIELDS
from tlstudio.gui.widgets.field_rows import SETTING_KEY
from tlstudio.settings.fields import leaf_fields
from tlstudio.settings.project import Project, describe

# Fields with neither a flag nor a form row, each for its reason.
EXEMPT = {
    "schema_version",  # the file format's version: TL Studio writes it, nobody chooses it
    "name",  # the project's name: Save As names it after its file
    "data.exclude",  # edited by the Data page's file actions (Leave out) and the health check
    "data.marked_fine",  # edited by the dataset health check's Mark fine
}
# Generated controls whose range is set by something other than their field's bounds.
RANGE_EXEMPT = {
    "model.image_size",  # its minimum is the chosen backbone's own (ModelSettings checks it on every change)
}


@pytest.fixture
def generated_controls(window):
    """Every control the Training and Model pages made from a declaration, by the field it edits."""
    controls: dict[str, list[QWidget]] = {}
    for page in (window.training_page, window.model_page):
        for widget in page.findChildren(QWidget):
            if widget.property(SETTING_KEY):
                controls.setdefault(widget.property(SETTING_KEY), []).append(widget)
    return controls


def _flagged_fields() -> set[str]:
    parser = build_parser()
    sub = next(action for action in parser._actions if isinstance(action, argparse._SubParsersAction))
    return {FLAG_FIELDS[action.dest] for action in sub.choices["train"]._actions if action.dest in FLAG_FIELDS}


def test_every_field_has_a_flag_or_a_form_control(generated_controls):
    flagged = _flagged_fields()
    missing = [key for key, _ in leaf_fields(Project)
               if key not in flagged and key not in generated_controls and key not in EXEMPT]
    assert missing == []
    assert {key for key, _ in leaf_fields(Project)} >= EXEMPT  # no stale exemption


def test_every_generated_control_offers_exactly_the_fields_range(generated_controls):
    checked = 0
    for key, controls in generated_controls.items():
        spec = describe(key)
        for control in controls:
            if not isinstance(control, QAbstractSpinBox) or key in RANGE_EXEMPT:
                continue
            decimals = 0 if isinstance(control, QSpinBox) else control.decimals()
            unit = spec.display_unit(decimals) + 1e-12
            means_none = spec.optional and spec.setting.off  # the lowest value shows "off" and means None
            low = control.minimum() + (spec.display_unit(decimals) if means_none else 0)
            high = control.maximum()
            limits, setting = spec.limits, spec.setting
            checked += 1
            if setting.log_scale:  # a ladder of rates: its declared ends, inside the field's bounds
                assert (low, high) == (setting.least, setting.most), key
                assert limits.minimum is None or low >= limits.minimum, key
                assert limits.exclusive_minimum is None or low > limits.exclusive_minimum, key
                assert limits.maximum is None or high <= limits.maximum, key
                continue
            if limits.minimum is not None:
                assert limits.minimum <= low <= limits.minimum + unit, key
            elif limits.exclusive_minimum is not None:
                assert limits.exclusive_minimum < low <= limits.exclusive_minimum + unit, key
            else:
                assert low == setting.least, key
            if limits.maximum is not None:
                assert limits.maximum - unit <= high <= limits.maximum, key
            elif limits.exclusive_maximum is not None:
                assert limits.exclusive_maximum - unit <= high < limits.exclusive_maximum, key
            else:
                assert high == setting.most, key
    assert checked > 30


def test_the_augmentation_strengths_offer_the_projects_range(window):
    """They offered 0.01-0.95 where the project takes up to 0.99; 0 is the unticked box."""
    spins = window.training_page.augment_spins
    assert (spins["zoom"].minimum(), spins["zoom"].maximum()) == (0.01, 0.99)
    assert (spins["rotate"].minimum(), spins["rotate"].maximum()) == (1.0, 180.0)
    window.training_page.augment_checks["zoom"].setChecked(True)
    spins["zoom"].setValue(0.99)
    assert window.project.project.augment.zoom == 0.99


def test_generated_controls_say_the_fields_label_and_help(generated_controls):
    assert len(generated_controls) > 45
    for key, controls in generated_controls.items():
        for control in controls:
            assert control.toolTip() == describe(key).help
            assert control.accessibleName().startswith(describe(key).label)
