"""The Training page's augmentation group: a switch and a strength per augmentation, the cached augmented
copies with what they cost, and a preview of a few training images as one step might see them.

Each augmentation's row is made from its declaration (label, help, range, the strength a tick switches
on: settings/sections.py); whether cached copies apply, and their cost, is the core's rule
(settings/rules.py).
"""

from __future__ import annotations

import random
from typing import Any

import numpy as np
from PySide6.QtCore import Qt, Slot
from PySide6.QtGui import QPixmap
from PySide6.QtWidgets import (
    QCheckBox,
    QDoubleSpinBox,
    QGridLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from tlstudio.data import load_image
from tlstudio.gui.background import TaskContext, TaskRunner, TensorFlowLoader
from tlstudio.gui.state.dataset_model import DatasetModel
from tlstudio.gui.state.project_model import ALL, ProjectModel
from tlstudio.gui.widgets.common import TaskHolder, hint_label, named
from tlstudio.gui.widgets.field_rows import SwitchedField, field_control, make_control
from tlstudio.gui.widgets.thumbnails import array_to_qimage
from tlstudio.settings.project import AUGMENTATION_NAMES, describe
from tlstudio.settings.rules import cached_copies

PREVIEW_SAMPLES = 12
PREVIEW_SIZE = 84


class AugmentationGroup(QGroupBox):
    """Augmentation of the training images, its cached copies and its preview."""

    def __init__(self, project: ProjectModel, dataset: DatasetModel, runner: TaskRunner,
                 tensorflow: TensorFlowLoader, parent: QWidget | None = None) -> None:
        super().__init__("Augmentation (training images only)", parent)
        self._project = project
        self._dataset = dataset
        self._tensorflow = tensorflow
        self._preview = TaskHolder(runner, parent=self)
        self.preview_images: list = []
        layout = QVBoxLayout(self)
        layout.addLayout(self._switches())
        layout.addLayout(self._copies_row())
        self.copies_estimate = hint_label()
        self.copies_estimate.setObjectName("trainingAugmentedCopiesEstimate")
        layout.addWidget(self.copies_estimate)
        layout.addLayout(self._preview_row())
        layout.addLayout(self._preview_grid())
        project.changed.connect(self._on_project_changed)
        dataset.state_changed.connect(self._on_dataset_changed)
        tensorflow.loaded.connect(self._on_dataset_changed)
        self._on_dataset_changed()

    def _switches(self) -> QGridLayout:
        """A check box per augmentation, two to a row; a strength beside those that have one."""
        grid = QGridLayout()
        grid.setHorizontalSpacing(10)
        self.checks: dict[str, QCheckBox] = {}
        self.spins: dict[str, QDoubleSpinBox] = {}
        self.switches: dict[str, SwitchedField] = {}
        for position, name in enumerate(AUGMENTATION_NAMES):
            key = f"augment.{name}"
            cell = QHBoxLayout()
            if describe(key).kind is bool:
                check = field_control(self._project, key, f"trainingAugment_{name}")
            else:
                spec = describe(key)
                check = named(QCheckBox(spec.label), f"trainingAugment_{name}", spec.label, spec.help)
                spin = make_control(key, f"trainingAugmentStrength_{name}", switched=True)
                spin.setAccessibleName(f"{spec.label} strength")
                self.spins[name] = spin
                self.switches[name] = SwitchedField(self._project, key, check, spin)
            self.checks[name] = check
            cell.addWidget(check)
            if name in self.spins:
                cell.addWidget(self.spins[name])
            cell.addStretch(1)
            grid.addLayout(cell, *divmod(position, 2))
        return grid

    def _copies_row(self) -> QHBoxLayout:
        row = QHBoxLayout()
        key = "training.augmented_copies"
        label = QLabel(describe(key).label)
        row.addWidget(label)
        self.copies_spin = field_control(self._project, key, "trainingAugmentedCopiesSpin")
        label.setBuddy(self.copies_spin)
        label.setToolTip(self.copies_spin.toolTip())
        row.addWidget(self.copies_spin)
        row.addStretch(1)
        return row

    def _preview_row(self) -> QHBoxLayout:
        row = QHBoxLayout()
        self.preview_button = named(QPushButton("Preview augmented images"), "trainingAugmentPreviewButton",
                                    "Preview augmentation", "Draw new random augmentations of a few training images.")
        self.preview_button.clicked.connect(self.refresh_preview)
        row.addWidget(self.preview_button)
        self.preview_status = hint_label()
        self.preview_status.setObjectName("trainingAugmentPreviewStatus")
        row.addWidget(self.preview_status, 1)
        return row

    def _preview_grid(self) -> QGridLayout:
        grid = QGridLayout()
        grid.setSpacing(4)
        self.preview_labels: list[QLabel] = []
        for i in range(PREVIEW_SAMPLES):
            label = QLabel()
            label.setFixedSize(PREVIEW_SIZE, PREVIEW_SIZE)
            label.setAlignment(Qt.AlignmentFlag.AlignCenter)
            label.setProperty("role", "thumbnail")
            grid.addWidget(label, i // 6, i % 6)
            self.preview_labels.append(label)
        return grid

    # -- project and data -> widgets ----------------------------------------------------------------

    @Slot(list)
    def _on_project_changed(self, keys: list) -> None:
        if ALL in keys or any(k.startswith(("augment.", "training.", "model.")) for k in keys):
            self._refresh_copies()

    def _refresh_copies(self) -> None:
        """Cached augmented copies apply only with augmentation on; say what they cost (the core's rule)."""
        plan = cached_copies(self._project.project, self._dataset.train_count)
        self.copies_spin.setEnabled(plan.applies)
        self.copies_estimate.setText(plan.note)

    @Slot()
    def _on_dataset_changed(self, *_: Any) -> None:
        self._refresh_copies()
        ready = self._tensorflow.ready and self._dataset.ready
        self.preview_button.setEnabled(ready)
        if not self._tensorflow.ready:
            self.preview_status.setText("Available once TensorFlow has loaded…")
        elif not self._dataset.ready:
            self.preview_status.setText("Choose a data folder to preview its images.")
        elif not self.preview_images:
            self.preview_status.setText("")

    # -- preview ------------------------------------------------------------------------------------

    @Slot()
    def refresh_preview(self) -> None:
        """Augment a few training images in the background and show them in the grid."""
        if not (self._tensorflow.ready and self._dataset.ready):
            return
        examples = self._dataset.example_paths(3)
        paths = [p for class_paths in examples.values() for p in class_paths][:PREVIEW_SAMPLES // 2]
        settings = self._project.project.augment.model_copy()
        resize = self._project.project.data.resize
        seed = random.randrange(2**31)

        def work(context: TaskContext) -> list:
            from tlstudio.model import augment

            images = np.stack([load_image(path, PREVIEW_SIZE, resize) for path in paths])
            samples = augment.preview(images, settings, PREVIEW_SAMPLES, seed)
            return [array_to_qimage(sample) for sample in samples]

        self.preview_status.setText("Augmenting…")
        self._preview.start("previewing augmentation", work, succeeded=self._on_preview_ready,
                            failed=self._on_preview_failed)

    @Slot(object)
    def _on_preview_ready(self, images: list) -> None:
        self.preview_images = images
        for label, image in zip(self.preview_labels, images, strict=False):
            label.setPixmap(QPixmap.fromImage(image))
        enabled = self._project.project.augment.enabled
        names = ", ".join(describe(f"augment.{name}").label.lower() for name in enabled)
        self.preview_status.setText(f"Each image as one training step might see it: {names}." if enabled
                                    else "No augmentation is switched on: the images are shown unchanged.")

    @Slot(str)
    def _on_preview_failed(self, message: str) -> None:
        self.preview_status.setText(f"Could not preview: {message}")
