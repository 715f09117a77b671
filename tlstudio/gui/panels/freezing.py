"""The Model page's freezing group: how many backbone layers stay frozen, BatchNorm, and the layer list with
live parameter counts (the core's `layer_states` and `trainable_parameters`).

Listing a backbone's layers builds the network, seconds of work: it runs in the background, once per
backbone, and only while the group is on screen.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from PySide6.QtCore import Qt, Signal, Slot
from PySide6.QtWidgets import (
    QAbstractItemView,
    QCheckBox,
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
from tlstudio.gui.background import TaskContext, TaskRunner, TensorFlowLoader
from tlstudio.gui.panels.model_tables import LayerTableModel
from tlstudio.gui.state.dataset_model import DatasetModel
from tlstudio.gui.state.project_model import ALL, ProjectModel
from tlstudio.gui.widgets.common import TaskHolder, format_count, int_spin, named
from tlstudio.gui.widgets.field_rows import field_control
from tlstudio.model.build import load_backbone_layers
from tlstudio.model.freezing import BackboneLayers, layer_states, trainable_parameters


class FreezeGroup(QGroupBox):
    """Freeze all or a number of layers from the input; the layers and what trains, counted live."""

    layer_count_known = Signal(int)  # the chosen backbone's number of layers, once listed

    def __init__(self, project: ProjectModel, dataset: DatasetModel, runner: TaskRunner,
                 tensorflow: TensorFlowLoader, parent: QWidget | None = None) -> None:
        super().__init__("Freezing", parent)
        self._project = project
        self._dataset = dataset
        self._tensorflow = tensorflow
        self._layers: dict[str, BackboneLayers] = {}
        self._layers_task = TaskHolder(runner, parent=self)
        self._layers_error: str | None = None
        self._updating = False
        layout = QVBoxLayout(self)
        self.freeze_all_check = named(QCheckBox("Freeze the whole backbone (train only the head)"),
                                      "modelFreezeAllCheck", "Freeze all backbone layers")
        self.freeze_all_check.toggled.connect(self._on_freeze_edited)
        layout.addWidget(self.freeze_all_check)
        layout.addLayout(self._slider_row())
        self.batchnorm_check = field_control(project, "model.train_batchnorm", "modelTrainBatchNormCheck")
        layout.addWidget(self.batchnorm_check)
        self.counts_label = QLabel()
        self.counts_label.setObjectName("modelParameterCounts")
        self.counts_label.setProperty("role", "summary")
        self.counts_label.setWordWrap(True)
        layout.addWidget(self.counts_label)
        self.layer_model = LayerTableModel(self)
        self.layer_table = self._layer_table()
        layout.addWidget(self.layer_table, 1)
        project.changed.connect(self._on_project_changed)
        dataset.scanned.connect(self.refresh_layers)
        tensorflow.loaded.connect(self.refresh_layers)
        self.refresh()

    def _slider_row(self) -> QHBoxLayout:
        row = QHBoxLayout()
        row.addWidget(QLabel("Frozen layers"))
        self.freeze_slider = named(QSlider(Qt.Orientation.Horizontal), "modelFreezeSlider",
                                   "Frozen layers", "Layers counted from the input; the rest are fine-tuned.")
        self.freeze_slider.setRange(0, 300)
        self.freeze_slider.valueChanged.connect(self._on_freeze_slider_moved)
        row.addWidget(self.freeze_slider, 1)
        self.freeze_spin = named(int_spin(0, 5000), "modelFreezeSpin", "Frozen layer count")
        self.freeze_spin.valueChanged.connect(self._on_freeze_edited)
        row.addWidget(self.freeze_spin)
        return row

    def _layer_table(self) -> QTableView:
        table = named(QTableView(), "modelLayerTable", "Backbone layers", "Every backbone layer and whether it trains.")
        table.setModel(self.layer_model)
        table.verticalHeader().hide()
        table.verticalHeader().setDefaultSectionSize(20)
        table.setShowGrid(False)
        table.setAlternatingRowColors(True)
        table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        table.setMinimumHeight(160)
        table.setTextElideMode(Qt.TextElideMode.ElideMiddle)
        header = table.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(1, QHeaderView.ResizeMode.Stretch)
        return table

    # -- project -> widgets ---------------------------------------------------------------------

    @Slot(list)
    def _on_project_changed(self, keys: list) -> None:
        if ALL in keys or any(key.startswith(("model.", "training.fine_tune")) for key in keys):
            self.refresh()

    def refresh(self) -> None:
        """The freeze controls as the project has them; phase 1 of a two-phase run always freezes it all."""
        settings = self._project.project.model
        phase_one_only_head = self._project.project.training.fine_tune.enabled
        freeze_all = settings.freeze == "all"
        layers = self._layers.get(settings.backbone)
        count = len(layers.rows) if layers else None
        self._updating = True
        try:
            self.freeze_all_check.setChecked(freeze_all)
            if count is not None:
                self.freeze_slider.setRange(0, count)
                self.freeze_spin.setRange(0, count)
                self.layer_count_known.emit(count)
            frozen = (count or self.freeze_spin.maximum()) if freeze_all else int(settings.freeze)
            self.freeze_slider.setValue(frozen)
            self.freeze_spin.setValue(frozen)
        finally:
            self._updating = False
        self.freeze_all_check.setEnabled(not phase_one_only_head)
        self.freeze_slider.setEnabled(not freeze_all and not phase_one_only_head and count is not None)
        self.freeze_spin.setEnabled(not freeze_all and not phase_one_only_head)
        self.freeze_all_check.setToolTip(
            "With two-phase fine-tuning, phase 1 always freezes the whole backbone." if phase_one_only_head
            else "Freeze every backbone layer: only the new head trains.")
        self.refresh_layers()

    @Slot()
    def refresh_layers(self, *_: Any) -> None:
        """The layer list and the counts for the current settings; lists the layers first when needed."""
        settings = self._project.project.model
        layers = self._layers.get(settings.backbone)
        if layers is None:
            self._wait_for_layers(settings.backbone)
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
        self.counts_label.setText(self._counts(layers, states, fine_tune.enabled))

    @staticmethod
    def _counts(layers: BackboneLayers, states: list[str], two_phases: bool) -> str:
        total = layers.total_parameters
        trainable = trainable_parameters(layers, states)
        if two_phases:
            phase_two = trainable_parameters(layers, states, "phase 2")
            return (f"Phase 1: <b>{format_count(trainable)}</b> trainable (the head) · phase 2: "
                    f"<b>{format_count(phase_two)}</b> trainable of {format_count(total)}")
        return (f"<b>{format_count(trainable)}</b> trainable · <b>{format_count(total - trainable)}</b> frozen "
                f"parameters ({len(layers.rows)} backbone layers, head {format_count(layers.head_parameters)})")

    def _wait_for_layers(self, backbone: str) -> None:
        self.layer_model.set_rows([], [])
        if self._layers_error:
            self.counts_label.setText(f"Could not list the layers: {self._layers_error}")
        elif not self._tensorflow.ready:
            self.counts_label.setText("Layer list and parameter counts appear once TensorFlow has loaded…")
        else:
            self.counts_label.setText(f"Listing the layers of {get_backbone(backbone).label}…")
            if self.isVisible():  # building a network costs seconds: only for a page someone sees
                self._load_layers(backbone)

    # -- widgets -> project -----------------------------------------------------------------------

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
            self.refresh()

    # -- background -------------------------------------------------------------------------------

    def showEvent(self, event) -> None:  # noqa: N802
        super().showEvent(event)
        self.refresh_layers()

    def _load_layers(self, backbone: str) -> None:
        if self._layers_task.busy and getattr(self._layers_task.task, "backbone", None) == backbone:
            return  # already listing them

        def work(context: TaskContext) -> BackboneLayers:
            return load_backbone_layers(backbone)

        task = self._layers_task.start(f"listing the layers of {backbone}", work, succeeded=self._on_layers_loaded,
                                       failed=self._on_layers_failed)
        task.backbone = backbone  # type: ignore[attr-defined]

    @Slot(object)
    def _on_layers_loaded(self, layers: BackboneLayers) -> None:
        self._layers_error = None
        self._layers[layers.backbone] = layers
        self.refresh()

    @Slot(str)
    def _on_layers_failed(self, message: str) -> None:
        self._layers_error = message
        self.refresh_layers()
