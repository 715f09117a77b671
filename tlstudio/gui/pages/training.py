"""Training page: optimizer, learning rate and its schedule, the loop, and augmentation.

The learning-rate preview is the same formula the run trains with (`schedules.preview`, numpy),
drawn over the planned steps and redrawn whenever a setting it depends on changes.
"""

from __future__ import annotations

import math
import random
from typing import Any

import numpy as np
from PySide6.QtCore import Qt, QTimer, Slot
from PySide6.QtGui import QPixmap
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDoubleSpinBox,
    QFormLayout,
    QGridLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from tlstudio.backbones.registry import get_backbone
from tlstudio.data import load_image
from tlstudio.gui.background import Task, TaskContext, TaskRunner, TensorFlowLoader
from tlstudio.gui.pages.base import Page
from tlstudio.gui.panels.cache import CacheLine
from tlstudio.gui.panels.lr_finder import LRFinderPanel
from tlstudio.gui.panels.optimizer_schedule import OPTIMIZER_LABELS, OptimizerGroup, ScheduleGroup
from tlstudio.gui.panels.race import RacePanel
from tlstudio.gui.state.bindings import FieldBinding, bind_check, bind_combo, bind_spin
from tlstudio.gui.state.dataset_model import DatasetModel
from tlstudio.gui.state.project_model import ALL, ProjectModel
from tlstudio.gui.widgets.common import float_spin, hint_label, int_spin, named, two_columns
from tlstudio.gui.widgets.plots import LearningRatePreview
from tlstudio.gui.widgets.thumbnails import array_to_qimage
from tlstudio.model import schedules
from tlstudio.settings.project import (
    AUGMENTATION_NAMES,
    AugmentSettings,
    TrainingSettings,
)
from tlstudio.train.features import augmented_copies_cost

AUGMENT_LABELS = {"flip": "Horizontal flip", "vflip": "Vertical flip", "rotate": "Rotation",
                  "zoom": "Zoom", "translate": "Shift", "contrast": "Contrast", "brightness": "Brightness"}
AUGMENT_SUFFIX = {"rotate": " °"}
SPEED_VALUE_LABELS = {"auto": "Auto", "off": "Off", "on": "On", "tensorflow": "TensorFlow", "mirrored": "Mirrored",
                      "multi-worker": "Multi-worker"}
SPEED_HELP = {
    "mixed_precision": "Compute in 16-bit, with the output layer and every variable in float32 (the saved model is "
                       "float32). Auto: bfloat16 on Ampere or newer GPUs, float16 on Volta/Turing; on a CPU, "
                       "bfloat16 when it has AVX512_BF16 or AMX and backbone layers train, else off.",
    "xla": "Compile the training step with XLA into fused kernels: faster on a GPU, a slower first epoch. "
           "Auto: on a GPU only.",
    "feature_runtime": "What runs the frozen backbone for the feature cache. Auto: ONNX Runtime, faster on a CPU, "
                       "once its features match TensorFlow's on the first images (else TensorFlow, with the "
                       "reason in the log). The saved model is the same either way.",
    "deterministic": "TensorFlow's op determinism: bit-identical runs on any device, at a cost in speed (and no "
                     "XLA). Auto: off; seeded runs on the CPU repeat without it.",
    "strategy": "How the run spreads over devices (TensorFlow's tf.distribute); each step's batch is split "
                "across them. Auto: one device, or every GPU when there are several. Mirrored: every GPU of this "
                "machine (or the project file's training.devices). Multi-worker: several machines, each running "
                "tlstudio train with the cluster in TF_CONFIG (see the README).",
}
ASSUMED_TRAIN_IMAGES = 1000  # for the LR preview before a folder is scanned
PREVIEW_SAMPLES = 12
PREVIEW_SIZE = 84





class TrainingPage(Page):
    """Wraps the Project's optimizer, schedule, augment and training settings."""

    def __init__(self, project: ProjectModel, dataset: DatasetModel, runner: TaskRunner,
                 tensorflow: TensorFlowLoader, parent: QWidget | None = None):
        super().__init__("Training", "How the weights are updated: optimizer, learning rate and how it "
                         "changes, how long to train, and how the images are varied to fight overfitting.",
                         "trainingPage", scroll=True, parent=parent)
        self._project = project
        self._dataset = dataset
        self._runner = runner
        self._tensorflow = tensorflow
        self._preview_task: Task | None = None
        self.preview_images: list = []
        self._bindings: list[FieldBinding] = []

        left, right = two_columns(self.body, 2, 3)

        self.optimizer_group = OptimizerGroup(project)
        left.addWidget(self.optimizer_group)
        self.schedule_group = ScheduleGroup(project)
        left.addWidget(self.schedule_group)
        # The groups' widgets, under the names the rest of the page and the tests use.
        self.optimizer_combo, self.optimizer_spins = self.optimizer_group.combo, self.optimizer_group.spins
        self.schedule_combo, self.schedule_spins = self.schedule_group.combo, self.schedule_group.spins

        # Loop
        loop_box = QGroupBox("Training loop")
        loop_form = QFormLayout(loop_box)
        self.epochs_spin = named(int_spin(1, 10000), "trainingEpochsSpin", "Epochs",
                                 "Passes over the training images (phase 1 when fine-tuning in two phases).")
        loop_form.addRow("Epochs", self.epochs_spin)
        self.batch_spin = named(int_spin(1, 4096), "trainingBatchSizeSpin", "Batch size",
                                "Images per optimizer step; lower it if memory runs out.")
        loop_form.addRow("Batch size", self.batch_spin)
        self.early_stopping_spin = named(int_spin(0, 1000, special="off"), "trainingEarlyStoppingSpin",
                                         "Early stopping patience",
                                         "Stop after this many epochs without a lower validation loss (0 = off).")
        loop_form.addRow("Early stopping", self.early_stopping_spin)
        self.seed_spin = named(int_spin(0, 2**31 - 1), "trainingSeedSpin", "Random seed",
                               "The same seed gives the same split, shuffling, augmentation and initial weights.")
        loop_form.addRow("Random seed", self.seed_spin)
        self.tensorboard_check = named(QCheckBox("Write TensorBoard logs"), "trainingTensorBoardCheck",
                                       "TensorBoard logs", TrainingSettings.model_fields["tensorboard"].description
                                       + " Open them with: tensorboard --logdir <runs folder>")
        loop_form.addRow("", self.tensorboard_check)
        fields = TrainingSettings.model_fields
        self.class_weights_combo = named(QComboBox(), "trainingClassWeightsCombo", "Class weights",
                                         fields["class_weights"].description)
        self.class_weights_combo.addItem("Off", "off")
        self.class_weights_combo.addItem("Balanced", "balanced")
        loop_form.addRow("Class weights", self.class_weights_combo)
        self.snapshot_spin = named(int_spin(0, 50, special="off"), "trainingSnapshotEnsembleSpin",
                                   "Snapshot ensemble", fields["snapshot_ensemble"].description)
        self.snapshot_spin.setSuffix(" cycles")
        loop_form.addRow("Snapshot ensemble", self.snapshot_spin)
        self.balanced_sampling_check = named(QCheckBox("Balanced sampling"), "trainingBalancedSamplingCheck",
                                             "Balanced sampling", fields["balanced_sampling"].description)
        loop_form.addRow("", self.balanced_sampling_check)
        self._bindings += [bind_check(project, "training.tensorboard", self.tensorboard_check),
                           bind_combo(project, "training.class_weights", self.class_weights_combo),
                           bind_check(project, "training.balanced_sampling", self.balanced_sampling_check),
                           bind_spin(project, "training.snapshot_ensemble", self.snapshot_spin)]
        self._bindings += [bind_spin(project, "training.epochs", self.epochs_spin),
                           bind_spin(project, "training.batch_size", self.batch_spin),
                           bind_spin(project, "training.early_stopping", self.early_stopping_spin),
                           bind_spin(project, "training.seed", self.seed_spin)]
        left.addWidget(loop_box)

        # Speed: none of these changes what is learned beyond rounding.
        speed_box = QGroupBox("Speed")
        speed_box.setToolTip("None of these changes what is learned, beyond floating-point rounding.")
        speed_grid = QGridLayout(speed_box)
        speed_grid.setHorizontalSpacing(10)
        fields = TrainingSettings.model_fields
        self.feature_cache_check = named(QCheckBox("Feature cache"), "trainingFeatureCacheCheck", "Feature cache",
                                         fields["feature_cache"].description + " Many times faster; the same model.")
        self.image_cache_check = named(QCheckBox("Image cache"), "trainingImageCacheCheck", "Image cache",
                                       fields["image_cache"].description + " Skips decoding when the files, the "
                                       "image size and the resize policy are unchanged.")
        speed_grid.addWidget(self.feature_cache_check, 0, 0, 1, 2)
        speed_grid.addWidget(self.image_cache_check, 0, 2, 1, 2)
        self.speed_combos: dict[str, QComboBox] = {}
        for position, (field, label) in enumerate((("mixed_precision", "Mixed precision"), ("xla", "XLA"),
                                                   ("deterministic", "Deterministic"),
                                                   ("feature_runtime", "Backbone runtime"),
                                                   ("strategy", "Devices"))):
            combo = named(QComboBox(), f"training_{field}Combo", label, SPEED_HELP[field])
            for value in fields[field].annotation.__args__:
                combo.addItem(SPEED_VALUE_LABELS.get(value, value), value)
            self.speed_combos[field] = combo
            title = QLabel(label)
            title.setToolTip(SPEED_HELP[field])
            title.setBuddy(combo)
            row, column = divmod(position, 2)
            speed_grid.addWidget(title, 1 + row, column * 2)
            speed_grid.addWidget(combo, 1 + row, column * 2 + 1)
            self._bindings.append(bind_combo(project, f"training.{field}", combo))
        self.cache_line = CacheLine()
        speed_grid.addWidget(self.cache_line, speed_grid.rowCount(), 0, 1, 4)
        speed_grid.setColumnStretch(1, 1)
        speed_grid.setColumnStretch(3, 1)
        self._bindings += [bind_check(project, "training.feature_cache", self.feature_cache_check),
                           bind_check(project, "training.image_cache", self.image_cache_check)]
        left.addWidget(speed_box)
        left.addStretch(1)

        # LR preview
        preview_box = QGroupBox("Learning rate over the run")
        preview_layout = QVBoxLayout(preview_box)
        self.lr_preview = LearningRatePreview()
        self.lr_preview.setFixedHeight(250)
        preview_layout.addWidget(self.lr_preview)
        self.lr_caption = hint_label()
        self.lr_caption.setObjectName("trainingLearningRateCaption")
        preview_layout.addWidget(self.lr_caption)
        right.addWidget(preview_box)

        # Augmentation
        augment_box = QGroupBox("Augmentation (training images only)")
        augment_layout = QVBoxLayout(augment_box)
        augment_grid = QGridLayout()
        augment_grid.setHorizontalSpacing(10)
        self.augment_checks: dict[str, QCheckBox] = {}
        self.augment_spins: dict[str, QDoubleSpinBox] = {}
        self._remembered_strength: dict[str, float] = dict(AugmentSettings.DEFAULT_STRENGTH)
        for position, name in enumerate(AUGMENTATION_NAMES):
            row, column = divmod(position, 2)
            description = AugmentSettings.model_fields[name].description or AUGMENT_LABELS[name]
            check = named(QCheckBox(AUGMENT_LABELS[name]), f"trainingAugment_{name}", AUGMENT_LABELS[name],
                          description)
            check.toggled.connect(self._on_augment_edited)
            self.augment_checks[name] = check
            cell = QHBoxLayout()
            cell.addWidget(check)
            if isinstance(AugmentSettings.DEFAULT_STRENGTH[name], float):
                if name == "rotate":
                    spin = float_spin(1.0, 180.0, step=5.0, decimals=0, suffix=AUGMENT_SUFFIX[name])
                else:
                    spin = float_spin(0.01, 0.95, step=0.05, decimals=2)
                named(spin, f"trainingAugmentStrength_{name}", f"{AUGMENT_LABELS[name]} strength", description)
                spin.valueChanged.connect(self._on_augment_edited)
                self.augment_spins[name] = spin
                cell.addWidget(spin)
            cell.addStretch(1)
            augment_grid.addLayout(cell, row, column)
        augment_layout.addLayout(augment_grid)
        copies_row = QHBoxLayout()
        copies_label = QLabel("Cached augmented copies")
        copies_row.addWidget(copies_label)
        self.augmented_copies_spin = named(int_spin(0, 64, special="none"), "trainingAugmentedCopiesSpin",
                                           "Cached augmented copies",
                                           TrainingSettings.model_fields["augmented_copies"].description
                                           + " Used while the whole backbone is frozen and the feature cache is on.")
        copies_label.setBuddy(self.augmented_copies_spin)
        copies_label.setToolTip(self.augmented_copies_spin.toolTip())
        copies_row.addWidget(self.augmented_copies_spin)
        copies_row.addStretch(1)
        augment_layout.addLayout(copies_row)
        self.augmented_copies_estimate = hint_label()
        self.augmented_copies_estimate.setObjectName("trainingAugmentedCopiesEstimate")
        augment_layout.addWidget(self.augmented_copies_estimate)
        self._bindings.append(bind_spin(project, "training.augmented_copies", self.augmented_copies_spin))
        preview_row = QHBoxLayout()
        self.augment_preview_button = named(QPushButton("Preview augmented images"),
                                            "trainingAugmentPreviewButton", "Preview augmentation",
                                            "Draw new random augmentations of a few training images.")
        self.augment_preview_button.clicked.connect(self.refresh_augment_preview)
        preview_row.addWidget(self.augment_preview_button)
        self.augment_preview_status = hint_label()
        self.augment_preview_status.setObjectName("trainingAugmentPreviewStatus")
        preview_row.addWidget(self.augment_preview_status, 1)
        augment_layout.addLayout(preview_row)
        self.preview_grid = QGridLayout()
        self.preview_grid.setSpacing(4)
        self.preview_labels: list[QLabel] = []
        for i in range(PREVIEW_SAMPLES):
            label = QLabel()
            label.setFixedSize(PREVIEW_SIZE, PREVIEW_SIZE)
            label.setAlignment(Qt.AlignmentFlag.AlignCenter)
            label.setProperty("role", "thumbnail")
            self.preview_grid.addWidget(label, i // 6, i % 6)
            self.preview_labels.append(label)
        augment_layout.addLayout(self.preview_grid)
        right.addWidget(augment_box)

        # Tools that pick the learning rate and the optimizer with evidence.
        self.lr_finder = LRFinderPanel(project, dataset, runner, tensorflow)
        right.addWidget(self.lr_finder)
        self.race = RacePanel(project, dataset, runner, tensorflow)
        right.addWidget(self.race)
        right.addStretch(1)

        self._preview_timer = QTimer(self)
        self._preview_timer.setSingleShot(True)
        self._preview_timer.setInterval(30)
        self._preview_timer.timeout.connect(self.update_lr_preview)
        project.changed.connect(self._on_project_changed)
        dataset.state_changed.connect(self._on_dataset_changed)
        tensorflow.loaded.connect(self._on_dataset_changed)
        self._refresh_augment()
        self.update_lr_preview()
        self._on_dataset_changed()

    # -- project -> widgets ---------------------------------------------------------------------

    @Slot(list)
    def _on_project_changed(self, keys: list) -> None:
        if ALL in keys or any(k.startswith("augment.") for k in keys):
            self._refresh_augment()
        if ALL in keys or any(k.startswith(("augment.", "training.", "model.")) for k in keys):
            self._refresh_copies()
        if ALL in keys or any(k.startswith(("optimizer.learning_rate", "schedule.", "training.")) for k in keys):
            self._preview_timer.start()
        self.summary_changed.emit()

    def _refresh_augment(self) -> None:
        settings = self._project.project.augment
        for name, check in self.augment_checks.items():
            value = getattr(settings, name)
            blocked = check.blockSignals(True)
            check.setChecked(bool(value))
            check.blockSignals(blocked)
            spin = self.augment_spins.get(name)
            if spin is not None:
                if value:
                    self._remembered_strength[name] = float(value)
                blocked = spin.blockSignals(True)
                spin.setValue(float(value) if value else self._remembered_strength[name])
                spin.setEnabled(bool(value))
                spin.blockSignals(blocked)

    def _refresh_copies(self) -> None:
        """Cached augmented copies apply only with augmentation on; say what they cost."""
        project = self._project.project
        augmenting = bool(project.augment.enabled)
        self.augmented_copies_spin.setEnabled(augmenting)
        if not augmenting:
            self.augmented_copies_estimate.setText("Switch on an augmentation to cache augmented copies of each "
                                                   "image's backbone features.")
            return
        width = get_backbone(project.model.backbone).feature_width
        text = augmented_copies_cost(project.training.augmented_copies, self._dataset.train_count, width)
        if project.training.augmented_copies and not project.training.feature_cache:
            text += " The feature cache is off in Speed, so none are cached."
        self.augmented_copies_estimate.setText(text)

    @Slot()
    def update_lr_preview(self) -> None:
        """Redraw the planned learning rate for the current settings and data."""
        project = self._project.project
        train_images = self._dataset.train_count
        assumed = train_images is None
        count = ASSUMED_TRAIN_IMAGES if assumed else train_images
        x, rates, phase_two = schedules.planned_learning_rates(project, count)
        self.lr_preview.show_schedule(x, rates, phase_two)
        steps_per_epoch = max(1, math.ceil(count / project.training.batch_size))
        source = (f"assuming {count} training images until a folder is scanned" if assumed
                  else f"{count} training images")
        note = ""
        if project.schedule.name == "plateau":
            note = " Reduce-on-plateau lowers the rate when validation loss stalls, so it shows flat here."
        self.lr_caption.setText(f"{len(rates):,} steps: {steps_per_epoch} per epoch ({source}, batch "
                                f"{project.training.batch_size}). Peak {float(np.nanmax(rates)):.3g}, "
                                f"last {float(rates[-1]):.3g}.{note}")

    # -- widgets -> project -----------------------------------------------------------------------

    @Slot()
    def _on_augment_edited(self) -> None:
        changes: dict[str, Any] = {}
        for name, check in self.augment_checks.items():
            spin = self.augment_spins.get(name)
            if spin is None:
                changes[f"augment.{name}"] = check.isChecked()
            else:
                if spin.isEnabled() or check.isChecked():
                    self._remembered_strength[name] = spin.value()
                changes[f"augment.{name}"] = spin.value() if check.isChecked() else 0.0
        self._project.update(changes)
        self._refresh_augment()

    # -- augmentation preview ---------------------------------------------------------------------

    @Slot()
    def _on_dataset_changed(self, *_: Any) -> None:
        self._preview_timer.start()
        self._refresh_copies()
        ready = self._tensorflow.ready and self._dataset.ready
        self.augment_preview_button.setEnabled(ready)
        if not self._tensorflow.ready:
            self.augment_preview_status.setText("Available once TensorFlow has loaded…")
        elif not self._dataset.ready:
            self.augment_preview_status.setText("Choose a data folder to preview its images.")
        elif not self.preview_images:
            self.augment_preview_status.setText("")

    @Slot()
    def refresh_augment_preview(self) -> None:
        """Augment a few training images in the background and show them in the grid."""
        if not (self._tensorflow.ready and self._dataset.ready):
            return
        if self._preview_task is not None:
            self._preview_task.cancel()
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

        self.augment_preview_status.setText("Augmenting…")
        self._preview_task = self._runner.submit("previewing augmentation", work)
        self._preview_task.succeeded.connect(self._on_preview_ready)
        self._preview_task.failed.connect(self._on_preview_failed)

    @Slot(object)
    def _on_preview_ready(self, images: list) -> None:
        self._preview_task = None
        self.preview_images = images
        for label, image in zip(self.preview_labels, images, strict=False):
            label.setPixmap(QPixmap.fromImage(image))
        enabled = self._project.project.augment.enabled
        self.augment_preview_status.setText(
            "Each image as one training step might see it: " + ", ".join(AUGMENT_LABELS[n].lower()
                                                                          for n in enabled) + "."
            if enabled else "No augmentation is switched on: the images are shown unchanged.")

    @Slot(str)
    def _on_preview_failed(self, message: str) -> None:
        self._preview_task = None
        self.augment_preview_status.setText(f"Could not preview: {message}")

    def summary(self) -> str:
        project = self._project.project
        return (f"{OPTIMIZER_LABELS.get(project.optimizer.name, project.optimizer.name)} · "
                f"{project.training.epochs} epochs")
