"""Model page: the pretrained backbone, its input size and weights, what is frozen, and the head.

The page only composes panels, each bound to the project model itself (gui/panels/model_settings.py,
freezing.py); their rows are made from the settings' declarations.
"""

from __future__ import annotations

from PySide6.QtWidgets import QWidget

from tlstudio.backbones.registry import get_backbone
from tlstudio.gui.background import TaskRunner, TensorFlowLoader
from tlstudio.gui.pages.base import Page
from tlstudio.gui.panels.freezing import FreezeGroup
from tlstudio.gui.panels.model_settings import BackboneGroup, FineTuneGroup, HeadGroup, InputGroup
from tlstudio.gui.state.dataset_model import DatasetModel
from tlstudio.gui.state.project_model import ProjectModel
from tlstudio.gui.widgets.common import two_columns


class ModelPage(Page):
    """Wraps the Project's model settings (and training.fine_tune, which is about freezing)."""

    def __init__(self, project: ProjectModel, dataset: DatasetModel, runner: TaskRunner,
                 tensorflow: TensorFlowLoader, parent: QWidget | None = None):
        super().__init__("Model", "A network pretrained on ImageNet does most of the work: pick one, choose "
                         "how much of it to keep frozen, and size the new classification head.", "modelPage",
                         scroll=True, parent=parent)
        self._project = project
        left, right = two_columns(self.body, 1, 1)
        # Left column: backbone, input, weights. Right column: freezing, layers, fine-tuning, head.
        self.backbone_group = BackboneGroup(project)
        self.input_group = InputGroup(project)
        left.addWidget(self.backbone_group)
        left.addWidget(self.input_group)
        left.addStretch(1)
        self.freeze_group = FreezeGroup(project, dataset, runner, tensorflow)
        self.fine_tune_group = FineTuneGroup(project)
        self.head_group = HeadGroup(project)
        self.freeze_group.layer_count_known.connect(self.fine_tune_group.set_layer_count)
        right.addWidget(self.freeze_group, 1)
        right.addWidget(self.fine_tune_group)
        right.addWidget(self.head_group)
        self._name_controls()
        project.changed.connect(self.summary_changed)

    def _name_controls(self) -> None:
        """The panels' controls, under the names the rest of the app and the tests use."""
        self.backbone_table, self.description_label = self.backbone_group.table, self.backbone_group.description
        self.default_size_check, self.size_spin = self.input_group.default_size_check, self.input_group.size_spin
        chooser = self.weights_chooser = self.input_group.weights_chooser
        self.imagenet_radio, self.file_radio, self.none_radio = chooser.imagenet_radio, chooser.file_radio, \
            chooser.none_radio
        self.weights_file_edit, self.weights_status = chooser.file_edit, chooser.status
        freeze = self.freeze_group
        self.freeze_all_check, self.freeze_slider, self.freeze_spin = freeze.freeze_all_check, \
            freeze.freeze_slider, freeze.freeze_spin
        self.batchnorm_check, self.counts_label = freeze.batchnorm_check, freeze.counts_label
        self.layer_model, self.layer_table = freeze.layer_model, freeze.layer_table
        fine_tune = self.fine_tune_box = self.fine_tune_group
        self.fine_tune_epochs_spin, self.unfreeze_spin = fine_tune.epochs_spin, fine_tune.unfreeze_spin
        self.lr_factor_spin = fine_tune.lr_factor_spin
        head = self.head_group
        self.dropout_spin, self.l2_spin, self.smoothing_spin = head.dropout_spin, head.l2_spin, head.smoothing_spin

    def summary(self) -> str:
        settings = self._project.project.model
        return f"{get_backbone(settings.backbone).label} · {settings.resolved_image_size} px"
