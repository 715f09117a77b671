"""Training page: optimizer, learning rate and its schedule, the loop, speed and augmentation.

The page only composes panels, each bound to the project model itself (gui/panels/optimizer_schedule.py,
training_settings.py, augmentation.py); their rows are made from the settings' declarations.
"""

from __future__ import annotations

from PySide6.QtWidgets import QWidget

from tlstudio.gui.background import TaskRunner, TensorFlowLoader
from tlstudio.gui.pages.base import Page
from tlstudio.gui.panels.augmentation import AugmentationGroup
from tlstudio.gui.panels.lr_finder import LRFinderPanel
from tlstudio.gui.panels.optimizer_schedule import OptimizerGroup, ScheduleGroup
from tlstudio.gui.panels.race import RacePanel
from tlstudio.gui.panels.training_settings import LearningRateGroup, LoopGroup, SpeedGroup
from tlstudio.gui.state.dataset_model import DatasetModel
from tlstudio.gui.state.project_model import ProjectModel
from tlstudio.gui.widgets.common import two_columns
from tlstudio.settings.project import describe


class TrainingPage(Page):
    """Wraps the Project's optimizer, schedule, augment and training settings."""

    def __init__(self, project: ProjectModel, dataset: DatasetModel, runner: TaskRunner,
                 tensorflow: TensorFlowLoader, parent: QWidget | None = None):
        super().__init__("Training", "How the weights are updated: optimizer, learning rate and how it "
                         "changes, how long to train, and how the images are varied to fight overfitting.",
                         "trainingPage", scroll=True, parent=parent)
        self._project = project
        left, right = two_columns(self.body, 2, 3)
        self.optimizer_group = OptimizerGroup(project)
        self.schedule_group = ScheduleGroup(project)
        self.loop_group = LoopGroup(project)
        self.speed_group = SpeedGroup(project)
        for group in (self.optimizer_group, self.schedule_group, self.loop_group, self.speed_group):
            left.addWidget(group)
        left.addStretch(1)
        self.learning_rate_group = LearningRateGroup(project, dataset)
        self.augmentation_group = AugmentationGroup(project, dataset, runner, tensorflow)
        # Tools that pick the learning rate and the optimizer with evidence.
        self.lr_finder = LRFinderPanel(project, dataset, runner, tensorflow)
        self.race = RacePanel(project, dataset, runner, tensorflow)
        for group in (self.learning_rate_group, self.augmentation_group, self.lr_finder, self.race):
            right.addWidget(group)
        right.addStretch(1)
        self._name_controls()
        project.changed.connect(self.summary_changed)

    def _name_controls(self) -> None:
        """The panels' controls, under the names the rest of the app and the tests use."""
        self.optimizer_combo, self.optimizer_spins = self.optimizer_group.combo, self.optimizer_group.spins
        self.schedule_combo, self.schedule_spins = self.schedule_group.combo, self.schedule_group.spins
        loop = self.loop_group.controls
        self.epochs_spin, self.batch_spin = loop["training.epochs"], loop["training.batch_size"]
        self.early_stopping_spin, self.seed_spin = loop["training.early_stopping"], loop["training.seed"]
        self.tensorboard_check = loop["training.tensorboard"]
        self.class_weights_combo = loop["training.class_weights"]
        self.snapshot_spin = loop["training.snapshot_ensemble"]
        self.balanced_sampling_check = loop["training.balanced_sampling"]
        speed = self.speed_group
        self.feature_cache_check, self.image_cache_check = speed.feature_cache_check, speed.image_cache_check
        self.speed_combos, self.cache_line = speed.combos, speed.cache_line
        self.lr_preview, self.lr_caption = self.learning_rate_group.preview, self.learning_rate_group.caption
        augmentation = self.augmentation_group
        self.augment_checks, self.augment_spins = augmentation.checks, augmentation.spins
        self.augmented_copies_spin = augmentation.copies_spin
        self.augmented_copies_estimate = augmentation.copies_estimate
        self.augment_preview_button = augmentation.preview_button
        self.augment_preview_status = augmentation.preview_status
        self.preview_labels = augmentation.preview_labels

    @property
    def preview_images(self) -> list:
        """The augmented images last drawn in the preview grid."""
        return self.augmentation_group.preview_images

    def refresh_augment_preview(self) -> None:
        self.augmentation_group.refresh_preview()

    def update_lr_preview(self) -> None:
        self.learning_rate_group.update_preview()

    def summary(self) -> str:
        project = self._project.project
        return f"{describe('optimizer.name').label_of(project.optimizer.name)} · {project.training.epochs} epochs"
