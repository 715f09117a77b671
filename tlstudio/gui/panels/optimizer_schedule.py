"""The Training page's optimizer and schedule groups: each a small widget that binds its settings and
listens to the one project model itself, showing only the parameters the chosen method reads."""

from __future__ import annotations

from PySide6.QtCore import Qt, Slot
from PySide6.QtWidgets import QComboBox, QDoubleSpinBox, QFormLayout, QGroupBox, QWidget

from tlstudio.gui.state.bindings import FieldBinding, bind_combo, bind_optional_spin, bind_spin
from tlstudio.gui.state.project_model import ALL, ProjectModel
from tlstudio.gui.widgets.common import LogSpinBox, float_spin, hint_label, int_spin, named
from tlstudio.model import schedules
from tlstudio.model.optimizers import OPTIMIZER_DESCRIPTIONS, OPTIMIZER_HELP, OPTIMIZER_PARAMETERS
from tlstudio.settings.project import OPTIMIZER_NAMES, SCHEDULE_NAMES, OptimizerSettings, ScheduleSettings
from tlstudio.train.readiness import full_batch_blocker

OPTIMIZER_LABELS = {"sgd": "SGD", "momentum": "SGD with momentum", "nesterov": "SGD with Nesterov momentum",
                    "adagrad": "AdaGrad", "rmsprop": "RMSProp", "adam": "Adam", "adamw": "AdamW",
                    "lbfgs": "L-BFGS (head, full batch)"}
PARAMETER_LABELS = {"learning_rate": "Learning rate", "momentum": "Momentum", "rho": "Rho (decay)",
                    "beta_1": "Beta 1", "beta_2": "Beta 2", "epsilon": "Epsilon",
                    "weight_decay": "Weight decay", "initial_accumulator": "Initial accumulator",
                    "clipnorm": "Clip gradient norm", "ema": "Polyak average (decay)"}
SCHEDULE_LABELS = {"constant": "Constant", "step": "Step decay", "exponential": "Exponential decay",
                   "inverse-time": "Inverse-time (1/t) decay",
                   "cosine": "Cosine decay", "cosine-restarts": "Cosine with warm restarts",
                   "plateau": "Reduce on plateau"}
SCHEDULE_PARAMETER_LABELS = {
    "step_epochs": "Every (epochs)", "gamma": "Multiply by", "decay_rate": "Factor per epoch",
    "inverse_time_rate": "Rate k (per epoch)",
    "min_lr_fraction": "Floor (× LR)", "restart_epochs": "First period (epochs)",
    "period_multiplier": "Period growth", "amplitude_multiplier": "Peak factor per restart",
    "plateau_factor": "Multiply by", "plateau_patience": "Patience (epochs)", "plateau_min_lr": "Lowest LR"}


def _parameter_spin(field: str) -> QDoubleSpinBox:
    """A spin box fitted to one OptimizerSettings / ScheduleSettings field."""
    if field in ("learning_rate", "epsilon", "plateau_min_lr", "weight_decay", "initial_accumulator"):
        return LogSpinBox(1e-12 if field == "epsilon" else 1e-9, 10.0)
    if field in ("momentum", "rho", "beta_1", "gamma", "decay_rate", "amplitude_multiplier",
                 "plateau_factor"):
        return float_spin(0.0, 0.999, step=0.01, decimals=3)
    if field == "beta_2":
        return float_spin(0.0, 0.99999, step=0.001, decimals=5)
    if field == "min_lr_fraction":
        return float_spin(0.0, 0.99, step=0.05, decimals=2)
    if field == "clipnorm":
        spin = float_spin(0.0, 1000.0, step=0.5, decimals=2)
        spin.setSpecialValueText("off")
        return spin
    if field == "ema":
        spin = float_spin(0.0, 0.9999, step=0.005, decimals=4)
        spin.setSpecialValueText("off")
        return spin
    if field in ("restart_epochs", "warmup_epochs"):
        return float_spin(0.0 if field == "warmup_epochs" else 0.5, 1000.0, step=0.5, decimals=1)
    if field == "period_multiplier":
        return float_spin(1.0, 10.0, step=0.5, decimals=1)
    raise KeyError(field)


class _ChoiceGroup(QGroupBox):
    """A group whose rows depend on one choice (`KEY`): it refreshes itself when that choice changes."""

    KEY = ""

    def __init__(self, title: str, project: ProjectModel, parent: QWidget | None = None) -> None:
        super().__init__(title, parent)
        self._project = project
        self.bindings: list[FieldBinding] = []
        self.form = QFormLayout(self)

    def _listen(self) -> None:
        self._project.changed.connect(self._on_project_changed)
        self.refresh()

    @Slot(list)
    def _on_project_changed(self, keys: list) -> None:
        if ALL in keys or self.KEY in keys:
            self.refresh()

    def refresh(self) -> None:
        raise NotImplementedError


class OptimizerGroup(_ChoiceGroup):
    """The optimizer and the parameters of its update rule."""

    KEY = "optimizer.name"

    def __init__(self, project: ProjectModel, parent: QWidget | None = None) -> None:
        super().__init__("Optimizer", project, parent)
        self.combo = named(QComboBox(), "trainingOptimizerCombo", "Optimizer")
        for name in OPTIMIZER_NAMES:
            self.combo.addItem(OPTIMIZER_LABELS.get(name, name), name)
            self.combo.setItemData(self.combo.count() - 1,
                                             OPTIMIZER_DESCRIPTIONS.get(name, ""), Qt.ItemDataRole.ToolTipRole)
        self.form.addRow("Optimizer", self.combo)
        self.description = hint_label()
        self.description.setObjectName("trainingOptimizerDescription")
        self.form.addRow(self.description)
        self.bindings.append(bind_combo(project, "optimizer.name", self.combo))
        project.changed.connect(self._offer_full_batch)
        self.spins: dict[str, QDoubleSpinBox] = {}
        all_parameters = [f for f in OptimizerSettings.model_fields if f != "name"]
        for field in all_parameters:
            spin = _parameter_spin(field)
            help_text = (OPTIMIZER_HELP.get("adamw", {}).get(field) or OPTIMIZER_HELP.get("adagrad", {}).get(field)
                         or OptimizerSettings.model_fields[field].description or "")
            named(spin, f"trainingOptimizer_{field}", PARAMETER_LABELS.get(field, field), help_text)
            self.spins[field] = spin
            self.form.addRow(PARAMETER_LABELS.get(field, field), spin)
            self.form.labelForField(spin).setToolTip(help_text)
            if field in ("clipnorm", "ema"):
                self.bindings.append(bind_optional_spin(project, f"optimizer.{field}", spin))
            else:
                self.bindings.append(bind_spin(project, f"optimizer.{field}", spin))
        self._listen()

    @Slot()
    def _offer_full_batch(self, *_: object) -> None:
        """L-BFGS only where the head trains alone on cached features: greyed out, with the reason, elsewhere."""
        project = self._project.project
        reason = full_batch_blocker(project.copy_with(**{"optimizer.name": "lbfgs"}))
        item = self.combo.model().item(self.combo.findData("lbfgs"))
        item.setEnabled(reason is None or project.optimizer.name == "lbfgs")
        item.setToolTip(reason or OPTIMIZER_DESCRIPTIONS.get("lbfgs", ""))

    def refresh(self) -> None:
        """Show only the parameters the chosen optimizer reads, with its own help."""
        name = self._project.project.optimizer.name
        applicable = set(OPTIMIZER_PARAMETERS.get(name, []))
        for field, spin in self.spins.items():
            self.form.setRowVisible(spin, field in applicable)
            tip = OPTIMIZER_HELP.get(name, {}).get(field)
            if tip:
                spin.setToolTip(tip)
                self.form.labelForField(spin).setToolTip(tip)
        self.description.setText(OPTIMIZER_DESCRIPTIONS.get(name, ""))


class ScheduleGroup(_ChoiceGroup):
    """The learning-rate schedule, its warm-up and the parameters the chosen schedule reads."""

    KEY = "schedule.name"

    def __init__(self, project: ProjectModel, parent: QWidget | None = None) -> None:
        super().__init__("Learning-rate schedule", project, parent)
        self.combo = named(QComboBox(), "trainingScheduleCombo", "Learning-rate schedule",
                                    "How the learning rate changes over the run.")
        for name in SCHEDULE_NAMES:
            self.combo.addItem(SCHEDULE_LABELS.get(name, name), name)
        self.form.addRow("Schedule", self.combo)
        self.bindings.append(bind_combo(project, "schedule.name", self.combo))
        self.spins: dict[str, QDoubleSpinBox] = {}
        for field in schedules.SCHEDULE_FIELDS:
            if field in ("step_epochs", "plateau_patience"):
                spin = int_spin(1, 1000)
            elif field == "inverse_time_rate":
                spin = float_spin(0.001, 100.0, step=0.1, decimals=3)
            elif field == "plateau_min_lr":
                spin = float_spin(0.0, 1.0, step=1e-6, decimals=8)
            else:
                spin = _parameter_spin(field) if field != "gamma" else float_spin(0.01, 1.0, step=0.05, decimals=2)
            if field == "warmup_epochs":
                spin.setSpecialValueText("none")
            label = "Warm-up (epochs)" if field == "warmup_epochs" else SCHEDULE_PARAMETER_LABELS[field]
            help_text = ScheduleSettings.model_fields[field].description or label
            named(spin, f"trainingSchedule_{field}", label, help_text)
            self.spins[field] = spin
            self.form.addRow(label, spin)
            self.form.labelForField(spin).setToolTip(help_text)
            self.bindings.append(bind_spin(project, f"schedule.{field}", spin))
        self._listen()

    def refresh(self) -> None:
        fields = {"warmup_epochs", *schedules.SCHEDULE_PARAMETERS.get(self._project.project.schedule.name, [])}
        for field, spin in self.spins.items():
            self.form.setRowVisible(spin, field in fields)
