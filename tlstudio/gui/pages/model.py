"""Model page: the pretrained backbone, its input size and weights, what is frozen, and the head."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from PySide6.QtCore import Qt, Slot
from PySide6.QtWidgets import (
    QAbstractItemView,
    QCheckBox,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QSlider,
    QTableView,
    QVBoxLayout,
    QWidget,
)

from tlstudio.backbones.registry import get_backbone
from tlstudio.gui.background import Task, TaskContext, TaskRunner, TensorFlowLoader
from tlstudio.gui.pages.base import Page
from tlstudio.gui.panels.model_tables import BACKBONE_ORDER, BackboneTable, LayerTableModel
from tlstudio.gui.panels.weights_chooser import WeightsChooser
from tlstudio.gui.state.bindings import bind_check, bind_spin
from tlstudio.gui.state.dataset_model import DatasetModel
from tlstudio.gui.state.project_model import ALL, ProjectModel
from tlstudio.gui.widgets.common import LogSpinBox, float_spin, format_count, hint_label, int_spin, named, two_columns
from tlstudio.model.build import load_backbone_layers
from tlstudio.model.freezing import BackboneLayers, layer_states, trainable_parameters


class ModelPage(Page):
    """Wraps the Project's model settings (and training.fine_tune, which is about freezing)."""


    def __init__(self, project: ProjectModel, dataset: DatasetModel, runner: TaskRunner,
                 tensorflow: TensorFlowLoader, parent: QWidget | None = None):
        super().__init__("Model", "A network pretrained on ImageNet does most of the work: pick one, choose "
                         "how much of it to keep frozen, and size the new classification head.", "modelPage",
                         scroll=True, parent=parent)
        self._project = project
        self._dataset = dataset
        self._runner = runner
        self._tensorflow = tensorflow
        self._layers: dict[str, BackboneLayers] = {}
        self._layers_task: Task | None = None
        self._layers_error: str | None = None
        self._updating = False

        left, right = two_columns(self.body, 1, 1)

        # Left column: backbone, input, weights, head.
        backbone_box = QGroupBox("Backbone")
        backbone_layout = QVBoxLayout(backbone_box)
        self.backbone_table = BackboneTable()
        self.backbone_table.itemSelectionChanged.connect(self._on_backbone_selected)
        backbone_layout.addWidget(self.backbone_table)
        self.description_label = hint_label()
        self.description_label.setObjectName("modelBackboneDescription")
        backbone_layout.addWidget(self.description_label)
        left.addWidget(backbone_box)

        input_box = QGroupBox("Input and weights")
        input_form = QFormLayout(input_box)
        size_row = QHBoxLayout()
        self.default_size_check = named(QCheckBox("Backbone default"), "modelDefaultSizeCheck",
                                        "Use the backbone's default input size")
        self.default_size_check.toggled.connect(self._on_size_edited)
        size_row.addWidget(self.default_size_check)
        self.size_spin = named(int_spin(32, 1024, suffix=" px"), "modelImageSizeSpin", "Input size",
                               "Images are resized to this square; smaller trains faster, larger sees more detail.")
        self.size_spin.setSingleStep(16)
        self.size_spin.valueChanged.connect(self._on_size_edited)
        size_row.addWidget(self.size_spin)
        size_row.addStretch(1)
        input_form.addRow("Input size", size_row)

        self.weights_chooser = WeightsChooser(project)
        input_form.addRow("Weights", self.weights_chooser)
        # The chooser's widgets, under the names the tests and the screenshots use.
        chooser = self.weights_chooser
        self.imagenet_radio, self.file_radio, self.none_radio = chooser.imagenet_radio, chooser.file_radio, \
            chooser.none_radio
        self.weights_file_edit, self.weights_status = chooser.file_edit, chooser.status
        left.addWidget(input_box)
        left.addStretch(1)

        # Right column: freezing, layers, two-phase fine-tuning.
        freeze_box = QGroupBox("Freezing")
        freeze_layout = QVBoxLayout(freeze_box)
        self.freeze_all_check = named(QCheckBox("Freeze the whole backbone (train only the head)"),
                                      "modelFreezeAllCheck", "Freeze all backbone layers")
        self.freeze_all_check.toggled.connect(self._on_freeze_edited)
        freeze_layout.addWidget(self.freeze_all_check)
        slider_row = QHBoxLayout()
        slider_row.addWidget(QLabel("Frozen layers"))
        self.freeze_slider = named(QSlider(Qt.Orientation.Horizontal), "modelFreezeSlider",
                                   "Frozen layers", "Layers counted from the input; the rest are fine-tuned.")
        self.freeze_slider.setRange(0, 300)
        self.freeze_slider.valueChanged.connect(self._on_freeze_slider_moved)
        slider_row.addWidget(self.freeze_slider, 1)
        self.freeze_spin = named(int_spin(0, 5000), "modelFreezeSpin", "Frozen layer count")
        self.freeze_spin.valueChanged.connect(self._on_freeze_edited)
        slider_row.addWidget(self.freeze_spin)
        freeze_layout.addLayout(slider_row)
        self.batchnorm_check = named(QCheckBox("Also train BatchNorm layers of unfrozen blocks"),
                                     "modelTrainBatchNormCheck", "Train BatchNorm layers",
                                     "Usually off: on small data their statistics are better left as trained.")
        freeze_layout.addWidget(self.batchnorm_check)
        self.counts_label = QLabel()
        self.counts_label.setObjectName("modelParameterCounts")
        self.counts_label.setProperty("role", "summary")
        self.counts_label.setWordWrap(True)
        freeze_layout.addWidget(self.counts_label)
        self.layer_model = LayerTableModel(self)
        self.layer_table = named(QTableView(), "modelLayerTable", "Backbone layers",
                                 "Every backbone layer and whether it trains.")
        self.layer_table.setModel(self.layer_model)
        self.layer_table.verticalHeader().hide()
        self.layer_table.verticalHeader().setDefaultSectionSize(20)
        self.layer_table.setShowGrid(False)
        self.layer_table.setAlternatingRowColors(True)
        self.layer_table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.layer_table.setMinimumHeight(160)
        self.layer_table.setTextElideMode(Qt.TextElideMode.ElideMiddle)
        layer_header = self.layer_table.horizontalHeader()
        layer_header.setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        layer_header.setSectionResizeMode(1, QHeaderView.ResizeMode.Stretch)
        freeze_layout.addWidget(self.layer_table, 1)
        right.addWidget(freeze_box, 1)

        self.fine_tune_box = named(QGroupBox("Two-phase fine-tuning"), "modelFineTuneGroup",
                                   "Two-phase fine-tuning",
                                   "Phase 1 trains only the head; phase 2 unfreezes the top layers with a lower LR.")
        self.fine_tune_box.setCheckable(True)
        self.fine_tune_box.toggled.connect(self._on_fine_tune_toggled)
        fine_form = QFormLayout(self.fine_tune_box)
        self.fine_tune_epochs_spin = named(int_spin(1, 10000), "modelFineTuneEpochsSpin", "Phase 2 epochs")
        fine_form.addRow("Phase 2 epochs", self.fine_tune_epochs_spin)
        self.unfreeze_spin = named(int_spin(1, 5000), "modelUnfreezeSpin", "Layers to unfreeze",
                                   "Backbone layers, counted from the top, that phase 2 trains.")
        fine_form.addRow("Layers to unfreeze", self.unfreeze_spin)
        self.lr_factor_spin = named(LogSpinBox(1e-4, 1.0), "modelLrFactorSpin", "Phase 2 learning-rate factor",
                                    "Phase 2 learning rate = phase 1 learning rate × this factor.")
        fine_form.addRow("LR factor", self.lr_factor_spin)
        right.addWidget(self.fine_tune_box)
        head_box = QGroupBox("Classification head")
        head_form = QFormLayout(head_box)
        self.dropout_spin = named(float_spin(0.0, 0.9, step=0.05), "modelDropoutSpin", "Dropout",
                                  "Share of features dropped at random while training; fights overfitting.")
        head_form.addRow("Dropout", self.dropout_spin)
        self.l2_spin = named(float_spin(0.0, 0.1, step=0.0001, decimals=5), "modelL2Spin", "L2 penalty",
                             "Weight decay on the head's weights (0 = off); 1e-4 to 1e-3 is typical.")
        self.l2_spin.setSpecialValueText("off")
        head_form.addRow("L2 penalty", self.l2_spin)
        self.smoothing_spin = named(float_spin(0.0, 0.5, step=0.05), "modelLabelSmoothingSpin",
                                    "Label smoothing", "Softens the targets so the model is less over-confident.")
        self.smoothing_spin.setSpecialValueText("off")
        head_form.addRow("Label smoothing", self.smoothing_spin)
        right.addWidget(head_box)

        self._bindings = [
            bind_check(project, "model.train_batchnorm", self.batchnorm_check),
            bind_spin(project, "model.dropout", self.dropout_spin),
            bind_spin(project, "model.l2", self.l2_spin),
            bind_spin(project, "model.label_smoothing", self.smoothing_spin),
            bind_spin(project, "training.fine_tune.unfreeze", self.unfreeze_spin),
            bind_spin(project, "training.fine_tune.lr_factor", self.lr_factor_spin),
        ]
        self._remembered_fine_tune_epochs = 5
        self.fine_tune_epochs_spin.valueChanged.connect(self._on_fine_tune_epochs_edited)
        project.changed.connect(self._on_project_changed)
        dataset.scanned.connect(self._on_dataset_scanned)
        tensorflow.loaded.connect(self._on_tensorflow_loaded)
        self._refresh()

    # -- project -> widgets ---------------------------------------------------------------------

    @Slot(list)
    def _on_project_changed(self, keys: list) -> None:
        if ALL in keys or any(key.startswith(("model.", "training.fine_tune")) for key in keys):
            self._refresh()

    def _refresh(self) -> None:
        self._updating = True
        try:
            settings = self._project.project.model
            spec = get_backbone(settings.backbone)
            row = BACKBONE_ORDER.index(settings.backbone)
            if self.backbone_table.currentRow() != row:
                self.backbone_table.selectRow(row)
            self.description_label.setText(
                f"<b>{spec.label}</b>: {spec.description} Default input {spec.default_size} px "
                f"(at least {spec.min_size} px).")
            self.default_size_check.setChecked(settings.image_size is None)
            self.size_spin.setMinimum(spec.min_size)
            self.size_spin.setValue(settings.resolved_image_size)
            self.size_spin.setEnabled(settings.image_size is not None)
            self.default_size_check.setText(f"Backbone default ({spec.default_size} px)")
            fine_tune = self._project.project.training.fine_tune
            self.fine_tune_box.setChecked(fine_tune.enabled)
            if fine_tune.enabled:
                self._remembered_fine_tune_epochs = fine_tune.epochs
            self.fine_tune_epochs_spin.setValue(self._remembered_fine_tune_epochs)
            freeze_all = settings.freeze == "all"
            self.freeze_all_check.setChecked(freeze_all)
            layers = self._layers.get(settings.backbone)
            count = len(layers.rows) if layers else None
            if count is not None:
                self.freeze_slider.setRange(0, count)
                self.freeze_spin.setRange(0, count)
                self.unfreeze_spin.setMaximum(count)
            frozen = (count or self.freeze_spin.maximum()) if freeze_all else int(settings.freeze)
            self.freeze_slider.setValue(frozen)
            self.freeze_spin.setValue(frozen)
            phase_one_only_head = fine_tune.enabled
            self.freeze_all_check.setEnabled(not phase_one_only_head)
            self.freeze_slider.setEnabled(not freeze_all and not phase_one_only_head and count is not None)
            self.freeze_spin.setEnabled(not freeze_all and not phase_one_only_head)
            self.freeze_all_check.setToolTip(
                "With two-phase fine-tuning, phase 1 always freezes the whole backbone." if phase_one_only_head
                else "Freeze every backbone layer: only the new head trains.")
        finally:
            self._updating = False
        self.backbone_table.refresh_weights()
        self._refresh_layers()
        self.summary_changed.emit()

    def _refresh_layers(self) -> None:
        settings = self._project.project.model
        layers = self._layers.get(settings.backbone)
        if layers is None:
            self.layer_model.set_rows([], [])
            if self._layers_error:
                self.counts_label.setText(f"Could not list the layers: {self._layers_error}")
            elif not self._tensorflow.ready:
                self.counts_label.setText("Layer list and parameter counts appear once TensorFlow has "
                                          "loaded…")
            else:
                self.counts_label.setText(f"Listing the layers of {get_backbone(settings.backbone).label}…")
                if self.isVisible():  # building a network costs seconds: only for a page someone sees
                    self._load_layers()
            return
        index = self._dataset.index
        if index is not None and len(index.classes) >= 2 and layers.num_classes != len(index.classes):
            layers = replace(layers, num_classes=len(index.classes))
            self._layers[settings.backbone] = layers
        fine_tune = self._project.project.training.fine_tune
        states = layer_states(layers.rows, settings, fine_tune.unfreeze if fine_tune.enabled else None)
        if self.layer_model.rows is layers.rows or self.layer_model.rows == layers.rows:
            changed = self.layer_model.states != states
            self.layer_model.set_states(states)
        else:
            changed = True
            self.layer_model.set_rows(layers.rows, states)
        if changed and "trainable" in states:
            # Bring the boundary between frozen and trainable layers into view.
            boundary = self.layer_model.index(states.index("trainable"), 0)
            self.layer_table.scrollTo(boundary, QAbstractItemView.ScrollHint.PositionAtCenter)
        total = layers.total_parameters
        trainable = trainable_parameters(layers, states)
        text = (f"<b>{format_count(trainable)}</b> trainable · <b>{format_count(total - trainable)}</b> frozen "
                f"parameters ({len(layers.rows)} backbone layers, head {format_count(layers.head_parameters)})")
        if fine_tune.enabled:
            phase_two = trainable_parameters(layers, states, "phase 2")
            text = (f"Phase 1: <b>{format_count(trainable)}</b> trainable (the head) · phase 2: "
                    f"<b>{format_count(phase_two)}</b> trainable of {format_count(total)}")
        self.counts_label.setText(text)

    # -- widgets -> project -----------------------------------------------------------------------

    @Slot()
    def _on_backbone_selected(self) -> None:
        if self._updating:
            return
        row = self.backbone_table.currentRow()
        if row < 0:
            return
        name = BACKBONE_ORDER[row]
        settings = self._project.project.model
        changes: dict[str, Any] = {"model.backbone": name}
        spec = get_backbone(name)
        if settings.image_size is not None and settings.image_size < spec.min_size:
            changes["model.image_size"] = None
        if isinstance(settings.freeze, int) and name != settings.backbone:
            changes["model.freeze"] = "all"  # a layer count means nothing on another network
        self._project.update(changes)

    @Slot()
    def _on_size_edited(self) -> None:
        if self._updating:
            return
        value = None if self.default_size_check.isChecked() else self.size_spin.value()
        if not self._project.set("model.image_size", value):
            self._refresh()

    @Slot()
    def _on_freeze_slider_moved(self) -> None:
        if not self._updating:
            self.freeze_spin.setValue(self.freeze_slider.value())

    @Slot()
    def _on_freeze_edited(self) -> None:
        if self._updating:
            return
        value: Any = "all" if self.freeze_all_check.isChecked() else self.freeze_spin.value()
        if not self._project.set("model.freeze", value):
            self._refresh()

    @Slot(bool)
    def _on_fine_tune_toggled(self, enabled: bool) -> None:
        if self._updating:
            return
        epochs = self.fine_tune_epochs_spin.value() if enabled else 0
        self._project.set("training.fine_tune.epochs", epochs)

    @Slot()
    def _on_fine_tune_epochs_edited(self) -> None:
        if self._updating:
            return
        self._remembered_fine_tune_epochs = self.fine_tune_epochs_spin.value()
        if self.fine_tune_box.isChecked():
            self._project.set("training.fine_tune.epochs", self.fine_tune_epochs_spin.value())

    # -- background -------------------------------------------------------------------------------

    def showEvent(self, event) -> None:  # noqa: N802
        super().showEvent(event)
        self._refresh_layers()

    @Slot(str)
    def _on_tensorflow_loaded(self, _device: str) -> None:
        self._refresh_layers()

    @Slot(object)
    def _on_dataset_scanned(self, _index: object) -> None:
        self._refresh_layers()

    def _load_layers(self) -> None:
        backbone = self._project.project.model.backbone
        if self._layers_task is not None:
            if getattr(self._layers_task, "backbone", None) == backbone:
                return
            self._layers_task.cancel()

        def work(context: TaskContext) -> BackboneLayers:
            return load_backbone_layers(backbone)

        task = self._runner.submit(f"listing the layers of {backbone}", work)
        task.backbone = backbone  # type: ignore[attr-defined]
        task.succeeded.connect(self._on_layers_loaded)
        task.failed.connect(self._on_layers_failed)
        self._layers_task = task

    @Slot(object)
    def _on_layers_loaded(self, layers: BackboneLayers) -> None:
        self._layers_task = None
        self._layers_error = None
        self._layers[layers.backbone] = layers
        self._refresh()

    @Slot(str)
    def _on_layers_failed(self, message: str) -> None:
        self._layers_task = None
        self._layers_error = message
        self._refresh_layers()

    def summary(self) -> str:
        settings = self._project.project.model
        return f"{get_backbone(settings.backbone).label} · {settings.resolved_image_size} px"
