"""Model page: backbone, input size, weights, freezing, fine-tuning and head write the Project."""

from __future__ import annotations

from tlstudio.backbones.registry import BACKBONE_NAMES
from tlstudio.gui.widgets.common import format_count
from tlstudio.settings.project import Project


def test_widgets_write_the_project(qtbot, window, tmp_path):
    page = window.model_page
    window.show_page("model")
    page.backbone_table.selectRow(BACKBONE_NAMES.index("efficientnet_b0"))
    assert window.project.project.model.backbone == "efficientnet_b0"
    assert "EfficientNetB0" in page.description_label.text()
    page.default_size_check.setChecked(False)
    page.size_spin.setValue(96)
    assert window.project.project.model.image_size == 96
    page.default_size_check.setChecked(True)
    assert window.project.project.model.image_size is None
    assert page.size_spin.value() == 224 and not page.size_spin.isEnabled()

    page.none_radio.setChecked(True)
    assert window.project.project.model.weights == "none"
    assert "scratch" in page.weights_status.text()
    weights_file = tmp_path / "w.weights.h5"
    weights_file.write_bytes(b"x")
    page.file_radio.setChecked(True)
    assert window.project.project.model.weights == "none"  # no file chosen yet
    page.weights_file_edit.setText(str(weights_file))
    page.weights_file_edit.editingFinished.emit()
    assert window.project.project.model.weights == str(weights_file)
    page.imagenet_radio.setChecked(True)
    assert window.project.project.model.weights == "imagenet"
    assert "MB" in page.weights_status.text() or "cached" in page.weights_status.text()

    page.dropout_spin.setValue(0.5)
    page.l2_spin.setValue(0.001)
    page.smoothing_spin.setValue(0.1)
    page.batchnorm_check.setChecked(True)
    model = window.project.project.model
    assert (model.dropout, model.l2, model.label_smoothing, model.train_batchnorm) == (0.5, 0.001, 0.1, True)

    page.freeze_all_check.setChecked(False)
    page.freeze_spin.setValue(40)
    assert window.project.project.model.freeze == 40
    page.freeze_all_check.setChecked(True)
    assert window.project.project.model.freeze == "all"

    page.fine_tune_box.setChecked(True)
    page.fine_tune_epochs_spin.setValue(3)
    page.unfreeze_spin.setValue(12)
    page.lr_factor_spin.setValue(0.05)
    fine_tune = window.project.project.training.fine_tune
    assert (fine_tune.epochs, fine_tune.unfreeze, fine_tune.lr_factor) == (3, 12, 0.05)
    assert not page.freeze_all_check.isEnabled()  # phase 1 always freezes the whole backbone
    page.fine_tune_box.setChecked(False)
    assert window.project.project.training.fine_tune.epochs == 0
    page.fine_tune_box.setChecked(True)
    assert window.project.project.training.fine_tune.epochs == 3  # remembered


def test_switching_backbone_keeps_the_project_valid(window):
    page = window.model_page
    page.default_size_check.setChecked(False)
    page.size_spin.setValue(48)
    page.backbone_table.selectRow(BACKBONE_NAMES.index("inception_v3"))  # needs at least 75 px
    model = window.project.project.model
    assert model.backbone == "inception_v3" and model.image_size is None
    assert page.size_spin.minimum() == 75


def test_loaded_project_fills_the_widgets(window, tmp_path):
    project = Project().copy_with(**{
        "model.backbone": "resnet50_v2", "model.image_size": 160, "model.weights": "none",
        "model.freeze": 100, "model.dropout": 0.3, "model.l2": 0.0005, "model.label_smoothing": 0.05,
        "training.fine_tune.epochs": 4, "training.fine_tune.unfreeze": 30, "training.fine_tune.lr_factor": 0.2})
    path = tmp_path / "p.json"
    project.save(path)
    assert window.open_project(path)
    page = window.model_page
    assert page.backbone_table.currentRow() == BACKBONE_NAMES.index("resnet50_v2")
    assert not page.default_size_check.isChecked() and page.size_spin.value() == 160
    assert page.none_radio.isChecked()
    assert not page.freeze_all_check.isChecked() and page.freeze_spin.value() == 100
    assert page.dropout_spin.value() == 0.3 and page.l2_spin.value() == 0.0005
    assert page.smoothing_spin.value() == 0.05
    assert page.fine_tune_box.isChecked() and page.fine_tune_epochs_spin.value() == 4
    assert page.unfreeze_spin.value() == 30 and page.lr_factor_spin.value() == 0.2
    assert "ResNet50V2" in window.step_list.item(1).text()


def test_missing_weights_file_blocks_train(ready_window, tmp_path):
    ready_window.project.set("model.weights", str(tmp_path / "nope.h5"))
    assert not ready_window.train_action.isEnabled()
    assert "does not exist" in ready_window.model_page.weights_status.text()
    assert "weights file" in ready_window.run_page.readiness_label.text()


def test_layer_table_and_live_counts(qtbot, make_window):
    window = make_window(tensorflow="real")
    page = window.model_page
    window.show_page("model")
    qtbot.waitUntil(lambda: page.layer_model.rowCount() > 0, timeout=60_000)
    rows = page.layer_model.rowCount()
    assert window.project.project.model.backbone == "squeezenet1_1"  # the offline default
    assert rows == 36 and page.freeze_slider.maximum() == rows
    assert "trainable" in page.counts_label.text()
    frozen_text = page.counts_label.text()
    assert set(page.layer_model.states) == {"frozen"}
    page.freeze_all_check.setChecked(False)
    page.freeze_slider.setValue(rows - 10)
    assert window.project.project.model.freeze == rows - 10
    assert page.freeze_spin.value() == rows - 10
    assert page.layer_model.states[-1] == "trainable" and page.layer_model.states[0] == "frozen"
    assert page.counts_label.text() != frozen_text
    # The page's counts are the core's: the model the trainer builds, with these settings.
    from tlstudio.model.build import build_model, count_parameters

    built = build_model(window.project.project.model.model_copy(update={"weights": "none"}),
                        len(window.dataset.index.classes) if window.dataset.index else 2)
    trainable, frozen = count_parameters(built.model)
    assert page.counts_label.text().startswith(
        f"<b>{format_count(trainable)}</b> trainable · <b>{format_count(frozen)}</b> frozen")


def test_spin_boxes_take_every_value_the_project_accepts(window, tmp_path):
    """The ranges come from the project's field limits: a saved 0.6 label smoothing shows as 0.6, not 0.5."""
    project = Project().copy_with(**{"model.label_smoothing": 0.6, "model.dropout": 0.95})
    path = tmp_path / "p.json"
    project.save(path)
    assert window.open_project(path)
    page = window.model_page
    assert page.smoothing_spin.value() == 0.6 and page.dropout_spin.value() == 0.95
    assert page.smoothing_spin.maximum() < 1.0  # the project refuses 1.0
    batch = window.training_page.batch_spin
    assert (batch.minimum(), batch.maximum()) == (1, 4096)
