"""The Model page's groups, each a small widget bound to the project model: the backbone, its input size and
weights, the two-phase fine-tuning and the classification head. (Freezing, with its layer list, is in
gui/panels/freezing.py.)

Rows are made from the fields' declarations (gui/widgets/field_rows.py); what choosing another backbone
resets is the core's rule (settings/rules.py), which `tlstudio train --backbone` applies too.
"""

from __future__ import annotations

from PySide6.QtCore import Slot
from PySide6.QtWidgets import QCheckBox, QFormLayout, QGroupBox, QHBoxLayout, QVBoxLayout, QWidget

from tlstudio.backbones.registry import get_backbone
from tlstudio.gui.panels.model_tables import BACKBONE_ORDER, BackboneTable
from tlstudio.gui.panels.weights_chooser import WeightsChooser
from tlstudio.gui.state.project_model import ALL, ProjectModel
from tlstudio.gui.widgets.common import hint_label, named
from tlstudio.gui.widgets.field_rows import SwitchedField, add_field_rows, make_control
from tlstudio.settings.project import describe
from tlstudio.settings.rules import backbone_changes


def _touches(keys: list, *prefixes: str) -> bool:
    return ALL in keys or any(key.startswith(prefixes) for key in keys)


class BackboneGroup(QGroupBox):
    """The pretrained networks to choose from, and a line on the chosen one."""

    def __init__(self, project: ProjectModel, parent: QWidget | None = None) -> None:
        super().__init__("Backbone", parent)
        self._project = project
        self._updating = False
        layout = QVBoxLayout(self)
        self.table = BackboneTable()
        self.table.itemSelectionChanged.connect(self._on_selected)
        layout.addWidget(self.table)
        self.description = hint_label()
        self.description.setObjectName("modelBackboneDescription")
        layout.addWidget(self.description)
        project.changed.connect(self._on_project_changed)
        self.refresh()

    @Slot(list)
    def _on_project_changed(self, keys: list) -> None:
        if _touches(keys, "model."):
            self.refresh()

    def refresh(self) -> None:
        backbone = self._project.project.model.backbone
        spec = get_backbone(backbone)
        self._updating = True
        try:
            row = BACKBONE_ORDER.index(backbone)
            if self.table.currentRow() != row:
                self.table.selectRow(row)
        finally:
            self._updating = False
        self.description.setText(f"<b>{spec.label}</b>: {spec.description} Default input {spec.default_size} px "
                                 f"(at least {spec.min_size} px).")
        self.table.refresh_weights()

    @Slot()
    def _on_selected(self) -> None:
        row = self.table.currentRow()
        if self._updating or row < 0:
            return
        self._project.update(backbone_changes(self._project.project, BACKBONE_ORDER[row]))


class InputGroup(QGroupBox):
    """The input size (the backbone's default, or a size of one's own) and where the weights come from."""

    KEY = "model.image_size"

    def __init__(self, project: ProjectModel, parent: QWidget | None = None) -> None:
        super().__init__("Input and weights", parent)
        self._project = project
        self._updating = False
        form = QFormLayout(self)
        size_row = QHBoxLayout()
        self.default_size_check = named(QCheckBox("Backbone default"), "modelDefaultSizeCheck",
                                        "Use the backbone's default input size")
        self.default_size_check.toggled.connect(self._on_size_edited)
        size_row.addWidget(self.default_size_check)
        self.size_spin = make_control(self.KEY, "modelImageSizeSpin")
        self.size_spin.valueChanged.connect(self._on_size_edited)
        size_row.addWidget(self.size_spin)
        size_row.addStretch(1)
        form.addRow(describe(self.KEY).label, size_row)
        form.labelForField(size_row).setToolTip(self.size_spin.toolTip())
        self.weights_chooser = WeightsChooser(project)
        form.addRow("Weights", self.weights_chooser)
        project.changed.connect(self._on_project_changed)
        self.refresh()

    @Slot(list)
    def _on_project_changed(self, keys: list) -> None:
        if _touches(keys, "model."):
            self.refresh()

    def refresh(self) -> None:
        settings = self._project.project.model
        spec = get_backbone(settings.backbone)
        self._updating = True
        try:
            self.default_size_check.setChecked(settings.image_size is None)
            self.default_size_check.setText(f"Backbone default ({spec.default_size} px)")
            self.size_spin.setMinimum(spec.min_size)  # the backbone's own minimum, not the form's
            self.size_spin.setValue(settings.resolved_image_size)
            self.size_spin.setEnabled(settings.image_size is not None)
        finally:
            self._updating = False

    @Slot()
    def _on_size_edited(self) -> None:
        if self._updating:
            return
        value = None if self.default_size_check.isChecked() else self.size_spin.value()
        if not self._project.set(self.KEY, value):
            self.refresh()


class FineTuneGroup(QGroupBox):
    """Two-phase fine-tuning: the group's tick switches phase 2 on at its remembered length."""

    def __init__(self, project: ProjectModel, parent: QWidget | None = None) -> None:
        super().__init__("Two-phase fine-tuning", parent)
        named(self, "modelFineTuneGroup", "Two-phase fine-tuning",
              "Phase 1 trains only the head; phase 2 unfreezes the top layers with a lower LR.")
        self.setCheckable(True)
        form = QFormLayout(self)
        key = "training.fine_tune.epochs"
        self.epochs_spin = make_control(key, "modelFineTuneEpochsSpin", switched=True)
        form.addRow(describe(key).label, self.epochs_spin)
        self.switch = SwitchedField(project, key, self, self.epochs_spin)
        rows = add_field_rows(form, project, {"training.fine_tune.unfreeze": "modelUnfreezeSpin",
                                              "training.fine_tune.lr_factor": "modelLrFactorSpin"})
        self.unfreeze_spin, self.lr_factor_spin = rows.values()

    def set_layer_count(self, count: int) -> None:
        """At most every layer of the backbone can be unfrozen."""
        self.unfreeze_spin.setMaximum(count)


class HeadGroup(QGroupBox):
    """The new classification head's regularisation."""

    def __init__(self, project: ProjectModel, parent: QWidget | None = None) -> None:
        super().__init__("Classification head", parent)
        rows = add_field_rows(QFormLayout(self), project, {"model.dropout": "modelDropoutSpin",
                                                           "model.l2": "modelL2Spin",
                                                           "model.label_smoothing": "modelLabelSmoothingSpin"})
        self.dropout_spin, self.l2_spin, self.smoothing_spin = rows.values()
