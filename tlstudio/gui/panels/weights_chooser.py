"""The Model page's weights chooser: ImageNet, a file or none; where the ImageNet weights come from; and,
when they can't be had offline, the backbones that can, one click away. It binds `model.weights` and
listens to the project itself."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Slot
from PySide6.QtWidgets import (
    QButtonGroup,
    QFileDialog,
    QHBoxLayout,
    QLineEdit,
    QPushButton,
    QRadioButton,
    QVBoxLayout,
    QWidget,
)

from tlstudio.backbones.registry import get_backbone
from tlstudio.backbones.weight_sources import imagenet_availability, offline_alternatives
from tlstudio.gui.state.project_model import ALL, ProjectModel
from tlstudio.gui.widgets.common import hint_label, named


def use_pretrained(project: ProjectModel, name: str) -> str | None:
    """Switch `project` to the backbone `name` with its ImageNet weights and default input size (the
    offline offers' one click); None, or the message of a refused change."""
    return project.update({"model.backbone": name, "model.weights": "imagenet", "model.image_size": None})


class WeightsChooser(QWidget):
    """The weights source of `model.weights`, what it means right now, and the offline alternatives."""

    def __init__(self, project: ProjectModel, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._project = project
        self._updating = False
        weights_layout = QVBoxLayout(self)
        weights_layout.setContentsMargins(0, 0, 0, 0)
        self.group = QButtonGroup(self)
        self.imagenet_radio = named(QRadioButton("ImageNet (pretrained)"), "modelWeightsImagenetRadio",
                                    "ImageNet weights")
        self.file_radio = named(QRadioButton("From a file…"), "modelWeightsFileRadio", "Weights from a file",
                                "A weights file saved from the same backbone, for machines without internet.")
        self.none_radio = named(QRadioButton("None (random start)"), "modelWeightsNoneRadio", "No weights",
                                "Train from scratch: much weaker on small datasets.")
        for radio in (self.imagenet_radio, self.file_radio, self.none_radio):
            self.group.addButton(radio)
            weights_layout.addWidget(radio)
            radio.toggled.connect(self._on_edited)
        file_row = QHBoxLayout()
        self.file_edit = named(QLineEdit(), "modelWeightsFileEdit", "Weights file path")
        self.file_edit.setPlaceholderText("path of a .h5 or .weights.h5 file")
        self.file_edit.editingFinished.connect(self._on_edited)
        file_row.addWidget(self.file_edit, 1)
        self.browse_button = named(QPushButton("Browse…"), "modelWeightsBrowseButton",
                                           "Choose weights file")
        self.browse_button.clicked.connect(self._browse)
        file_row.addWidget(self.browse_button)
        weights_layout.addLayout(file_row)
        self.status = hint_label()
        self.status.setObjectName("modelWeightsStatus")
        weights_layout.addWidget(self.status)
        # When the chosen ImageNet weights can't be had offline: the backbones that can, one click away.
        self.offline_row = QHBoxLayout()
        self.offline_buttons: list[QPushButton] = []
        weights_layout.addLayout(self.offline_row)
        project.changed.connect(self._on_project_changed)
        self.refresh()

    @Slot(list)
    def _on_project_changed(self, keys: list) -> None:
        if ALL in keys or any(key.startswith("model.") for key in keys):
            self.refresh()

    def refresh(self) -> None:
        """The radios and the file field from the project, then where the weights come from."""
        weights = self._project.project.model.weights
        self._updating = True
        try:
            if weights == "imagenet":
                self.imagenet_radio.setChecked(True)
            elif weights == "none":
                self.none_radio.setChecked(True)
            else:
                self.file_radio.setChecked(True)
                self.file_edit.setText(weights)
        finally:
            self._updating = False
        self._refresh_status()

    def _refresh_status(self) -> None:
        settings = self._project.project.model
        spec = get_backbone(settings.backbone)
        weights = settings.weights
        self.file_edit.setEnabled(self.file_radio.isChecked())
        self.browse_button.setEnabled(self.file_radio.isChecked())
        alternatives = []
        if weights == "imagenet":
            availability = imagenet_availability(spec, settings.resolved_image_size)
            text = availability.note
            if not availability.ready:
                alternatives = offline_alternatives(exclude=spec.name)
                if alternatives:
                    text += " Without a network, use one that works offline:"
        elif weights == "none":
            text = "Random start: trains from scratch, which needs far more data."
        elif Path(weights).expanduser().is_file():
            text = f"Weights from {Path(weights).name}."
        else:
            text = f"⚠ {weights} does not exist; choose an existing weights file."
        self.status.setText(text)
        self._set_offline_buttons(alternatives)

    def _set_offline_buttons(self, alternatives: list) -> None:
        if [button.property("backbone") for button in self.offline_buttons] == [a.name for a in alternatives]:
            return
        for button in self.offline_buttons:
            self.offline_row.removeWidget(button)
            button.deleteLater()
        self.offline_buttons = []
        for spec in alternatives:
            button = named(QPushButton(f"Use {spec.label}"), f"modelUseOffline_{spec.name}", f"Use {spec.label}",
                           f"{spec.description} ImageNet weights: {spec.weights_origin}.")
            button.setProperty("backbone", spec.name)
            button.clicked.connect(lambda _=False, name=spec.name: use_pretrained(self._project, name))
            self.offline_row.addWidget(button)
            self.offline_buttons.append(button)
        if alternatives:
            self.offline_row.addStretch(1)

    @Slot()
    def _on_edited(self) -> None:
        if self._updating:
            return
        if self.imagenet_radio.isChecked():
            value = "imagenet"
        elif self.none_radio.isChecked():
            value = "none"
        else:
            value = self.file_edit.text().strip()
            if not value:
                self._refresh_status()
                self.status.setText("Choose the weights file.")
                return
        self._project.set("model.weights", value)
        self._refresh_status()

    @Slot()
    def _browse(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Choose a weights file", str(Path.home()),
                                              "Keras weights (*.h5 *.weights.h5 *.keras);;All files (*)")
        if path:
            self.file_edit.setText(path)
            self.file_radio.setChecked(True)
            self._on_edited()
