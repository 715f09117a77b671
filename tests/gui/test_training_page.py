"""Training page: optimizer and schedule parameters, loop settings, the LR preview, augmentation."""

from __future__ import annotations

import numpy as np
import pytest
from PySide6.QtCore import Qt

from tlstudio.backbones.registry import get_backbone
from tlstudio.base.text import format_bytes
from tlstudio.model.optimizers import OPTIMIZER_HELP, OPTIMIZER_PARAMETERS
from tlstudio.settings.project import Project


def _select(combo, value):
    combo.setCurrentIndex(combo.findData(value))


def test_only_the_optimizers_own_parameters_are_shown(window):
    page = window.training_page
    for name, parameters in OPTIMIZER_PARAMETERS.items():
        _select(page.optimizer_combo, name)
        assert window.project.project.optimizer.name == name
        shown = {field for field, spin in page.optimizer_spins.items() if page.optimizer_group.form.isRowVisible(spin)}
        assert shown == set(parameters), name
        for field in parameters:
            assert page.optimizer_spins[field].toolTip() == OPTIMIZER_HELP[name][field]


def test_widgets_write_the_project(window):
    page = window.training_page
    _select(page.optimizer_combo, "adamw")
    page.optimizer_spins["learning_rate"].setValue(3e-4)
    page.optimizer_spins["weight_decay"].setValue(0.01)
    page.optimizer_spins["clipnorm"].setValue(1.0)
    _select(page.schedule_combo, "step")
    page.schedule_spins["step_epochs"].setValue(3)
    page.schedule_spins["gamma"].setValue(0.5)
    page.schedule_spins["warmup_epochs"].setValue(1.0)
    page.epochs_spin.setValue(7)
    page.batch_spin.setValue(16)
    page.early_stopping_spin.setValue(3)
    page.seed_spin.setValue(5)
    page.feature_cache_check.setChecked(False)
    page.image_cache_check.setChecked(False)
    _select(page.speed_combos["xla"], "off")
    _select(page.speed_combos["mixed_precision"], "bfloat16")
    _select(page.speed_combos["deterministic"], "on")
    page.augment_checks["flip"].setChecked(True)
    page.augmented_copies_spin.setValue(4)
    project = window.project.project
    assert project.optimizer.name == "adamw" and project.optimizer.learning_rate == 3e-4
    assert project.optimizer.weight_decay == 0.01 and project.optimizer.clipnorm == 1.0
    assert (project.schedule.name, project.schedule.step_epochs, project.schedule.gamma) == ("step", 3, 0.5)
    assert project.schedule.warmup_epochs == 1.0
    assert (project.training.epochs, project.training.batch_size) == (7, 16)
    assert (project.training.early_stopping, project.training.seed) == (3, 5)
    assert not project.training.feature_cache and project.training.xla == "off"
    assert not project.training.image_cache and project.training.augmented_copies == 4
    assert (project.training.mixed_precision, project.training.deterministic) == ("bfloat16", "on")
    page.optimizer_spins["clipnorm"].setValue(0.0)  # "off"
    assert window.project.project.optimizer.clipnorm is None
    shown = {f for f, spin in page.schedule_spins.items() if page.schedule_group.form.isRowVisible(spin)}
    assert shown == {"warmup_epochs", "step_epochs", "gamma"}


def test_learning_rate_steps_along_a_125_ladder(window):
    spin = window.training_page.optimizer_spins["learning_rate"]
    spin.setValue(1e-3)
    spin.stepBy(1)
    assert spin.value() == 2e-3 and spin.text() == "0.002"
    spin.stepBy(1)
    assert spin.value() == 5e-3
    spin.stepBy(-3)
    assert spin.value() == 5e-4


def test_loaded_project_fills_the_widgets(window, tmp_path):
    project = Project().copy_with(**{
        "optimizer.name": "rmsprop", "optimizer.learning_rate": 0.01, "optimizer.rho": 0.8,
        "schedule.name": "cosine-restarts", "schedule.restart_epochs": 2.0, "training.epochs": 12,
        "training.batch_size": 8, "training.early_stopping": 4, "augment.flip": True, "augment.rotate": 30.0,
        "training.mixed_precision": "off", "training.xla": "on", "training.deterministic": "off",
        "training.feature_cache": False, "training.image_cache": False, "training.augmented_copies": 5})
    path = tmp_path / "p.json"
    project.save(path)
    window.open_project(path)
    page = window.training_page
    assert page.optimizer_combo.currentData() == "rmsprop"
    assert page.optimizer_spins["learning_rate"].value() == 0.01
    assert page.optimizer_spins["rho"].value() == 0.8
    assert page.optimizer_group.form.isRowVisible(page.optimizer_spins["rho"])
    assert not page.optimizer_group.form.isRowVisible(page.optimizer_spins["beta_1"])
    assert page.schedule_combo.currentData() == "cosine-restarts"
    assert page.schedule_spins["restart_epochs"].value() == 2.0
    assert (page.epochs_spin.value(), page.batch_spin.value(), page.early_stopping_spin.value()) == (12, 8, 4)
    assert page.augment_checks["flip"].isChecked() and page.augment_checks["rotate"].isChecked()
    assert page.augment_spins["rotate"].value() == 30.0 and page.augment_spins["rotate"].isEnabled()
    assert not page.augment_checks["zoom"].isChecked() and not page.augment_spins["zoom"].isEnabled()
    assert page.speed_combos["mixed_precision"].currentData() == "off"
    assert page.speed_combos["xla"].currentData() == "on" and page.speed_combos["deterministic"].currentData() == "off"
    assert not page.feature_cache_check.isChecked() and not page.image_cache_check.isChecked()
    assert page.augmented_copies_spin.value() == 5 and page.augmented_copies_spin.isEnabled()
    window.new_project()
    assert page.augmented_copies_spin.value() == 0 and not page.augmented_copies_spin.isEnabled()
    assert page.feature_cache_check.isChecked() and page.speed_combos["xla"].currentData() == "auto"


def test_lr_preview_follows_the_schedule(qtbot, window):
    page = window.training_page
    preview = page.lr_preview
    cosine = preview.y.copy()
    assert len(cosine) > 0 and cosine[0] > cosine[-1]
    _select(page.schedule_combo, "constant")
    qtbot.waitUntil(lambda: not np.array_equal(preview.y, cosine), timeout=2000)
    assert np.allclose(preview.y, window.project.project.optimizer.learning_rate)
    _select(page.schedule_combo, "step")
    page.schedule_spins["step_epochs"].setValue(2)
    qtbot.waitUntil(lambda: len(np.unique(preview.y)) > 1, timeout=2000)
    steps = preview.y.copy()
    page.schedule_spins["warmup_epochs"].setValue(1.0)
    qtbot.waitUntil(lambda: preview.y[0] < steps[0], timeout=2000)
    page.optimizer_spins["learning_rate"].setValue(0.01)
    qtbot.waitUntil(lambda: np.isclose(preview.y.max(), 0.01), timeout=2000)
    before = len(preview.y)
    page.epochs_spin.setValue(window.project.project.training.epochs * 2)
    qtbot.waitUntil(lambda: len(preview.y) == 2 * before, timeout=2000)
    assert "steps" in page.lr_caption.text()


def test_lr_preview_counts_steps_from_the_data_and_shows_phase_two(qtbot, ready_window):
    page = ready_window.training_page
    page.batch_spin.setValue(4)
    page.epochs_spin.setValue(2)
    train_images = ready_window.dataset.train_count
    steps_per_epoch = -(-train_images // 4)
    qtbot.waitUntil(lambda: len(page.lr_preview.y) == 2 * steps_per_epoch, timeout=2000)
    assert f"{train_images} training images" in page.lr_caption.text()
    ready_window.project.update({"training.fine_tune.epochs": 1})
    qtbot.waitUntil(lambda: len(page.lr_preview.y) == 3 * steps_per_epoch, timeout=2000)
    assert page.lr_preview.phase_marker.isVisible() and page.lr_preview.phase_marker.value() == 2


def test_augmentation_checkboxes_and_strengths(window):
    page = window.training_page
    page.augment_checks["flip"].setChecked(True)
    page.augment_checks["zoom"].setChecked(True)
    assert window.project.project.augment.flip is True
    assert window.project.project.augment.zoom == 0.1  # the default strength
    page.augment_spins["zoom"].setValue(0.25)
    assert window.project.project.augment.zoom == 0.25
    page.augment_checks["zoom"].setChecked(False)
    assert window.project.project.augment.zoom == 0.0
    page.augment_checks["zoom"].setChecked(True)
    assert window.project.project.augment.zoom == 0.25  # remembered


def test_augmentation_preview_grid(qtbot, make_window, demo_folder):
    window = make_window(tensorflow="real")
    window.open_folder(demo_folder)
    page = window.training_page
    qtbot.waitUntil(lambda: page.augment_preview_button.isEnabled(), timeout=20_000)
    page.augment_checks["rotate"].setChecked(True)
    page.augment_checks["flip"].setChecked(True)
    page.augment_preview_button.click()
    qtbot.waitUntil(lambda: len(page.preview_images) == 12, timeout=60_000)
    assert all(not label.pixmap().isNull() for label in page.preview_labels)
    assert "rotation" in page.augment_preview_status.text()


def test_augmented_copies_need_augmentation_and_say_what_they_cost(ready_window):
    window = ready_window
    page = window.training_page
    spin, estimate = page.augmented_copies_spin, page.augmented_copies_estimate
    assert not spin.isEnabled() and "Switch on an augmentation" in estimate.text()
    page.augment_checks["rotate"].setChecked(True)
    assert spin.isEnabled() and "None cached" in estimate.text()
    spin.setValue(3)
    assert window.project.project.training.augmented_copies == 3
    images = window.dataset.train_count
    assert f"3 × {images} = {3 * images} backbone passes" in estimate.text()
    width = get_backbone(window.project.project.model.backbone).feature_width  # the registry's, nothing built
    assert f"3 × {images} × {width:,} features × 4 bytes = {format_bytes(3 * images * width * 4)}" in estimate.text()
    page.feature_cache_check.setChecked(False)
    assert "feature cache is off" in estimate.text()
    page.augment_checks["rotate"].setChecked(False)
    assert not spin.isEnabled()
    assert page.speed_combos["xla"].toolTip() and page.image_cache_check.toolTip()


def test_the_lr_range_test_draws_its_curve_and_one_click_uses_the_suggestion(qtbot, ready_window):
    window = ready_window
    window.project.update({"model.backbone": "squeezenet1_1", "model.weights": "none", "model.image_size": 32,
                           "training.batch_size": 8})
    window.show_page("training")
    panel = window.training_page.lr_finder
    assert not panel.plot.isVisible()
    task = panel.start()
    assert task is not None and not panel.find_button.isEnabled() and panel.cancel_button.isVisible()
    with qtbot.waitSignal(task.finished, timeout=120_000):
        pass
    result = panel.result
    assert result is not None, panel.status_label.text()
    assert panel.plot.isVisible() and len(panel.curve.xData) == len(result.learning_rates) > 20
    assert "Suggested learning rate" in panel.status_label.text()
    assert panel.use_button.isVisible() and panel.find_button.isEnabled()
    qtbot.mouseClick(panel.use_button, Qt.MouseButton.LeftButton)
    assert window.project.project.optimizer.learning_rate == float(f"{result.suggested_lr:.2g}")


@pytest.mark.slow
def test_an_optimizer_race_draws_each_entrant_and_uses_the_chosen_one(qtbot, ready_window):
    window = ready_window
    window.project.update({"model.backbone": "squeezenet1_1", "model.weights": "none", "model.image_size": 32,
                           "training.batch_size": 8})
    window.show_page("training")
    panel = window.training_page.race
    for name, check in panel.optimizer_checks.items():
        check.setChecked(name in ("sgd", "adam"))
    panel.lrs_edit.setText("1e-3, 1e-2")
    panel.epochs_spin.setValue(2)
    task = panel.start()
    assert task is not None and panel.plot.isVisible() and len(panel.curves) == 4
    with qtbot.waitSignal(task.finished, timeout=300_000):
        pass
    assert panel.result is not None, panel.status_label.text()
    assert panel.table.rowCount() == 4 and panel.table.isVisible()
    assert all(len(curve.xData) == 2 for curve in panel.curves)
    assert "Best:" in panel.status_label.text()
    panel.table.selectRow(3)  # adam at 1e-2
    qtbot.mouseClick(panel.use_button, Qt.MouseButton.LeftButton)
    assert (window.project.project.optimizer.name, window.project.project.optimizer.learning_rate) == ("adam", 0.01)


def test_a_race_needs_two_entrants(ready_window):
    panel = ready_window.training_page.race
    for check in panel.optimizer_checks.values():
        check.setChecked(False)
    panel.optimizer_checks["adam"].setChecked(True)
    assert panel.start() is None
    assert "at least two entrants" in panel.status_label.text()


def test_class_weights_and_balanced_sampling_are_settings_of_the_page(window):
    page = window.training_page
    page.class_weights_combo.setCurrentIndex(page.class_weights_combo.findData("balanced"))
    page.balanced_sampling_check.setChecked(True)
    training = window.project.project.training
    assert (training.class_weights, training.balanced_sampling) == ("balanced", True)


def test_polyak_averaging_is_a_setting_for_every_optimizer(window):
    group = window.training_page.optimizer_group
    spin = group.spins["ema"]
    for name in ("sgd", "adam"):
        window.project.update({"optimizer.name": name})
        assert not spin.isHidden()
    assert spin.text() == "off" and window.project.project.optimizer.ema is None
    spin.setValue(0.99)
    assert window.project.project.optimizer.ema == 0.99


def test_lbfgs_is_offered_only_for_a_frozen_backbone_and_says_why_not(window):
    combo = window.training_page.optimizer_group.combo
    item = combo.model().item(combo.findData("lbfgs"))
    window.project.update({"model.freeze": "all"})
    assert item.isEnabled()
    window.project.update({"model.freeze": 0})
    assert not item.isEnabled() and "needs the whole backbone frozen" in item.toolTip()


def test_devices_combo_chooses_the_distribution_strategy(window, tmp_path):
    page = window.training_page
    combo = page.speed_combos["strategy"]
    assert [combo.itemText(i) for i in range(combo.count())] == ["Auto", "Mirrored", "Multi-worker"]
    assert "TF_CONFIG" in combo.toolTip()
    _select(combo, "mirrored")
    assert window.project.project.training.strategy == "mirrored"
    path = tmp_path / "p.json"
    Project().copy_with(**{"training.strategy": "multi-worker"}).save(path)
    window.open_project(path)
    assert combo.currentData() == "multi-worker"


def test_speed_box_shows_the_cache_size_and_clears_it(qtbot, tmp_path, monkeypatch):
    from PySide6.QtCore import Qt

    from tlstudio.gui.panels.cache import CacheLine

    monkeypatch.setenv("TLSTUDIO_CACHE_DIR", str(tmp_path))
    (tmp_path / "images").mkdir()
    (tmp_path / "images" / "a.npy").write_bytes(b"x" * 2_500_000)
    line = CacheLine()
    qtbot.addWidget(line)
    line.show()
    assert line.label.text() == "Caches: 2.5 MB"
    assert "decoded images: 2.5 MB in 1 file" in line.label.toolTip()
    qtbot.mouseClick(line.clear_button, Qt.MouseButton.LeftButton)
    assert line.label.text() == "Caches: 0 bytes (cleared 2.5 MB)"
    assert not (tmp_path / "images" / "a.npy").exists()
    assert not line.clear_button.isEnabled()
