"""The Training page's loop, speed and learning-rate groups: small widgets, each bound to the project model.

Their rows are made from the fields' declarations (gui/widgets/field_rows.py); a group only says which
fields it shows and where.
"""

from __future__ import annotations

import math

import numpy as np
from PySide6.QtCore import QTimer, Slot
from PySide6.QtWidgets import QComboBox, QFormLayout, QGridLayout, QGroupBox, QLabel, QVBoxLayout, QWidget

from tlstudio.gui.panels.cache import CacheLine
from tlstudio.gui.state.dataset_model import DatasetModel
from tlstudio.gui.state.project_model import ALL, ProjectModel
from tlstudio.gui.widgets.common import hint_label
from tlstudio.gui.widgets.field_rows import add_field_rows, field_control
from tlstudio.gui.widgets.plots import LearningRatePreview
from tlstudio.model import schedules
from tlstudio.settings.project import describe

ASSUMED_TRAIN_IMAGES = 1000  # for the LR preview before a folder is scanned
# The Speed group's choices, two to a row: field -> the name tests and screenshots find the combo by.
SPEED_CHOICES = ("mixed_precision", "xla", "deterministic", "feature_runtime", "backend", "strategy")


class LoopGroup(QGroupBox):
    """How long and on what: epochs, batch size, early stopping, seed, class balance, snapshots, logs."""

    def __init__(self, project: ProjectModel, parent: QWidget | None = None) -> None:
        super().__init__("Training loop", parent)
        self.controls = add_field_rows(QFormLayout(self), project, {
            "training.epochs": "trainingEpochsSpin",
            "training.batch_size": "trainingBatchSizeSpin",
            "training.early_stopping": "trainingEarlyStoppingSpin",
            "training.seed": "trainingSeedSpin",
            "training.tensorboard": "trainingTensorBoardCheck",
            "training.class_weights": "trainingClassWeightsCombo",
            "training.snapshot_ensemble": "trainingSnapshotEnsembleSpin",
            "training.balanced_sampling": "trainingBalancedSamplingCheck",
        })


class SpeedGroup(QGroupBox):
    """Caches, precision, compilation and devices: none changes what is learned, beyond rounding."""

    def __init__(self, project: ProjectModel, parent: QWidget | None = None) -> None:
        super().__init__("Speed", parent)
        self.setToolTip("None of these changes what is learned, beyond floating-point rounding.")
        grid = QGridLayout(self)
        grid.setHorizontalSpacing(10)
        self.feature_cache_check = field_control(project, "training.feature_cache", "trainingFeatureCacheCheck")
        self.image_cache_check = field_control(project, "training.image_cache", "trainingImageCacheCheck")
        grid.addWidget(self.feature_cache_check, 0, 0, 1, 2)
        grid.addWidget(self.image_cache_check, 0, 2, 1, 2)
        self.combos: dict[str, QComboBox] = {}
        for position, field in enumerate(SPEED_CHOICES):
            key = f"training.{field}"
            combo = field_control(project, key, f"training_{field}Combo")
            self.combos[field] = combo
            title = QLabel(describe(key).label)
            title.setToolTip(combo.toolTip())
            title.setBuddy(combo)
            row, column = divmod(position, 2)
            grid.addWidget(title, 1 + row, column * 2)
            grid.addWidget(combo, 1 + row, column * 2 + 1)
        self.cache_line = CacheLine()
        grid.addWidget(self.cache_line, grid.rowCount(), 0, 1, 4)
        grid.setColumnStretch(1, 1)
        grid.setColumnStretch(3, 1)


class LearningRateGroup(QGroupBox):
    """The planned learning rate over the run: the same formula the run trains with (`schedules`, numpy),
    drawn over the planned steps and redrawn whenever a setting it depends on changes."""

    def __init__(self, project: ProjectModel, dataset: DatasetModel, parent: QWidget | None = None) -> None:
        super().__init__("Learning rate over the run", parent)
        self._project = project
        self._dataset = dataset
        layout = QVBoxLayout(self)
        self.preview = LearningRatePreview()
        self.preview.setFixedHeight(250)
        layout.addWidget(self.preview)
        self.caption = hint_label()
        self.caption.setObjectName("trainingLearningRateCaption")
        layout.addWidget(self.caption)
        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.setInterval(30)
        self._timer.timeout.connect(self.update_preview)
        project.changed.connect(self._on_project_changed)
        dataset.state_changed.connect(self.schedule_update)
        self.update_preview()

    @Slot(list)
    def _on_project_changed(self, keys: list) -> None:
        if ALL in keys or any(k.startswith(("optimizer.learning_rate", "schedule.", "training.")) for k in keys):
            self._timer.start()

    @Slot()
    def schedule_update(self, *_: object) -> None:
        """Redraw soon (edits in a row are drawn once)."""
        self._timer.start()

    @Slot()
    def update_preview(self) -> None:
        """Redraw the planned learning rate for the current settings and data."""
        project = self._project.project
        train_images = self._dataset.train_count
        assumed = train_images is None
        count = ASSUMED_TRAIN_IMAGES if assumed else train_images
        x, rates, phase_two = schedules.planned_learning_rates(project, count)
        self.preview.show_schedule(x, rates, phase_two)
        steps_per_epoch = max(1, math.ceil(count / project.training.batch_size))
        source = (f"assuming {count} training images until a folder is scanned" if assumed
                  else f"{count} training images")
        note = ""
        if project.schedule.name == "plateau":
            note = " Reduce-on-plateau lowers the rate when validation loss stalls, so it shows flat here."
        self.caption.setText(f"{len(rates):,} steps: {steps_per_epoch} per epoch ({source}, batch "
                             f"{project.training.batch_size}). Peak {float(np.nanmax(rates)):.3g}, "
                             f"last {float(rates[-1]):.3g}.{note}")
