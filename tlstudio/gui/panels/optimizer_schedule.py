"""The Training page's optimizer and schedule groups: each a small widget that binds its settings and
listens to the one project model itself, showing only the parameters the chosen method reads.

Every row is made from its field's declaration (gui/widgets/field_rows.py); which optimizer or
schedule reads a parameter is declared there too (settings/sections.py).
"""

from __future__ import annotations

from PySide6.QtCore import Slot
from PySide6.QtWidgets import QComboBox, QDoubleSpinBox, QFormLayout, QGroupBox, QWidget

from tlstudio.gui.state.project_model import ALL, ProjectModel
from tlstudio.gui.widgets.common import hint_label
from tlstudio.gui.widgets.field_rows import add_field_rows
from tlstudio.settings.project import FULL_BATCH_OPTIMIZERS, FieldSpec, declared_fields, describe
from tlstudio.train.readiness import full_batch_blocker


def _parameters(section: str) -> list[FieldSpec]:
    """The declared parameters of the optimizer or schedule section, in the order a form shows them."""
    return [spec for spec in declared_fields() if spec.section == section and spec.name != "name"]


class _ChoiceGroup(QGroupBox):
    """A group whose rows depend on one choice (`KEY`): it refreshes itself when that choice changes."""

    KEY = ""

    def __init__(self, title: str, project: ProjectModel, prefix: str, parent: QWidget | None = None) -> None:
        super().__init__(title, parent)
        self._project = project
        self.form = QFormLayout(self)
        self.combo: QComboBox = add_field_rows(self.form, project, {self.KEY: f"{prefix}Combo"})[self.KEY]
        self.description = hint_label()
        self.description.setObjectName(f"{prefix}Description")
        self.form.addRow(self.description)
        section = self.KEY.split(".")[0]
        self.parameters = _parameters(section)
        rows = add_field_rows(self.form, project, {spec.key: f"{prefix}_{spec.name}" for spec in self.parameters})
        self.spins: dict[str, QDoubleSpinBox] = {key.split(".")[-1]: spin for key, spin in rows.items()}
        project.changed.connect(self._on_project_changed)

    @Slot(list)
    def _on_project_changed(self, keys: list) -> None:
        if ALL in keys or self.KEY in keys:
            self.refresh()

    def refresh(self) -> None:
        """Show only the parameters the chosen method reads, and its description."""
        chosen = self._project.get(self.KEY)
        for spec in self.parameters:
            self.form.setRowVisible(self.spins[spec.name], self.reads(spec, chosen))
        text = describe(self.KEY).help_of(chosen)
        self.description.setText(text)
        self.form.setRowVisible(self.description, bool(text))

    def reads(self, spec: FieldSpec, chosen: str) -> bool:
        raise NotImplementedError


class OptimizerGroup(_ChoiceGroup):
    """The optimizer and the parameters of its update rule."""

    KEY = "optimizer.name"

    def __init__(self, project: ProjectModel, parent: QWidget | None = None) -> None:
        super().__init__("Optimizer", project, "trainingOptimizer", parent)
        project.changed.connect(self._offer_full_batch)
        self.refresh()
        self._offer_full_batch()

    def reads(self, spec: FieldSpec, chosen: str) -> bool:
        return spec.read_by_optimizer(chosen)

    @Slot()
    def _offer_full_batch(self, *_: object) -> None:
        """A full-batch optimizer (L-BFGS) only where the head trains alone on cached features: greyed out,
        with the reason, elsewhere."""
        project = self._project.project
        for name in FULL_BATCH_OPTIMIZERS:
            reason = full_batch_blocker(project.copy_with(**{self.KEY: name}))
            item = self.combo.model().item(self.combo.findData(name))
            item.setEnabled(reason is None or project.optimizer.name == name)
            item.setToolTip(reason or describe(self.KEY).help_of(name))


class ScheduleGroup(_ChoiceGroup):
    """The learning-rate schedule, its warm-up and the parameters the chosen schedule reads."""

    KEY = "schedule.name"

    def __init__(self, project: ProjectModel, parent: QWidget | None = None) -> None:
        super().__init__("Learning-rate schedule", project, "trainingSchedule", parent)
        self.refresh()

    def reads(self, spec: FieldSpec, chosen: str) -> bool:
        return spec.read_by_schedule(chosen)
